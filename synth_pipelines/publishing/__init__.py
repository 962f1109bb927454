"""Publishing: copy the export and its reports to the artifact stores (local, S3, IPFS, Arweave), then the manifest.

Plain Python with no orchestrator import; synth_pipelines.resources wraps these classes.
"""

from synth_pipelines.publishing.arweave import ArweaveNode, ArweavePublisher, ArweaveRecord
from synth_pipelines.publishing.config import PublishConfig
from synth_pipelines.publishing.ipfs import EmbeddedIpfs, IpfsRecord, KuboRpcIpfs, file_cid, make_ipfs_backend
from synth_pipelines.publishing.notifications import Notification, NotificationStore, post_webhook
from synth_pipelines.publishing.publish import ALLOWED_TARGETS, publish_artifact, read_manifest, s3_key
from synth_pipelines.publishing.retry import IntegrityError, PublishError, RetryPolicy
from synth_pipelines.publishing.storage import (
    ArtifactStore,
    LocalArtifactStore,
    S3ArtifactStore,
    StoredObject,
    make_s3_client,
    open_dataset_uri,
    sha256_file,
)

__all__ = [
    "ALLOWED_TARGETS",
    "ArtifactStore",
    "ArweaveNode",
    "ArweavePublisher",
    "ArweaveRecord",
    "EmbeddedIpfs",
    "IntegrityError",
    "IpfsRecord",
    "KuboRpcIpfs",
    "LocalArtifactStore",
    "Notification",
    "NotificationStore",
    "PublishConfig",
    "PublishError",
    "RetryPolicy",
    "S3ArtifactStore",
    "StoredObject",
    "file_cid",
    "make_ipfs_backend",
    "make_s3_client",
    "open_dataset_uri",
    "post_webhook",
    "publish_artifact",
    "read_manifest",
    "s3_key",
    "sha256_file",
]
