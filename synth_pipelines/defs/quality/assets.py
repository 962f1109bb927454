"""quality_report: the owner's private report against the real rows, the public scores, and blocking thresholds.

What the UI shows here (metadata, check descriptions, logs) is seen by every UI viewer, so
for a DP request it is built from the public, synthetic-only scores: a threshold's verdict
and limit are shown, never the real-data score it was checked against.
"""

from pathlib import Path

import dagster as dg

from synth_pipelines.core.payloads import QualityOutcome, SyntheticExport, ValidatedDataset
from synth_pipelines.core.request import SynthesisRequest
from synth_pipelines.data.profiling import DatasetProfile
from synth_pipelines.quality import (
    THRESHOLDS,
    build_schema_only_report,
    check_description,
    publish_gate,
    report_for_request,
    threshold_checks,
)
from synth_pipelines.resources import WorkAreaResource

from ..partitions import requests_partitions


@dg.asset(
    partitions_def=requests_partitions,
    group_name="synthesis",
    kinds={"sdmetrics"},
    check_specs=[
        dg.AssetCheckSpec(name, asset="quality_report", blocking=True, description=f"quality.{name} from the request")
        for name in THRESHOLDS
    ],
)
def quality_report(
    context: dg.AssetExecutionContext,
    synthesis_request: SynthesisRequest,
    dataset_profile: DatasetProfile,
    validated_dataset: ValidatedDataset,
    synthetic_export: SyntheticExport,
    work_area: WorkAreaResource,
):
    """SDMetrics quality of the export against the real training rows (private), public scores, thresholds."""
    request = synthesis_request
    private = request.privacy is not None
    out_dir = work_area.folder(request.request_id, "quality")
    if request.schema_only:  # no real rows: validity against the schema
        result = build_schema_only_report(Path(synthetic_export.path), request.schema, request.quality, out_dir)
    else:
        result = report_for_request(request, dataset_profile, validated_dataset, Path(synthetic_export.path), out_dir)
    checks = {c["threshold"]: c for c in threshold_checks(result.scores, request.quality)}
    metadata = {
        "summary": dg.MetadataValue.md(result.markdown),
        "report": dg.MetadataValue.path(str(result.files.get("report", ""))),
    }
    if private:
        metadata["synthetic_rows"] = result.public_scores.get("synthetic_rows")
        if result.public_scores.get("domain_share_overall") is not None:
            metadata["domain_share_overall"] = result.public_scores["domain_share_overall"]
    elif request.schema_only:
        metadata["diagnostic"] = result.scores.get("diagnostic")
    else:
        metadata["overall"] = result.scores.get("overall")
    outcome = QualityOutcome(
        scores=result.scores,
        public_scores=result.public_scores,
        differentially_private=private,
        files={name: str(path) for name, path in result.files.items()},
        public_files=sorted(result.public_files),
        checks=list(checks.values()),
        publish_gate=publish_gate(list(checks.values()), private),
    )
    yield dg.Output(outcome, metadata=metadata)
    failed = []
    for name in THRESHOLDS:
        check = checks.get(name)
        if check is None:
            yield dg.AssetCheckResult(check_name=name, passed=True, description=f"quality.{name} not set")
            continue
        description = check_description(check, private)
        if not check["passed"]:
            failed.append(description)
        check_metadata = {"limit": check["limit"]}
        if not private:
            check_metadata["value"] = check["value"] if check["value"] is not None else "not computed"
        yield dg.AssetCheckResult(
            check_name=name, passed=bool(check["passed"]), description=description, metadata=check_metadata
        )
    if failed:
        context.log.error("quality thresholds missed, publishing is blocked: " + "; ".join(failed))
