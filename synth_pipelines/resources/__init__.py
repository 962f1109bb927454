"""Typed Dagster resources: the deploy's configuration, and the clients built from it once per run.

`build_resources(settings)` is the only place settings become resources. Secrets never show in
the UI: a ledger URL or S3 key that came from the environment is passed as `dg.EnvVar`, so the
launchpad and the run's config show the variable's name, not its value. Tests build a
`Settings` and pass `build_resources(settings)` in; nothing here reads the environment.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource as DagsterS3Resource
from pydantic import PrivateAttr

from synth_pipelines.core.files import atomic_open
from synth_pipelines.executors import max_concurrent
from synth_pipelines.intake.requests import LocalRequestStore, RequestStore
from synth_pipelines.publishing import PublishConfig
from synth_pipelines.publishing.config import MIB
from synth_pipelines.publishing.retention import UNPARTITIONED_IO
from synth_pipelines.publishing.retry import DEFAULT_DELAYS, parse_delays
from synth_pipelines.publishing.storage import s3_client
from synth_pipelines.settings import Settings
from synth_pipelines.training.device import device_name, resolve_device


class S3Resource(DagsterS3Resource):
    """dagster-aws's S3 resource with our client: botocore retries off (RetryPolicy owns them),
    connect/read timeouts, path-style addressing on custom endpoints; built once per run."""

    timeout_seconds: float = 60.0
    _client: Any = PrivateAttr(default=None)

    def get_client(self) -> Any:
        if self._client is None:
            self._client = s3_client(
                self.endpoint_url,
                self.region_name,
                self.timeout_seconds,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                aws_session_token=self.aws_session_token,
            )
        return self._client


class RequestStoreResource(dg.ConfigurableResource):
    """Where requests arrive (incoming/) and where accepted ones are kept (accepted/).

    A local folder by default; an S3 prefix when `s3_url` (SYNTH_REQUEST_STORE_URL) is set.
    `root` always holds the local records (notifications) beside it.
    """

    root: str
    s3_url: str = ""
    s3: S3Resource
    intake_batch: int = 100
    webhook_timeout_seconds: float = 10.0
    identity_secret: str = ""  # SYNTH_IDENTITY_SECRET (the UI shows the variable's name)

    def identity_tags(self, requester: str) -> dict[str, str]:
        """Signed identity tags for a run the code location itself starts for `requester` (sensors); {} unset."""
        from synth_pipelines.intake.identity import Identity, signed_tags

        return signed_tags(Identity(requester, "requester"), self.identity_secret) if self.identity_secret else {}

    def store(self) -> RequestStore:
        if self.s3_url:
            from synth_pipelines.intake.s3 import S3RequestStore

            return S3RequestStore(self.s3_url, self.s3.get_client())
        return LocalRequestStore(Path(self.root))

    def notifications_root(self) -> Path:
        path = Path(self.root)
        path.mkdir(parents=True, exist_ok=True)
        return path


class DataSourceResource(dg.ConfigurableResource):
    """Input datasets: local paths must resolve under `data_root`."""

    data_root: str

    @property
    def root(self) -> Path:
        return Path(self.data_root)


class WorkAreaResource(dg.ConfigurableResource):
    """Private intermediates of each request: data snapshots, the model, chunks, the export."""

    root: str

    def folder(self, request_id: str, *parts: str) -> Path:
        path = Path(self.root, request_id, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


class WorkAreaIOManager(dg.ConfigurableIOManager):
    """Pickles asset and op outputs into the request's private work area instead of DAGSTER_HOME/storage.

    Dagster's default IO manager writes every output under the instance's storage, which
    outlives the request and which retention does not know about. Here a request's outputs
    sit in `<root>/<request_id>/io/`, so removing the request's work folder removes them:
    assets at `io/<asset key>.pickle`, op steps inside a graph asset at
    `io/runs/<run_id>/<step>/<output>.pickle`. Unpartitioned runs use `<root>/_io/`.
    """

    root: str

    def _base(self, partition: str | None) -> Path:
        if partition is None:
            return Path(self.root, UNPARTITIONED_IO)
        return Path(self.root, partition, "io")

    @staticmethod
    def _partition(context: dg.OutputContext | dg.InputContext) -> str | None:
        if context.has_asset_key and context.has_asset_partitions:
            return context.asset_partition_key
        return context.partition_key if context.has_partition_key else None

    def _asset_path(self, asset_key: dg.AssetKey, partition: str | None) -> Path:
        *folders, name = asset_key.path
        return self._base(partition).joinpath(*folders, f"{name}.pickle")

    def _op_path(self, identifier: list[str], partition: str | None) -> Path:
        *folders, name = identifier  # run_id, step_key, output name[, mapping key]
        return self._base(partition).joinpath("runs", *folders, f"{name}.pickle")

    def _output_path(self, context: dg.OutputContext) -> Path:
        if context.has_asset_key:
            return self._asset_path(context.asset_key, self._partition(context))
        return self._op_path(context.get_identifier(), self._partition(context))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if context.dagster_type.is_nothing:
            return
        with atomic_open(self._output_path(context)) as handle:  # a reader never sees half an output
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)

    def load_input(self, context: dg.InputContext) -> Any:
        if context.dagster_type.is_nothing:
            return None
        if context.has_asset_key:
            path = self._asset_path(context.asset_key, self._partition(context))
        else:
            upstream = context.upstream_output
            path = self._op_path(upstream.get_identifier(), self._partition(context))
        with path.open("rb") as handle:
            return pickle.load(handle)


class ArtifactStoreResource(dg.ConfigurableResource):
    """Where published artifacts and manifests go: the local store, S3, IPFS, Arweave, and how long they are kept.

    `arweave_wallet` is the path of the wallet's JWK file: the key is the secret and stays in that file.
    """

    root: str
    s3: S3Resource
    s3_bucket: str = ""
    s3_prefix: str = ""
    multipart_threshold_mb: float = 64
    part_size_mb: float = 16
    presign_seconds: int = 3600
    ipfs_api_url: str = ""
    ipfs_gateway_url: str = "https://ipfs.io"
    arweave_url: str = ""
    arweave_wallet: str = ""
    arweave_gateway_url: str = ""
    arweave_confirmations: int = 1
    arweave_confirm_timeout_seconds: float = 1800
    arweave_poll_seconds: float = 10
    retry_delays: str = ",".join(f"{d:g}" for d in DEFAULT_DELAYS)
    retention_days: float = 30.0
    public_base_url: str = ""
    _config: PublishConfig | None = PrivateAttr(default=None)

    def publish_config(self) -> PublishConfig:
        """The publishing configuration, checked and built once per run, with the run's S3 client."""
        if self._config is None:
            self._config = PublishConfig(
                artifact_root=Path(self.root),
                s3_bucket=self.s3_bucket or None,
                s3_endpoint_url=self.s3.endpoint_url,
                s3_prefix=self.s3_prefix,
                s3_region=self.s3.region_name,
                multipart_threshold_bytes=int(self.multipart_threshold_mb * MIB),
                part_size_bytes=int(self.part_size_mb * MIB),
                presign_seconds=self.presign_seconds,
                ipfs_api_url=self.ipfs_api_url or None,
                ipfs_gateway_url=self.ipfs_gateway_url,
                arweave_url=self.arweave_url or None,
                arweave_wallet=Path(self.arweave_wallet) if self.arweave_wallet else None,
                arweave_gateway_url=self.arweave_gateway_url or None,
                arweave_confirmations=self.arweave_confirmations,
                arweave_confirm_timeout_seconds=self.arweave_confirm_timeout_seconds,
                arweave_poll_seconds=self.arweave_poll_seconds,
                retry_delays=parse_delays(self.retry_delays),
                timeout_seconds=self.s3.timeout_seconds,
                public_base_url=self.public_base_url or None,
                s3_client=self.s3.get_client() if self.s3_bucket else None,
            )
        return self._config


class ComputeResource(dg.ConfigurableResource):
    """Where models train (auto: CUDA when torch sees one, cpu or cuda) and how chunks are spread and sampled."""

    device: str = "auto"
    chunk_steps: int = 0  # 0: as many steps as the executor runs at once
    copula_sampling: str = "table"

    def resolve(self) -> tuple[str, str]:
        device = resolve_device(self.device)
        return device, device_name(device)


class PrivacyLedgerResource(dg.ConfigurableResource):
    """Every spend of ε, per dataset, with the per-request maximum and the per-dataset cap."""

    url: str
    max_epsilon: float = 10.0
    dataset_epsilon_cap: float = 20.0

    def ledger(self):
        from synth_pipelines.privacy.ledger import PrivacyLedger

        return PrivacyLedger(self.url)


def _secret(value: str | None, variable: str) -> Any:
    """The environment variable itself when the value came from it (the UI shows its name), else the value."""
    if value and os.environ.get(variable, "").strip() == value:
        return dg.EnvVar(variable)
    return value


def env_s3(settings: Settings) -> S3Resource:
    """S3 as the deploy configures it; credentials as EnvVars when set, else boto3's usual chain."""
    publish = settings.publish_config()
    return S3Resource(
        endpoint_url=publish.s3_endpoint_url,
        region_name=publish.s3_region,
        timeout_seconds=publish.timeout_seconds,
        aws_access_key_id=_secret(os.environ.get("AWS_ACCESS_KEY_ID"), "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY"),
    )


def build_resources(settings: Settings, s3: S3Resource | None = None) -> dict[str, Any]:
    """Every resource of the code location, from `settings` (and `s3`, else S3 as the environment sets it)."""
    publish = settings.publish_config()
    s3 = s3 if s3 is not None else env_s3(settings)
    return {
        # Outputs go to the private work area, never to the instance's storage (see WorkAreaIOManager).
        "io_manager": WorkAreaIOManager(root=str(settings.work_root)),
        "request_store": RequestStoreResource(
            root=str(settings.request_root),
            s3_url=settings.request_store_url,
            s3=s3,
            intake_batch=settings.intake_batch,
            identity_secret=_secret(settings.identity_secret, "SYNTH_IDENTITY_SECRET"),
        ),
        "data_source": DataSourceResource(data_root=str(settings.data_root)),
        "work_area": WorkAreaResource(root=str(settings.work_root)),
        "artifact_store": ArtifactStoreResource(
            root=str(settings.artifact_root),
            s3=s3,
            s3_bucket=publish.s3_bucket or "",
            s3_prefix=publish.s3_prefix,
            multipart_threshold_mb=publish.multipart_threshold_bytes / MIB,
            part_size_mb=publish.part_size_bytes / MIB,
            presign_seconds=publish.presign_seconds,
            ipfs_api_url=publish.ipfs_api_url or "",
            ipfs_gateway_url=publish.ipfs_gateway_url,
            arweave_url=publish.arweave_url or "",
            arweave_wallet=str(publish.arweave_wallet or ""),
            arweave_gateway_url=publish.arweave_gateway_url or "",
            arweave_confirmations=publish.arweave_confirmations,
            arweave_confirm_timeout_seconds=publish.arweave_confirm_timeout_seconds,
            arweave_poll_seconds=publish.arweave_poll_seconds,
            retry_delays=",".join(f"{d:g}" for d in publish.retry_delays),
            retention_days=settings.retention_days,
            public_base_url=publish.public_base_url or "",
        ),
        "compute": ComputeResource(
            device=settings.device,
            chunk_steps=settings.chunk_steps or max_concurrent(),
            copula_sampling=settings.copula_sampling,
        ),
        "privacy_ledger": PrivacyLedgerResource(
            url=_secret(settings.ledger_url, "SYNTH_LEDGER_URL"),
            max_epsilon=settings.max_epsilon,
            dataset_epsilon_cap=settings.dataset_epsilon_cap,
        ),
    }
