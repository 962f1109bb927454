"""What a finished request gave, read off its manifest: rows, hash, quality, checks, ε, where it went.

One reading for every place that shows it: the CLI's closing block (`summary_lines`) and the
run's page in the UI (`summary_markdown`). Everything here comes from the manifest, the public
record, plus the names and verdicts of the checks; so for a DP request it shows the public,
synthetic-only scores, never a score computed against the real rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The headline scores, in the order shown: against real rows, or (schema_only) against the schema.
HEADLINE_SCORES = ("overall", "column_shapes", "column_pair_trends", "diagnostic")
SCHEMA_SCORES = ("diagnostic", "data_validity", "data_structure")
# Per location, the fields that say where a person can fetch the export from, best first.
LINK_FIELDS = ("presigned_url", "gateway_url", "url", "uri")


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check of the run: its name, whether it passed, and whether the request set it at all."""

    asset: str
    name: str
    passed: bool
    set_by_request: bool = True


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}"


def is_dp(manifest: Mapping[str, Any]) -> bool:
    """A DP release: a privacy block from a mechanism that read rows (schema_only has one with no rows read)."""
    privacy = manifest.get("privacy") or {}
    return bool(privacy) and privacy.get("real_data_read") is not False


def quality_text(manifest: Mapping[str, Any]) -> str:
    """The quality line: headline scores; for DP the public (synthetic-only) scalar scores."""
    quality = manifest.get("quality") or {}
    if is_dp(manifest):
        scalars = {k: v for k, v in quality.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        public = ", ".join(f"{k} {_number(v)}" for k, v in scalars.items()) or "none"
        return f"public scores (synthetic rows only, covered by ε): {public}"
    names = HEADLINE_SCORES if "overall" in quality else SCHEMA_SCORES
    scores = [f"{name.replace('_', ' ')} {_number(quality[name])}" for name in names if name in quality]
    return ", ".join(scores) or "no scores in the manifest"


def privacy_text(manifest: Mapping[str, Any]) -> str:
    """ε spent (of what was asked, with δ), "no real data read" for schema_only, or "no DP"."""
    privacy = manifest.get("privacy")
    if not privacy:
        return "no DP (this synthesizer gives no privacy guarantee; no ε spent)"
    if privacy.get("real_data_read") is False:
        return "no real data read (schema_only): ε 0"
    text = f"ε spent {privacy['epsilon_total']:.4g}"
    if privacy.get("epsilon_requested") is not None:
        text += f" of {privacy['epsilon_requested']:.4g} asked"
    if privacy.get("delta") is not None:
        text += f", δ {privacy['delta']:.3g}"
    return text


def checks_text(checks: Sequence[CheckOutcome]) -> str:
    """ "N of M passed" over the checks that applied, naming the failed ones and those the request left unset."""
    applied = [c for c in checks if c.set_by_request]
    unset = sorted(c.name for c in checks if not c.set_by_request)
    failed = [f"{c.asset}.{c.name}" for c in applied if not c.passed]
    if not checks:
        return "none ran"
    text = f"{sum(c.passed for c in applied)} of {len(applied)} passed"
    if applied:
        text += " (" + ", ".join(f"{c.name}{'' if c.passed else ' FAILED'}" for c in applied) + ")"
    if failed:
        text += "; failed: " + ", ".join(failed)
    if unset:
        text += "; not set by the request: " + ", ".join(unset)
    return text


def _link(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, Mapping):
        return str(entry)
    if entry.get("uri") and entry.get("presigned_url"):
        until = f" until {entry['presigned_expires_at']}" if entry.get("presigned_expires_at") else ""
        return f"{entry['uri']} (presigned URL{until}: {entry['presigned_url']})"
    for field in LINK_FIELDS:
        if entry.get(field):
            return str(entry[field])
    if entry.get("cid"):
        served = "" if entry.get("served", True) else " (CID computed locally; nothing serves it)"
        return f"ipfs://{entry['cid']}{served}"
    if entry.get("tx_id"):
        return f"arweave tx {entry['tx_id']}"
    return "recorded in the manifest"


def publish_locations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """target → where a person can fetch the export (a path, a presigned or gateway URL, a CID)."""
    locations = {name: _link(entry) for name, entry in (manifest.get("locations") or {}).items()}
    for target in ("arweave",):  # a target recorded beside `locations` rather than in it
        if target in manifest and target not in locations:
            locations[target] = _link(manifest[target])
    return locations


def export_link(manifest: Mapping[str, Any]) -> tuple[str, str] | None:
    """(target, URL) of the best link that opens the export from a browser.

    S3 presigned, a gateway (IPFS, Arweave), else the local copy on the deploy's web server
    (`web`, with SYNTH_PUBLIC_BASE_URL).
    """
    locations = {**(manifest.get("locations") or {})}
    if "arweave" in manifest:
        locations.setdefault("arweave", manifest["arweave"])
    for target in ("s3", "ipfs", "arweave", "web"):
        entry = locations.get(target)
        if isinstance(entry, Mapping):
            for field in ("presigned_url", "gateway_url", "url"):
                if str(entry.get(field) or "").startswith(("http://", "https://")):
                    return target, str(entry[field])
    return None


def summary_lines(manifest: Mapping[str, Any], checks: Sequence[CheckOutcome], manifest_path: str) -> list[str]:
    """The closing block of `synth-pipelines run`: one labelled line per fact."""
    rows = [
        (
            "rows",
            f"{manifest['rows']:,} ({manifest.get('format')}, {manifest.get('compression')}, "
            f"{manifest.get('bytes', 0):,} bytes)",
        ),
        ("sha256", str(manifest["sha256"])),
        ("quality", quality_text(manifest)),
        ("checks", checks_text(checks)),
        ("privacy", privacy_text(manifest)),
    ]
    locations = publish_locations(manifest) or {"-": "nowhere"}
    for i, (target, where) in enumerate(locations.items()):
        rows.append(("published" if i == 0 else "", f"{target}: {where}"))
    rows.append(("manifest", manifest_path))
    width = max(len(label) for label, _ in rows)
    header = f"== {manifest['request_id']}: published =="
    return [header, *(f"  {label:<{width}}  {text}" for label, text in rows)]


def summary_markdown(manifest: Mapping[str, Any], checks: Iterable[CheckOutcome] = ()) -> str:
    """The run page's one-look result: a Markdown table of the same facts, the export's link first."""
    link = export_link(manifest)
    lines = []
    if link:
        lines += [f"**[Open the export]({link[1]})** ({link[0]})", ""]
    lines += [
        "| | |",
        "|---|---|",
        f"| rows | {manifest['rows']:,} ({manifest.get('format')}, {manifest.get('compression')}) |",
        f"| sha256 | `{manifest['sha256']}` |",
        f"| quality | {quality_text(manifest)} |",
        f"| privacy | {privacy_text(manifest)} |",
    ]
    checks = list(checks)
    if checks:
        lines.append(f"| checks | {checks_text(checks)} |")
    for target, where in publish_locations(manifest).items():
        shown = f"[{where}]({where})" if where.startswith(("http://", "https://")) else f"`{where}`"
        lines.append(f"| published: {target} | {shown} |")
    return "\n".join(lines)
