"""Request intake from an S3 prefix, against a real S3 HTTP server (moto's standalone server)."""

import json
import uuid

import boto3
import pytest
from dagster import DagsterInstance

from synth_pipelines.core.settings import Settings
from synth_pipelines.intake.s3 import S3RequestStore
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.servers import moto_s3_server
from synth_pipelines_tests.test_intake import evaluate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3_store_env(synth_env, s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("SYNTH_S3_ENDPOINT_URL", s3_endpoint)
    bucket = f"requests-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("SYNTH_REQUEST_STORE_URL", f"s3://{bucket}/requests")
    return Settings.from_env(), client, bucket


def drop(client, bucket, name, payload):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    client.put_object(Bucket=bucket, Key=f"requests/incoming/{name}", Body=body.encode())


def test_valid_invalid_and_duplicate_requests(s3_store_env):
    settings, client, bucket = s3_store_env
    instance = DagsterInstance.ephemeral()
    drop(client, bucket, "good.json", small_request(request_id="good"))
    drop(client, bucket, "bad.json", small_request(request_id="bad", rows=0))
    drop(client, bucket, "junk.json", "{{{")
    result = evaluate(settings, instance)
    assert [r.partition_key for r in result.run_requests] == ["good"]
    drop(client, bucket, "again.json", small_request(request_id="good"))
    second = evaluate(settings, instance, result.cursor)
    assert second.run_requests == []
    store = S3RequestStore(f"s3://{bucket}/requests", client)
    assert store.incoming() == [] and store.accepted() == ["good"]
    errors = {e["file"]: e["errors"][0] for e in store.rejected_errors()}
    assert errors["bad.json"]["field"] == "rows"
    assert errors["junk.json"]["field"] == "request"
    assert "duplicate" in errors["again.json"]["message"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="requests/rejected/")["Contents"]}
    assert sum(k.endswith("-bad.json") for k in keys) == 1  # the refused file itself is kept


def test_a_restart_mid_batch_neither_drops_nor_repeats(s3_store_env, monkeypatch):
    """Five requests, two per tick; the daemon dies after a tick whose cursor was never stored."""
    settings, client, bucket = s3_store_env
    monkeypatch.setenv("SYNTH_INTAKE_BATCH", "2")
    instance = DagsterInstance.ephemeral()
    ids = [f"req-{i}" for i in range(5)]
    for request_id in ids:
        drop(client, bucket, f"{request_id}.json", small_request(request_id=request_id))

    lost = evaluate(settings, instance)  # evaluated, files moved, then the process died: cursor lost
    assert len(lost.run_requests) == 2
    resumed = evaluate(settings, instance, cursor=None)
    rest = evaluate(settings, instance, cursor=resumed.cursor)
    idle = evaluate(settings, instance, cursor=rest.cursor)

    requested = [r for t in (lost, resumed, rest) for r in t.run_requests]
    by_id: dict[str, set[str]] = {}
    for run in requested:
        by_id.setdefault(run.partition_key, set()).add(run.run_key)
    assert sorted(by_id) == ids  # none dropped
    assert all(len(keys) == 1 for keys in by_id.values())  # a request asked twice has one run key: it runs once
    assert idle.run_requests == []
    assert sorted(json.loads(rest.cursor)) == ids
