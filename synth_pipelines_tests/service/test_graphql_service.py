"""The service as teams run it: Postgres-backed instance, webserver + daemon, launches over GraphQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth_pipelines.core.request import parse_request
from synth_pipelines.graphql_client import run_status, submit
from synth_pipelines.publishing import NotificationStore
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import CEILING_SCALE, free_port, wait_for
from synth_pipelines_tests.servers import webhook_server
from synth_pipelines_tests.service.conftest import requester_tags
from synth_pipelines_tests.test_dagster_dev import NINE_ASSETS

pytestmark = pytest.mark.integration


def cli(service, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synth_pipelines.cli", *args],
        cwd=REPO_ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=timeout * CEILING_SCALE,
    )


def test_cli_names_an_unreachable_webserver(service, tmp_path):
    request = tmp_path / "r.json"
    request.write_text(json.dumps(small_request(request_id="nowhere")))
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(service, "submit", str(request), "--url", url, timeout=60)
    assert done.returncode == 1
    assert f"cannot reach the Dagster webserver at {url}" in done.stderr


def test_submit_wait_runs_on_postgres_and_a_second_submit_is_refused(service, tmp_path):
    with webhook_server([200]) as hook:
        submit_wait_and_deliver(service, tmp_path, hook)


def submit_wait_and_deliver(service, tmp_path, hook):
    request = tmp_path / "svc-small.json"
    request.write_text(json.dumps(small_request(request_id="svc-small", webhook_url=hook.url)))
    started = time.monotonic()
    done = cli(service, "submit", str(request), "--url", service.url, "--wait", "--timeout", str(360 * CEILING_SCALE))
    took = time.monotonic() - started
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{service.log_tail()}"
    manifest_path = Path(done.stdout.strip().splitlines()[-1])
    assert manifest_path == service.artifact_root / "svc-small" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == 2500 and manifest["requester"] == "tester@example.org"
    run_id = manifest["dagster_run_id"]
    assert f"run {run_id}: SUCCESS" in done.stderr
    ((created, start, end),) = service.pg.query(
        "SELECT extract(epoch from create_timestamp), start_time, end_time FROM runs WHERE run_id = %s", (run_id,)
    )
    print(f"submit --wait took {took:.0f}s; queued {float(start) - float(created):.0f}s, ran {end - start:.0f}s")

    # The run, its tags, its events and its materializations are in PostgreSQL.
    pg = service.pg
    assert pg.query("SELECT status, pipeline_name, partition FROM runs WHERE run_id = %s", (run_id,)) == [
        ("SUCCESS", "synthesize", "svc-small")
    ]
    tags = dict(pg.query("SELECT key, value FROM run_tags WHERE run_id = %s", (run_id,)))
    assert tags["synth/source"] == "graphql"
    assert tags["synth/requester"] == "tester@example.org"
    assert tags["dagster/partition"] == "svc-small"
    counts = dict(
        pg.query("SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", (run_id,))
    )
    # (Dagster stores RUN_SUCCESS under its historical name PIPELINE_SUCCESS.)
    assert counts["PIPELINE_SUCCESS"] == 1 and counts["STEP_SUCCESS"] >= 9 and not counts.get("STEP_FAILURE")
    materialized = {
        json.loads(key)[0]
        for (key,) in pg.query(
            "SELECT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION' "
            "AND partition = 'svc-small'",
            (run_id,),
        )
    }
    assert materialized == NINE_ASSETS
    assert pg.query(
        "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'synthesis_requests' AND partition = %s",
        ("svc-small",),
    ) == [("svc-small",)]

    # The same request again is refused, naming the run that has it.
    again = cli(service, "submit", str(request), "--url", service.url, "--wait", timeout=120)
    assert again.returncode == 2, again.stderr
    assert run_id in again.stderr and "already has run" in again.stderr
    assert pg.query("SELECT count(*) FROM runs WHERE partition = 'svc-small'") == [(1,)]

    status = cli(service, "status", run_id, "--url", service.url, timeout=120)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip().splitlines()[-1] == "SUCCESS"
    assert f"manifest: {manifest_path}" in status.stdout

    # The success reaches the webhook through the daemon: the run-status sensor records it, the delivery
    # sensor starts deliver_notifications, whose run posts it once with its Idempotency-Key.
    wait_for(lambda: hook.received, 240, "the webhook POST from deliver_notifications", interval=2)
    (post,) = hook.received
    assert post["json"]["request_id"] == "svc-small" and post["json"]["run_id"] == run_id
    assert post["json"]["outcome"] == "success" and len(post["headers"]["Idempotency-Key"]) == 64
    delivery = "SELECT status FROM runs WHERE pipeline_name = 'deliver_notifications'"
    assert wait_for(lambda: pg.query(delivery) == [("SUCCESS",)], 240, "the delivery run to finish", interval=2)
    (record,) = NotificationStore(service.artifact_root.parent / "requests").list(request_id="svc-small")
    assert record.webhook_status == "delivered (HTTP 200)"


def test_a_failed_run_reports_its_step_error_and_may_be_submitted_again(service, tmp_path):
    request = tmp_path / "svc-missing.json"
    # The dataset is not on the server: the contract is fine, the run's first step refuses it.
    request.write_text(json.dumps(small_request(request_id="svc-missing", dataset={"uri": "missing.csv"})))
    done = cli(
        service,
        "submit",
        str(request),
        "--url",
        service.url,
        "--wait",
        "--skip-data-check",
        "--timeout",
        str(240 * CEILING_SCALE),
    )
    assert done.returncode == 1, f"{done.stdout}\n{done.stderr}"
    assert "FAILURE" in done.stderr and "synthesis_request" in done.stderr and "missing.csv" in done.stderr
    # Locally the same file is refused before anything is sent.
    assert cli(service, "submit", str(request), "--url", service.url, timeout=60).returncode == 2

    again = cli(service, "submit", str(request), "--url", service.url, "--skip-data-check", timeout=60)
    assert again.returncode == 0, again.stderr
    run_id = again.stdout.split()[1].rstrip(":")
    assert again.stdout.strip() == f"run {run_id}: LAUNCHED"
    ended = wait_for(
        lambda: (s := run_status(run_id, service.url))["status"] in ("SUCCESS", "FAILURE", "CANCELED") and s,
        240,
        "the resubmitted run",
        interval=2,
    )
    assert ended["status"] == "FAILURE" and "missing.csv" in ended["error"]
    # Two runs, not more: a step failure is not retried (run_retries.retry_on_asset_or_op_failure: false).
    runs = service.pg.query("SELECT run_id, status FROM runs WHERE partition = 'svc-missing'")
    assert len(runs) == 2, runs


def _step_intervals(pg, run_ids: list[str], step_like: str) -> list[tuple[str, str, float, float]]:
    rows = pg.query(
        "SELECT run_id, step_key, dagster_event_type, extract(epoch from timestamp) FROM event_logs "
        "WHERE run_id = ANY(%s) AND step_key LIKE %s "
        "AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id",
        (run_ids, step_like),
    )
    starts, intervals = {}, []
    for run_id, step, kind, ts in rows:
        if kind == "STEP_START":
            starts[(run_id, step)] = float(ts)
        else:
            intervals.append((run_id, step, starts.pop((run_id, step)), float(ts)))
    return intervals


def _overlap(a: tuple, b: tuple) -> bool:
    return a[2] < b[3] and b[2] < a[3]


def test_training_steps_of_two_runs_never_overlap_in_the_gpu_pool(service):
    # Long enough (tens of seconds) that the second run reaches training while the first still holds the pool.
    ctgan = {"name": "ctgan", "epochs": 30, "batch_size": 100}
    requests = [
        parse_request(
            json.dumps(
                small_request(
                    request_id=f"gpu-{i}", synthesizer=ctgan, requester=f"u{i}@x.org", rows=1000, chunk_rows=500
                )
            )
        )
        for i in (1, 2)
    ]
    launched = [submit(r, service.url, identity=requester_tags(r.requester)) for r in requests]
    assert [r.status for r in launched] == ["LAUNCHED", "LAUNCHED"]
    run_ids = [r.run_id for r in launched]

    def finished():
        states = [run_status(run_id, service.url) for run_id in run_ids]
        return states if all(s["status"] in ("SUCCESS", "FAILURE", "CANCELED") for s in states) else None

    states = wait_for(finished, 420, "both training runs to finish", interval=3)
    assert [s["status"] for s in states] == ["SUCCESS", "SUCCESS"], f"{states}\n{service.log_tail()}"
    assert all(s["manifest"] for s in states)

    pg = service.pg
    runs = {
        run_id: (float(start), float(end))
        for run_id, start, end in pg.query(
            "SELECT run_id, start_time, end_time FROM runs WHERE run_id = ANY(%s)", (run_ids,)
        )
    }
    # The two runs were in flight together (else the test proves nothing about the pool) ...
    (s1, e1), (s2, e2) = runs[run_ids[0]], runs[run_ids[1]]
    assert s1 < e2 and s2 < e1, f"the runs did not overlap: {runs}"
    # ... yet their training steps did not overlap.
    training = _step_intervals(pg, run_ids, "trained_model")
    assert sorted(r for r, *_ in training) == sorted(run_ids)
    assert not _overlap(training[0], training[1]), training
    # The pool held one of them back (the step logs it), and its limit is the instance default of 1.
    blocked = pg.query(
        "SELECT run_id FROM event_logs WHERE run_id = ANY(%s) AND step_key = 'trained_model' "
        "AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s",
        (run_ids, "%blocked by limit for pool gpu%"),
    )
    assert blocked, f"neither training step waited for the gpu pool, so this run did not test it: {training}"
    assert pg.query("""SELECT concurrency_key, "limit" FROM concurrency_limits WHERE concurrency_key = 'gpu'""") == [
        ("gpu", 1)
    ]
    chunks = _step_intervals(pg, run_ids, "%generate_chunks%")
    assert {r for r, *_ in chunks} == set(run_ids)
    chunk_overlap = any(_overlap(a, b) for a in chunks for b in chunks if a[0] != b[0] or a[1] != b[1])
    print(
        f"training: {[(r[:8], round(e - s, 1)) for r, _, s, e in training]}; "
        f"pool blocked: {sorted({r[:8] for (r,) in blocked})}; chunk steps overlapped: {chunk_overlap}"
    )


def test_a_launch_without_the_requesters_own_signed_identity_fails_at_its_first_step(service):
    """Over GraphQL, as a script would call it: unsigned, and signed by someone else naming the test requester."""
    unsigned = parse_request(json.dumps(small_request(request_id="svc-unsigned")))
    someone_else = parse_request(json.dumps(small_request(request_id="svc-not-yours")))
    launched = [
        submit(unsigned, service.url, identity=None),  # no proxy in front: no identity at all
        submit(someone_else, service.url, identity=requester_tags("mallory@example.org")),
    ]
    assert [r.status for r in launched] == ["LAUNCHED", "LAUNCHED"]

    def ended():
        states = [run_status(r.run_id, service.url) for r in launched]
        return states if all(s["status"] in ("SUCCESS", "FAILURE", "CANCELED") for s in states) else None

    unsigned_state, other_state = wait_for(ended, 240, "both refused runs", interval=2)
    assert unsigned_state["status"] == "FAILURE" and "synth/signature: is missing" in unsigned_state["error"]
    assert other_state["status"] == "FAILURE"
    assert "requester: 'tester@example.org' is not the authenticated user 'mallory@example.org'" in other_state["error"]
    assert (
        not (service.artifact_root / "svc-unsigned").exists() and not (service.artifact_root / "svc-not-yours").exists()
    )
