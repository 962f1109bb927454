"""S3 store against moto's real HTTP server: checksums, multipart, idempotence, presigned URLs, retries."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from synth_pipelines.publishing import PublishConfig, PublishError, S3ArtifactStore, open_dataset_uri, sha256_file
from synth_pipelines.publishing.retry import is_transient
from synth_pipelines.publishing.storage import composite_sha256
from synth_pipelines_tests.servers import flaky_tcp_proxy, free_port

pytestmark = pytest.mark.integration  # a real S3 server (moto) on loopback

MIB = 1 << 20


def server_checksum(client, bucket: str, key: str) -> str:
    return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["ChecksumSHA256"]


def test_single_put_sends_sha256_and_server_stores_it(make_config, bucket, s3_client, write_file) -> None:
    path = write_file("export.csv", 200_000)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    store = S3ArtifactStore(make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url))
    stored = store.put_file("alice/req-1/export.csv", path, sha)
    assert stored.uploaded and stored.uri == f"s3://{bucket}/alice/req-1/export.csv"
    expected = base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
    assert server_checksum(s3_client, bucket, "alice/req-1/export.csv") == expected == stored.checksum_sha256
    body = s3_client.get_object(Bucket=bucket, Key="alice/req-1/export.csv")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha


def test_multipart_upload_has_composite_checksum(make_config, bucket, s3_client, write_file) -> None:
    path = write_file("big.parquet", 11 * MIB)  # 3 parts of 5 MiB, 5 MiB, 1 MiB
    config = make_config(
        s3_bucket=bucket,
        s3_endpoint_url=s3_client.meta.endpoint_url,
        multipart_threshold_bytes=6 * MIB,
        part_size_bytes=5 * MIB,
    )
    stored = S3ArtifactStore(config).put_file("k/big.parquet", path, sha256_file(path))
    parts = [hashlib.sha256(path.read_bytes()[i : i + 5 * MIB]).digest() for i in range(0, 11 * MIB, 5 * MIB)]
    composite = base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()
    assert composite_sha256(path, 5 * MIB) == f"{composite}-3"
    assert server_checksum(s3_client, bucket, "k/big.parquet").split("-")[0] == composite
    assert stored.checksum_sha256.split("-")[0] == composite
    body = s3_client.get_object(Bucket=bucket, Key="k/big.parquet")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha256_file(path)
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_reupload_of_identical_object_is_skipped(make_config, bucket, s3_client, write_file) -> None:
    path = write_file("export.csv", 50_000)
    store = S3ArtifactStore(make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url))
    first = store.put_file("k/export.csv", path, sha256_file(path))
    modified = s3_client.head_object(Bucket=bucket, Key="k/export.csv")["LastModified"]
    time.sleep(1.1)  # LastModified has one-second resolution
    second = store.put_file("k/export.csv", path, sha256_file(path))
    assert (first.uploaded, second.uploaded) == (True, False)
    assert s3_client.head_object(Bucket=bucket, Key="k/export.csv")["LastModified"] == modified
    # new content under the same key is uploaded again
    path.write_bytes(b"changed")
    assert store.put_file("k/export.csv", path, sha256_file(path)).uploaded


def test_file_that_no_longer_matches_its_sha256_is_not_uploaded(
    make_config, bucket, s3_client, write_file, sleeps
) -> None:
    path = write_file("export.csv", 10_000)
    store = S3ArtifactStore(make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url))
    with pytest.raises(PublishError, match=f"not uploading it to s3://{bucket}/k/export.csv"):
        store.put_file("k/export.csv", path, "ab" * 32)  # the sha256 of other bytes
    assert sleeps.delays == []
    assert "Contents" not in s3_client.list_objects_v2(Bucket=bucket)


def test_presigned_url_downloads_the_object_and_expires(make_config, bucket, s3_client, write_file) -> None:
    path = write_file("export.csv", 30_000)
    config = make_config(s3_bucket=bucket, s3_endpoint_url=s3_client.meta.endpoint_url, presign_seconds=120)
    stored = S3ArtifactStore(config).put_file("bob/r/export.csv", path, sha256_file(path))
    assert "X-Amz-Expires=120" in stored.presigned_url
    assert requests.get(stored.presigned_url, timeout=10).content == path.read_bytes()


def test_open_dataset_uri_downloads_once_and_refreshes_on_change(make_config, bucket, s3_client, tmp_path) -> None:
    s3_client.put_object(Bucket=bucket, Key="data/adult.csv", Body=b"a,b\n1,2\n")
    config = make_config(s3_endpoint_url=s3_client.meta.endpoint_url)
    local = open_dataset_uri(f"s3://{bucket}/data/adult.csv", config)
    assert local.read_bytes() == b"a,b\n1,2\n"
    assert open_dataset_uri(f"s3://{bucket}/data/adult.csv", config) == local
    s3_client.put_object(Bucket=bucket, Key="data/adult.csv", Body=b"a,b\n3,4\n")
    assert open_dataset_uri(f"s3://{bucket}/data/adult.csv", config).read_bytes() == b"a,b\n3,4\n"
    with pytest.raises(PublishError, match="no such object"):
        open_dataset_uri(f"s3://{bucket}/data/missing.csv", config)
    with pytest.raises(ValueError, match="is not allowed; allowed: s3://bucket/key"):
        open_dataset_uri("s3://only-bucket", config)


def test_upload_succeeds_after_two_refused_connections(make_config, bucket, s3_endpoint, write_file, sleeps) -> None:
    path = write_file("export.csv", 40_000)
    port = int(s3_endpoint.rsplit(":", 1)[1])
    with flaky_tcp_proxy(port, refuse_first=2) as proxy:
        store = S3ArtifactStore(make_config(s3_bucket=bucket, s3_endpoint_url=proxy.url))
        stored = store.put_file("k/export.csv", path, sha256_file(path))
    assert proxy.refused == 2
    assert sleeps.delays == [0.05, 0.1]  # two failed attempts, two backoffs, then success
    assert stored.uploaded


def test_endpoint_down_for_good_fails_naming_the_endpoint(make_config, bucket, write_file, sleeps) -> None:
    path = write_file("export.csv", 1000)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3ArtifactStore(make_config(s3_bucket=bucket, s3_endpoint_url=endpoint))
    with pytest.raises(PublishError, match=f"endpoint {endpoint}.*failed after 4 attempts"):
        store.put_file("k/export.csv", path, sha256_file(path))
    assert sleeps.delays == [0.05, 0.1, 0.2]


def test_missing_bucket_fails_at_once(make_config, s3_endpoint, sleeps) -> None:
    store = S3ArtifactStore(make_config(s3_bucket="no-such-bucket-here", s3_endpoint_url=s3_endpoint))
    with pytest.raises(PublishError, match=f"bucket 'no-such-bucket-here' does not exist at {s3_endpoint}"):
        store.check_bucket()
    assert sleeps.delays == []


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [(403, "AccessDenied", False), (404, "NoSuchBucket", False), (500, "InternalError", True), (503, "SlowDown", True)],
)
def test_s3_errors_are_classified(status: int, code: str, transient: bool) -> None:
    error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")
    assert is_transient(error) is transient


def test_config_from_env_reads_at_call_time_and_names_bad_variables(tmp_path: Path) -> None:
    env = {
        "SYNTH_S3_BUCKET": "b-1",
        "SYNTH_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "SYNTH_S3_PREFIX": "/synth/",
        "SYNTH_PUBLISH_RETRY_DELAYS": "1,2",
        "SYNTH_PRESIGN_SECONDS": "600",
    }
    config = PublishConfig.from_env(tmp_path, env)
    assert (config.s3_bucket, config.s3_prefix, config.retry_delays, config.presign_seconds) == (
        "b-1",
        "synth",
        (1.0, 2.0),
        600,
    )
    assert config.ipfs_api_url is None  # embedded IPFS
    with pytest.raises(ValueError, match="SYNTH_PUBLISH_RETRY_DELAYS='5,x'"):
        PublishConfig.from_env(tmp_path, {"SYNTH_PUBLISH_RETRY_DELAYS": "5,x"})
    with pytest.raises(
        ValueError,
        match="SYNTH_PRESIGN_SECONDS='0' is not allowed; allowed: a number between 1 and 604800",
    ):
        PublishConfig.from_env(tmp_path, {"SYNTH_PRESIGN_SECONDS": "0"})
