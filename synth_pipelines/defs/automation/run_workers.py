"""Runs whose worker process died are failed at once, so that run_retries resumes them.

Dagster's run monitoring asks the run launcher whether a run's worker is alive; the default
launcher (local and Compose deploys) cannot answer, so a run whose worker was killed (OOM
killer, `kill -9`, a crashed host process) stays STARTED until `max_runtime_seconds` (hours),
holding its requester's queue slots. This sensor does the check for runs whose worker runs on
this host: the run's first step tags it with this host's identity, the RUN_START event holds
the worker's pid, and a pid that no longer exists (or now belongs to a younger process) means
the worker is gone. Such a run is reported failed as UNEXPECTED_TERMINATION, which run_retries
(dagster.yaml) re-executes from failure: finished steps are kept and a chunk step rewrites
only the chunks that are not on disk. Other launchers (k8s, Celery workers) check their own
workers; their runs never carry this host's tag.
"""

from __future__ import annotations

import socket
from functools import cache
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.events import JobFailureData, RunFailureReason

WORKER_TAG = "synth/run_worker_host"
# A process that started more than this after the run's RUN_START event is not its worker.
PID_REUSE_SLACK_S = 2.0


@cache
def this_host() -> str:
    """This machine and boot (a pid means nothing on another host, or after a reboot)."""
    boot = Path("/proc/sys/kernel/random/boot_id")
    boot_id = boot.read_text().strip() if boot.exists() else "unknown-boot"
    return f"{socket.gethostname()}/{boot_id}"


def tag_run_worker(context: dg.AssetExecutionContext) -> None:
    """Tag the run with this host when this step runs in its worker's process tree (called by the first step).

    A step that runs elsewhere (a Celery worker, a k8s pod) leaves the run untagged: the worker's
    pid means nothing where the step runs.
    """
    worker = _worker(context.instance, context.run_id)
    if worker is None or context.dagster_run.tags.get(WORKER_TAG) == this_host():
        return
    me = psutil.Process()
    if worker[0] in {me.pid, *(p.pid for p in me.parents())}:
        context.instance.add_run_tags(context.run_id, {WORKER_TAG: this_host()})


def worker_alive(pid: int, started_at: float) -> bool:
    """Whether `pid` is still the process that started the run at `started_at` (epoch seconds)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= started_at + PID_REUSE_SLACK_S
    except psutil.NoSuchProcess:
        return False


def _worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records
    if not records:
        return None
    entry = records[-1].event_log_entry
    pid = entry.dagster_event.pid if entry.dagster_event is not None else None
    return (pid, entry.timestamp) if pid else None


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_workers(context: dg.SensorEvaluationContext):
    """Fail the STARTED runs of this host whose worker process is gone (run_retries then resumes them)."""
    instance = context.instance
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={WORKER_TAG: this_host()})
    )
    failed = []
    for record in records:
        run = record.dagster_run
        worker = _worker(instance, run.run_id)
        if worker is None or worker_alive(*worker):
            continue
        pid, _ = worker
        message = (
            f"the run's worker process (pid {pid}) is gone: it was killed or crashed without reporting; "
            "the run is failed so that run_retries resumes it from its finished steps"
        )
        instance.report_run_failed(
            run,
            message=message,
            job_failure_data=JobFailureData(
                error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION, first_step_failure_event=None
            ),
        )
        context.log.warning(f"run {run.run_id}: {message}")
        failed.append(run.run_id)
    if not failed:
        return dg.SkipReason(f"{len(records)} started run(s) on this host, every worker alive")
    return dg.SkipReason(f"failed {len(failed)} run(s) whose worker died: {', '.join(failed)}")
