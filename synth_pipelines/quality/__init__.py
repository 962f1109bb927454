"""The quality report: is the synthetic data faithful, private and useful? (plain Python)."""

from synth_pipelines.quality.report import (
    THRESHOLDS,
    QualityReportResult,
    build_quality_report,
    check_description,
    publish_gate,
    scoring_metadata,
    synthetic_only_scores,
    threshold_checks,
)

__all__ = [
    "THRESHOLDS",
    "QualityReportResult",
    "build_quality_report",
    "check_description",
    "publish_gate",
    "scoring_metadata",
    "synthetic_only_scores",
    "threshold_checks",
]
