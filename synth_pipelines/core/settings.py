"""Where things live, from the environment, read when asked (never at import time).

| variable | default | what |
|---|---|---|
| SYNTH_DATA_ROOT | <repo>/sample_data | the only folder local dataset URIs may point into |
| SYNTH_HOME | <repo>/var | parent of the defaults below |
| SYNTH_REQUEST_ROOT | $SYNTH_HOME/requests | request store: incoming/ accepted/ rejected/ |
| SYNTH_REQUEST_STORE_URL | unset | s3://bucket/prefix: take requests from S3 instead of the local folder |
| SYNTH_WORK_ROOT | $SYNTH_HOME/work | private intermediates: snapshots, models, chunks |
| SYNTH_ARTIFACT_ROOT | $SYNTH_HOME/artifacts | the local artifact store (published files, manifests) |
| SYNTH_LEDGER_URL | sqlite:///$SYNTH_HOME/privacy_ledger.sqlite3 | the privacy ledger (a SQLAlchemy URL) |
| SYNTH_MAX_EPSILON | 10 | the largest ε one request may ask for |
| SYNTH_DATASET_EPSILON_CAP | 20 | the most ε all requests together may spend on one dataset |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser().resolve() if value else default.resolve()


def _positive(var: str, default: float) -> float:
    value = os.environ.get(var, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ValueError(f"{var}={value!r} is not allowed; allowed: a number > 0")
    return number


@dataclass(frozen=True)
class Settings:
    data_root: Path
    request_root: Path
    work_root: Path
    artifact_root: Path
    request_store_url: str = ""
    ledger_url: str = ""
    max_epsilon: float = 10.0
    dataset_epsilon_cap: float = 20.0

    @classmethod
    def from_env(cls) -> Settings:
        home = _path("SYNTH_HOME", REPO_ROOT / "var")
        return cls(
            data_root=_path("SYNTH_DATA_ROOT", REPO_ROOT / "sample_data"),
            request_root=_path("SYNTH_REQUEST_ROOT", home / "requests"),
            work_root=_path("SYNTH_WORK_ROOT", home / "work"),
            artifact_root=_path("SYNTH_ARTIFACT_ROOT", home / "artifacts"),
            request_store_url=os.environ.get("SYNTH_REQUEST_STORE_URL", "").strip(),
            ledger_url=os.environ.get("SYNTH_LEDGER_URL", "").strip() or f"sqlite:///{home / 'privacy_ledger.sqlite3'}",
            max_epsilon=_positive("SYNTH_MAX_EPSILON", 10.0),
            dataset_epsilon_cap=_positive("SYNTH_DATASET_EPSILON_CAP", 20.0),
        )
