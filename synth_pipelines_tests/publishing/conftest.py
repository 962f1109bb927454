"""Fixtures for publishing tests: a moto S3 server, a js-ipfs node and an arlocal node, all real and on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from synth_pipelines.publishing import PublishConfig
from synth_pipelines.publishing.arweave_tx import generate_wallet, save_wallet
from synth_pipelines_tests.servers import ArlocalNode, IpfsNode, arlocal_node, ipfs_node, moto_s3_server

FAST_DELAYS = (0.05, 0.1, 0.2)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Dummy keys so boto3 signs requests to moto and never finds a real profile.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_s3_server() as url:
        yield url


@pytest.fixture(scope="session")
def ipfs() -> Iterator[IpfsNode]:
    with ipfs_node() as node:
        yield node


@pytest.fixture(scope="session")
def arlocal() -> Iterator[ArlocalNode]:
    with arlocal_node() as node:
        yield node


@pytest.fixture(scope="session")
def funded_wallet(arlocal: ArlocalNode, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4096-bit wallet's JWK file (0600), minted 10^15 winston on the session's arlocal."""
    wallet = generate_wallet()
    path = tmp_path_factory.mktemp("arweave") / "wallet.json"
    save_wallet(wallet, path)
    arlocal.mint(wallet.address, 10**15)
    return path


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"synth-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_client(s3_endpoint: str):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


class SleepRecorder:
    """Stands in for time.sleep: records each delay, sleeps a token amount."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_config(tmp_path: Path, sleeps: SleepRecorder) -> Callable[..., PublishConfig]:
    def make(**overrides: object) -> PublishConfig:
        fields: dict[str, object] = {
            "artifact_root": tmp_path / "artifacts",
            "retry_delays": FAST_DELAYS,
            "timeout_seconds": 5.0,
            "sleep": sleeps,
        }
        fields.update(overrides)
        return PublishConfig(**fields)

    return make


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, int], Path]:
    """A file of `size` random bytes (fresh content every call)."""

    def write(name: str, size: int) -> Path:
        path = tmp_path / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        return path

    return write
