"""1,000 requests dropped at once into the production-shaped service (PostgreSQL, webserver, daemon),
and the daemon killed in the middle of an intake tick (with its code server and the runs it launched,
as a crashed daemon container) and restarted.

Each file ends in exactly one of: accepted with exactly one run, filed as standing (no run yet),
or rejected with one reason naming the field; nothing is left in incoming/, no request runs
twice, the per-requester limit (three runs in progress, dagster.yaml) holds back the requester
who floods the queue, no intake tick fails (an evaluation past the sensor timeout would), and the
daemon lives.
The figures are printed; benchmarks/service_load.py repeats this and commits them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter

import psutil
import pytest

from synth_pipelines_tests.dagster_processes import BIN, dagster_process, graphql
from synth_pipelines_tests.service.load import FLOOD, figures, outcomes, run_load
from synth_pipelines_tests.service.stack import DAEMON_HEALTH

pytestmark = pytest.mark.integration

LOAD = 1000
PER_REQUESTER_LIMIT = 3  # dagster.yaml tag_concurrency_limits on synth/requester
MAX_CONCURRENT_RUNS = 8  # dagster.yaml concurrency.runs.max_concurrent_runs


KILL_AT_RUNS = 30  # of the first tick's 100 run requests: the tick is mid-way through submitting them


def _daemon(service) -> psutil.Process:
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if "dagster-daemon" in " ".join(process.info["cmdline"] or []):
                if process.environ().get("DAGSTER_HOME") == str(service.home):
                    return process
    raise AssertionError("no dagster-daemon of this service is running")


def _kill_tree(root: psutil.Process) -> None:
    for process in [*root.children(recursive=True), root]:
        with contextlib.suppress(psutil.NoSuchProcess):
            os.kill(process.pid, signal.SIGKILL)


def test_a_thousand_requests_at_once_each_end_once_though_the_daemon_dies_mid_tick(service) -> None:
    killed: dict[str, float] = {}
    with contextlib.ExitStack() as restarted:

        def kill_mid_tick(sample: dict) -> None:
            if not killed and sample["runs"] >= KILL_AT_RUNS:
                _kill_tree(_daemon(service))
                killed.update(at_runs=sample["runs"], at=time.time())
                command = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
                restarted.enter_context(dagster_process(command, service.env, service.logs / "daemon-restarted.log"))

        result = run_load(service, LOAD, "load", on_sample=kill_mid_tick)
        _check(service, result, killed)


def _check(service, result: dict, killed: dict[str, float]) -> None:
    numbers = figures(result)
    print(numbers, killed)
    assert KILL_AT_RUNS <= killed["at_runs"] < 100, killed  # the first tick was still submitting its runs
    seen = outcomes(service, result)
    drops = result["drops"]
    kinds = Counter(d.kind.split(":")[0] for d in drops)

    valid_ids = {d.request_id for d in drops if d.kind == "valid"}
    assert seen["accepted"] == valid_ids
    assert seen["standing"] == {d.request_id for d in drops if d.kind == "standing"}
    # One run per accepted request, none for a standing or rejected one, none twice.
    assert set(seen["runs"]) == valid_ids
    assert set(seen["runs"].values()) == {1}
    # Every other file rejected once, with a reason that names the field.
    rejected = [d for d in drops if d.kind not in ("valid", "standing")]
    assert len(rejected) == kinds["invalid"] + kinds["duplicate"] + kinds["conflict"] + kinds["foreign"]
    assert sorted(seen["rejections"]) == sorted(d.name for d in rejected)
    assert set(seen["rejections"].values()) == {1}
    fields = {e["file"]: [p["field"] for p in e["errors"]] for e in seen["errors"]}
    for d in rejected:
        assert d.field in fields[d.name], (d.kind, fields[d.name])
    assert not any((result["store_root"] / "incoming").rglob("*.json"))

    # The queue: never more than the limits in progress; the flooding requester was held at its limit.
    assert numbers["max_in_progress"] <= MAX_CONCURRENT_RUNS
    assert numbers["max_in_progress_one_requester"] <= PER_REQUESTER_LIMIT
    assert numbers["flood_in_progress_max"] == PER_REQUESTER_LIMIT, FLOOD
    assert numbers["max_queue_depth"] > 0.5 * len(valid_ids)

    # Sensor ticks: none failed but the one the kill cut short (an evaluation past the 60 s gRPC timeout
    # ends its tick in FAILURE); the restarted daemon is healthy. A tick's duration also counts
    # submitting its runs, which has no timeout: reported.
    cut_short = [t for t in result["ticks"] if t["status"] not in ("SUCCESS", "SKIPPED")]
    assert len(cut_short) <= 1, cut_short
    assert all(t["timestamp"] < killed["at"] for t in cut_short), cut_short
    print(f"{sum(seen['retries'].values())} run(s) killed with the daemon re-executed by run_retries")
    statuses = graphql(service.url, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    assert all(s["healthy"] for s in statuses if s["required"]), statuses
