"""Start real Dagster processes (dagster dev, webserver, daemon) for integration tests, and talk GraphQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from synth_pipelines.settings import REPO_ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_dagster_home(path: Path, instance_yaml: Path = REPO_ROOT / "deploy" / "local" / "dagster.yaml") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(instance_yaml, path / "dagster.yaml")
    return path


# Waits end on the event they wait for; the ceiling only stops a test that would never end. It is
# generous (CEILING_SCALE times what an idle 2-core machine needs) because a loaded shared machine
# can be many times slower: CI once took 48 min for a 16-min suite, and a 420 s wait was missed.
CEILING_SCALE = 4


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    """Poll until `predicate()` is truthy; print how long it took (durations are reported, not budgeted)."""
    started = time.monotonic()
    deadline = started + timeout * CEILING_SCALE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            print(f"waited {time.monotonic() - started:.1f}s for {what}")
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout * CEILING_SCALE:.0f}s waiting for {what}")


@contextlib.contextmanager
def dagster_process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """Run a Dagster command in its own process group; stop the whole group afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


@contextlib.contextmanager
def dagster_dev(env: dict[str, str], log: Path, port: int | None = None) -> Iterator[str]:
    """`dagster dev` as `make ui` runs it (webserver and daemon); yields the base URL once it serves."""
    port = port or free_port()
    args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with dagster_process(args, env, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _serves(url) or _died(process, log), 180, f"dagster dev on {url}")
        yield url


def _serves(url: str) -> bool:
    try:
        return requests.get(f"{url}/server_info", timeout=2).ok
    except requests.RequestException:
        return False


def _died(process: subprocess.Popen, log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
    return False


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    payload = response.json()
    if payload.get("errors"):
        raise RuntimeError(payload["errors"])
    return payload["data"]
