"""Standing requests on their schedules, and the retention job."""

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster import DagsterInstance

from synth_pipelines.defs.automation.schedules import retention_job, standing_requests_schedule
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


def evaluate(settings, instance, when):
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"request_store": build_resources(settings)["request_store"]},
    ) as context:
        return standing_requests_schedule(context)


def test_standing_requests_run_when_their_cron_fires(settings, tmp_path):
    store = LocalRequestStore(settings.request_root)
    (store.root / "incoming" / "five.json").write_text(
        json.dumps(small_request(request_id="five", schedule="*/5 * * * *", seed=3))
    )
    (store.root / "incoming" / "daily.json").write_text(
        json.dumps(small_request(request_id="daily", schedule="0 3 * * *"))
    )
    process_incoming(store, settings.data_root)
    (tmp_path / "instance").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "instance"))

    due = evaluate(settings, instance, datetime(2026, 1, 1, 10, 5, tzinfo=UTC))
    assert [r.partition_key for r in due] == ["five-20260101t1005"]
    assert due[0].run_key == "five-20260101t1005"
    assert due[0].tags["synth/standing_request"] == "five"
    assert instance.has_dynamic_partition(requests_partitions.name, "five-20260101t1005")
    accepted = json.loads(store.read_accepted("five-20260101t1005"))
    assert accepted["schedule"] is None and accepted["seed"] != 3

    quiet = evaluate(settings, instance, datetime(2026, 1, 1, 10, 6, tzinfo=UTC))
    assert isinstance(quiet, dg.SkipReason)
    both = evaluate(settings, instance, datetime(2026, 1, 2, 3, 0, tzinfo=UTC))
    assert sorted(r.partition_key for r in both) == ["daily-20260102t0300", "five-20260102t0300"]


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
