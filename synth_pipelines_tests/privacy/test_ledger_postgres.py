"""The privacy ledger on a real PostgreSQL server: concurrent runs never pass the cap; the lock is per dataset."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from synth_pipelines.core.request import RequestError
from synth_pipelines.privacy.ledger import PrivacyLedger
from synth_pipelines_tests.privacy.test_ledger import CAP, TERMS, assert_cap_held, race_in_threads
from synth_pipelines_tests.service.postgres import Postgres, postgres_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server(db="ledger") as server:
        yield server


@pytest.fixture
def url(pg: Postgres, request: pytest.FixtureRequest) -> str:
    """A fresh database per test, so no test sees another's charges."""
    name = "ledger_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_").lower()[:50]
    with contextlib.closing(pg.connect("postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg2://{pg.user}:{pg.password}@{pg.host}:{pg.port}/{name}"


def test_eight_concurrent_runs_on_one_dataset_charge_exactly_the_cap(url: str) -> None:
    ledger = PrivacyLedger(url)
    # The dataset is new: the racers also race to create its lock row (INSERT ... ON CONFLICT DO NOTHING).
    assert_cap_held(race_in_threads(url), ledger)
    assert ledger.spent("shared") == pytest.approx(CAP)


def test_charges_repeat_per_attempt_and_caps_are_per_dataset_on_postgres(url: str) -> None:
    ledger = PrivacyLedger(url)
    terms = {"request_id": "r1", "epsilon": 2.0, "cap": 5.0, **TERMS}
    ledger.reserve(dataset_id="adult", attempt_id="run1:train:0", **terms)
    ledger.reserve(dataset_id="adult", attempt_id="run2:train:0", **terms)  # a re-run pays again
    ledger.reserve(dataset_id="adult", attempt_id="run2:train:0", **terms)  # the same attempt does not
    assert ledger.spent("adult") == pytest.approx(4.0)
    with pytest.raises(RequestError):
        ledger.reserve(dataset_id="adult", attempt_id="run3:train:0", **terms)
    ledger.reserve(dataset_id="census", attempt_id="run4:train:0", **terms)
    assert ledger.spent("census") == pytest.approx(2.0)
    assert ledger.entries("adult")[0]["created_at"].tzinfo is not None
    # A ledger opened later (another run worker) sees the same charges.
    assert PrivacyLedger(url).spent("adult") == pytest.approx(4.0)


def test_a_reservation_waits_for_its_own_dataset_only(url: str, pg: Postgres) -> None:
    ledger = PrivacyLedger(url)
    terms = {"request_id": "r", "epsilon": 1.0, "cap": 5.0, **TERMS}
    ledger.reserve(dataset_id="adult", attempt_id="seed-a", **terms)
    ledger.reserve(dataset_id="census", attempt_id="seed-c", **terms)

    # Another session holds adult's lock row, as a reservation in flight would.
    database = url.rsplit("/", 1)[1]
    holder = pg.connect(database)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT dataset_id FROM privacy_datasets WHERE dataset_id = 'adult' FOR UPDATE")
        done: dict[str, float] = {}

        def reserve(dataset_id: str) -> None:
            PrivacyLedger(url).reserve(dataset_id=dataset_id, attempt_id=f"{dataset_id}-2", **terms)
            done[dataset_id] = time.monotonic()

        waiting = threading.Thread(target=reserve, args=("adult",))
        waiting.start()
        reserve("census")  # another dataset is not held up
        time.sleep(1.0)
        assert "census" in done and "adult" not in done
        holder.rollback()
        waiting.join(timeout=30)
        assert "adult" in done
    finally:
        holder.close()
    assert ledger.spent("adult") == pytest.approx(2.0)
    assert ledger.spent("census") == pytest.approx(2.0)
