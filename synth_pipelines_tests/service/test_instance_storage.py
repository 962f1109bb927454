"""The production instance storage (dagster.yaml → PooledPostgresStorage) on a real PostgreSQL server.

The property: a process that issues many storage calls opens a handful of connections, not one
per call (the stock dagster-postgres storage opens one per statement outside the webserver, which
held the daemon to ~40 new runs a minute under the 1,000-request load); and a pooled connection
that PostgreSQL dropped (a restart) is replaced before it is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import event

from synth_pipelines.instance_storage import POOL_SIZE
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.dagster_processes import make_dagster_home
from synth_pipelines_tests.service.postgres import Postgres, postgres_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def instance(pg: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = make_dagster_home(tmp_path / "home", REPO_ROOT / "dagster.yaml")
    for name, value in pg.env().items():
        monkeypatch.setenv(name, value)  # what the production dagster.yaml reads (a Dagster instance, not our code)
    with dg.DagsterInstance.from_config(str(home)) as loaded:
        yield loaded


def _connects(instance: dg.DagsterInstance) -> list[int]:
    """Counts of new DB-API connections, one counter per engine of the instance's storages."""
    counts: list[int] = []
    for sub in (instance._run_storage, instance._event_storage, instance._schedule_storage):
        counts.append(0)
        index = len(counts) - 1

        def connected(*_args, index: int = index) -> None:
            counts[index] += 1

        event.listen(sub._engine, "connect", connected)
    return counts


def test_many_storage_calls_reuse_a_few_connections(instance: dg.DagsterInstance) -> None:
    counts = _connects(instance)
    for i in range(60):
        instance.get_runs(limit=5)
        instance.get_run_records(limit=1)
        instance.all_instigator_state()
        instance.get_latest_materialization_event(dg.AssetKey(f"nothing_{i}"))
    # 240 calls: a stock (NullPool) storage connects at least once per call.
    assert sum(counts) <= 3 * POOL_SIZE, counts


def test_a_connection_postgres_dropped_is_replaced_before_use(instance: dg.DagsterInstance, pg: Postgres) -> None:
    instance.get_runs(limit=1)
    pg.restart()  # every pooled connection is now dead
    assert instance.get_runs(limit=1) == []
