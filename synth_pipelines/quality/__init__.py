"""The quality report: is the synthetic data faithful, private and useful? (no Dagster here)."""

from synth_pipelines.quality.report import QualityReportResult, build_quality_report, threshold_checks

__all__ = ["QualityReportResult", "build_quality_report", "threshold_checks"]
