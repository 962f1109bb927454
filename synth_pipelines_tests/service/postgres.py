"""A throwaway PostgreSQL cluster for integration tests: initdb + pg_ctl on a free loopback port.

PostgreSQL refuses to run as root, so when the tests run as root (CI containers) the cluster
is created and run as the unprivileged `nobody` user with `runuser`; its folder is a fresh
directory under the system temp dir owned by that user (pytest's tmp_path is root-only).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from synth_pipelines_tests.dagster_processes import free_port

UNPRIVILEGED_USER = "nobody"


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str
    log: Path
    data: Path | None = None

    def restart(self) -> None:
        """Stop the server (fast: open connections are cut) and start it again on the same port and options."""
        assert self.data is not None, "this server was not started by postgres_server()"
        _run(
            [_pg_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "-t", "60", "restart"],
            self.data.parent,
            "pg_ctl restart",
        )

    def env(self) -> dict[str, str]:
        """The variables the production dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }

    def connect(self, db: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=db or self.db
        )

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def _pg_tool(name: str) -> str:
    """A PostgreSQL server binary: on PATH (this image), or where Debian's `postgresql` package puts it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"`{name}` is not installed; install PostgreSQL server binaries (`make system-deps`)")
    return found


def _as_postgres_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    if not shutil.which("runuser"):
        raise RuntimeError("running as root and `runuser` is missing: PostgreSQL cannot run as root")
    return ["runuser", "-u", UNPRIVILEGED_USER, "--", *args]


def _run(args: list[str], cwd: Path, what: str) -> None:
    done = subprocess.run(_as_postgres_user(args), cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


@contextlib.contextmanager
def postgres_server(db: str = "dagster", user: str = "dagster", password: str = "dagster-test") -> Iterator[Postgres]:
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    base = Path(tempfile.mkdtemp(prefix="synth-pg-"))
    try:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        data = base / "data"
        _run(
            [
                initdb, "-D", str(data), "-U", user, "--pwfile", str(pwfile),
                "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync",
            ],
            base,
            initdb,
        )  # fmt: skip
        port = free_port()
        log = base / "postgres.log"
        options = f"-p {port} -h 127.0.0.1 -k {base} -c fsync=off -c full_page_writes=off -c max_connections=200"
        start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        _run(start, base, "pg_ctl start")
        server = Postgres("127.0.0.1", port, user, password, db, log, data)
        try:
            with contextlib.closing(server.connect("postgres")) as conn:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f'CREATE DATABASE "{db}"')
            yield server
        finally:
            subprocess.run(
                _as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]),
                cwd=base,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
