"""Publishing: copy the export and its report to the artifact stores, then write the manifest last."""

from synth_pipelines.publishing.publish import PublishConfig, publish_artifact, read_manifest

__all__ = ["PublishConfig", "publish_artifact", "read_manifest"]
