"""Standing requests on their schedules, and the retention job."""

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
from croniter import croniter
from dagster import DagsterInstance

from synth_pipelines.definitions import build_defs
from synth_pipelines.defs.automation.schedules import retention_job, standing_requests_sensor
from synth_pipelines.defs.partitions import requests_partitions
from synth_pipelines.intake.requests import LocalRequestStore, process_incoming
from synth_pipelines.resources import build_resources
from synth_pipelines_tests.conftest import small_request


def test_a_request_with_a_schedule_becomes_standing_not_a_run(settings):
    store = LocalRequestStore(settings.request_root)
    (store.root / "incoming" / "nightly.json").write_text(
        json.dumps(small_request(request_id="nightly", schedule="*/5 * * * *"))
    )
    result = process_incoming(store, settings.data_root)
    assert result.accepted == [] and [r.request_id for r in result.standing] == ["nightly"]
    assert store.standing() == ["nightly"] and store.accepted() == []


def evaluate(settings, instance, cursor=None):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"request_store": build_resources(settings)["request_store"]},
    ) as context:
        return standing_requests_sensor(context)


def stand(store, request_id, cron, **overrides):
    (store.root / "incoming" / f"{request_id}.json").write_text(
        json.dumps(small_request(request_id=request_id, schedule=cron, **overrides))
    )


def fire_time(partition_key: str) -> datetime:
    return datetime.strptime(partition_key.rsplit("-", 1)[1], "%Y%m%dt%H%M").replace(tzinfo=UTC)


def test_no_standing_request_means_no_run_and_nothing_on_the_timeline(settings):
    """A sensor (not a per-minute schedule): no future ticks on the UI's timeline, and no run."""
    instance = DagsterInstance.ephemeral()
    result = evaluate(settings, instance)
    assert result.run_requests == [] and result.skip_reason
    assert instance.get_runs() == []
    schedules = build_defs(settings).schedules
    assert schedules and all(schedule.job_name != "synthesize" for schedule in schedules)


def test_standing_requests_run_once_for_their_latest_fire_since_the_last_evaluation(settings, tmp_path):
    store = LocalRequestStore(settings.request_root)
    now = datetime.now(UTC)
    # Daily crons half a day away from now: the day before holds exactly one fire of each, the next seconds none.
    crons = {
        "morning": f"0 {(now.hour + 6) % 24} * * *",
        "evening": f"30 {(now.hour + 12) % 24} * * *",
    }
    stand(store, "morning", crons["morning"], seed=3)
    stand(store, "evening", crons["evening"])
    process_incoming(store, settings.data_root)
    (tmp_path / "instance").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "instance"))

    # The previous evaluation three days ago (the daemon was down): one run each, for the latest fire.
    due = evaluate(settings, instance, cursor=(now - timedelta(days=3)).isoformat())
    after = datetime.now(UTC)
    by_request = {r.tags["synth/standing_request"]: r for r in due.run_requests}
    assert sorted(by_request) == ["evening", "morning"]
    for name, run in by_request.items():
        fired = fire_time(run.partition_key)
        assert croniter.match(crons[name], fired)
        assert now - timedelta(days=1) < fired <= after
        assert run.run_key == run.partition_key
        assert instance.has_dynamic_partition(requests_partitions.name, run.partition_key)
    accepted = json.loads(store.read_accepted(by_request["morning"].partition_key))
    assert accepted["schedule"] is None and accepted["seed"] != 3

    quiet = evaluate(settings, instance, cursor=due.cursor)
    assert quiet.run_requests == [] and quiet.skip_reason
    assert datetime.fromisoformat(quiet.cursor) >= datetime.fromisoformat(due.cursor)


def make_request_folders(settings, request_id, created_at, keep=False, manifest=True):
    artifact = settings.artifact_root / request_id
    work = settings.work_root / request_id
    artifact.mkdir(parents=True)
    (work / "chunks").mkdir(parents=True)
    (work / "chunks" / "chunk-00000.parquet").write_bytes(b"x")
    if manifest:
        (artifact / "manifest.json").write_text(json.dumps({"created_at": created_at.isoformat(), "keep": keep}))
    else:
        stamp = created_at.timestamp()
        for path in [work, *work.rglob("*"), artifact]:
            os.utime(path, (stamp, stamp))


def test_retention_removes_old_artifacts_and_partitions_but_keeps_what_is_marked_keep(settings):
    settings = replace(settings, retention_days=7.0)
    now = datetime.now(UTC)
    make_request_folders(settings, "old", now - timedelta(days=30))
    make_request_folders(settings, "old-kept", now - timedelta(days=30), keep=True)
    make_request_folders(settings, "fresh", now - timedelta(days=1))
    make_request_folders(settings, "old-unpublished", now - timedelta(days=10), manifest=False)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(requests_partitions.name, ["old", "old-kept", "fresh", "old-unpublished"])
    resources = build_resources(settings)
    result = retention_job.execute_in_process(
        instance=instance,
        resources={"work_area": resources["work_area"], "artifact_store": resources["artifact_store"]},
    )
    assert result.success
    assert sorted(result.output_for_node("remove_expired_artifacts")) == ["old", "old-unpublished"]
    for gone in ("old", "old-unpublished"):
        assert not (settings.artifact_root / gone).exists() and not (settings.work_root / gone).exists()
    for kept in ("old-kept", "fresh"):
        assert (settings.artifact_root / kept / "manifest.json").exists() and (settings.work_root / kept).exists()
    assert sorted(instance.get_dynamic_partitions(requests_partitions.name)) == ["fresh", "old-kept"]
