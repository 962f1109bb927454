"""Publishing settings, read from the environment when a run asks for them (never at import).

| variable | meaning | default |
|---|---|---|
| SYNTH_S3_BUCKET | bucket for the "s3" target | unset: the "s3" target is refused |
| SYNTH_S3_ENDPOINT_URL | S3-compatible endpoint (MinIO, moto, …) | unset: AWS |
| SYNTH_S3_PREFIX | key prefix before `<requester>/<request_id>/` | empty |
| SYNTH_S3_REGION | region for signing | AWS_DEFAULT_REGION, else us-east-1 |
| SYNTH_S3_MULTIPART_THRESHOLD_MB | files at least this big go up in parts | 64 |
| SYNTH_S3_PART_SIZE_MB | size of each part (S3 minimum 5) | 16 |
| SYNTH_PRESIGN_SECONDS | lifetime of presigned download URLs (1 … 604800) | 3600 |
| SYNTH_IPFS_API_URL | Kubo RPC API, e.g. http://127.0.0.1:5001 | unset: embedded content addressing |
| SYNTH_IPFS_GATEWAY_URL | gateway written into manifests | https://ipfs.io |
| SYNTH_ARWEAVE_URL | Arweave node HTTP API, e.g. http://127.0.0.1:1984 | unset: the "arweave" target is refused |
| SYNTH_ARWEAVE_WALLET | path of the wallet's JWK file (the key stays in it) | unset: the "arweave" target is refused |
| SYNTH_ARWEAVE_GATEWAY_URL | gateway for manifest links, the fetch-back check and GraphQL | SYNTH_ARWEAVE_URL |
| SYNTH_ARWEAVE_CONFIRMATIONS | blocks on top of the one holding the upload before it counts as confirmed | 1 |
| SYNTH_ARWEAVE_CONFIRM_TIMEOUT_SECONDS | ceiling on the wait for those confirmations | 1800 |
| SYNTH_ARWEAVE_POLL_SECONDS | time between two status polls while waiting | 10 |
| SYNTH_PUBLISH_RETRY_DELAYS | seconds between attempts, e.g. "5,10,20" | 5,10,20 |
| SYNTH_PUBLISH_TIMEOUT_SECONDS | connect/read timeout of one request | 60 |
| SYNTH_PUBLIC_BASE_URL | web server's URL for the artifact root's request folders | unset: no URL for local exports |

AWS credentials come the usual boto3 way (environment, profile, instance role).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from synth_pipelines.core.env import env_int, env_number, env_text
from synth_pipelines.publishing.retry import DEFAULT_DELAYS, RetryPolicy, parse_delays

MIB = 1 << 20
S3_MIN_PART_BYTES = 5 * MIB  # S3 rejects smaller non-final parts (EntityTooSmall)
S3_MAX_PRESIGN_SECONDS = 604_800  # SigV4 presigned URLs live at most 7 days


@dataclass(frozen=True)
class PublishConfig:
    """Where and how a request's artifacts are published."""

    artifact_root: Path
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_prefix: str = ""
    s3_region: str | None = None
    multipart_threshold_bytes: int = 64 * MIB
    part_size_bytes: int = 16 * MIB
    presign_seconds: int = 3600
    ipfs_api_url: str | None = None
    ipfs_gateway_url: str = "https://ipfs.io"
    arweave_url: str | None = None
    arweave_wallet: Path | None = None
    arweave_gateway_url: str | None = None  # None: the node itself
    arweave_confirmations: int = 1
    arweave_confirm_timeout_seconds: float = 1800.0
    arweave_poll_seconds: float = 10.0
    retry_delays: tuple[float, ...] = DEFAULT_DELAYS
    timeout_seconds: float = 60.0
    # Where a web server serves `<artifact_root>/<request_id>/`; None: the local store has no URL.
    public_base_url: str | None = None
    # Tests pass a recorder to see which delays were slept; production sleeps.
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    # The S3 client the deploy built once (resources.S3Resource); None: built from the fields above.
    s3_client: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.part_size_bytes < S3_MIN_PART_BYTES:
            raise ValueError(f"part_size_bytes={self.part_size_bytes}: S3 needs at least {S3_MIN_PART_BYTES} (5 MiB)")
        if not 1 <= self.presign_seconds <= S3_MAX_PRESIGN_SECONDS:
            raise ValueError(f"presign_seconds={self.presign_seconds}: must be between 1 and {S3_MAX_PRESIGN_SECONDS}")
        if self.public_base_url is not None and not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"SYNTH_PUBLIC_BASE_URL={self.public_base_url!r} is not allowed; allowed: an http:// or https:// URL"
            )
        if self.arweave_confirmations < 0:
            raise ValueError(f"arweave_confirmations={self.arweave_confirmations}: must be 0 or more")
        if self.arweave_confirm_timeout_seconds <= 0 or self.arweave_poll_seconds <= 0:
            raise ValueError(
                f"arweave_confirm_timeout_seconds={self.arweave_confirm_timeout_seconds}, "
                f"arweave_poll_seconds={self.arweave_poll_seconds}: both must be more than 0"
            )

    @classmethod
    def from_env(cls, artifact_root: Path, env: Mapping[str, str] | None = None) -> PublishConfig:
        def text(name: str) -> str | None:
            return env_text(name, env=env) or None

        def number(name: str, default: float, low: float, high: float) -> float:
            return env_number(name, default, low, high, env)

        source = os.environ if env is None else env
        delays = source.get("SYNTH_PUBLISH_RETRY_DELAYS")  # set but empty: no retries
        return cls(
            artifact_root=Path(artifact_root),
            s3_bucket=text("SYNTH_S3_BUCKET"),
            s3_endpoint_url=text("SYNTH_S3_ENDPOINT_URL"),
            s3_prefix=env_text("SYNTH_S3_PREFIX", env=env).strip("/"),
            s3_region=text("SYNTH_S3_REGION") or text("AWS_DEFAULT_REGION"),
            multipart_threshold_bytes=int(number("SYNTH_S3_MULTIPART_THRESHOLD_MB", 64, 5, 5 * 1024 * 1024) * MIB),
            part_size_bytes=int(number("SYNTH_S3_PART_SIZE_MB", 16, 5, 5 * 1024) * MIB),
            presign_seconds=int(number("SYNTH_PRESIGN_SECONDS", 3600, 1, S3_MAX_PRESIGN_SECONDS)),
            ipfs_api_url=text("SYNTH_IPFS_API_URL"),
            ipfs_gateway_url=(text("SYNTH_IPFS_GATEWAY_URL") or "https://ipfs.io").rstrip("/"),
            arweave_url=(text("SYNTH_ARWEAVE_URL") or "").rstrip("/") or None,
            arweave_wallet=Path(wallet).expanduser() if (wallet := text("SYNTH_ARWEAVE_WALLET")) else None,
            arweave_gateway_url=(text("SYNTH_ARWEAVE_GATEWAY_URL") or "").rstrip("/") or None,
            arweave_confirmations=env_int("SYNTH_ARWEAVE_CONFIRMATIONS", 1, 0, env),
            arweave_confirm_timeout_seconds=number("SYNTH_ARWEAVE_CONFIRM_TIMEOUT_SECONDS", 1800, 1, 7 * 86400),
            arweave_poll_seconds=number("SYNTH_ARWEAVE_POLL_SECONDS", 10, 0.01, 3600),
            retry_delays=parse_delays(delays) if delays is not None else DEFAULT_DELAYS,
            timeout_seconds=number("SYNTH_PUBLISH_TIMEOUT_SECONDS", 60, 1, 3600),
            public_base_url=(text("SYNTH_PUBLIC_BASE_URL") or "").rstrip("/") or None,
        )

    @property
    def retry(self) -> RetryPolicy:
        return RetryPolicy(self.retry_delays, self.sleep)

    @property
    def arweave_gateway(self) -> str:
        """Where manifests link to and uploads are fetched back from: the gateway, else the node."""
        return (self.arweave_gateway_url or self.arweave_url or "").rstrip("/")

    def public_url(self, request_id: str, name: str) -> str | None:
        """The URL of `<artifact_root>/<request_id>/<name>` on the deploy's web server, or None without one."""
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url.rstrip('/')}/{quote(request_id)}/{quote(name)}"

    @property
    def ipfs_embedded_root(self) -> Path:
        # Leading underscore: request ids cannot collide with it (they name sibling folders).
        return self.artifact_root / "_ipfs"

    @property
    def s3_cache_root(self) -> Path:
        return self.artifact_root / "_s3_cache"
