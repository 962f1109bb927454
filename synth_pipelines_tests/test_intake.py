"""Request intake: the store's moves, and the sensor built with build_sensor_context."""

import json

import dagster as dg
from dagster import DagsterInstance

from synth_pipelines.core.request import parse_request
from synth_pipelines.defs.intake.sensors import request_intake_sensor
from synth_pipelines.intake.requests import LocalRequestStore, process_incoming
from synth_pipelines.resources import build_resources
from synth_pipelines_tests.conftest import small_request


def drop(store: LocalRequestStore, name: str, payload) -> None:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    (store.root / "incoming" / name).write_text(text)


def evaluate(settings, instance, cursor=None, s3=None):
    resources = build_resources(settings, s3)
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"request_store": resources["request_store"], "data_source": resources["data_source"]},
    ) as context:
        return request_intake_sensor(context)


def test_process_incoming_accepts_and_rejects_with_reasons(settings):
    store = LocalRequestStore(settings.request_root)
    drop(store, "good.json", small_request(request_id="good"))
    drop(store, "broken.json", '{"request_id": ')
    drop(store, "escape.json", small_request(request_id="escape", dataset={"uri": "../../etc/passwd", "format": "csv"}))
    (store.root / "incoming" / ".half-written.json").write_text("{")
    result = process_incoming(store, settings.data_root)
    assert [r.request_id for r in result.accepted] == ["good"]
    assert store.accepted() == ["good"]
    assert store.incoming() == []
    reasons = {e["file"]: e["errors"] for e in store.rejected_errors()}
    assert reasons["broken.json"][0]["field"] == "request"
    assert reasons["escape.json"][0]["field"] == "dataset.uri"
    assert (store.root / "incoming" / ".half-written.json").exists()


def test_duplicates_and_reused_ids_are_refused(settings):
    store = LocalRequestStore(settings.request_root)
    drop(store, "a.json", small_request(request_id="dup"))
    process_incoming(store, settings.data_root)
    drop(store, "again.json", small_request(request_id="dup"))
    drop(store, "other.json", small_request(request_id="dup", rows=10))
    result = process_incoming(store, settings.data_root)
    assert result.accepted == []
    messages = {e["file"]: e["errors"][0]["message"] for e in store.rejected_errors()}
    assert "duplicate" in messages["again.json"]
    assert "already used" in messages["other.json"]


def test_sensor_adds_partitions_runs_and_a_cursor(settings):
    instance = DagsterInstance.ephemeral()
    store = LocalRequestStore(settings.request_root)
    drop(store, "one.json", small_request(request_id="one"))
    drop(store, "two.json", small_request(request_id="two", requester="bob@example.org"))
    drop(store, "bad.json", "not json at all")
    result = evaluate(settings, instance)
    assert sorted(r.partition_key for r in result.run_requests) == ["one", "two"]
    assert len({r.run_key for r in result.run_requests}) == 2
    assert {r.tags["synth/requester"] for r in result.run_requests} == {"tester@example.org", "bob@example.org"}
    assert sorted(result.dynamic_partitions_requests[0].partition_keys) == ["one", "two"]
    assert json.loads(result.cursor) == ["one", "two"]
    assert len(store.rejected_errors()) == 1

    again = evaluate(settings, instance, cursor=result.cursor)
    assert again.run_requests == [] and again.skip_reason


def test_sensor_requests_again_what_a_crash_left_accepted_but_not_run(settings):
    """Accepted but missing from the cursor: requested again, with the same run key (so it runs once)."""
    instance = DagsterInstance.ephemeral()
    store = LocalRequestStore(settings.request_root)
    drop(store, "one.json", small_request(request_id="one"))
    first = evaluate(settings, instance)
    replay = evaluate(settings, instance, cursor=None)  # the cursor of `first` was never stored
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]


def test_sensor_survives_unreadable_files(settings):
    instance = DagsterInstance.ephemeral()
    store = LocalRequestStore(settings.request_root)
    (store.root / "incoming" / "binary.json").write_bytes(b"\x00\xff\xfe" * 10)
    (store.root / "incoming" / "huge.json").write_text("[" + "1," * 600_000 + "1]")
    result = evaluate(settings, instance)
    assert result.run_requests == []
    fields = sorted(e["errors"][0]["field"] for e in store.rejected_errors())
    assert fields == ["request", "request"]


def test_requests_filed_by_a_run_launched_elsewhere_are_not_run_again(settings):
    """The CLI, the UI and GraphQL file their request under accepted/ from inside their run."""
    instance = DagsterInstance.ephemeral()
    store = LocalRequestStore(settings.request_root)
    request = parse_request(small_request(request_id="from-cli"))
    store.put_accepted(request)
    instance.add_run(dg.DagsterRun(job_name="synthesize", run_id="r1", tags={"dagster/partition": "from-cli"}))
    result = evaluate(settings, instance)
    assert not result.run_requests
    assert json.loads(result.cursor) == ["from-cli"]
    store.put_accepted(parse_request(small_request(request_id="orphan")))  # accepted by intake, run never made
    assert [r.partition_key for r in evaluate(settings, instance, result.cursor).run_requests] == ["orphan"]
