"""The sampling plan: sizes independent of the export's size, errors measured from the data."""

from __future__ import annotations

import dataclasses

import numpy as np

from synth_pipelines.quality.sampling import plan_sampling, quarter_standard_error
from synth_pipelines.quality.similarity import dcr_scores


def test_sizes_depend_on_the_real_data_not_on_the_export() -> None:
    big, bigger = plan_sampling(1_000_000, 26_000), plan_sampling(10_000_000, 26_000)
    assert dataclasses.replace(big, synthetic_rows=0) == dataclasses.replace(bigger, synthetic_rows=0)
    small = plan_sampling(500, 26_000)
    assert small.fidelity_rows == small.dcr_max_rows == small.tstr_rows == 500


def test_quarter_error_matches_the_spread_of_whole_samples() -> None:
    # Means of normal samples: the quarter estimate should match the true SE sigma/sqrt(n).
    rng = np.random.default_rng(0)
    n = 4000
    estimates = [
        quarter_standard_error([part.mean() for part in np.array_split(rng.normal(size=n), 4)]) for _ in range(400)
    ]
    assert abs(np.mean(estimates) - 1 / np.sqrt(n)) < 0.15 / np.sqrt(n)


def test_dcr_sample_grows_until_its_measured_error_meets_the_target(real_train, real_holdout, synthetic, metadata):
    plan = dataclasses.replace(plan_sampling(len(synthetic), len(real_train)), dcr_start_rows=250, dcr_bootstrap=50)
    loose = dcr_scores(
        real_train, real_holdout, synthetic, metadata, dataclasses.replace(plan, target_standard_error=1.0), 0
    )
    assert loose["dcr_rows"] == 250 and loose["dcr_overfitting_rows"] == 250
    strict = dcr_scores(
        real_train, real_holdout, synthetic, metadata, dataclasses.replace(plan, target_standard_error=1e-9), 0
    )
    assert strict["dcr_rows"] == plan.dcr_max_rows and strict["dcr_overfitting_rows"] == plan.dcr_overfitting_max_rows
    assert (
        strict["standard_errors"]["dcr_overfitting_protection"] < loose["standard_errors"]["dcr_overfitting_protection"]
    )


def test_scores_change_with_the_rows_scored_not_with_the_error_measurement(
    real_train, real_holdout, synthetic, metadata
):
    # Same rows, different bootstrap effort: the scores must be identical (the all-rows benchmark
    # compares against a plan with no bootstrap at all).
    plan = dataclasses.replace(
        plan_sampling(len(synthetic), len(real_train)), dcr_start_rows=300, target_standard_error=1.0
    )
    few = dcr_scores(real_train, real_holdout, synthetic, metadata, dataclasses.replace(plan, dcr_bootstrap=2), 0)
    many = dcr_scores(real_train, real_holdout, synthetic, metadata, dataclasses.replace(plan, dcr_bootstrap=60), 0)
    for key in ("dcr_baseline_protection", "dcr_overfitting_protection", "dcr_closer_to_training"):
        assert few[key] == many[key], key


def test_errors_are_against_the_all_rows_value_and_vanish_when_every_row_is_scored(
    real_train, real_holdout, synthetic, metadata
) -> None:
    from synth_pipelines.quality.similarity import new_row_synthesis

    plan = dataclasses.replace(
        plan_sampling(len(synthetic), len(real_train)), dcr_start_rows=500, dcr_bootstrap=50, target_standard_error=1e-9
    )
    scores = dcr_scores(real_train, real_holdout, synthetic, metadata, plan, 0)
    assert scores["dcr_overfitting_rows"] == len(synthetic)
    assert scores["standard_errors"]["dcr_overfitting_protection"] == 0.0
    rows = new_row_synthesis(real_train, synthetic, metadata, plan, 0)
    assert rows["new_row_rows"] == len(synthetic) and rows["standard_errors"]["new_row_synthesis"] == 0.0
    half = new_row_synthesis(real_train, synthetic, metadata, dataclasses.replace(plan, new_row_rows=3000), 0)
    share = half["new_row_synthesis"]
    binomial = (share * (1 - share) / 3000) ** 0.5
    assert half["standard_errors"]["new_row_synthesis"] < binomial or binomial == 0.0


def test_the_random_baseline_grows_as_a_share_of_the_synthetic_rows(real_train, real_holdout, synthetic, metadata):
    plan = dataclasses.replace(
        plan_sampling(len(synthetic), len(real_train)), dcr_start_rows=500, dcr_bootstrap=50, target_standard_error=1e-9
    )
    scores = dcr_scores(real_train, None, synthetic, metadata, plan, 0)
    assert scores["dcr_rows"] == plan.dcr_max_rows
    expected = min(plan.dcr_random_max_rows, max(1000, int(np.ceil(plan.dcr_random_share * scores["dcr_rows"]))))
    assert scores["dcr_random_baseline_rows"] == expected < scores["dcr_rows"]
