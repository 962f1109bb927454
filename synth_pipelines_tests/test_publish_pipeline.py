"""A request published to real S3, IPFS and Arweave (arlocal) servers on loopback, through the whole graph."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
import requests
from dagster import AssetKey, DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.publishing import PublishConfig, file_cid
from synth_pipelines.publishing.arweave_tx import generate_wallet, save_wallet
from synth_pipelines.resources import S3Resource
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.servers import arlocal_node, artifact_web_server, ipfs_node, moto_s3_server

pytestmark = pytest.mark.integration


def test_publish_to_s3_and_ipfs_end_to_end(settings):
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    with moto_s3_server() as endpoint, ipfs_node() as node:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
        s3.create_bucket(Bucket="synthetic")
        publish = PublishConfig(
            artifact_root=settings.artifact_root,
            s3_bucket="synthetic",
            s3_endpoint_url=endpoint,
            s3_prefix="published",
            ipfs_api_url=node.api_url,
            ipfs_gateway_url=node.gateway_url,
        )
        request = parse_request(small_request(request_id="everywhere", publish=["local", "s3", "ipfs"]))
        resource = S3Resource(endpoint_url=endpoint, region_name="us-east-1", **keys)
        instance = DagsterInstance.ephemeral()
        ok, manifest_path, error = run_request(request, replace(settings, publish=publish), instance, s3=resource)
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

        # The run page: one click from published_artifact opens the export; its summary says what it is.
        record = instance.fetch_materializations(AssetKey("published_artifact"), limit=1).records[0]
        metadata = record.asset_materialization.metadata
        link = metadata["export_link"].value
        assert link == s3_location["presigned_url"]
        opened = requests.get(link, timeout=30)
        assert opened.ok and hashlib.sha256(opened.content).hexdigest() == manifest["sha256"]
        summary = metadata["summary"].value
        assert f"[Open the export]({link})" in summary
        assert manifest["sha256"] in summary and "overall" in summary and "no DP" in summary
        gateway = manifest["locations"]["ipfs"]["gateway_url"]
        assert f"[{gateway}]({gateway})" in summary


def test_a_local_export_opens_from_the_deploys_web_server(settings):
    """Published only to the local store: the run page's link opens the export through SYNTH_PUBLIC_BASE_URL."""
    with artifact_web_server(settings.artifact_root) as base_url:
        publish = PublishConfig.from_env(settings.artifact_root, {"SYNTH_PUBLIC_BASE_URL": f"{base_url}/"})
        request = parse_request(small_request(request_id="on-the-web", publish=["local"]))
        instance = DagsterInstance.ephemeral()
        ok, manifest_path, error = run_request(request, replace(settings, publish=publish), instance)
        assert ok, error
        manifest = json.loads(manifest_path.read_text())
        record = instance.fetch_materializations(AssetKey("published_artifact"), limit=1).records[0]
        metadata = record.asset_materialization.metadata
        link = metadata["export_link"].value
        assert link == manifest["locations"]["web"]["url"] and link.startswith(f"{base_url}/on-the-web/")
        opened = requests.get(link, timeout=30)
        assert opened.ok and hashlib.sha256(opened.content).hexdigest() == manifest["sha256"]
        assert f"[Open the export]({link})" in metadata["summary"].value
    # Without a web server the local export has no URL (a path is not a link a browser can open).
    publish = PublishConfig.from_env(settings.artifact_root, {})
    request = parse_request(small_request(request_id="off-the-web", publish=["local"]))
    instance = DagsterInstance.ephemeral()
    ok, manifest_path, error = run_request(request, replace(settings, publish=publish), instance)
    assert ok, error
    record = instance.fetch_materializations(AssetKey("published_artifact"), limit=1).records[0]
    assert "export_link" not in record.asset_materialization.metadata
    assert "web" not in json.loads(manifest_path.read_text())["locations"]


def test_public_base_url_must_be_http():
    with pytest.raises(ValueError, match=r"SYNTH_PUBLIC_BASE_URL='file:///srv'.*allowed: an http:// or https:// URL"):
        PublishConfig.from_env(Path("/tmp"), {"SYNTH_PUBLIC_BASE_URL": "file:///srv"})


def test_publish_to_arweave_end_to_end(settings, tmp_path):
    wallet = generate_wallet()
    wallet_path = tmp_path / "wallet.json"
    save_wallet(wallet, wallet_path)
    with arlocal_node() as node:
        node.mint(wallet.address, 10**15)
        publish = PublishConfig(
            artifact_root=settings.artifact_root,
            arweave_url=node.url,
            arweave_wallet=wallet_path,
            arweave_confirmations=1,
            arweave_confirm_timeout_seconds=120,
            arweave_poll_seconds=0.2,
        )
        request = parse_request(small_request(request_id="permanent", publish=["local", "arweave"]))
        ok, manifest_path, error = run_request(request, replace(settings, publish=publish), DagsterInstance.ephemeral())
        assert ok, error
        manifest = json.loads(manifest_path.read_text())
        assert manifest["targets"] == ["arweave", "local"]
        arweave = manifest["locations"]["arweave"]
        assert arweave["confirmed"] is True and arweave["url"] == f"{node.url}/{arweave['tx_id']}"
        # The data fetched back by transaction id is the export the manifest describes.
        fetched = requests.get(f"{node.url}/{arweave['tx_id']}", timeout=60).content
        assert hashlib.sha256(fetched).hexdigest() == manifest["sha256"] == arweave["sha256"]
        assert fetched == open(manifest["export_uri"], "rb").read()
        status = requests.get(f"{node.url}/tx/{arweave['tx_id']}/status", timeout=30).json()
        assert status["number_of_confirmations"] >= 1 and status["block_indep_hash"] == arweave["block_hash"]


def test_arweave_target_without_a_node_fails_naming_the_setting(settings):
    request = parse_request(small_request(request_id="nowhere", publish=["local", "arweave"]))
    ok, manifest_path, error = run_request(request, settings, DagsterInstance.ephemeral())
    assert not ok and manifest_path is None
    assert "published_artifact" in error and "SYNTH_ARWEAVE_URL" in error
    assert not (settings.artifact_root / "nowhere" / "manifest.json").exists()
