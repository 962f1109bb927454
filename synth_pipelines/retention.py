"""Retention: which requests' artifacts are old enough to remove, never those whose manifest says keep."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


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
        - {"_ipfs"}  # the embedded IPFS block store is shared by every request
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
    return expired


def remove(expired: Expired) -> None:
    for path in expired.paths:
        shutil.rmtree(path, ignore_errors=True)
