"""Faults caused for real against the production-shaped service (PostgreSQL, webserver, daemon).

Each test breaks one real part while a run is in flight and then checks what a user relies on:
the request ends in exactly one successful run, its export is the same bytes an undisturbed run
writes, one manifest is published, and the notification says how it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from synth_pipelines.core.files import sha256_file
from synth_pipelines.core.request import parse_request
from synth_pipelines.graphql_client import run_status, submit
from synth_pipelines.publishing import NotificationStore
from synth_pipelines.settings import Settings
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import BIN, dagster_process, wait_for
from synth_pipelines_tests.service.conftest import TEST_REQUESTER, requester_tags

pytestmark = pytest.mark.integration

TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")
# 100 chunks of 2,000 rows in two steps: each step writes chunks for many seconds, so it is killed mid-way.
MANY_CHUNKS = {"rows": 200_000, "chunk_rows": 2_000}


def _events(pg, run_id: str, step_like: str | None, kind: str | None = None, text: str | None = None) -> list[dict]:
    """The run's events (as stored) of steps matching `step_like` (None: any event), of a type, containing text."""
    sql = "SELECT event FROM event_logs WHERE run_id = %s"
    params: list = [run_id]
    if step_like is not None:
        sql += " AND step_key LIKE %s"
        params.append(step_like)
    if kind is not None:
        sql += " AND dagster_event_type = %s"
        params.append(kind)
    if text is not None:
        sql += " AND event LIKE %s"
        params.append(f"%{text}%")
    return [json.loads(row[0]) for row in pg.query(sql + " ORDER BY id", tuple(params))]


def _ended(service, run_id: str) -> dict:
    def done():
        try:
            status = run_status(run_id, service.url)
        except Exception:  # the webserver answers errors while PostgreSQL restarts: ask again
            return None
        return status if status["status"] in TERMINAL else None

    return wait_for(done, 600, f"run {run_id} to end", interval=2)


@pytest.fixture(scope="module")
def reference_sha(service) -> str:
    """The export an undisturbed run of the MANY_CHUNKS request (another id, same data and seed) publishes."""
    request_id = "fault-reference"
    request = parse_request(small_request(request_id=request_id, **MANY_CHUNKS))
    result = submit(request, service.url, wait=True, identity=requester_tags(TEST_REQUESTER))
    assert result.status == "SUCCESS", f"{result}\n{service.log_tail()}"
    return json.loads((service.artifact_root / request_id / "manifest.json").read_text())["sha256"]


def _launch(service, request: dict) -> str:
    """Launch a request over GraphQL as its requester (signed as the deploy's proxy signs); its run id."""
    return submit(parse_request(request), service.url, identity=requester_tags(TEST_REQUESTER)).run_id


def _first_chunk_written(service, run_id: str) -> dict:
    """Wait until a chunk step of the run has written a chunk; return that log event."""
    written = wait_for(
        lambda: _events(service.pg, run_id, "synthetic_chunks.generate_chunks%", text=" written: ") or None,
        600,
        "a first chunk written",
        0.2,
    )
    return written[0]


def _published(service, request_id: str, run_id: str) -> dict:
    manifest = json.loads((service.artifact_root / request_id / "manifest.json").read_text())
    assert manifest["dagster_run_id"] == run_id
    export = Path(manifest["export_uri"])
    assert sha256_file(export) == manifest["sha256"], "the published file is not what the manifest describes"
    runs = service.pg.query("SELECT status FROM runs WHERE partition = %s", (request_id,))
    assert runs == [("SUCCESS",)], f"the request ran {len(runs)} times: {runs}"
    return manifest


def _notified(service, request_id: str, run_id: str) -> list:
    """The request's notifications, once the one for `run_id` has been recorded (oldest first)."""
    store = NotificationStore(Settings.from_env(service.env).request_root)
    return wait_for(
        lambda: (notes := store.list(request_id=request_id)) and any(n.run_id == run_id for n in notes) and notes,
        180,
        f"the notification of run {run_id}",
        2,
    )


def test_a_chunk_step_killed_mid_way_is_retried_reuses_its_chunks_and_writes_the_same_bytes(service, reference_sha):
    request_id = "fault-kill-chunk"
    run_id = _launch(service, small_request(request_id=request_id, **MANY_CHUNKS))
    pg = service.pg
    # Once a chunk step has written a chunk, SIGKILL that step's process (not Dagster's doing).
    step_key = _first_chunk_written(service, run_id)["step_key"]
    (start,) = _events(pg, run_id, step_key, kind="STEP_START")
    pid = start["dagster_event"]["pid"]
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    ended = _ended(service, run_id)
    assert ended["status"] == "SUCCESS", f"{ended}\n{service.log_tail()}"
    # The executor saw its child die, and the step's retry policy ran it again in the same run ...
    crash = _events(pg, run_id, step_key, text="was terminated by signal 9 (SIGKILL)")
    assert crash, "no engine event records the killed step process"
    assert _events(pg, run_id, step_key, kind="STEP_UP_FOR_RETRY"), "the killed step was not put up for retry"
    (restart,) = _events(pg, run_id, step_key, kind="STEP_RESTARTED")
    assert restart["dagster_event"]["pid"] != pid
    # ... which found the chunks its first attempt had finished and did not make them again.
    reused = _events(pg, run_id, step_key, text=" already written: ")
    made_before = len(_events(pg, run_id, step_key, text=" written: ")) - len(reused)
    assert reused, "the retried step wrote every chunk again"
    assert made_before >= len(reused)
    manifest = _published(service, request_id, run_id)
    assert manifest["rows"] == MANY_CHUNKS["rows"]
    # Resuming from finished chunks gives the bytes an undisturbed run gives.
    assert manifest["sha256"] == reference_sha
    (note,) = _notified(service, request_id, run_id)
    assert note.outcome == "success"
    print(
        f"killed {step_key} (pid {pid}); {len(reused)} chunks reused; ended {time.monotonic() - killed_at:.0f}s later"
    )


def _kill_tree(root: psutil.Process) -> None:
    """SIGKILL a process and everything under it at once, as the OOM killer or a crashed container does."""
    tree = [root, *root.children(recursive=True)]
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(tree, timeout=30)


def _run_worker(pg, run_id: str) -> psutil.Process:
    (start,) = _events(pg, run_id, None, kind="PIPELINE_START")  # RUN_START, stored under its historical name
    return psutil.Process(start["dagster_event"]["pid"])


def _resumed(service, request_id: str, run_id: str, reference_sha: str, crash_words: str) -> str:
    """The failed run's one retry (run_retries) succeeds, reuses chunks on disk and publishes the reference bytes."""
    pg = service.pg
    first = _ended(service, run_id)
    assert first["status"] == "FAILURE", first
    retry_id = wait_for(
        lambda: (
            [
                r[0]
                for r in pg.query(
                    "SELECT run_id FROM run_tags WHERE key = 'dagster/parent_run_id' AND value = %s", (run_id,)
                )
            ]
            or None
        ),
        300,
        "the retry of the failed run",
        2,
    )[0]
    ended = _ended(service, retry_id)
    assert ended["status"] == "SUCCESS", f"{ended}\n{service.log_tail()}"
    assert _events(pg, retry_id, "synthetic_chunks.generate_chunks%", text=" already written: "), (
        "the retry wrote every chunk again"
    )
    runs = pg.query("SELECT status FROM runs WHERE partition = %s ORDER BY create_timestamp", (request_id,))
    assert [status for (status,) in runs] == ["FAILURE", "SUCCESS"], runs
    manifest = json.loads((service.artifact_root / request_id / "manifest.json").read_text())
    assert manifest["dagster_run_id"] == retry_id and manifest["sha256"] == reference_sha
    assert sha256_file(Path(manifest["export_uri"])) == manifest["sha256"]
    # The requester is told both: the first run failed, why, and that it is retried; then the retry's success.
    failure, success = _notified(service, request_id, retry_id)
    assert (failure.run_id, failure.outcome, success.run_id, success.outcome) == (
        run_id,
        "failure",
        retry_id,
        "success",
    )
    assert crash_words in failure.reason and "run_retries re-executes" in failure.reason, failure.reason
    return retry_id


def test_a_run_worker_killed_mid_chunk_is_failed_retried_and_resumes_from_its_chunks(service, reference_sha):
    request_id = "fault-kill-worker"
    run_id = _launch(service, small_request(request_id=request_id, **MANY_CHUNKS))
    _first_chunk_written(service, run_id)
    _kill_tree(_run_worker(service.pg, run_id))
    # The code server that launched the worker sees it die and fails the run; run_retries resumes it.
    # dead_run_workers (every 15 s) may see the dead pid first: then the code server, finding the run
    # already failed, writes nothing. Either reporter says how the worker died; both fail the run once.
    reporters = {"was terminated by signal 9": "was terminated by signal 9 (SIGKILL)", "worker process (pid": "is gone"}

    def reported() -> str | None:
        return next((text for text in reporters if _events(service.pg, run_id, None, text=text)), None)

    found = wait_for(reported, 300, "the crash event", 1)
    print(f"the dead worker was reported by: {'the code server' if 'signal' in found else 'dead_run_workers'}")
    _resumed(service, request_id, run_id, reference_sha, reporters[found])


def test_postgres_restarted_during_training_the_request_still_ends_once(service):
    request_id = "fault-pg-restart"
    # Training long enough (tens of seconds) that PostgreSQL goes down and comes back while it runs.
    fields = {"synthesizer": {"name": "ctgan", "epochs": 60, "batch_size": 100}, "rows": 2_000}
    run_id = _launch(service, small_request(request_id=request_id, **fields))
    pg = service.pg
    wait_for(lambda: _events(pg, run_id, "trained_model", kind="STEP_START") or None, 600, "training to start", 0.5)
    time.sleep(2)
    restarted = time.monotonic()
    pg.restart()
    print(f"PostgreSQL was down for {time.monotonic() - restarted:.1f}s")

    ended = _ended(service, run_id)
    runs = pg.query("SELECT run_id, status FROM runs WHERE partition = %s ORDER BY create_timestamp", (request_id,))
    assert ended["status"] == "SUCCESS", f"{ended}\n{runs}\n{service.log_tail()}"
    _published(service, request_id, run_id)
    (note,) = _notified(service, request_id, run_id)
    assert note.outcome == "success"


# Last in the module: the service keeps the restarted daemon only for the rest of this test.
def test_the_daemon_killed_with_its_runs_and_restarted_resumes_them(service, reference_sha):
    """The daemon, its code server and the run worker it launched all die (a crashed daemon container).

    Nobody is left to report the run: it would stay STARTED for max_runtime_seconds. The restarted
    daemon's dead_run_workers sensor finds that its worker is gone and fails it; run_retries resumes it.
    """
    request_id = "fault-kill-daemon"
    run_id = _launch(service, small_request(request_id=request_id, **MANY_CHUNKS))
    _first_chunk_written(service, run_id)
    worker = _run_worker(service.pg, run_id)
    daemon = next(p for p in worker.parents() if "dagster-daemon" in " ".join(p.cmdline()))
    _kill_tree(daemon)
    assert run_status(run_id, service.url)["status"] == "STARTED"
    command = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
    with dagster_process(command, service.env, service.logs / "daemon-restarted.log"):
        assert wait_for(
            lambda: _events(service.pg, run_id, None, text="worker process") or None, 600, "the dead worker found", 2
        )
        _resumed(service, request_id, run_id, reference_sha, "worker process")
