"""Artifact storage behind one interface: a local folder (embedded default) or an S3 bucket.

Both stores put a file under a key, verify what they hold against the file's SHA-256,
and skip the upload when an identical object is already there, so a re-run of a
request writes the same keys and uploads nothing twice.

S3 integrity: the file is hashed before upload and must match the SHA-256 the caller
recorded; every request then carries that SHA-256 (`ChecksumSHA256` on PutObject and on
each UploadPart), so S3 refuses bytes corrupted on the way (BadDigest). Afterwards we
read the checksum the server stored (HeadObject with ChecksumMode=ENABLED) and compare
it with our own. A multipart object's checksum is S3's composite form,
base64(sha256(part digests…))-N, which `composite_sha256` computes locally.
(moto, used in tests, stores the checksum it is sent without recomputing it; AWS and
MinIO recompute it. The local pre-upload hash is what holds against a lax server.)
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from synth_pipelines.core.files import atomic_path, sha256_file
from synth_pipelines.core.uris import split_s3_uri
from synth_pipelines.publishing.config import PublishConfig
from synth_pipelines.publishing.retry import IntegrityError, PublishError, RetryPolicy


def composite_sha256(path: Path, part_size: int) -> str:
    """S3's checksum of a multipart object: base64(sha256(concat(part sha256s)))-<parts>."""
    digests = []
    with Path(path).open("rb") as handle:
        while part := handle.read(part_size):
            digests.append(hashlib.sha256(part).digest())
    return f"{base64.b64encode(hashlib.sha256(b''.join(digests)).digest()).decode()}-{len(digests)}"


def _same_checksum(theirs: str | None, expected: str) -> bool:
    # AWS writes a composite checksum as "<base64>-<parts>"; moto leaves out "-<parts>".
    # The digest is what proves integrity, so compare that.
    return theirs is not None and theirs.split("-")[0] == expected.split("-")[0]


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@dataclass(frozen=True)
class StoredObject:
    """One file as a store holds it."""

    uri: str
    sha256: str
    size: int
    uploaded: bool  # False when an identical object was already there
    checksum_sha256: str | None = None  # the server's own checksum (S3 only)
    presigned_url: str | None = None
    presigned_expires_at: str | None = None

    def as_manifest(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"uri": self.uri, "sha256": self.sha256, "size": self.size}
        if self.checksum_sha256:
            entry["checksum_sha256"] = self.checksum_sha256
        if self.presigned_url:
            entry["presigned_url"] = self.presigned_url
            entry["presigned_expires_at"] = self.presigned_expires_at
        return entry


class ArtifactStore(Protocol):
    """Where published files go. Keys are '/'-separated relative paths."""

    def describe(self) -> str: ...

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject: ...

    def delete(self, key: str) -> None: ...


class LocalArtifactStore:
    """A folder on this machine: copy to a temp name, check the hash, rename into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def describe(self) -> str:
        return f"local folder {self.root}"

    def path_for(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} escapes the artifact root {self.root}")
        return target

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        target = self.path_for(key)
        size = Path(path).stat().st_size
        if target.is_file() and target.stat().st_size == size and sha256_file(target) == sha256:
            return StoredObject(str(target), sha256, size, uploaded=False)
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
            copied = sha256_file(tmp)
            if copied != sha256:
                raise IntegrityError(f"copy of {path} to {target} is corrupt: sha256 {copied} != {sha256}")
        return StoredObject(str(target), sha256, size, uploaded=True)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)


def s3_client(endpoint_url: str | None, region: str | None, timeout_seconds: float, **credentials: str | None) -> Any:
    """A boto3 S3 client for the endpoint, with botocore's own retries off.

    RetryPolicy owns retrying (see retry.py). Path-style addressing for custom endpoints,
    since MinIO/moto on an IP or localhost have no per-bucket host names. Credentials not
    given come the usual boto3 way (environment, profile, instance role).
    """
    botocore_config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        signature_version="s3v4",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or "us-east-1",
        config=botocore_config,
        **{name: value for name, value in credentials.items() if value},
    )


def make_s3_client(config: PublishConfig) -> Any:
    return s3_client(config.s3_endpoint_url, config.s3_region, config.timeout_seconds)


class S3ArtifactStore:
    """An S3 bucket on any S3-compatible endpoint."""

    def __init__(self, config: PublishConfig, bucket: str | None = None, client: Any = None) -> None:
        bucket = bucket or config.s3_bucket
        if not bucket:
            raise PublishError("the 's3' target needs a bucket: set SYNTH_S3_BUCKET")
        self.bucket = bucket
        self.config = config
        self.client = client or config.s3_client or make_s3_client(config)
        self.retry: RetryPolicy = config.retry

    @property
    def endpoint(self) -> str:
        return self.config.s3_endpoint_url or "AWS S3"

    def describe(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _what(self, verb: str, key: str) -> str:
        return f"{verb} {self.uri(key)} (endpoint {self.endpoint}, bucket {self.bucket!r})"

    def check_bucket(self) -> None:
        """Fail early, and without retries, when the bucket is missing or forbidden."""

        def head() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as error:
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    raise PublishError(
                        f"bucket {self.bucket!r} does not exist at {self.endpoint} (SYNTH_S3_BUCKET)"
                    ) from error
                if status == 403:
                    raise PublishError(
                        f"access to bucket {self.bucket!r} at {self.endpoint} is forbidden (HTTP 403): "
                        "check the AWS credentials and the bucket policy"
                    ) from error
                raise

        self.retry.call(head, f"check bucket {self.bucket!r} at {self.endpoint}")

    def _remote_checksum(self, key: str) -> tuple[str | None, str | None]:
        """(our sha256 metadata, the server's ChecksumSHA256) of an object, or (None, None)."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None, None
            raise
        return head.get("Metadata", {}).get("sha256"), head.get("ChecksumSHA256")

    def _expected_checksum(self, path: Path, sha256: str, size: int) -> str:
        if size >= self.config.multipart_threshold_bytes:
            return composite_sha256(path, self.config.part_size_bytes)
        return _b64(sha256)

    def _put_single(self, key: str, path: Path, sha256: str) -> None:
        with Path(path).open("rb") as body:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=_b64(sha256),
                Metadata={"sha256": sha256},
            )

    def _put_multipart(self, key: str, path: Path, sha256: str) -> None:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", Metadata={"sha256": sha256}
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            with Path(path).open("rb") as handle:
                number = 1
                while chunk := handle.read(self.config.part_size_bytes):
                    checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                    response = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )
                    parts.append({"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum})
                    number += 1
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # An abandoned multipart upload keeps its parts (and their cost) until aborted.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            raise

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        size = Path(path).stat().st_size
        actual = sha256_file(path)
        if actual != sha256:
            # The checksum sent is derived from `sha256`; bytes that no longer match it would be
            # refused by S3 (BadDigest), or stored under a false checksum by a lax server.
            raise PublishError(f"{path} has sha256 {actual}, not {sha256}: not uploading it to {self.uri(key)}")
        expected = self._expected_checksum(path, sha256, size)

        def upload() -> StoredObject:
            ours, theirs = self._remote_checksum(key)
            uploaded = False
            if ours != sha256 or not _same_checksum(theirs, expected):
                if size >= self.config.multipart_threshold_bytes:
                    self._put_multipart(key, path, sha256)
                else:
                    self._put_single(key, path, sha256)
                uploaded = True
                ours, theirs = self._remote_checksum(key)
            if ours != sha256 or not _same_checksum(theirs, expected):
                raise IntegrityError(
                    f"{self.uri(key)} at {self.endpoint} holds checksum {theirs!r} (metadata sha256 {ours!r}); "
                    f"expected {expected!r} for sha256 {sha256}"
                )
            url, expires = self.presign(key)
            return StoredObject(self.uri(key), sha256, size, uploaded, theirs, url, expires)

        return self.retry.call(upload, self._what("upload", key))

    def presign(self, key: str) -> tuple[str, str]:
        """A GET URL for `key` and its expiry time (UTC, ISO 8601)."""
        seconds = self.config.presign_seconds
        expires = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0).isoformat()
        url = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )
        return url, expires

    def delete(self, key: str) -> None:
        self.retry.call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key), self._what("delete", key))

    def download(self, key: str, target: Path) -> Path:
        """Fetch `key` to `target` (temp file, then rename), with retries."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")

        def fetch() -> Path:
            try:
                self.client.download_file(self.bucket, key, str(tmp))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
                    raise PublishError(f"{self.uri(key)} does not exist at {self.endpoint}") from error
                raise
            os.replace(tmp, target)
            return target

        return self.retry.call(fetch, self._what("download", key))


def open_dataset_uri(uri: str, config: PublishConfig) -> Path:
    """A local path holding the object at `uri` (s3://bucket/key), downloaded with retries.

    Downloads are cached under the artifact root by bucket/key and refreshed when the
    object's ETag changes, so re-running a request does not fetch its dataset again.
    """
    bucket, key = split_s3_uri(uri, what="dataset uri", key_required=True)
    store = S3ArtifactStore(config, bucket=bucket)
    target = config.s3_cache_root / bucket / key
    etag_file = target.with_name(f".{target.name}.etag")

    def head() -> str:
        try:
            return store.client.head_object(Bucket=bucket, Key=key)["ETag"]
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                raise PublishError(f"dataset uri {uri!r}: no such object (or bucket) at {store.endpoint}") from error
            if status == 403:
                raise PublishError(f"dataset uri {uri!r}: access forbidden (HTTP 403) at {store.endpoint}") from error
            raise

    etag = store.retry.call(head, f"read {uri} (endpoint {store.endpoint})")
    if target.is_file() and etag_file.is_file() and etag_file.read_text() == etag:
        return target
    store.download(key, target)
    etag_file.write_text(etag)
    return target
