"""published_artifact: the export and public report files published, and the manifest written last."""

from pathlib import Path

import dagster as dg

from synth_pipelines.core.payloads import PublishedArtifact, QualityOutcome, SyntheticExport, TrainedModel
from synth_pipelines.core.request import SynthesisRequest
from synth_pipelines.publishing import publish_artifact
from synth_pipelines.publishing.manifest import build_manifest, public_report_files
from synth_pipelines.publishing.summary import CheckOutcome, export_link, summary_markdown
from synth_pipelines.resources import ArtifactStoreResource

from ..partitions import requests_partitions


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"json"})
def published_artifact(
    context: dg.AssetExecutionContext,
    synthesis_request: SynthesisRequest,
    trained_model: TrainedModel,
    synthetic_export: SyntheticExport,
    quality_report: QualityOutcome,
    artifact_store: ArtifactStoreResource,
) -> dg.Output[PublishedArtifact]:
    """Where the artifact went, its hashes, its quality (and ε when private): the manifest."""
    request = synthesis_request
    manifest = build_manifest(
        request,
        trained_model.training_record,
        synthetic_export,
        quality_report,
        {"dagster_run_id": context.run.run_id},
    )
    report_files = {name: Path(path) for name, path in public_report_files(quality_report).items()}
    manifest_path, content = publish_artifact(
        request.request_id,
        list(request.publish),
        Path(synthetic_export.path),
        synthetic_export.sha256,
        report_files,
        manifest,
        artifact_store.publish_config(),
    )
    checks = [CheckOutcome("quality_report", c["threshold"], bool(c["passed"])) for c in quality_report.checks]
    metadata = {
        # The run page's one look at the result: quality, privacy, checks and where it went.
        "summary": dg.MetadataValue.md(summary_markdown(content, checks)),
        "manifest": dg.MetadataValue.path(str(manifest_path)),
        "export_uri": str(content.get("export_uri")),
        "sha256": content["sha256"],
        "dagster/row_count": content["rows"],
    }
    link = export_link(content)
    if link is not None:  # a presigned S3 URL, or a gateway URL for content a node serves
        metadata["export_link"] = dg.MetadataValue.url(link[1])
    return dg.Output(PublishedArtifact(manifest=content, manifest_path=str(manifest_path)), metadata=metadata)
