"""The vectorised DCR and copy detection give SDMetrics' own numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection, NewRowSynthesis
from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

from synth_pipelines.quality.distances import closest_record_distances, copied_rows
from synth_pipelines.quality.similarity import _baseline_score, _overfitting_score


@pytest.fixture(scope="module")
def awkward(real_train: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict):
    """Missing values on both sides, a constant column, a date column, a value outside the real range."""
    real = real_train.head(900).reset_index(drop=True).copy()
    rows = synthetic.head(150).reset_index(drop=True).copy()
    real["constant"], rows["constant"] = 5, 5
    rows.loc[::7, "constant"] = 6
    start = pd.Timestamp("2020-01-01")
    real["joined"] = start + pd.to_timedelta(np.arange(len(real)) % 400, unit="D")
    rows["joined"] = start + pd.to_timedelta(np.arange(len(rows)) * 3 % 500, unit="D")
    real.loc[::11, "age"] = np.nan
    rows.loc[::13, "age"] = np.nan
    real.loc[::17, "workclass"] = None
    rows.loc[::5, "workclass"] = None
    rows.loc[3, "capital_gain"] = 10_000_000
    meta = {
        "columns": {
            **metadata["columns"],
            "constant": {"sdtype": "numerical"},
            "joined": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"},
        }
    }
    return real, rows, meta


def test_dcr_equals_sdmetrics(awkward) -> None:
    real, rows, meta = awkward
    expected = calculate_dcr(dataset=rows, reference_dataset=real, metadata=meta).to_numpy()
    np.testing.assert_allclose(closest_record_distances(rows, real, meta), expected, atol=1e-6)


def test_dcr_scores_follow_sdmetrics_formulas(real_train, real_holdout, synthetic, metadata) -> None:
    real, holdout, rows = real_train.head(600), real_holdout.head(600), synthetic.head(200)
    random_rows = DCRBaselineProtection._generate_random_data(real, len(rows))
    breakdown = DCRBaselineProtection.compute_breakdown(real, rows, metadata, None)
    ours_synthetic = closest_record_distances(rows, real, metadata)
    assert np.median(ours_synthetic) == pytest.approx(breakdown["median_DCR_to_real_data"]["synthetic_data"], abs=1e-6)
    # The random baseline is random in SDMetrics too: check the formula on one shared draw.
    ratio = np.median(ours_synthetic) / np.median(calculate_dcr(random_rows, real, metadata))
    assert _baseline_score(ours_synthetic, closest_record_distances(random_rows, real, metadata)) == pytest.approx(
        min(ratio, 1.0), abs=1e-6
    )
    expected = DCROverfittingProtection.compute(real, rows, holdout, metadata, None)
    closer = closest_record_distances(rows, real, metadata) < closest_record_distances(rows, holdout, metadata)
    assert _overfitting_score(closer) == pytest.approx(expected, abs=1e-9)


def test_copied_rows_equal_new_row_synthesis(real_train, synthetic, metadata) -> None:
    real = real_train.head(1000)
    rows = pd.concat([synthetic.head(120), real.sample(15, random_state=2)], ignore_index=True)
    rows.loc[0, "fnlwgt"] = real["fnlwgt"].iloc[0] * 1.005  # within the 1% tolerance of a real row...
    rows.loc[0, [c for c in real.columns if c != "fnlwgt"]] = real.iloc[0].drop("fnlwgt")
    expected = NewRowSynthesis.compute_breakdown(real, rows, metadata)
    copied = copied_rows(rows, real, metadata)
    assert int(copied.sum()) == expected["num_matched_rows"] >= 16
