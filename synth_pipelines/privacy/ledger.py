"""The privacy ledger: every spend of ε on a dataset, who asked, and when; and the per-dataset cap.

One row per request (request_id is the primary key), so recording a request twice never
counts it twice. Any SQLAlchemy URL works: `sqlite:///path.db` by default,
`postgresql://...` in production.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from synth_pipelines.request import RequestError

_metadata = sa.MetaData()
spends = sa.Table(
    "privacy_spends",
    _metadata,
    sa.Column("request_id", sa.String(200), primary_key=True),
    sa.Column("dataset_fingerprint", sa.String(128), nullable=False, index=True),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("mechanism", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def fingerprint_file(path: str | Path) -> str:
    """SHA-256 of the file's bytes: the identity the cap is kept per (the raw_dataset fingerprint)."""
    from synth_pipelines.publishing import sha256_file

    return sha256_file(Path(path))


class PrivacyLedger:
    """Spends of ε per dataset, kept in a database that outlives any run."""

    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self._engine = sa.create_engine(url, future=True)
        _metadata.create_all(self._engine)

    def record_spend(
        self,
        request_id: str,
        dataset_fingerprint: str,
        requester: str,
        epsilon: float,
        delta: float,
        mechanism: str,
        created_at: datetime | None = None,
    ) -> None:
        """Record one request's spend; recording the same request again changes nothing."""
        if not epsilon > 0:
            raise ValueError(f"epsilon {epsilon!r} is not a spend; it must be > 0")
        row = {
            "request_id": request_id,
            "dataset_fingerprint": dataset_fingerprint,
            "requester": requester,
            "epsilon": float(epsilon),
            "delta": float(delta),
            "mechanism": mechanism,
            "created_at": created_at or datetime.now(UTC),
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(spends.insert().values(**row))
        except IntegrityError:
            existing = self._entry(request_id)
            if existing is None:
                raise
            if existing["dataset_fingerprint"] != dataset_fingerprint:
                raise ValueError(
                    f"request_id {request_id!r} was already recorded for dataset "
                    f"{existing['dataset_fingerprint']}, not {dataset_fingerprint}"
                ) from None

    def _entry(self, request_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(spends).where(spends.c.request_id == request_id)).mappings().first()
        return dict(row) if row is not None else None

    def spent(self, dataset_fingerprint: str) -> float:
        """Total ε recorded against a dataset."""
        query = sa.select(sa.func.coalesce(sa.func.sum(spends.c.epsilon), 0.0)).where(
            spends.c.dataset_fingerprint == dataset_fingerprint
        )
        with self._engine.connect() as connection:
            return float(connection.execute(query).scalar_one())

    def entries(self, dataset_fingerprint: str | None = None) -> list[dict[str, Any]]:
        """Every recorded spend (of one dataset, if given), oldest first."""
        query = sa.select(spends).order_by(spends.c.created_at, spends.c.request_id)
        if dataset_fingerprint is not None:
            query = query.where(spends.c.dataset_fingerprint == dataset_fingerprint)
        with self._engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        for row in rows:
            if row["created_at"].tzinfo is None:  # SQLite keeps no zone; we only ever write UTC.
                row["created_at"] = row["created_at"].replace(tzinfo=UTC)
        return rows

    def check_cap(self, dataset_fingerprint: str, epsilon: float, cap: float, request_id: str) -> None:
        """Refuse a request whose ε would take the dataset's total past `cap`; a recorded request is free."""
        if self._entry(request_id) is not None:
            return
        spent = self.spent(dataset_fingerprint)
        if spent + epsilon > cap + 1e-12:
            raise RequestError(
                [
                    (
                        "privacy.epsilon",
                        f"epsilon {epsilon:g} would bring this dataset's cumulative spend to {spent + epsilon:g}, "
                        f"over its cap of {cap:g} (already spent {spent:g}; at most {max(cap - spent, 0.0):g} "
                        "is left)",
                    )
                ]
            )
