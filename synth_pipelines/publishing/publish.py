"""Publish one request's files and write its manifest, atomically and last.

The manifest is the only thing that says "published": it is written (temp file, then
rename) after every file is copied and its SHA-256 checked, so a run that dies half way
leaves files but no manifest, and a re-run writes the same keys again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class PublishConfig:
    artifact_root: Path

    @classmethod
    def from_env(cls, artifact_root: Path) -> PublishConfig:
        return cls(artifact_root=artifact_root)


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _copy_verified(source: Path, target: Path, sha256: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    copied = sha256_file(tmp)
    if copied != sha256:
        tmp.unlink()
        raise OSError(f"copy of {source} to {target} is corrupt: sha256 {copied} != {sha256}")
    os.replace(tmp, target)


def publish_artifact(
    request_id: str,
    targets: list[str],
    export_path: Path,
    export_sha256: str,
    report_files: dict[str, Path],
    manifest: dict[str, Any],
    config: PublishConfig,
) -> tuple[Path, dict[str, Any]]:
    """Copy the export and report files to every target, then write the manifest last.

    Returns the manifest's path and its content (`manifest` plus where each file went).
    """
    unknown = sorted(set(targets) - {"local"})
    if unknown:
        raise ValueError(f"publish targets {unknown} are not available here; allowed: local")
    folder = config.artifact_root / request_id
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest_path.unlink()  # a re-run re-publishes: the old manifest must not vouch for new files
    export_target = folder / export_path.name
    _copy_verified(export_path, export_target, export_sha256)
    published_reports = {}
    for name, path in sorted(report_files.items()):
        target = folder / path.name
        _copy_verified(path, target, sha256_file(path))
        published_reports[name] = str(target)
    content = {
        **manifest,
        "export_uri": str(export_target),
        "report_uri": published_reports.get("report"),
        "files": published_reports,
        "locations": {"local": str(export_target)},
    }
    _write_json_atomic(manifest_path, content)
    return manifest_path, content


def read_manifest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
