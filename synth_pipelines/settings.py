"""The deploy's configuration, read from the environment once, when the code location loads.

Only the wiring reads it: `definitions.py` turns a `Settings` into typed resources
(`resources.build_resources`), and tests build a `Settings` directly and pass the resources in.

| variable | default | what |
|---|---|---|
| SYNTH_DATA_ROOT | <repo>/sample_data | the only folder local dataset URIs may point into |
| SYNTH_HOME | <repo>/var | parent of the defaults below |
| SYNTH_REQUEST_ROOT | $SYNTH_HOME/requests | request store: incoming/ accepted/ rejected/ |
| SYNTH_REQUEST_STORE_URL | unset | s3://bucket/prefix: take requests from S3 instead of the local folder |
| SYNTH_WORK_ROOT | $SYNTH_HOME/work | private intermediates: snapshots, models, chunks |
| SYNTH_ARTIFACT_ROOT | $SYNTH_HOME/artifacts | the local artifact store (published files, manifests) |
| SYNTH_LEDGER_URL | sqlite in $SYNTH_HOME | the privacy ledger (SQLAlchemy URL; may hold a password) |
| SYNTH_MAX_EPSILON | 10 | the largest ε one request may ask for |
| SYNTH_DATASET_EPSILON_CAP | 20 | the most ε all requests together may spend on one dataset |
| SYNTH_DEVICE | auto | where models train: auto, cpu, cuda |
| SYNTH_CHUNK_STEPS | SYNTH_MAX_CONCURRENT | steps the chunks are spread over |
| SYNTH_COPULA_SAMPLING | table | gaussian_copula sampling: table (tabulated inverse CDFs) or exact (SDV's) |
| SYNTH_INTAKE_BATCH | 100 | requests the intake sensor validates per tick |
| SYNTH_IDENTITY_SECRET | unset | HMAC key of the proxy's signed identity; set: runs need one (intake/identity.py) |
| SYNTH_RETENTION_DAYS | 30 | artifacts older than this are removed (unless their manifest says keep) |
| SYNTH_S3_*, SYNTH_IPFS_*, SYNTH_ARWEAVE_*, SYNTH_PUBLISH_* | | publishing (publishing/config.py) |
| SYNTH_EXECUTOR, SYNTH_MAX_CONCURRENT, SYNTH_CELERY_* | | the executor (executors.py) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from synth_pipelines.core.env import env_choice, env_int, env_number, env_path, env_text
from synth_pipelines.publishing.config import PublishConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
DEVICES = ("auto", "cpu", "cuda")
COPULA_SAMPLING = ("table", "exact")


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
    device: str = "auto"
    chunk_steps: int = 0  # 0: as many as the executor runs at once
    copula_sampling: str = "table"
    intake_batch: int = 100
    retention_days: float = 30.0
    identity_secret: str = ""
    publish: PublishConfig | None = field(default=None)

    @classmethod
    def in_folder(cls, home: Path, data_root: Path, **overrides) -> Settings:
        """Every root under `home` (tests and scripts): nothing read from the environment."""
        home = Path(home)
        values = {
            "data_root": Path(data_root),
            "request_root": home / "requests",
            "work_root": home / "work",
            "artifact_root": home / "artifacts",
            "ledger_url": f"sqlite:///{home / 'privacy_ledger.sqlite3'}",
            **overrides,
        }
        values.setdefault("publish", PublishConfig(artifact_root=values["artifact_root"]))
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = env_path("SYNTH_HOME", REPO_ROOT / "var", env)
        artifact_root = env_path("SYNTH_ARTIFACT_ROOT", home / "artifacts", env)
        return cls(
            data_root=env_path("SYNTH_DATA_ROOT", REPO_ROOT / "sample_data", env),
            request_root=env_path("SYNTH_REQUEST_ROOT", home / "requests", env),
            work_root=env_path("SYNTH_WORK_ROOT", home / "work", env),
            artifact_root=artifact_root,
            request_store_url=env_text("SYNTH_REQUEST_STORE_URL", env=env),
            ledger_url=env_text("SYNTH_LEDGER_URL", f"sqlite:///{home / 'privacy_ledger.sqlite3'}", env),
            max_epsilon=env_number("SYNTH_MAX_EPSILON", 10.0, 1e-9, env=env),
            dataset_epsilon_cap=env_number("SYNTH_DATASET_EPSILON_CAP", 20.0, 1e-9, env=env),
            device=env_choice("SYNTH_DEVICE", "auto", DEVICES, env),
            chunk_steps=env_int("SYNTH_CHUNK_STEPS", 0, 1, env),
            copula_sampling=env_choice("SYNTH_COPULA_SAMPLING", "table", COPULA_SAMPLING, env),
            intake_batch=env_int("SYNTH_INTAKE_BATCH", 100, 1, env),
            retention_days=env_number("SYNTH_RETENTION_DAYS", 30.0, 0, env=env),
            identity_secret=env_text("SYNTH_IDENTITY_SECRET", env=env),
            publish=PublishConfig.from_env(artifact_root, env),
        )

    def publish_config(self) -> PublishConfig:
        return self.publish if self.publish is not None else PublishConfig(artifact_root=self.artifact_root)
