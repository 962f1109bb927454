"""Thin Dagster resources over the domain's stores and clients, configured from the environment."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import dagster as dg

from synth_pipelines.core.settings import Settings
from synth_pipelines.intake.requests import LocalRequestStore, RequestStore
from synth_pipelines.publishing import PublishConfig
from synth_pipelines.publishing.retention import UNPARTITIONED_IO
from synth_pipelines.training.device import device_name, resolve_device


class RequestStoreResource(dg.ConfigurableResource):
    """Where requests arrive (incoming/) and where accepted ones are kept (accepted/).

    A local folder by default; an S3 prefix when `s3_url` (SYNTH_REQUEST_STORE_URL) is set.
    `root` always holds the local records (notifications) beside it.
    """

    root: str
    s3_url: str = ""

    def store(self) -> RequestStore:
        if self.s3_url:
            from synth_pipelines.intake.s3 import S3RequestStore
            from synth_pipelines.publishing import PublishConfig, make_s3_client

            return S3RequestStore(self.s3_url, make_s3_client(PublishConfig.from_env(Path(self.root))))
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
        path = self._output_path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # a reader never sees half an output

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
    """Where published artifacts and manifests go."""

    root: str

    def publish_config(self) -> PublishConfig:
        """S3, IPFS and retry settings come from SYNTH_S3_* / SYNTH_IPFS_* / SYNTH_PUBLISH_* (publishing/config.py)."""
        return PublishConfig.from_env(Path(self.root))


class ComputeResource(dg.ConfigurableResource):
    """Which device trains models: auto (CUDA when torch sees one), cpu or cuda."""

    device: str = "auto"

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


def build_resources(settings: Settings, device: str = "auto") -> dict[str, Any]:
    return {
        # Outputs go to the private work area, never to the instance's storage (see WorkAreaIOManager).
        "io_manager": WorkAreaIOManager(root=str(settings.work_root)),
        "request_store": RequestStoreResource(root=str(settings.request_root), s3_url=settings.request_store_url),
        "data_source": DataSourceResource(data_root=str(settings.data_root)),
        "work_area": WorkAreaResource(root=str(settings.work_root)),
        "artifact_store": ArtifactStoreResource(root=str(settings.artifact_root)),
        "compute": ComputeResource(device=device),
        "privacy_ledger": PrivacyLedgerResource(
            url=settings.ledger_url,
            max_epsilon=settings.max_epsilon,
            dataset_epsilon_cap=settings.dataset_epsilon_cap,
        ),
    }
