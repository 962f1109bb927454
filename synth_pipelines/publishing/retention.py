"""Retention: which requests' artifacts are old enough to remove, never those whose manifest says keep.

A request's work folder holds its data snapshots, model, chunks, export and, under `io/`,
every asset output of its run (the work-area IO manager), so removing the folder removes
all of them. Outputs of unpartitioned runs sit in `<work_root>/_io/runs/<run_id>/` and expire
by file time, one run at a time.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# The work-area folder of outputs that belong to no request (resources.WorkAreaIOManager).
UNPARTITIONED_IO = "_io"


@dataclass(frozen=True)
class Expired:
    request_id: str
    age_days: float
    paths: tuple[Path, ...]


def _manifest(artifact_root: Path, request_id: str) -> dict | None:
    path = artifact_root / request_id / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _newest_mtime(paths: list[Path]) -> datetime:
    stamps = [p.stat().st_mtime for folder in paths for p in [folder, *folder.rglob("*")]]
    return datetime.fromtimestamp(max(stamps), UTC)


def find_expired(artifact_root: Path, work_root: Path, max_age: timedelta, now: datetime) -> list[Expired]:
    """Requests whose artifacts are older than max_age (by the manifest's created_at, else file times)."""
    ids = sorted(
        {p.name for root in (artifact_root, work_root) if root.is_dir() for p in root.iterdir() if p.is_dir()}
        - {"_ipfs", UNPARTITIONED_IO}  # shared by every request: the embedded IPFS block store, unpartitioned runs
    )
    expired = []
    for request_id in ids:
        paths = [root / request_id for root in (artifact_root, work_root) if (root / request_id).is_dir()]
        manifest = _manifest(artifact_root, request_id)
        if manifest is not None and manifest.get("keep"):
            continue
        created = (
            datetime.fromisoformat(manifest["created_at"])
            if manifest and manifest.get("created_at")
            else _newest_mtime(paths)
        )
        age = now - created
        if age > max_age:
            expired.append(Expired(request_id, round(age.total_seconds() / 86400, 2), tuple(paths)))
    return expired + _expired_unpartitioned_runs(work_root, max_age, now)


def _expired_unpartitioned_runs(work_root: Path, max_age: timedelta, now: datetime) -> list[Expired]:
    """Run folders of unpartitioned jobs' outputs, named `_io/<run_id>` (no request or partition has that id)."""
    runs = work_root / UNPARTITIONED_IO / "runs"
    if not runs.is_dir():
        return []
    expired = []
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        age = now - _newest_mtime([folder])
        if age > max_age:
            days = round(age.total_seconds() / 86400, 2)
            expired.append(Expired(f"{UNPARTITIONED_IO}/{folder.name}", days, (folder,)))
    return expired


def remove(expired: Expired) -> None:
    for path in expired.paths:
        shutil.rmtree(path, ignore_errors=True)
