"""Request intake from an S3 prefix, against a real S3 HTTP server (moto's standalone server)."""

import json
import uuid
from dataclasses import replace

import boto3
import pytest
from dagster import DagsterInstance

from synth_pipelines.intake.s3 import S3RequestStore
from synth_pipelines.resources import S3Resource
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.servers import moto_s3_server
from synth_pipelines_tests.test_intake import evaluate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3_store_env(settings, s3_endpoint):
    """Settings whose request store is an S3 prefix, and the S3 resource (moto's server) to pass in."""
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    bucket = f"requests-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=bucket)
    settings = replace(settings, request_store_url=f"s3://{bucket}/requests")
    return settings, client, bucket, S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1", **keys)


def drop(client, bucket, name, payload):
    body = payload if isinstance(payload, str) else json.dumps(payload)
    client.put_object(Bucket=bucket, Key=f"requests/incoming/{name}", Body=body.encode())


def test_valid_invalid_and_duplicate_requests(s3_store_env):
    settings, client, bucket, s3 = s3_store_env
    instance = DagsterInstance.ephemeral()
    drop(client, bucket, "good.json", small_request(request_id="good"))
    drop(client, bucket, "bad.json", small_request(request_id="bad", rows=0))
    drop(client, bucket, "junk.json", "{{{")
    result = evaluate(settings, instance, s3=s3)
    assert [r.partition_key for r in result.run_requests] == ["good"]
    drop(client, bucket, "again.json", small_request(request_id="good"))
    second = evaluate(settings, instance, result.cursor, s3=s3)
    assert second.run_requests == []
    store = S3RequestStore(f"s3://{bucket}/requests", client)
    assert store.incoming() == [] and store.accepted() == ["good"]
    errors = {e["file"]: e["errors"][0] for e in store.rejected_errors()}
    assert errors["bad.json"]["field"] == "rows"
    assert errors["junk.json"]["field"] == "request"
    assert "duplicate" in errors["again.json"]["message"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="requests/rejected/")["Contents"]}
    assert sum(k.endswith("-bad.json") for k in keys) == 1  # the refused file itself is kept


def test_a_restart_mid_batch_neither_drops_nor_repeats(s3_store_env):
    """Five requests, two per tick; the daemon dies after a tick whose cursor was never stored."""
    settings, client, bucket, s3 = s3_store_env
    settings = replace(settings, intake_batch=2)
    instance = DagsterInstance.ephemeral()
    ids = [f"req-{i}" for i in range(5)]
    for request_id in ids:
        drop(client, bucket, f"{request_id}.json", small_request(request_id=request_id))

    lost = evaluate(settings, instance, s3=s3)  # evaluated, files moved, then the process died: cursor lost
    assert len(lost.run_requests) == 2
    resumed = evaluate(settings, instance, None, s3=s3)
    rest = evaluate(settings, instance, resumed.cursor, s3=s3)
    idle = evaluate(settings, instance, rest.cursor, s3=s3)

    requested = [r for t in (lost, resumed, rest) for r in t.run_requests]
    by_id: dict[str, set[str]] = {}
    for run in requested:
        by_id.setdefault(run.partition_key, set()).add(run.run_key)
    assert sorted(by_id) == ids  # none dropped
    assert all(len(keys) == 1 for keys in by_id.values())  # a request asked twice has one run key: it runs once
    assert idle.run_requests == []
    assert sorted(json.loads(rest.cursor)) == ids


def test_a_requesters_own_prefix_is_their_identity(s3_store_env):
    """incoming/<requester>/ on S3 (IAM lets each requester write only there): a request naming anyone else is
    rejected into rejected/<requester>/ with the reason; one naming its owner runs, signed as the owner."""
    from synth_pipelines.intake.identity import Identity, verified_identity

    settings, client, bucket, s3 = s3_store_env
    settings = replace(settings, identity_secret="s3-secret")
    drop(client, bucket, "alice@example.org/mine.json", small_request(request_id="mine", requester="alice@example.org"))
    drop(
        client, bucket, "alice@example.org/theirs.json", small_request(request_id="theirs", requester="bob@example.org")
    )
    (run,) = evaluate(settings, DagsterInstance.ephemeral(), s3=s3).run_requests
    assert run.partition_key == "mine"
    assert verified_identity(run.tags, "s3-secret") == Identity("alice@example.org", "requester")
    store = S3RequestStore(f"s3://{bucket}/requests", client)
    assert store.incoming() == [] and store.accepted() == ["mine"]
    (error,) = store.rejected_errors()
    assert error["file"] == "alice@example.org/theirs.json" and error["errors"][0]["field"] == "requester"
    assert "not the owner of the prefix incoming/alice@example.org/" in error["errors"][0]["message"]
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="requests/rejected/")["Contents"]}
    assert all(k.startswith("requests/rejected/alice@example.org/") for k in keys) and len(keys) == 2
