"""1,000 requests dropped at once into the production-shaped service (PostgreSQL, webserver, daemon).

Each file ends in exactly one of: accepted with exactly one run, filed as standing (no run yet),
or rejected with one reason naming the field; nothing is left in incoming/, no request runs
twice, the per-requester limit (three runs in progress, dagster.yaml) holds back the requester
who floods the queue, no intake tick fails (an evaluation past the sensor timeout would), and the
daemon lives.
The figures are printed; benchmarks/service_load.py repeats this and commits them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from synth_pipelines_tests.dagster_processes import graphql
from synth_pipelines_tests.service.load import FLOOD, figures, outcomes, run_load
from synth_pipelines_tests.service.stack import DAEMON_HEALTH

pytestmark = pytest.mark.integration

LOAD = 1000
PER_REQUESTER_LIMIT = 3  # dagster.yaml tag_concurrency_limits on synth/requester
MAX_CONCURRENT_RUNS = 8  # dagster.yaml concurrency.runs.max_concurrent_runs


def test_a_thousand_requests_at_once_each_end_once(service) -> None:
    result = run_load(service, LOAD, "load")
    numbers = figures(result)
    print(numbers)
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

    # Sensor ticks: none failed (an evaluation past the 60 s gRPC timeout ends its tick in FAILURE); the
    # daemon is healthy. A tick's duration also counts submitting its runs, which has no timeout: reported.
    assert numbers["failed_ticks"] == 0, [t["error"] for t in result["ticks"] if t["status"] == "FAILURE"]
    assert all(t["status"] in ("SUCCESS", "SKIPPED") for t in result["ticks"]), result["ticks"]
    statuses = graphql(service.url, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    assert all(s["healthy"] for s in statuses if s["required"]), statuses
