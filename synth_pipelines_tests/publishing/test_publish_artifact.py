"""publish_artifact end to end: local + S3 (moto) + IPFS (js-ipfs), manifest written last, re-runs idempotent."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import aleph_cid
import pytest
import requests

from synth_pipelines.publishing import PublishError, publish_artifact, read_manifest, sha256_file
from synth_pipelines_tests.servers import IpfsNode, flaky_tcp_proxy, free_port

pytestmark = pytest.mark.integration  # real S3 (moto) and IPFS (js-ipfs) servers on loopback


def aleph(data: bytes) -> str:
    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(data)
    return hasher.finalize()


@pytest.fixture
def export(write_file) -> tuple[Path, str, dict[str, Path]]:
    path = write_file("synthetic.parquet", 1_500_000)  # 6 chunks: a multi-level UnixFS DAG
    report = write_file("quality_report.json", 2_000)
    return path, sha256_file(path), {"report": report}


LEAD_FIELDS = {"epsilon": 1.5, "quality": {"score": 0.87}, "rows": 2500}


def test_publish_to_local_s3_and_ipfs(make_config, bucket, s3_client, ipfs: IpfsNode, export) -> None:
    path, sha, reports = export
    config = make_config(
        s3_bucket=bucket,
        s3_endpoint_url=s3_client.meta.endpoint_url,
        s3_prefix="synth",
        ipfs_api_url=ipfs.api_url,
        ipfs_gateway_url=ipfs.gateway_url,
    )
    manifest_path, manifest = publish_artifact(
        "req-42", ["local", "s3", "ipfs"], path, sha, reports, dict(LEAD_FIELDS), config, requester="alice@example.org"
    )
    assert manifest_path == config.artifact_root / "req-42" / "manifest.json"
    assert read_manifest(manifest_path) == manifest
    assert {k: manifest[k] for k in LEAD_FIELDS} == LEAD_FIELDS  # the lead's fields survive

    # S3: the object is in the bucket under the requester's prefix, with the right SHA-256
    s3 = manifest["locations"]["s3"]
    key = "synth/alice@example.org/req-42/synthetic.parquet"
    assert s3["uri"] == f"s3://{bucket}/{key}"
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha == s3["sha256"]
    assert requests.get(s3["presigned_url"], timeout=10).content == path.read_bytes()
    assert s3["presigned_expires_at"] > manifest["published_at"]
    report_key = "synth/alice@example.org/req-42/quality_report.json"
    assert manifest["reports"]["report"]["s3"]["uri"] == f"s3://{bucket}/{report_key}"
    manifest_copy = s3_client.get_object(Bucket=bucket, Key=s3["manifest_uri"].split("/", 3)[3])["Body"].read()
    assert json.loads(manifest_copy) == manifest

    # IPFS: the CID is the one an independent implementation computes, and resolves to the bytes
    ipfs_entry = manifest["locations"]["ipfs"]
    assert ipfs_entry["cid"] == aleph(path.read_bytes())
    cat = requests.post(f"{ipfs.api_url}/api/v0/cat", params={"arg": ipfs_entry["cid"]}, timeout=10)
    assert cat.content == path.read_bytes()
    assert ipfs_entry["gateway_url"] == f"{ipfs.gateway_url}/ipfs/{ipfs_entry['cid']}"
    assert requests.get(ipfs_entry["gateway_url"], timeout=10).content == path.read_bytes()
    assert ipfs_entry["pinned"] is True and ipfs_entry["served"] is True  # a node holds it

    # local
    assert Path(manifest["locations"]["local"]).read_bytes() == path.read_bytes()
    assert Path(manifest["report_uri"]).read_bytes() == reports["report"].read_bytes()


def test_rerun_uploads_nothing_twice(make_config, bucket, s3_client, ipfs: IpfsNode, export) -> None:
    path, sha, reports = export
    config = make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url, ipfs_api_url=ipfs.api_url)
    _, first = publish_artifact("req-7", ["s3", "ipfs"], path, sha, reports, {}, config, requester="bob")
    versions = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    time.sleep(1.1)  # S3 LastModified has one-second resolution: a re-upload must show
    _, second = publish_artifact("req-7", ["s3", "ipfs"], path, sha, reports, {}, config, requester="bob")
    again = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert second["locations"]["ipfs"]["cid"] == first["locations"]["ipfs"]["cid"]
    assert second["locations"]["s3"]["uri"] == first["locations"]["s3"]["uri"]
    assert sorted(o["Key"] for o in again) == sorted(o["Key"] for o in versions)  # same keys, no new ones
    data_keys = {o["Key"]: o["LastModified"] for o in versions if not o["Key"].endswith("manifest.json")}
    assert {o["Key"]: o["LastModified"] for o in again if o["Key"] in data_keys} == data_keys


def test_embedded_ipfs_by_default_gives_the_real_cid_and_says_nothing_serves_it(make_config, export) -> None:
    path, sha, reports = export
    config = make_config()  # no SYNTH_IPFS_API_URL: embedded content addressing
    _, manifest = publish_artifact("req-emb", ["ipfs"], path, sha, reports, {}, config)
    entry = manifest["locations"]["ipfs"]
    assert entry["cid"] == aleph(path.read_bytes())
    assert entry["node"] == "embedded"
    assert (config.ipfs_embedded_root / "pins" / entry["cid"]).exists()
    # No node holds these blocks: the record claims no pin and gives no gateway URL that cannot resolve
    assert "pinned" not in entry and "gateway_url" not in entry
    assert entry["served"] is False and entry["cid_computed_locally"] is True
    assert "computed locally" in entry["note"] and "no IPFS node holds or serves" in entry["note"]
    assert config.ipfs_gateway_url not in json.dumps(manifest)


def test_s3_down_twice_then_up_publishes(make_config, bucket, s3_endpoint, export, sleeps) -> None:
    path, sha, reports = export
    with flaky_tcp_proxy(int(s3_endpoint.rsplit(":", 1)[1]), refuse_first=2) as proxy:
        config = make_config(s3_bucket=bucket, s3_endpoint_url=proxy.url)
        manifest_path, manifest = publish_artifact("req-flaky", ["s3"], path, sha, reports, {}, config)
    assert proxy.refused == 2 and sleeps.delays == [0.05, 0.1]
    assert manifest_path.exists() and manifest["locations"]["s3"]["sha256"] == sha


def test_s3_down_for_good_leaves_no_manifest(make_config, bucket, export, sleeps) -> None:
    path, sha, reports = export
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = make_config(s3_bucket=bucket, s3_endpoint_url=endpoint)
    with pytest.raises(PublishError, match=f"at {endpoint}.*failed after 4 attempts"):
        publish_artifact("req-down", ["s3"], path, sha, reports, {}, config)
    assert sleeps.delays == [0.05, 0.1, 0.2]
    assert not (config.artifact_root / "req-down" / "manifest.json").exists()


def test_missing_bucket_fails_at_once_without_manifest(make_config, s3_endpoint, export, sleeps) -> None:
    path, sha, reports = export
    config = make_config(s3_bucket="bucket-that-was-never-made", s3_endpoint_url=s3_endpoint)
    with pytest.raises(PublishError, match="bucket 'bucket-that-was-never-made' does not exist"):
        publish_artifact("req-nob", ["s3"], path, sha, reports, {}, config)
    assert sleeps.delays == []
    assert not (config.artifact_root / "req-nob" / "manifest.json").exists()


def test_failure_after_s3_upload_removes_the_previous_manifest(make_config, bucket, s3_client, export) -> None:
    path, sha, reports = export
    config = make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url)
    manifest_path, manifest = publish_artifact("req-half", ["s3"], path, sha, reports, {}, config, requester="c")
    assert manifest_path.exists()
    # Second run: S3 works, IPFS node is unreachable -> fails after the S3 upload.
    broken = make_config(
        s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url, ipfs_api_url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(PublishError, match="IPFS node http://127.0.0.1:"):
        publish_artifact("req-half", ["s3", "ipfs"], path, sha, reports, {}, broken, requester="c")
    assert not manifest_path.exists()
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "c/req-half/manifest.json" not in keys and "c/req-half/synthetic.parquet" in keys


def test_bad_inputs_are_refused_before_any_upload(make_config, export) -> None:
    path, sha, reports = export
    config = make_config()
    with pytest.raises(ValueError, match=r"publish targets \['ftp'\] are not known; allowed: local, s3, ipfs"):
        publish_artifact("r1", ["ftp"], path, sha, reports, {}, config)
    with pytest.raises(PublishError, match="SYNTH_S3_BUCKET"):
        publish_artifact("r1", ["s3"], path, sha, reports, {}, config)
    with pytest.raises(PublishError, match="changed after export"):
        publish_artifact("r1", ["local"], path, "0" * 64, reports, {}, config)
    with pytest.raises(ValueError, match="request_id '../x'"):
        publish_artifact("../x", ["local"], path, sha, reports, {}, config)
    assert not (config.artifact_root / "r1").exists()


def test_requester_in_the_lead_manifest_sets_the_key_prefix(make_config, bucket, s3_client, export) -> None:
    path, sha, reports = export
    config = make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url)
    _, manifest = publish_artifact("req-d", ["s3"], path, sha, reports, {"requester": "dana smith"}, config)
    assert manifest["locations"]["s3"]["uri"] == f"s3://{bucket}/dana_smith/req-d/synthetic.parquet"
    assert manifest["requester"] == "dana smith"
