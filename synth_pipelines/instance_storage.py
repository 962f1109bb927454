"""The instance's PostgreSQL storage, with a pool of open connections in every Dagster process.

dagster-postgres opens a new PostgreSQL connection for every statement outside the webserver
(SQLAlchemy's NullPool; only dagster-webserver calls `optimize_for_webserver`). A sensor that
turns 100 requests into runs issues hundreds of statements, and py-spy on the daemon during the
1,000-request load (benchmarks/service_load.py) found 68% of its time in `psycopg2.connect`
(a backend forked and a SCRAM handshake per statement): 200 runs took 1,019 s to create with the
stock storage and 231 s with this one (results/service_load_stock.md, results/service_load.md).
This class keeps dagster-postgres' three storages and only swaps each one's engine for a
pooled one: `pool_pre_ping` replaces a connection PostgreSQL dropped (a restart, an idle
timeout) before it is used, `pool_recycle` retires old ones. Named in dagster.yaml as
`storage: custom:`; its config is dagster-postgres' `postgres_db` block unchanged.
"""

from __future__ import annotations

from typing import Any

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

POOL_SIZE = 4  # connections kept open per storage per process (the daemon's threads share them)
MAX_OVERFLOW = 16  # more are opened under bursts and closed when returned
POOL_RECYCLE_S = 3600


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run, event-log and schedule storages reuse their connections."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data=None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()
            storage._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_S,
                pool_pre_ping=True,
            )

    @classmethod
    def from_config_value(cls, inst_data, config_value: dict[str, Any]) -> PooledPostgresStorage:
        return cls(
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            token_provider=get_token_provider_from_config(config_value),
        )
