"""The privacy ledger: every charged attempt of ε against a dataset, and the per-dataset cap, reserved atomically.

One row per charged attempt. The caller names the attempt (for example
"<run_id>:<step>:<retry>"): the same attempt asked again is charged once, while a new attempt
of the same request is charged again, because a retried or re-executed training run sees the
rows again and spends ε again.

The cap is kept per *declared* dataset id (the request's `dataset.id`, by default its URI),
not per file hash: a re-sorted or re-encoded copy of the same table is the same data and
shares one budget.

`reserve` is one transaction that holds a per-dataset lock while it sums the spend, compares
it with the cap and inserts the charge, so concurrent runs on one dataset cannot both pass
the cap. PostgreSQL locks a `privacy_datasets` row (`SELECT ... FOR UPDATE`); SQLite takes the
database's write lock up front (`BEGIN IMMEDIATE`). Other databases are refused rather than
served without a lock we have tested.

Any SQLAlchemy URL for those two works: `sqlite:///path.db` by default, `postgresql://...` in
production. The older `privacy_spends` table (one row per request, keyed on the file's SHA-256)
is left untouched: its keys do not map onto declared dataset ids.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from synth_pipelines.core.request import RequestError, SynthesisRequest
from synth_pipelines.privacy.budget import check_budget, resolve_delta

_metadata = sa.MetaData()

# A dataset id may be a URI; 2,048 characters covers S3 and HTTP URIs in practice.
_ID = sa.String(2048)

datasets = sa.Table(
    "privacy_datasets",
    _metadata,
    sa.Column("dataset_id", _ID, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

charges = sa.Table(
    "privacy_charges",
    _metadata,
    sa.Column("attempt_id", sa.String(512), primary_key=True),
    sa.Column("request_id", sa.String(200), nullable=False, index=True),
    sa.Column("dataset_id", _ID, nullable=False, index=True),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("mechanism", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Sums of floats in SQL may differ from the exact sum in the last bits; without this an
# exact fill of the cap (e.g. 0.1 + 0.2 against 0.3) would be refused.
_CAP_TOLERANCE = 1e-9

# Any fixed 64-bit key: serialises concurrent first-time table creation on PostgreSQL.
_SCHEMA_LOCK_KEY = 0x5059_4C45_4447_4552


class PrivacyLedger:
    """Charges of ε per declared dataset, kept in a database that outlives any run."""

    def __init__(self, url: str):
        self.url = url
        backend = sa.engine.make_url(url).get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                f"the privacy ledger supports sqlite:/// and postgresql:// URLs, not {backend!r}: "
                "reservations must be serialised per dataset, and only those two are implemented and tested"
            )
        self._backend = backend
        if backend == "sqlite":
            database = sa.engine.make_url(url).database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # Many run workers wait on the write lock at once; the default 5 s is too short for that.
            self._engine = sa.create_engine(url, connect_args={"timeout": 60})
            _take_write_lock_on_begin(self._engine)
            with self._engine.begin() as connection:
                _metadata.create_all(connection)
        else:
            self._engine = sa.create_engine(url, isolation_level="READ COMMITTED")
            with self._engine.begin() as connection:
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
                _metadata.create_all(connection)

    def reserve(
        self,
        *,
        dataset_id: str,
        attempt_id: str,
        request_id: str,
        requester: str,
        epsilon: float,
        delta: float,
        mechanism: str,
        cap: float,
    ) -> list[dict[str, Any]]:
        """Charge one attempt's ε to a dataset, or refuse it if the dataset's total would pass `cap`.

        One transaction, serialised per dataset. Returns the dataset's entries after the charge.
        Reserving an attempt that is already charged charges nothing and answers the same way
        (even if the cap has since filled); reusing its id for another dataset, request or spend
        is an error.
        """
        for name, value in (("dataset_id", dataset_id), ("attempt_id", attempt_id), ("request_id", request_id)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        epsilon, delta, cap = _number("epsilon", epsilon), _number("delta", delta), _number("cap", cap)
        if not epsilon > 0:
            raise ValueError(f"epsilon {epsilon!r} is not a spend; it must be > 0 and finite")
        if not 0 <= delta < 1:
            raise ValueError(f"delta {delta!r} must be in [0, 1)")
        if cap < 0:
            raise ValueError(f"cap {cap!r} must be >= 0")
        charge = {
            "attempt_id": attempt_id,
            "request_id": request_id,
            "dataset_id": dataset_id,
            "requester": requester,
            "epsilon": epsilon,
            "delta": delta,
            "mechanism": mechanism,
            "created_at": datetime.now(UTC),
        }
        try:
            with self._engine.begin() as connection:
                self._lock_dataset(connection, dataset_id)
                existing = (
                    connection.execute(sa.select(charges).where(charges.c.attempt_id == attempt_id)).mappings().first()
                )
                if existing is not None:
                    _same_attempt(dict(existing), charge)
                else:
                    spent = float(connection.execute(_spent_query(dataset_id)).scalar_one())
                    if spent + epsilon > cap + _CAP_TOLERANCE:
                        raise RequestError([("privacy.epsilon", _over_cap(dataset_id, epsilon, spent, cap))])
                    connection.execute(charges.insert().values(**charge))
                return _entries(connection, dataset_id)
        except IntegrityError:
            # Only an attempt id already charged to *another* dataset gets here: the lock
            # serialises every other writer of this attempt id.
            raise ValueError(f"attempt_id {attempt_id!r} is already charged to another dataset") from None

    def spent(self, dataset_id: str) -> float:
        """Total ε charged to a dataset."""
        with self._engine.connect() as connection:
            return float(connection.execute(_spent_query(dataset_id)).scalar_one())

    def entries(self, dataset_id: str | None = None) -> list[dict[str, Any]]:
        """Every charged attempt (of one dataset, if given), oldest first."""
        with self._engine.connect() as connection:
            return _entries(connection, dataset_id)

    def _lock_dataset(self, connection: sa.Connection, dataset_id: str) -> None:
        """Hold the dataset's lock until the transaction ends."""
        row = {"dataset_id": dataset_id, "created_at": datetime.now(UTC)}
        insert: Any
        if self._backend == "sqlite":
            # BEGIN IMMEDIATE already holds the database's write lock; the row only lists the dataset.
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        # A concurrent first charge of a new dataset waits here for the other inserter to commit.
        connection.execute(insert(datasets).values(**row).on_conflict_do_nothing(index_elements=["dataset_id"]))
        if self._backend == "postgresql":
            connection.execute(
                sa.select(datasets.c.dataset_id).where(datasets.c.dataset_id == dataset_id).with_for_update()
            )


def _take_write_lock_on_begin(engine: sa.Engine) -> None:
    """Make every SQLite transaction start with BEGIN IMMEDIATE.

    pysqlite otherwise begins lazily and deferred, so two readers could both sum the spend and
    then race to write; IMMEDIATE takes the write lock before the first read. (`reserve` also
    starts with an INSERT, which takes that lock too; this keeps the guarantee from resting on
    statement order.)
    """

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} {value!r} must be finite")
    return value


def _spent_query(dataset_id: str) -> sa.Select:
    return sa.select(sa.func.coalesce(sa.func.sum(charges.c.epsilon), 0.0)).where(charges.c.dataset_id == dataset_id)


def _entries(connection: sa.Connection, dataset_id: str | None) -> list[dict[str, Any]]:
    query = sa.select(charges).order_by(charges.c.created_at, charges.c.attempt_id)
    if dataset_id is not None:
        query = query.where(charges.c.dataset_id == dataset_id)
    rows = [dict(row) for row in connection.execute(query).mappings()]
    for row in rows:
        if row["created_at"].tzinfo is None:  # SQLite keeps no zone; we only ever write UTC.
            row["created_at"] = row["created_at"].replace(tzinfo=UTC)
    return rows


def _same_attempt(existing: dict[str, Any], charge: dict[str, Any]) -> None:
    """An attempt id names one charge: asking again with other terms is a caller's bug, not a new attempt."""
    differs = [
        key
        for key in ("dataset_id", "request_id", "epsilon", "delta", "mechanism")
        if existing[key] != charge[key]
        and not (key in ("epsilon", "delta") and math.isclose(existing[key], charge[key]))
    ]
    if differs:
        raise ValueError(
            f"attempt_id {charge['attempt_id']!r} is already charged with other {', '.join(differs)}; "
            "a new attempt needs a new attempt_id"
        )


def _over_cap(dataset_id: str, epsilon: float, spent: float, cap: float) -> str:
    return (
        f"epsilon {epsilon:g} would bring the cumulative spend on dataset {dataset_id!r} to {spent + epsilon:g}, "
        f"over its cap of {cap:g} (already spent {spent:g}; at most {max(cap - spent, 0.0):g} is left)"
    )


def charge_training(
    ledger: PrivacyLedger, request: SynthesisRequest, attempt_id: str, *, max_epsilon: float, cap: float
) -> list[dict[str, Any]]:
    """Charge one training attempt of a DP request to its dataset's budget, before any mechanism runs.

    Every attempt is charged (a retry or a re-run of the same request spends again: it releases
    fresh noisy statistics), and the cap check and the charge are one transaction, so
    concurrent runs cannot both pass it. Raises RequestError when the request or the cap refuses.
    """
    privacy = request.privacy
    assert privacy is not None and request.dataset_id is not None, "only a DP request on a dataset is charged"
    declared_rows = request.schema.num_rows if request.schema is not None else None
    check_budget(privacy, declared_rows, max_epsilon)
    delta, _ = resolve_delta(privacy, declared_rows)
    return ledger.reserve(
        dataset_id=request.dataset_id,
        attempt_id=attempt_id,
        request_id=request.request_id,
        requester=request.requester,
        epsilon=privacy.epsilon,
        delta=delta,
        mechanism=request.synthesizer.name,
        cap=cap,
    )


def entries_markdown(entries: list[dict[str, Any]]) -> str:
    """The ledger's entries for one dataset as a Markdown table, with the total spent."""
    lines = ["| request | requester | ε | δ | mechanism | when |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {e['request_id']} | {e['requester']} | {e['epsilon']:g} | {e['delta']:.3g} | {e['mechanism']} "
        f"| {e['created_at']} |"
        for e in entries
    ]
    lines.append(f"\n**spent on this dataset: ε = {sum(e['epsilon'] for e in entries):g}**")
    return "\n".join(lines)
