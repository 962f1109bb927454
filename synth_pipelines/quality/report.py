"""Score a synthetic export against the real data with SDMetrics and check the request's thresholds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from synth_pipelines.request import QualitySpec


@dataclass
class QualityReportResult:
    scores: dict[str, Any]
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)


def read_synthetic(path: Path, max_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Read an export (CSV or Parquet, any compression); sample down to `max_rows` if given."""
    name = path.name
    frame = pd.read_parquet(path) if ".parquet" in name else pd.read_csv(path)
    if max_rows is not None and len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)
    return frame


def _sdmetrics_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"columns": {name: {"sdtype": col["sdtype"]} for name, col in metadata["columns"].items()}}


def build_quality_report(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: Path,
    metadata: dict[str, Any],
    spec: QualitySpec,
    out_dir: Path,
    seed: int = 0,
) -> QualityReportResult:
    from sdmetrics.reports.single_table import QualityReport

    synthetic_frame = read_synthetic(synthetic, max_rows=100_000, seed=seed)
    report = QualityReport()
    report.generate(real_train, synthetic_frame, _sdmetrics_metadata(metadata), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    scores = {
        "overall": float(report.get_score()),
        "column_shapes": float(properties["Column Shapes"]),
        "column_pair_trends": float(properties["Column Pair Trends"]),
        "synthetic_rows_scored": len(synthetic_frame),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "quality_report.json"
    json_path.write_text(json.dumps(scores, indent=2))
    markdown = "\n".join(
        ["| score | value |", "|---|---|"] + [f"| {k} | {v:.4f} |" for k, v in scores.items() if isinstance(v, float)]
    )
    return QualityReportResult(scores=scores, markdown=markdown, files={"report": json_path})


def threshold_checks(scores: dict[str, Any], spec: QualitySpec) -> list[dict[str, Any]]:
    """One entry per threshold the request sets: passed, the value, the threshold and by how much it missed."""
    checks = []
    for threshold, score_key, floor in (("min_overall", "overall", True),):
        limit = getattr(spec, threshold)
        if limit is None:
            continue
        value = scores.get(score_key)
        passed = value is not None and (value >= limit if floor else value <= limit)
        miss = None if value is None else round((limit - value) if floor else (value - limit), 4)
        checks.append(
            {
                "threshold": threshold,
                "limit": limit,
                "value": value,
                "passed": passed,
                "message": f"{score_key} = {value:.4f} {'>=' if floor else '<='} {threshold} {limit}"
                if passed
                else f"{threshold} missed: {score_key} = {value} vs {limit} (short by {miss})",
            }
        )
    return checks
