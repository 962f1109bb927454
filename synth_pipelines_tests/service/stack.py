"""A production-shaped Dagster service: PostgreSQL + dagster-webserver + dagster-daemon.

DAGSTER_HOME holds the repository's top-level (production) dagster.yaml unchanged; it reads
DAGSTER_PG_* from the environment, which point at a PostgreSQL cluster started here. Used by the
service tests (one service per test module) and by benchmarks/service_load.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.dagster_processes import (
    BIN,
    _died,
    _serves,
    dagster_process,
    free_port,
    graphql,
    make_dagster_home,
    wait_for,
)
from synth_pipelines_tests.service.postgres import Postgres, postgres_server

IDENTITY_SECRET = "service-identity-secret"
TEST_REQUESTER = "tester@example.org"  # small_request's


def requester_tags(user: str) -> dict[str, str]:
    """The signed identity tags the deploy's proxy would hand `user` (a requester)."""
    from synth_pipelines.intake.identity import Identity, signed_tags

    return signed_tags(Identity(user, "requester"), IDENTITY_SECRET)


DAEMON_HEALTH = """
{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""


@dataclass(frozen=True)
class Service:
    url: str
    env: dict[str, str]
    pg: Postgres
    home: Path
    data_root: Path
    artifact_root: Path
    logs: Path

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.logs.glob("*.log"))
        )


@contextlib.contextmanager
def production_service(
    root: Path, frame: pd.DataFrame, instance_edits: dict[str, str] | None = None
) -> Iterator[Service]:
    """Start the service under `root` (its data root holds `frame` as adult_small.csv); stop it on exit.

    `instance_edits` replaces lines of the production dagster.yaml (a benchmark's variant, stated there).
    """
    root = Path(root)
    data = root / "data"
    data.mkdir()
    frame.to_csv(data / "adult_small.csv", index=False)
    logs = root / "logs"
    logs.mkdir()
    home = make_dagster_home(root / "dagster_home", REPO_ROOT / "dagster.yaml")
    for old, new in (instance_edits or {}).items():
        text = (home / "dagster.yaml").read_text()
        assert old in text, f"{old!r} is not in dagster.yaml"
        (home / "dagster.yaml").write_text(text.replace(old, new))
    with postgres_server() as pg:
        env = {
            **os.environ,
            **pg.env(),
            "DAGSTER_HOME": str(home),
            "SYNTH_DATA_ROOT": str(data),
            "SYNTH_HOME": str(root / "synth_home"),
            "GX_ANALYTICS_ENABLED": "false",
            # As deployed: every launch carries a signed identity; the CLI's is the test requester's.
            "SYNTH_IDENTITY_SECRET": IDENTITY_SECRET,
            "SYNTH_USER": TEST_REQUESTER,
            "SYNTH_SIGNATURE": requester_tags(TEST_REQUESTER)["synth/signature"],
        }
        for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT", "SYNTH_LEDGER_URL"):
            env.pop(var, None)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        webserver = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        daemon = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        with (
            dagster_process(webserver, env, logs / "webserver.log") as web,
            dagster_process(daemon, env, logs / "daemon.log") as dmn,
        ):
            wait_for(lambda: _serves(url) or _died(web, logs / "webserver.log"), 240, f"dagster-webserver on {url}", 2)

            def daemon_ready() -> bool:
                _died(dmn, logs / "daemon.log")
                statuses = graphql(url, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
                healthy = {s["daemonType"] for s in statuses if s["healthy"]}
                return "QUEUED_RUN_COORDINATOR" in healthy

            wait_for(daemon_ready, 240, "the daemon's run queue", 2)
            yield Service(
                url=url,
                env=env,
                pg=pg,
                home=home,
                data_root=data,
                artifact_root=root / "synth_home" / "artifacts",
                logs=logs,
            )
        shutil.copy(pg.log, logs / "postgres.log")
