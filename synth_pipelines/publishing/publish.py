"""Publish one request's files to every target and write its manifest, atomically and last.

The manifest is the only thing that says "published". Order of work:
1. check everything that can be checked without side effects (targets, bucket setting,
   the export still hashing to `export_sha256`);
2. remove a previous manifest, so it can never vouch for files being replaced;
3. copy to the local artifact folder, upload to S3, add and pin on an IPFS node (or, with
   none configured, content-address locally, recorded as served by nothing), post the export to
   Arweave — each verified (SHA-256 on disk, server-side SHA-256 checksums, CID fetched back and
   hashed, Arweave transaction confirmed by the node, fetched back by id and hashed);
4. put the manifest's copy in S3, then write the local manifest (temp file + rename).
A run that fails anywhere in 2–4 leaves no manifest. Keys are derived from the request
only (prefix/requester/request_id/file name) and stores skip identical objects, so a
re-run writes the same keys and the same CID and uploads nothing twice; on Arweave it finds
its earlier confirmed transaction (same wallet, request id and SHA-256) and reuses it.

Arweave holds the export only. The manifest itself is not posted there: it names the
requester, paths on this server and presigned S3 links, and an Arweave transaction is public
and permanent. The export's transaction carries the request id and SHA-256 as tags, which
tie it to this manifest.
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synth_pipelines.core.files import atomic_write_text
from synth_pipelines.core.request import REQUEST_ID_PATTERN, REQUEST_ID_RULE
from synth_pipelines.publishing.arweave import ArweavePublisher
from synth_pipelines.publishing.config import PublishConfig
from synth_pipelines.publishing.ipfs import make_ipfs_backend, publish_to_ipfs
from synth_pipelines.publishing.retry import PublishError
from synth_pipelines.publishing.storage import LocalArtifactStore, S3ArtifactStore, sha256_file

ALLOWED_TARGETS = ("local", "s3", "ipfs", "arweave")
MANIFEST_NAME = "manifest.json"
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._@-]")


def requester_key(requester: str | None) -> str:
    """The key segment for a requester: S3-safe characters only, 'anonymous' when unknown."""
    if not requester or not requester.strip():
        return "anonymous"
    return _UNSAFE_KEY_CHARS.sub("_", requester.strip())[:128]


def s3_key(config: PublishConfig, requester: str | None, request_id: str, name: str) -> str:
    """`<SYNTH_S3_PREFIX>/<requester>/<request_id>/<name>`, without an empty prefix."""
    return "/".join(part for part in (config.s3_prefix, requester_key(requester), request_id, name) if part)


def _check_inputs(
    request_id: str, targets: list[str], export_path: Path, export_sha256: str, report_files: dict[str, Path]
) -> set[str]:
    if not _REQUEST_ID.match(request_id):
        raise ValueError(f"request_id {request_id!r} is not allowed; allowed: {REQUEST_ID_RULE}")
    unknown = sorted(set(targets) - set(ALLOWED_TARGETS))
    if unknown:
        raise ValueError(f"publish targets {unknown} are not known; allowed: {', '.join(ALLOWED_TARGETS)}")
    for name, path in {"export": export_path, **report_files}.items():
        if not Path(path).is_file():
            raise PublishError(f"{name} file {path} does not exist")
    actual = sha256_file(export_path)
    if actual != export_sha256:
        raise PublishError(
            f"export {export_path} has sha256 {actual}, not the recorded {export_sha256}: it changed after export"
        )
    return set(targets)


def publish_artifact(
    request_id: str,
    targets: list[str],
    export_path: Path,
    export_sha256: str,
    report_files: dict[str, Path],
    manifest: dict[str, Any],
    config: PublishConfig,
    *,
    requester: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Publish the export and report files to the local folder and every target; write the manifest last.

    `targets` are any of "local", "s3", "ipfs", "arweave"; the local folder
    (`<artifact_root>/<request_id>/`) always receives the files and the manifest.
    Returns the manifest's path and its content: `manifest` plus every location.
    Raises PublishError (naming the endpoint, bucket or file) when any step fails.
    """
    # Callers that put the requester in the manifest get the per-requester prefix without the keyword.
    requester = requester if requester is not None else manifest.get("requester")
    export_path = Path(export_path)
    report_files = {name: Path(path) for name, path in report_files.items()}
    wanted = _check_inputs(request_id, targets, export_path, export_sha256, report_files)
    s3 = S3ArtifactStore(config) if "s3" in wanted else None
    ipfs = make_ipfs_backend(config) if "ipfs" in wanted else None
    arweave = ArweavePublisher(config) if "arweave" in wanted else None  # node URL and wallet checked here

    local = LocalArtifactStore(config.artifact_root)
    manifest_path = config.artifact_root / request_id / MANIFEST_NAME
    manifest_path.unlink(missing_ok=True)
    manifest_key = s3_key(config, requester, request_id, MANIFEST_NAME)
    if s3 is not None:
        s3.check_bucket()
        s3.delete(manifest_key)

    files = {"export": (export_path, export_sha256)}
    files.update({name: (path, sha256_file(path)) for name, path in sorted(report_files.items())})
    if len({path.name for path, _ in files.values()}) != len(files):
        raise PublishError(f"export and report files must have distinct names: {sorted(files)}")

    locations: dict[str, dict[str, Any]] = {name: {"sha256": sha} for name, (_, sha) in files.items()}
    for name, (path, sha) in files.items():
        locations[name]["local"] = local.put_file(f"{request_id}/{path.name}", path, sha).uri
    if s3 is not None:
        for name, (path, sha) in files.items():
            locations[name]["s3"] = s3.put_file(
                s3_key(config, requester, request_id, path.name), path, sha
            ).as_manifest()
    ipfs_record = None
    if ipfs is not None:
        ipfs_record = publish_to_ipfs(ipfs, export_path, export_sha256, config.ipfs_gateway_url)
    arweave_record = arweave.publish(export_path, export_sha256, request_id) if arweave is not None else None

    export_local = locations["export"]["local"]
    export_locations: dict[str, Any] = {"local": export_local}
    if s3 is not None:
        export_locations["s3"] = {
            **locations["export"]["s3"],
            "bucket": s3.bucket,
            "endpoint_url": config.s3_endpoint_url,
            "manifest_uri": s3.uri(manifest_key),
        }
    if ipfs_record is not None:
        export_locations["ipfs"] = ipfs_record.as_manifest()
    if arweave_record is not None:
        export_locations["arweave"] = arweave_record.as_manifest()
    export_url = config.public_url(request_id, export_path.name)
    if export_url is not None:  # the local copy as the deploy's web server serves it
        export_locations["web"] = {"url": export_url, "served_from": "local"}
    reports = {name: entry for name, entry in locations.items() if name != "export"}
    content = {
        **manifest,
        "request_id": request_id,
        "requester": requester,
        "targets": sorted(wanted | {"local"}),
        "published_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "export": {"name": export_path.name, "sha256": export_sha256, "size": export_path.stat().st_size},
        "export_uri": export_local,
        "report_uri": reports.get("report", {}).get("local"),
        "files": {name: entry["local"] for name, entry in reports.items()},
        "reports": reports,
        "locations": export_locations,
    }

    if s3 is not None:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / MANIFEST_NAME
            copy.write_text(json.dumps(content, indent=2, sort_keys=True))
            s3.put_file(manifest_key, copy, sha256_file(copy))
    atomic_write_text(manifest_path, json.dumps(content, indent=2, sort_keys=True))
    return manifest_path, content


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path` as written by publish_artifact."""
    return json.loads(Path(path).read_text())
