"""published_artifact: the export and public report files published, and the manifest written last.

The manifest's `quality` block is the quality report's public scores: for a DP request those
are computed on synthetic rows alone. When the request set thresholds, a DP manifest also
carries `publish_gate`: the gate compared with the real rows outside the ε guarantee.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

import synth_pipelines
from synth_pipelines.publishing import publish_artifact
from synth_pipelines.resources import ArtifactStoreResource

from ..intake.assets import request_from
from ..partitions import requests_partitions


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"json"})
def published_artifact(
    context: dg.AssetExecutionContext,
    synthesis_request: dict,
    trained_model: dict,
    synthetic_export: dict,
    quality_report: dict,
    artifact_store: ArtifactStoreResource,
) -> dg.Output[dict]:
    """Where the artifact went, its hashes, its quality (and ε when private): the manifest."""
    request = request_from(synthesis_request)
    record = trained_model["training_record"]
    manifest = {
        "request_id": request.request_id,
        "requester": request.requester,
        "rows": synthetic_export["rows"],
        "format": synthetic_export["format"],
        "compression": synthetic_export["compression"],
        "sha256": synthetic_export["sha256"],
        "bytes": synthetic_export["bytes"],
        "schema": synthetic_export["schema"],
        "seed": request.seed,
        "keep": request.keep,
        "synthesizer": {**request.synthesizer.model_dump(mode="json"), "device": record["device"]},
        "quality": quality_report["public_scores"],
        "privacy": record.get("privacy"),
        "created_at": datetime.now(UTC).isoformat(),
        "code_version": synth_pipelines.__version__,
        "dagster_run_id": context.run.run_id,
    }
    if request.privacy is None:
        # A DP fit's duration grows with the rows it saw: it is not published.
        manifest["synthesizer"]["train_seconds"] = record["train_seconds"]
    if quality_report.get("publish_gate"):
        manifest["publish_gate"] = quality_report["publish_gate"]
    report_files = {name: Path(quality_report["files"][name]) for name in quality_report["public_files"]}
    if "report" not in report_files and "public_scores" in report_files:
        # The HTML report shows real-data statistics and stays private unless the request says
        # otherwise (never for a DP request); the public report is then the public scores alone.
        report_files["report"] = report_files.pop("public_scores")
    manifest_path, content = publish_artifact(
        request.request_id,
        list(request.publish),
        Path(synthetic_export["path"]),
        synthetic_export["sha256"],
        report_files,
        manifest,
        artifact_store.publish_config(),
    )
    return dg.Output(
        content,
        metadata={
            "manifest": dg.MetadataValue.path(str(manifest_path)),
            "export_uri": str(content.get("export_uri")),
            "sha256": content["sha256"],
            "dagster/row_count": content["rows"],
        },
    )
