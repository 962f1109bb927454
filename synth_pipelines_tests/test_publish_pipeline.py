"""A request published to a real S3 server and a real IPFS node, through the whole graph."""

import hashlib
import json

import boto3
import pytest
import requests
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.core.settings import Settings
from synth_pipelines.publishing import file_cid
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.servers import ipfs_node, moto_s3_server

pytestmark = pytest.mark.integration


def test_publish_to_s3_and_ipfs_end_to_end(synth_env, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_s3_server() as endpoint, ipfs_node() as node:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="synthetic")
        monkeypatch.setenv("SYNTH_S3_BUCKET", "synthetic")
        monkeypatch.setenv("SYNTH_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("SYNTH_S3_PREFIX", "published")
        monkeypatch.setenv("SYNTH_IPFS_API_URL", node.api_url)
        monkeypatch.setenv("SYNTH_IPFS_GATEWAY_URL", node.gateway_url)
        request = parse_request(small_request(request_id="everywhere", publish=["local", "s3", "ipfs"]))
        ok, manifest_path, error = run_request(request, Settings.from_env(), DagsterInstance.ephemeral())
        assert ok, error
        manifest = json.loads(manifest_path.read_text())
        local_bytes = open(manifest["export_uri"], "rb").read()
        assert hashlib.sha256(local_bytes).hexdigest() == manifest["sha256"]

        s3_location = manifest["locations"]["s3"]
        bucket, key = s3_location["uri"].removeprefix("s3://").split("/", 1)
        assert key.startswith("published/tester@example.org/everywhere/")
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == manifest["sha256"]

        cid = manifest["locations"]["ipfs"]["cid"]
        assert cid == file_cid(manifest["export_uri"])
        fetched = requests.post(f"{node.api_url}/api/v0/cat", params={"arg": cid}, timeout=30).content
        assert fetched == local_bytes
        manifest_key = s3_location["manifest_uri"].removeprefix(f"s3://{bucket}/")
        copy = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        assert copy["sha256"] == manifest["sha256"] and copy["locations"]["ipfs"]["cid"] == cid
