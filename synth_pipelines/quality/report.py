"""Score a synthetic export against the real data (fidelity, privacy, usefulness) and check the request's thresholds.

Two audiences. The owner's private report, written under `out_dir` in the work area:
`quality_scores.json` (every score against the real rows), `quality_report.html`
(self-contained: plots embedded as base64 PNG, no external resource) and the PNG plots.
The public scores, `public_scores.json`, are what the manifest's `quality` block and the
published report files hold:
- for a DP request, only values computed on the synthetic rows alone (`synthetic_only_scores`:
  rows, null shares, the share inside the request's declared domain), which are
  post-processing of the DP release and so covered by its ε; no score against real rows,
  no real-row count, and never the HTML or plots (they draw real distributions);
- for any other request, today's scores (statistics, never a real row's value), with the
  HTML and plots public only when the request sets `publish_plots`.
`threshold_checks` turns the private scores into one verdict per threshold; `publish_gate`
says, for a DP request, that this verdict is a non-DP comparison with the real rows.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.core.payloads import ValidatedDataset
from synth_pipelines.core.request import QualitySpec, SynthesisRequest
from synth_pipelines.data.profiling import DatasetProfile
from synth_pipelines.quality import fidelity, plots, similarity, utility
from synth_pipelines.quality.sampling import REAL_ROWS_CAP, SamplingPlan, plan_sampling, real_reference

# Worst columns drawn as distributions in the report.
PLOTTED_COLUMNS = 4


@dataclass
class QualityReportResult:
    scores: dict[str, Any]  # private: the owner's report, against real rows
    markdown: str  # for the UI: built from the public scores for a DP request
    files: dict[str, Path] = field(default_factory=dict)
    # Keys of `files` that may leave the private store (the lead publishes only these).
    public_files: list[str] = field(default_factory=list)
    # What the manifest's `quality` block holds (see the module docstring).
    public_scores: dict[str, Any] = field(default_factory=dict)
    differentially_private: bool = False


def read_synthetic(path: Path, max_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Read an export: .csv, .csv.gz, .csv.zst or .parquet (any codec); sample down to `max_rows` if given."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame = pd.read_parquet(path)
    elif re.search(r"\.csv(\.(gz|zst|zstd))?$", name):
        compression = "zstd" if name.endswith((".zst", ".zstd")) else "infer"
        frame = pd.read_csv(path, compression=compression)
    else:
        raise ValueError(f"synthetic export {path.name!r}: expected .csv, .csv.gz, .csv.zst or .parquet")
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    return frame


def read_for_plan(
    path: Path, real_rows: int, seed: int, whole: bool = False, reference_rows: int | None = None
) -> tuple[pd.DataFrame, int]:
    """The synthetic rows the sampling plan can use, and how many the export has.

    Every metric scores a uniform sample of the export, and a uniform sample of a uniform
    sample is one of the export, so a Parquet export larger than the most rows any metric
    takes (`SamplingPlan.rows_needed`) is read as that many rows, drawn at random before they
    become pandas objects: the report's memory and read time follow its samples, not the
    export. Errors stay against all of the export's rows (the plan's `synthetic_rows`).
    """
    name = Path(path).name.lower()
    if whole or not name.endswith((".parquet", ".pq")):
        frame = read_synthetic(path)
        return frame, len(frame)
    import pyarrow.parquet as pq

    total = pq.read_metadata(path).num_rows
    needed = plan_sampling(total, real_rows, reference_rows).rows_needed()
    if needed >= total:
        return read_synthetic(path), total
    keep = np.sort(np.random.default_rng(seed + 7).choice(total, needed, replace=False))
    return pq.read_table(path).take(keep).to_pandas(), total


def _json_ready(value: Any) -> Any:
    """NaN/inf → None and NumPy scalars → Python, so the scores are strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    return function(*args), time.perf_counter() - started


def _tstr(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    spec: QualitySpec,
    plan: SamplingPlan,
    seed: int,
) -> tuple[dict[str, Any] | str, float]:
    """TSTR scores, or why they were skipped."""
    if not spec.target_column:
        return "the request names no quality.target_column", 0.0
    if real_holdout is None or len(real_holdout) == 0:
        return "no real holdout to test on", 0.0
    return _timed(utility.tstr_scores, real_train, real_holdout, synthetic, spec.target_column, metadata, plan, seed)


def compute_scores(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    spec: QualitySpec,
    plan: SamplingPlan,
    seed: int = 0,
    real_rows_cap: int | None = REAL_ROWS_CAP,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Every score under one sampling plan (the benchmark runs this with the all-rows plan too).

    DCR baseline protection and TSTR compare against at most `real_rows_cap` training rows
    (`sampling.real_reference`; None: all of them); the other scores read every training row.

    DCR, the heaviest step, runs in a second thread beside the others (its compiled scan and NumPy's
    loops release the GIL, so two cores share the work); BLAS is held to one thread meanwhile, since its
    threads only spin against each other on small problems. Every score has its own seeded
    generator, so the result does not depend on the threads.
    """
    from threadpoolctl import threadpool_limits

    reference = real_reference(real_train, seed, real_rows_cap)
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(
            _timed,
            similarity.dcr_scores,
            real_train.copy(deep=False),  # own frame objects: pandas' caches are not shared across threads
            None if real_holdout is None else real_holdout.copy(deep=False),
            synthetic.copy(deep=False),
            metadata,
            plan,
            seed,
            reference.copy(deep=False),
        )
        scores, details, errors, skipped, seconds = _other_scores(
            real_train, real_holdout, synthetic, metadata, spec, plan, seed
        )
        tstr, tstr_seconds = _tstr(reference, real_holdout, synthetic, metadata, spec, plan, seed)
        dcr, seconds["dcr"] = second.result()
    errors.update(dcr.pop("standard_errors"))
    scores.update(dcr)
    scores["tstr"] = None
    scores["tstr_ratio"] = None
    if isinstance(tstr, str):
        skipped["tstr"] = tstr
    else:
        seconds["tstr"] = tstr_seconds
        errors["tstr_synthetic_score"] = tstr.pop("standard_error")
        scores["tstr"] = tstr
        scores["tstr_ratio"] = tstr["ratio"]
        if tstr["real_score"]:
            errors["tstr_ratio"] = errors["tstr_synthetic_score"] / abs(tstr["real_score"])
    if real_holdout is None:
        skipped["dcr_overfitting_protection"] = "no real holdout"
    scores["synthetic_rows_total"] = plan.synthetic_rows
    scores["real_train_rows"] = len(real_train)
    scores["real_reference_rows"] = len(reference)  # the rows DCR baseline protection and TSTR compare against
    scores["real_holdout_rows"] = 0 if real_holdout is None else len(real_holdout)
    scores["sampling_plan"] = plan.as_dict()
    scores["standard_errors"] = errors
    scores["skipped"] = skipped
    scores["seconds"] = seconds
    return scores, details


def _other_scores(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    spec: QualitySpec,
    plan: SamplingPlan,
    seed: int,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], dict[str, float], dict[str, str], dict[str, float]]:
    """Fidelity, new-row synthesis, disclosure and membership inference, one after another."""
    seconds: dict[str, float] = {}
    errors: dict[str, float] = {}
    skipped: dict[str, str] = {}

    (scores, details), seconds["fidelity"] = _timed(
        fidelity.fidelity_scores, real_train, synthetic, metadata, plan, seed
    )
    errors.update(scores.pop("standard_errors"))

    new_rows, seconds["new_row_synthesis"] = _timed(
        similarity.new_row_synthesis, real_train, synthetic, metadata, plan, seed
    )
    errors.update(new_rows.pop("standard_errors"))
    scores.update(new_rows)

    if spec.sensitive_columns:
        disclosure, seconds["disclosure_protection"] = _timed(
            similarity.disclosure_protection, real_train, synthetic, metadata, spec.sensitive_columns, plan, seed
        )
        errors.update(disclosure.pop("standard_errors"))
        scores.update(disclosure)

    mia, seconds["mia"] = _timed(
        similarity.membership_inference_scores, real_train, real_holdout, details["sample"], metadata, seed
    )
    errors.update(mia.pop("standard_errors"))
    scores.update(mia)
    if scores["mia_auc"] is None:
        skipped["mia_auc"] = "no real holdout" if real_holdout is None else "privacy attack module not available"

    return scores, details, errors, skipped, seconds


def _plots(
    real_train: pd.DataFrame, scores: dict[str, Any], details: dict[str, pd.DataFrame], out_dir: Path
) -> dict[str, Path]:
    files: dict[str, Path] = {}
    sample = details["sample"]
    for entry in scores["worst_columns"][:PLOTTED_COLUMNS]:
        column = entry["column"]
        png = plots.column_distribution_png(
            real_train[column], sample[column], f"{column}: {entry['metric']} {entry['score']:.3f}"
        )
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", column)
        files[f"plot_column_{safe}"] = plots.write_png(out_dir / f"column_{safe}.png", png)
    if len(details["pairs"]):
        files["plot_pair_trends"] = plots.write_png(
            out_dir / "pair_trends.png", plots.pair_trend_heatmap_png(details["pairs"])
        )
    return files


def _fmt(value: Any, error: float | None = None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.4f}" if isinstance(value, float) else str(value)
    if error is not None and math.isfinite(error):
        text += f" ± {error:.4f}"
    return text


_KEY_SCORES = (
    ("overall", "Quality (overall)"),
    ("column_shapes", "Column shapes"),
    ("column_pair_trends", "Column pair trends"),
    ("diagnostic", "Diagnostic"),
    ("data_validity", "Data validity"),
    ("data_structure", "Data structure"),
    ("dcr_baseline_protection", "DCR baseline protection"),
    ("dcr_overfitting_protection", "DCR overfitting protection"),
    ("new_row_synthesis", "New row synthesis"),
    ("disclosure_protection", "Disclosure protection"),
    ("mia_auc", "Membership-inference AUC (0.5 = attacker guesses)"),
    ("tstr_ratio", "TSTR / TRTR ratio"),
)


def _key_rows(scores: dict[str, Any]) -> list[tuple[str, str]]:
    errors = scores.get("standard_errors", {})
    return [(label, _fmt(scores.get(key), errors.get(key))) for key, label in _KEY_SCORES if key in scores]


def _plan_sentence(scores: dict[str, Any]) -> str:
    plan = scores["sampling_plan"]
    return (
        f"Scored {scores['fidelity_rows']:,} of {scores['synthetic_rows_total']:,} synthetic rows for fidelity "
        f"(error from {plan['fidelity_replicates']} disjoint parts), {scores['dcr_rows']:,} for DCR baseline "
        f"(with {scores['dcr_random_baseline_rows']:,} random rows)"
        + (f" and {scores['dcr_overfitting_rows']:,} for DCR overfitting" if "dcr_overfitting_rows" in scores else "")
        + f" (each grown until its bootstrap SE ≤ {plan['target_standard_error']} or its cap), "
        f"{scores['new_row_rows']:,} for new-row synthesis"
        + (
            f", {scores['tstr']['synthetic_fits']} TSTR fits of {scores['tstr']['synthetic_rows_per_fit']:,} rows"
            if scores.get("tstr")
            else ""
        )
        + f"; against {scores['real_train_rows']:,} real training and {scores['real_holdout_rows']:,} holdout rows. "
        "± is one measured standard error against the value on every synthetic row (0 when every row was scored); "
        "for the membership-inference AUC, the error of its drawn members and non-members."
    )


def _conditioned_sentence(scores: dict[str, Any]) -> str:
    conditioned = scores["conditioned_on"]
    columns = ", ".join(f"`{c}`" for c in conditioned["columns"])
    return (
        f"**Conditioned:** {conditioned['conditions']} condition(s) on {columns}; scored against the "
        f"{scores['real_train_rows']:,} of {conditioned['real_train_rows_before']:,} real training rows (and "
        f"{scores['real_holdout_rows']:,} of {conditioned['real_holdout_rows_before']:,} holdout rows) that match "
        "one of the conditions, not the whole table."
    )


def render_markdown(scores: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    """The UI summary: key numbers with their errors, worst columns and pairs, threshold verdicts."""
    lines = ["| score | value |", "|---|---|"] + [f"| {label} | {value} |" for label, value in _key_rows(scores)]
    tstr = scores.get("tstr")
    if tstr:
        lines.append(
            f"| TSTR {tstr['metric']} (synthetic → real / real → real) | "
            f"{_fmt(tstr['synthetic_score'])} / {_fmt(tstr['real_score'])} |"
        )
    lines += [
        "",
        "**Worst columns:** " + ", ".join(f"`{w['column']}` {w['score']:.3f}" for w in scores["worst_columns"]),
    ]
    lines += [
        "**Worst pairs:** "
        + ", ".join(f"`{w['columns'][0]}`×`{w['columns'][1]}` {w['score']:.3f}" for w in scores["worst_pairs"])
    ]
    if checks:
        lines += ["", "| threshold | limit | value | result |", "|---|---|---|---|"]
        for c in checks:
            verdict = "pass" if c["passed"] else "FAIL: " + c["message"]
            lines.append(f"| {c['threshold']} | {c['limit']} | {_fmt(c['value'])} | {verdict} |")
    if scores.get("skipped"):
        lines += ["", "Not computed: " + "; ".join(f"{k} ({v})" for k, v in scores["skipped"].items())]
    lines += ["", _plan_sentence(scores)]
    if scores.get("conditioned_on"):
        lines += ["", _conditioned_sentence(scores)]
    if scores.get("column_treatment"):
        from synth_pipelines.data.treatment import treatment_markdown

        lines += ["", "**Column treatment**", "", treatment_markdown(scores["column_treatment"])]
    return "\n".join(lines)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(scores: dict[str, Any], checks: list[dict[str, Any]], images: dict[str, Path]) -> str:
    """One HTML file with everything inline (CSS, PNGs as data URIs): it opens with no network."""
    sections = [
        "<h2>Key scores</h2>",
        _table(["score", "value"], [list(r) for r in _key_rows(scores)]),
    ]
    tstr = scores.get("tstr")
    if tstr:
        sections += [
            "<h2>Usefulness: train synthetic, test real</h2>",
            _table(
                ["target", "model", "metric", "trained on synthetic", "trained on real", "ratio", "holdout rows"],
                [
                    [
                        tstr["target"],
                        tstr["model"],
                        tstr["metric"],
                        _fmt(tstr["synthetic_score"]),
                        _fmt(tstr["real_score"]),
                        _fmt(tstr["ratio"]),
                        tstr["holdout_rows"],
                    ]
                ],
            ),
        ]
    if checks:
        sections += [
            "<h2>Thresholds</h2>",
            _table(
                ["threshold", "limit", "value", "result"],
                [
                    [c["threshold"], c["limit"], _fmt(c["value"]), "pass" if c["passed"] else "FAIL: " + c["message"]]
                    for c in checks
                ],
            ),
        ]
    sections += [
        "<h2>Worst columns</h2>",
        _table(
            ["column", "metric", "score"],
            [[w["column"], w["metric"], f"{w['score']:.4f}"] for w in scores["worst_columns"]],
        ),
        "<h2>Worst column pairs</h2>",
        _table(
            ["columns", "metric", "score"],
            [[" × ".join(w["columns"]), w["metric"], f"{w['score']:.4f}"] for w in scores["worst_pairs"]],
        ),
        "<h2>Plots</h2>",
    ]
    for name, path in images.items():
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        sections.append(f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{encoded}"></figure>')
    sections += ["<h2>Sampling plan</h2>", f"<p>{html.escape(_plan_sentence(scores))}</p>"]
    if scores.get("conditioned_on"):
        sentence = _conditioned_sentence(scores).replace("**", "").replace("`", "")
        sections += ["<h2>Conditions</h2>", f"<p>{html.escape(sentence)}</p>"]
    if scores.get("column_treatment"):
        sections += [
            "<h2>Column treatment</h2>",
            _table(
                ["column", "treatment", "sdtype", "reason"],
                [[c["name"], c["treatment"], c["sdtype"], c["reason"]] for c in scores["column_treatment"]],
            ),
        ]
    sections += [
        "<h2>All scores</h2>",
        f"<pre>{html.escape(json.dumps(_json_ready(scores), indent=2))}</pre>",
    ]
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
        "figure{display:inline-block;margin:.5em}pre{background:#f6f6f6;padding:1em;overflow:auto}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Synthetic data quality report</title>"
        f"<style>{style}</style></head><body><h1>Synthetic data quality report</h1>{''.join(sections)}</body></html>\n"
    )


def matching_rows(frame: pd.DataFrame, conditions: list[tuple[dict[str, Any], int]]) -> pd.Series:
    """True for each row that has every value of at least one condition."""
    any_match = pd.Series(False, index=frame.index)
    for values, _ in conditions:
        match = pd.Series(True, index=frame.index)
        for column, value in values.items():
            match &= (frame[column] == value).fillna(False).astype(bool)
        any_match |= match
    return any_match


def condition_real_rows(
    real_train: pd.DataFrame, real_holdout: pd.DataFrame | None, conditions: list[tuple[dict[str, Any], int]]
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """The real rows a conditioned export is scored against: those that match its conditions; and the record."""
    train = real_train[matching_rows(real_train, conditions)].reset_index(drop=True)
    holdout = None
    if real_holdout is not None:
        holdout = real_holdout[matching_rows(real_holdout, conditions)].reset_index(drop=True)
        holdout = holdout if len(holdout) else None
    record = {
        "conditions": len(conditions),
        "columns": sorted({c for values, _ in conditions for c in values}),
        "real_train_rows_before": len(real_train),
        "real_holdout_rows_before": 0 if real_holdout is None else len(real_holdout),
        "note": "the export was generated with fixed values (the request's conditions); every score compares it "
        "with the real rows that match one of the conditions (in their own proportions), not with the whole table",
    }
    return train, holdout, record


def build_quality_report(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: Path,
    metadata: dict[str, Any],
    spec: QualitySpec,
    out_dir: Path,
    seed: int = 0,
    *,
    differentially_private: bool = False,
    schema: Any = None,
    column_treatment: list[dict[str, Any]] | None = None,
    conditions: list[tuple[dict[str, Any], int]] | None = None,
    real_rows_cap: int | None = REAL_ROWS_CAP,
) -> QualityReportResult:
    """Score the export at `synthetic` and write the private report and the public scores under `out_dir`.

    `differentially_private` (the request has a privacy block) restricts the public scores to
    synthetic-only values; `schema` (the request's TableSchema, public) adds the in-domain shares;
    `column_treatment` (the profile's per-column treatment, kinds and counts) is shown in the report;
    `conditions` (the request's, as (values, rows)) scores the export against the matching real rows only;
    `real_rows_cap` bounds the real rows DCR baseline protection and TSTR compare against (`sampling.real_reference`).
    """
    started = time.perf_counter()
    conditioned = None
    fixed_target = False
    if conditions is not None:
        real_train, real_holdout, conditioned = condition_real_rows(real_train, real_holdout, conditions)
        fixed_target = spec.target_column in conditioned["columns"]
        if fixed_target:  # every synthetic row has the same target: nothing to learn or predict
            spec = spec.model_copy(update={"target_column": None})
    # A DP request's public scores count every synthetic row, so it reads them all.
    reference_rows = len(real_train) if real_rows_cap is None else min(len(real_train), real_rows_cap)
    synthetic_frame, total_rows = read_for_plan(
        Path(synthetic), len(real_train), seed, whole=differentially_private, reference_rows=reference_rows
    )
    read_seconds = time.perf_counter() - started
    plan = plan_sampling(total_rows, len(real_train), reference_rows)
    scores, details = compute_scores(
        real_train, real_holdout, synthetic_frame, metadata, spec, plan, seed, real_rows_cap
    )
    if fixed_target:
        scores["skipped"]["tstr"] = "quality.target_column has a fixed value in the conditions: nothing to predict"
    scores["seconds"]["read"] = read_seconds
    synthetic_only = synthetic_only_scores(synthetic_frame, schema)
    if len(synthetic_frame) < total_rows:
        synthetic_only.update(
            computed_on=f"a uniform sample of {len(synthetic_frame):,} of the synthetic rows and the request's "
            "public schema",
            synthetic_rows=total_rows,
        )
    scores["synthetic_only"] = synthetic_only
    if conditioned is not None:
        scores["conditioned_on"] = conditioned
    if column_treatment:
        scores["column_treatment"] = [
            {k: c.get(k) for k in ("name", "treatment", "sdtype", "reason")} for c in column_treatment
        ]

    return write_report(
        real_train,
        scores,
        details,
        spec,
        Path(out_dir),
        started,
        differentially_private=differentially_private,
        synthetic_only=synthetic_only,
    )


def write_report(
    real_train: pd.DataFrame,
    scores: dict[str, Any],
    details: dict[str, pd.DataFrame],
    spec: QualitySpec,
    out_dir: Path,
    started: float,
    *,
    differentially_private: bool = False,
    synthetic_only: dict[str, Any] | None = None,
) -> QualityReportResult:
    """Plots, scores JSON, HTML and Markdown for computed scores; `started` is when the work began (perf_counter)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_started = time.perf_counter()
    images = _plots(real_train, scores, details, out_dir)
    scores["seconds"]["plots"] = time.perf_counter() - plot_started
    scores["seconds"]["total"] = time.perf_counter() - started
    scores = _json_ready(scores)
    checks = threshold_checks(scores, spec)

    scores_path = out_dir / "quality_scores.json"
    scores_path.write_text(json.dumps(scores, indent=2))
    report_path = out_dir / "quality_report.html"
    report_path.write_text(render_html(scores, checks, images), encoding="utf-8")

    if differentially_private:
        public_scores = _json_ready(synthetic_only if synthetic_only is not None else scores.get("synthetic_only", {}))
        # The HTML and the plots draw real distributions: never public for a DP request.
        public = ["public_scores"]
        markdown = render_public_markdown(public_scores, checks)
    else:
        public_scores = scores
        public = ["public_scores"] + (["report", *images] if spec.publish_plots else [])
        markdown = render_markdown(scores, checks)
    public_path = out_dir / "public_scores.json"
    public_path.write_text(json.dumps(public_scores, indent=2))
    files = {"report": report_path, "scores": scores_path, "public_scores": public_path, **images}
    return QualityReportResult(
        scores=scores,
        markdown=markdown,
        files=files,
        public_files=public,
        public_scores=public_scores,
        differentially_private=differentially_private,
    )


def _declared_domain(schema: Any) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """column → (sdtype, DayZ parameters) from the request's TableSchema, or from a {metadata, parameters} dict."""
    if schema is None:
        return {}
    if hasattr(schema, "columns") and hasattr(schema, "column_parameters"):
        return {name: (meta.get("sdtype"), schema.column_parameters(name)) for name, meta in schema.columns.items()}
    metadata = schema["metadata"] if isinstance(schema, dict) else schema.metadata
    parameters = schema["parameters"] if isinstance(schema, dict) else schema.parameters
    table = next(iter(metadata["tables"]))
    declared = parameters.get("tables", {}).get(table, {}).get("columns", {})
    return {
        name: (meta.get("sdtype"), dict(declared.get(name, {})))
        for name, meta in metadata["tables"][table]["columns"].items()
    }


def _inside(series: pd.Series, sdtype: str | None, params: dict[str, Any]) -> pd.Series | None:
    """Per non-null value: inside the declared domain? None when the schema declares no domain for it."""
    values = series.dropna()
    if params.get("category_values") is not None:
        allowed = {str(v) for v in params["category_values"]}
        return values.astype(str).isin(allowed)
    if "min_value" in params or "max_value" in params:
        numbers = pd.to_numeric(values, errors="coerce")
        inside = numbers.notna()
        if params.get("min_value") is not None:
            inside &= numbers >= params["min_value"]
        if params.get("max_value") is not None:
            inside &= numbers <= params["max_value"]
        return inside
    if "start_timestamp" in params or "end_timestamp" in params:
        stamps = pd.to_datetime(values, errors="coerce")
        inside = stamps.notna()
        if params.get("start_timestamp") is not None:
            inside &= stamps >= pd.Timestamp(params["start_timestamp"])
        if params.get("end_timestamp") is not None:
            inside &= stamps <= pd.Timestamp(params["end_timestamp"])
        return inside
    return None


def synthetic_only_scores(synthetic: pd.DataFrame, schema: Any = None) -> dict[str, Any]:
    """Scores that read the synthetic rows and the public request only: post-processing, covered by ε.

    Nothing here may read a real row, a count of real rows or a score against them.
    """
    result: dict[str, Any] = {
        "computed_on": "synthetic rows and the request's public schema only",
        "synthetic_rows": len(synthetic),
        "columns": len(synthetic.columns),
        "null_share": {str(c): float(synthetic[c].isna().mean()) if len(synthetic) else None for c in synthetic},
    }
    domain = _declared_domain(schema)
    if not domain:
        return result
    shares: dict[str, float | None] = {}
    inside_total = checked_total = 0
    for name, (sdtype, params) in domain.items():
        if name not in synthetic.columns:
            continue
        inside = _inside(synthetic[name], sdtype, params)
        if inside is None:
            continue
        shares[name] = float(inside.mean()) if len(inside) else None
        inside_total += int(inside.sum())
        checked_total += len(inside)
    result["domain_share"] = shares
    result["domain_share_overall"] = inside_total / checked_total if checked_total else None
    result["columns_not_in_schema"] = sorted(str(c) for c in synthetic.columns if c not in domain)
    result["schema_columns_missing"] = sorted(c for c in domain if c not in synthetic.columns)
    return result


def render_public_markdown(public_scores: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    """The UI summary of a DP request: synthetic-only scores; threshold verdicts without their real-data values."""
    lines = [
        "Public scores (synthetic rows only, covered by ε):",
        "",
        "| score | value |",
        "|---|---|",
        f"| synthetic rows | {public_scores.get('synthetic_rows')} |",
    ]
    if public_scores.get("domain_share_overall") is not None:
        lines.append(f"| share inside the declared domain | {_fmt(public_scores['domain_share_overall'])} |")
    worst = sorted(
        ((v, k) for k, v in public_scores.get("domain_share", {}).items() if v is not None and v < 1.0),
    )[:5]
    if worst:
        lines += ["", "**Columns outside their declared domain:** " + ", ".join(f"`{k}` {v:.3f}" for v, k in worst)]
    if checks:
        lines += ["", "| threshold | limit | result |", "|---|---|---|"]
        lines += [f"| {c['threshold']} | {c['limit']} | {'pass' if c['passed'] else 'FAIL'} |" for c in checks]
        lines += ["", PUBLISH_GATE_NOTE]
    lines += ["", "Scores against the real rows are in the owner's private report (work area), not here."]
    return "\n".join(lines)


PUBLISH_GATE_NOTE = (
    "whether this artifact was published depended on non-DP comparisons with the real rows: one bit about the "
    "data beyond ε"
)


def publish_gate(checks: list[dict[str, Any]], differentially_private: bool) -> dict[str, Any] | None:
    """For a DP request with thresholds: the manifest's statement that the gate is outside the guarantee."""
    if not differentially_private or not checks:
        return None
    return {
        "differentially_private": False,
        "checks": [c["threshold"] for c in checks],
        "note": PUBLISH_GATE_NOTE,
    }


def check_description(check: dict[str, Any], differentially_private: bool) -> str:
    """A check's text for the UI: for a DP request it names the threshold and its limit, not the private score."""
    if not differentially_private:
        return check["message"]
    verdict = "met" if check["passed"] else "missed"
    return (
        f"{check['threshold']} {verdict} (limit {check['limit']}); the score compares with the real rows and is in "
        "the owner's private report only"
    )


# threshold → (score key, True if the score must be at least the limit, False if at most)
THRESHOLDS = {
    "min_overall": ("overall", True),
    "min_diagnostic": ("diagnostic", True),
    "max_mia_auc": ("mia_auc", False),
    "min_tstr_ratio": ("tstr_ratio", True),
}


def threshold_checks(scores: dict[str, Any], spec: QualitySpec) -> list[dict[str, Any]]:
    """One entry per threshold the request sets: passed, the value, the limit and by how much it missed.

    A threshold whose score could not be computed fails: a gate that cannot see must not open.
    """
    checks = []
    for threshold, (score_key, is_floor) in THRESHOLDS.items():
        limit = getattr(spec, threshold)
        if limit is None:
            continue
        value = scores.get(score_key)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            reason = scores.get("skipped", {}).get(score_key.removesuffix("_ratio"), "not computed")
            checks.append(
                {
                    "threshold": threshold,
                    "limit": limit,
                    "value": None,
                    "passed": False,
                    "message": f"{threshold} {limit} could not be checked: {score_key} was not computed ({reason})",
                }
            )
            continue
        passed = value >= limit if is_floor else value <= limit
        bound = "minimum" if is_floor else "maximum"
        if passed:
            message = f"{threshold} met: {score_key} = {value:.4f}, {bound} {limit}"
        else:
            miss = (limit - value) if is_floor else (value - limit)
            side = "below the minimum" if is_floor else "above the maximum"
            message = f"{threshold} missed: {score_key} = {value:.4f} is {miss:.4f} {side} {limit}"
        checks.append({"threshold": threshold, "limit": limit, "value": value, "passed": passed, "message": message})
    return checks


# Treatments whose output is repeated or made up, not learnt: scored as PII (every metric skips them).
NOT_LEARNT = ("kept", "generated_text", "generated_fake")


def scoring_metadata(
    profile_metadata: dict[str, Any], schema: Any, treatments: dict[str, str] | None = None
) -> dict[str, Any]:
    """The SDV table metadata the scores use: the profile's kinds, with the request's declared sdtypes over them.

    `treatments` (the profile's, column -> treatment) leaves dropped columns out and scores the unlearnt ones as PII.
    """
    treatments = treatments or {}
    columns = {
        name: dict(meta) for name, meta in profile_metadata["columns"].items() if treatments.get(name) != "dropped"
    }
    if schema is not None:
        for name, meta in schema.columns.items():
            if name in columns and meta.get("sdtype") and meta["sdtype"] != columns[name].get("sdtype"):
                columns[name] = {k: meta[k] for k in ("sdtype", "datetime_format") if k in meta}
    for name in columns:
        if treatments.get(name) in NOT_LEARNT:
            columns[name] = {"sdtype": "pii"}
    return {**profile_metadata, "columns": columns}


def report_for_request(
    request: SynthesisRequest,
    profile: DatasetProfile,
    validated_dataset: ValidatedDataset,
    synthetic: Path,
    out_dir: Path,
    **options: Any,
) -> QualityReportResult:
    """The report of one request that learnt from real rows, from its upstream payloads.

    What the quality_report asset runs, and what benchmarks/corpus.py --report-only replays in a fresh
    process; `options` go to build_quality_report (e.g. `real_rows_cap`).
    """
    holdout = pd.read_parquet(validated_dataset.holdout_path)
    return build_quality_report(
        pd.read_parquet(validated_dataset.train_path),
        holdout if len(holdout) else None,
        synthetic,
        scoring_metadata(profile.metadata, request.schema, profile.treatments),
        request.quality,
        out_dir,
        seed=request.seed,
        differentially_private=request.privacy is not None,
        schema=request.schema,
        column_treatment=profile.columns,
        conditions=request.condition_list,
        **options,
    )
