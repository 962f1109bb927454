"""The whole report on a small table: self-contained HTML with plots, public/private files, the scores."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.core.request import QualitySpec
from synth_pipelines.quality import QualityReportResult, build_quality_report

SPEC = QualitySpec(
    min_overall=0.99, min_diagnostic=0.5, min_tstr_ratio=0.1, target_column="income", sensitive_columns=["income"]
)


@pytest.fixture(scope="module")
def report(tmp_path_factory, real_train, real_holdout, synthetic, metadata) -> QualityReportResult:
    out = tmp_path_factory.mktemp("report")
    export = out / "synthetic.parquet"
    synthetic.to_parquet(export)
    return build_quality_report(real_train, real_holdout, export, metadata, SPEC, out / "report", seed=3)


def test_html_report_opens_with_no_network(report: QualityReportResult) -> None:
    page = report.files["report"].read_text(encoding="utf-8")
    # Any src/href/url() that is not an inline data: URI would be fetched when the file opens.
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']|url\(\s*["']?([^"')]*)""", page, re.I)
    external = [ref for pair in references for ref in pair if ref and not ref.startswith(("data:", "#"))]
    assert external == []
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", page, re.I)


def test_html_report_embeds_the_plots_as_png(report: QualityReportResult) -> None:
    page = report.files["report"].read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    plot_files = [name for name in report.files if name.startswith("plot_")]
    assert "plot_pair_trends" in plot_files and len(plot_files) >= 2
    assert len(images) == len(plot_files)
    for encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")
    worst = report.scores["worst_columns"][0]["column"]
    assert f"plot_column_{worst}" in report.files


def test_scores_hold_every_family_and_their_measured_errors(report: QualityReportResult) -> None:
    scores = report.scores
    for key in (
        "overall",
        "column_shapes",
        "column_pair_trends",
        "diagnostic",
        "data_validity",
        "data_structure",
        "dcr_baseline_protection",
        "dcr_overfitting_protection",
        "new_row_synthesis",
        "disclosure_protection",
    ):
        assert 0.0 <= scores[key] <= 1.0, key
    assert scores["tstr"]["metric"] == "roc_auc" and scores["tstr_ratio"] == pytest.approx(
        scores["tstr"]["synthetic_score"] / scores["tstr"]["real_score"]
    )
    assert scores["worst_columns"] and scores["worst_pairs"]
    assert scores["sampling_plan"]["synthetic_rows"] == 6000
    assert scores["standard_errors"]["overall"] >= 0
    assert json.loads(report.files["scores"].read_text()) == scores


def test_markdown_names_scores_worst_columns_and_failed_threshold(report: QualityReportResult) -> None:
    assert "Quality (overall)" in report.markdown
    assert report.scores["worst_columns"][0]["column"] in report.markdown
    assert "FAIL: min_overall missed" in report.markdown
    assert "Scored " in report.markdown  # the sampling plan is stated


def test_only_scores_are_public_unless_plots_are_asked_for(
    report: QualityReportResult, tmp_path: Path, real_train, real_holdout, synthetic, metadata
) -> None:
    assert report.public_files == ["public_scores"]
    assert json.loads(report.files["public_scores"].read_text()) == report.scores  # non-DP: today's scores
    export = tmp_path / "synthetic.csv"
    synthetic.head(1500).to_csv(export, index=False)
    public = build_quality_report(real_train, None, export, metadata, QualitySpec(publish_plots=True), tmp_path / "out")
    assert set(public.public_files) == set(public.files) - {"scores"}  # the same numbers as public_scores
    assert public.scores["mia_auc"] is None and "dcr_overfitting_protection" not in public.scores
    assert public.scores["skipped"]["tstr"]


def test_report_survives_missing_values_and_unseen_categories(tmp_path: Path, real_train, metadata) -> None:
    synthetic = real_train.sample(800, random_state=1).reset_index(drop=True)
    synthetic.loc[:50, "workclass"] = None
    synthetic.loc[51:60, "occupation"] = "Astronaut"
    synthetic.loc[61:70, "age"] = float("nan")
    export = tmp_path / "s.csv"
    synthetic.to_csv(export, index=False)
    result = build_quality_report(real_train, None, export, metadata, QualitySpec(), tmp_path / "out")
    assert result.scores["data_validity"] < 1.0  # the unseen category is caught
    assert pd.notna(result.scores["dcr_baseline_protection"])


def test_a_bounded_real_reference_still_finds_every_copied_row(tmp_path: Path, real_train, metadata) -> None:
    """The scores compare against a sample of the real rows, but a copy of a row left out of it is still a copy."""
    synthetic = real_train.drop_duplicates().sample(1_000, random_state=2).reset_index(drop=True)
    export = tmp_path / "s.parquet"
    synthetic.to_parquet(export)
    cap = len(real_train) // 4
    result = build_quality_report(
        real_train, None, export, metadata, QualitySpec(), tmp_path / "out", real_rows_cap=cap
    )
    assert result.scores["real_reference_rows"] == cap
    assert result.scores["real_train_rows"] == len(real_train)
    assert result.scores["new_row_synthesis"] == 0.0  # every synthetic row is a real one
