"""The celery executor for real: a Redis broker and two dagster-celery workers on loopback run a request's steps.

The same request runs twice on one instance, once with the multiprocess executor and once with the celery
executor (SYNTH_EXECUTOR). The celery run's chunk steps must land on both workers, training on the worker that
listens on the `gpu` queue, and the two exports must be the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from synth_pipelines.core.request import parse_request
from synth_pipelines.executors import CELERY_DEFAULT_QUEUE, CELERY_QUEUE_TAG, GPU_QUEUE, celery_config
from synth_pipelines.intake.requests import LocalRequestStore
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import BIN, dagster_process, free_port, make_dagster_home, wait_for
from synth_pipelines_tests.test_pipeline import sha256

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def redis_installed() -> None:
    """A missing server fails these tests (not a skip, not the whole suite's collection): `make test` installs it."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is missing: run `make system-deps` (scripts/install_system_deps.sh)")


ROWS, CHUNK_ROWS = 3000, 500  # six chunks, each its own step (SYNTH_CHUNK_STEPS)


@contextlib.contextmanager
def redis_server(log: Path) -> Iterator[str]:
    port = free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with dagster_process(args, dict(os.environ), log):
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: "Ready to accept connections" in log.read_text(), 30, f"redis-server on {port}", 0.2)
        yield url


def start_worker(
    stack: contextlib.ExitStack, name: str, queues: list[str], config_yaml: Path, env: dict, log: Path
) -> None:
    """`dagster-celery worker start` as deploy/docker-compose.yml runs it: one step at a time, modules preloaded."""
    args = [
        str(BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(config_yaml),
        "-n",
        name,
        "-i",
        "synth_pipelines.preload",
        "-l",
        "INFO",
        # One comma-separated -q: repeated -q options reach celery 5 as repeated -Q, and only the last counts.
        "-q",
        ",".join(queues),
    ]
    stack.enter_context(dagster_process([*args, "--", "--pool=solo", "--without-gossip", "--without-mingle"], env, log))


def workers_answering(broker: str) -> set[str]:
    from dagster_celery.make_app import make_app

    app = make_app({"broker": broker, "backend": broker, "include": [], "config_source": None})
    try:
        return {name for reply in app.control.ping(timeout=1.0) for name in reply}
    finally:
        app.close()


def run_request_with(
    executor: str, request_id: str, instance: dg.DagsterInstance, env: dict, settings, log: Path
) -> dg.DagsterRun:
    """Run the `synthesize` job on `executor` in its own process, as a run worker does; return the finished run."""
    request = parse_request(small_request(request_id=request_id, rows=ROWS, chunk_rows=CHUNK_ROWS))
    LocalRequestStore(settings.request_root).put_accepted(request)
    instance.add_dynamic_partitions("synthesis_requests", [request_id])
    tags = {"dagster/partition": request_id, "synth/requester": request.requester}
    args = [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "synth_pipelines.definitions",
        "-a",
        "defs",
        "-j",
        "synthesize",
        "--tags",
        json.dumps(tags),
    ]
    with log.open("w") as out:
        subprocess.run(
            args,
            cwd=REPO_ROOT,
            env={**env, "SYNTH_EXECUTOR": executor},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": request_id}))
    assert len(runs) == 1, f"expected one run for {request_id}:\n{log.read_text()[-3000:]}"
    return runs[0]


def step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that executed it, from the workers' engine events in the run's event log."""
    placed = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        worker = event.engine_event_data.metadata.get("Celery worker") if event.engine_event_data else None
        if worker is not None:
            placed[event.step_key] = worker.value
    return placed


def test_celery_workers_share_the_chunks_and_make_the_same_bytes(synth_env, tmp_path, monkeypatch):
    from synth_pipelines.definitions import defs

    monkeypatch.setenv("SYNTH_EXECUTOR", "celery")
    assert defs().resolve_job_def("synthesize").executor_def.name == "celery", (
        "SYNTH_EXECUTOR=celery is ignored: synth_pipelines/definitions.py must use executors.build_executor()"
    )
    monkeypatch.delenv("SYNTH_EXECUTOR")
    home = make_dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SYNTH_MAX_CONCURRENT", "2")
    monkeypatch.setenv("SYNTH_CHUNK_STEPS", str(ROWS // CHUNK_ROWS))
    logs = tmp_path / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack, dg.DagsterInstance.get() as instance:
        broker = stack.enter_context(redis_server(logs / "redis.log"))
        monkeypatch.setenv("SYNTH_CELERY_BROKER", broker)
        config_yaml = tmp_path / "celery.yaml"
        config_yaml.write_text(yaml.safe_dump({"execution": {"config": celery_config()}}))
        env = {**os.environ, "SYNTH_EXECUTOR": "celery", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        # The deploy's two workers: one on the GPU machine (training, and chunks when idle), one CPU-only.
        start_worker(stack, "gpu-worker", [CELERY_DEFAULT_QUEUE, GPU_QUEUE], config_yaml, env, logs / "gpu.log")
        start_worker(stack, "cpu-worker", [CELERY_DEFAULT_QUEUE], config_yaml, env, logs / "cpu.log")

        # The workers import torch and SDV while the multiprocess run uses the CPUs.
        mp_run = run_request_with("multiprocess", "on-multiprocess", instance, env, synth_env, logs / "mp-run.log")
        assert mp_run.is_success, _failure(instance, mp_run.run_id)
        wait_for(
            lambda: {name.split("@")[0] for name in workers_answering(broker)} >= {"gpu-worker", "cpu-worker"},
            120,
            "both celery workers to answer a ping",
            1,
        )
        celery_run = run_request_with("celery", "on-celery", instance, env, synth_env, logs / "celery-run.log")
        assert celery_run.is_success, _failure(instance, celery_run.run_id) + _tail(logs)
        placed = step_workers(instance, celery_run.run_id)
        assert placed, "no step ran on a celery worker: is the job's executor build_executor()?" + _tail(logs)
    chunk_steps = {step: worker for step, worker in placed.items() if "generate_chunks[" in step}
    assert len(chunk_steps) == ROWS // CHUNK_ROWS, placed
    assert {worker.split("@")[0] for worker in chunk_steps.values()} == {"gpu-worker", "cpu-worker"}, chunk_steps
    assert placed["trained_model"].startswith("gpu-worker@"), placed
    assert set(placed) >= {"synthesis_request", "trained_model", "synthetic_export", "published_artifact"}, placed

    manifests = [
        json.loads((synth_env.artifact_root / rid / "manifest.json").read_text())
        for rid in ("on-multiprocess", "on-celery")
    ]
    exports = [Path(m["export_uri"]) for m in manifests]
    assert sha256(exports[0]) == sha256(exports[1]) == manifests[0]["sha256"] == manifests[1]["sha256"]
    assert manifests[1]["rows"] == ROWS


def test_training_is_routed_to_the_gpu_queue():
    from synth_pipelines.definitions import defs

    assert defs().resolve_assets_def("trained_model").op.tags.get(CELERY_QUEUE_TAG) == GPU_QUEUE


def _failure(instance: dg.DagsterInstance, run_id: str) -> str:
    errors = [
        f"{r.dagster_event.step_key}: {r.dagster_event.event_specific_data.error.to_string()}"
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    ]
    return "\n".join(errors) or f"run {run_id} failed"


def _tail(logs: Path) -> str:
    return "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))
