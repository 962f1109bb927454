"""Two audiences: a DP request's public scores are a function of the synthetic rows and the request alone.

The property: change the real rows (the private input) and keep the synthetic export fixed;
everything public (the public scores, the published files, the UI summary) stays the same.
Today's scores against real rows stay in the owner's private report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.core.request import QualitySpec
from synth_pipelines.quality import build_quality_report, publish_gate, synthetic_only_scores, threshold_checks

SPEC = QualitySpec(min_overall=0.5, max_mia_auc=0.9, target_column="income")
# Keys that only a comparison with real rows (or a count of them) can produce.
REAL_DATA_KEYS = {
    "overall",
    "column_shapes",
    "column_pair_trends",
    "diagnostic",
    "data_validity",
    "data_structure",
    "dcr_baseline_protection",
    "dcr_overfitting_protection",
    "dcr_median_synthetic",
    "dcr_median_random_baseline",
    "new_row_synthesis",
    "copied_rows_in_sample",
    "disclosure_protection",
    "mia_auc",
    "tstr",
    "tstr_ratio",
    "real_train_rows",
    "real_holdout_rows",
    "sampling_plan",
    "worst_columns",
    "worst_pairs",
}


class Schema:
    """The shape of request.TableSchema that the report reads (columns + column_parameters)."""

    def __init__(self, columns: dict, parameters: dict) -> None:
        self.columns = columns
        self._parameters = parameters

    def column_parameters(self, column: str) -> dict:
        return dict(self._parameters.get(column, {}))


SCHEMA = Schema(
    {"age": {"sdtype": "numerical"}, "workclass": {"sdtype": "categorical"}, "income": {"sdtype": "categorical"}},
    {
        "age": {"min_value": 17, "max_value": 60},
        "workclass": {"category_values": ["Private", "Self-emp-not-inc", "Local-gov"]},
        "income": {"category_values": ["<=50K", ">50K"]},
    },
)


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.fixture(scope="module")
def dp_reports(tmp_path_factory, adult, real_train, real_holdout, synthetic, metadata):
    """The same synthetic export scored against two different real tables."""
    out = tmp_path_factory.mktemp("dp")
    export = out / "synthetic.parquet"
    synthetic.head(3000).to_parquet(export)
    other_train = adult.iloc[1000:3500].sample(frac=0.8, random_state=2).reset_index(drop=True)
    other_holdout = adult.iloc[:700]
    kwargs = {"differentially_private": True, "schema": SCHEMA, "seed": 3}
    first = build_quality_report(real_train, real_holdout, export, metadata, SPEC, out / "a", **kwargs)
    second = build_quality_report(other_train, other_holdout, export, metadata, SPEC, out / "b", **kwargs)
    return first, second


def test_dp_public_scores_do_not_depend_on_the_real_rows(dp_reports) -> None:
    first, second = dp_reports
    assert first.scores["overall"] != second.scores["overall"]  # the private report did see the real rows
    assert first.public_scores == second.public_scores
    assert first.markdown == second.markdown
    for name in first.public_files:
        assert first.files[name].read_bytes() == second.files[name].read_bytes(), name


def test_dp_public_scores_hold_no_real_data_score(dp_reports, synthetic) -> None:
    result, _ = dp_reports
    assert result.public_files == ["public_scores"]  # never the HTML or the plots of real distributions
    public = json.loads(result.files["public_scores"].read_text())
    assert public == result.public_scores
    assert not _keys(public) & REAL_DATA_KEYS
    assert public["synthetic_rows"] == 3000
    assert set(public["null_share"]) == set(synthetic.columns)
    assert set(public["domain_share"]) == {"age", "workclass", "income"}
    # the private report still holds everything against the real rows
    assert {"overall", "mia_auc", "tstr", "real_train_rows"} <= set(result.scores)


def test_dp_plots_stay_private_even_when_asked_for(tmp_path: Path, real_train, synthetic, metadata) -> None:
    export = tmp_path / "s.parquet"
    synthetic.head(1500).to_parquet(export)
    spec = QualitySpec(publish_plots=True)
    result = build_quality_report(
        real_train, None, export, metadata, spec, tmp_path / "out", differentially_private=True
    )
    assert result.public_files == ["public_scores"]
    assert "report" in result.files and any(name.startswith("plot_") for name in result.files)


def test_domain_share_counts_values_outside_the_declared_domain() -> None:
    frame = pd.DataFrame(
        {
            "age": [10, 20, 30, 70, None],
            "workclass": ["Private", "Private", "Astronaut", None, "Local-gov"],
            "income": ["<=50K"] * 5,
            "extra": [1, 2, 3, 4, 5],
        }
    )
    scores = synthetic_only_scores(frame, SCHEMA)
    assert scores["domain_share"] == {"age": 0.5, "workclass": 0.75, "income": 1.0}
    assert scores["domain_share_overall"] == pytest.approx((2 + 3 + 5) / (4 + 4 + 5))
    assert scores["null_share"]["age"] == pytest.approx(0.2)
    assert scores["columns_not_in_schema"] == ["extra"]
    assert "domain_share" not in synthetic_only_scores(frame)  # no schema: no declared domain to check


def test_dp_gate_is_declared_outside_the_guarantee() -> None:
    checks = threshold_checks({"overall": 0.8, "mia_auc": 0.5}, SPEC)
    gate = publish_gate(checks, differentially_private=True)
    assert gate["differentially_private"] is False
    assert gate["checks"] == ["min_overall", "max_mia_auc"]
    assert "beyond ε" in gate["note"]
    assert publish_gate(checks, differentially_private=False) is None
    assert publish_gate([], differentially_private=True) is None
