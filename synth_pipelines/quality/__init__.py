"""The quality report: is the synthetic data faithful, private and useful? (plain Python)."""

from synth_pipelines.quality.report import (
    THRESHOLDS,
    QualityReportResult,
    build_quality_report,
    check_description,
    publish_gate,
    report_for_request,
    scoring_metadata,
    synthetic_only_scores,
    threshold_checks,
)
from synth_pipelines.quality.validity import build_schema_only_report

__all__ = [
    "THRESHOLDS",
    "QualityReportResult",
    "build_quality_report",
    "build_schema_only_report",
    "check_description",
    "publish_gate",
    "report_for_request",
    "scoring_metadata",
    "synthetic_only_scores",
    "threshold_checks",
]
