"""quality_report: score the export against the real data; blocking checks gate publishing."""

from pathlib import Path

import dagster as dg
import pandas as pd

from synth_pipelines.quality import build_quality_report, threshold_checks
from synth_pipelines.resources import WorkAreaResource

from ..intake.assets import request_from
from ..partitions import requests_partitions

THRESHOLDS = ("min_overall", "min_diagnostic", "max_mia_auc", "min_tstr_ratio")


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
    synthesis_request: dict,
    dataset_profile: dict,
    validated_dataset: dict,
    synthetic_export: dict,
    work_area: WorkAreaResource,
):
    """SDMetrics quality of the export against the real training rows, and the request's thresholds."""
    request = request_from(synthesis_request)
    train = pd.read_parquet(validated_dataset["train_path"])
    holdout = pd.read_parquet(validated_dataset["holdout_path"])
    result = build_quality_report(
        train,
        holdout if len(holdout) else None,
        Path(synthetic_export["path"]),
        dataset_profile["metadata"],
        request.quality,
        work_area.folder(request.request_id, "quality"),
        seed=request.seed,
    )
    checks = {c["threshold"]: c for c in threshold_checks(result.scores, request.quality)}
    public = getattr(result, "public_files", None)
    yield dg.Output(
        {
            "scores": result.scores,
            "files": {name: str(path) for name, path in result.files.items()},
            "public_files": sorted(public) if public is not None else sorted(result.files),
            "checks": list(checks.values()),
        },
        metadata={
            "summary": dg.MetadataValue.md(result.markdown),
            "overall": result.scores.get("overall"),
            "report": dg.MetadataValue.path(str(result.files.get("report", ""))),
        },
    )
    failed = []
    for name in THRESHOLDS:
        check = checks.get(name)
        if check is None:
            yield dg.AssetCheckResult(check_name=name, passed=True, description=f"quality.{name} not set")
            continue
        if not check["passed"]:
            failed.append(check["message"])
        yield dg.AssetCheckResult(
            check_name=name,
            passed=bool(check["passed"]),
            description=check["message"],
            metadata={
                "limit": check["limit"],
                "value": check["value"] if check["value"] is not None else "not computed",
            },
        )
    if failed:
        context.log.error("quality thresholds missed, publishing is blocked: " + "; ".join(failed))
