"""The membership-inference attack catches an overfit generator and gives a coin flip on rows it never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synth_pipelines.quality.attacks import membership_inference_auc, membership_scores
from synth_pipelines.quality.similarity import membership_inference

# A narrower table trains faster and memorises sooner; the attack itself sees every column it is given.
COLUMNS = ["age", "education", "marital_status", "occupation", "sex", "hours_per_week", "capital_gain", "income"]
TRAIN_ROWS, OUTLIERS = 150, 10


def _sdmetrics(frame: pd.DataFrame) -> dict:
    return {"columns": {c: {"sdtype": "numerical" if frame[c].dtype.kind in "if" else "categorical"} for c in frame}}


def _outliers(table: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Rows unlike the population and unlike each other: each value uniform over its column's range."""
    rng = np.random.default_rng(seed)
    rows = {}
    for column in table.columns:
        if table[column].dtype.kind in "if":
            rows[column] = rng.integers(table[column].min(), table[column].max() + 1, n)
        else:
            rows[column] = rng.choice(table[column].unique(), n)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def overfit(adult: pd.DataFrame):
    """A non-DP TVAE trained far past convergence on 150 rows (10 planted outliers), sampled at 20× that.

    Also returns 150 real rows it never saw, non-members and a disjoint reference sample of the population.
    """
    import torch
    from sdv.metadata import Metadata
    from sdv.single_table import TVAESynthesizer

    table = adult[COLUMNS]
    members = pd.concat([table.iloc[: TRAIN_ROWS - OUTLIERS], _outliers(table, OUTLIERS, seed=0)], ignore_index=True)
    non_members = pd.concat(
        [table.iloc[TRAIN_ROWS : 2 * TRAIN_ROWS - OUTLIERS], _outliers(table, OUTLIERS, seed=1)], ignore_index=True
    )
    unseen = table.iloc[2 * TRAIN_ROWS : 3 * TRAIN_ROWS].reset_index(drop=True)
    reference = table.iloc[3 * TRAIN_ROWS :].reset_index(drop=True)
    metadata = Metadata.detect_from_dataframes({"data": pd.concat([table, members, non_members], ignore_index=True)})
    # One thread: tiny batches gain nothing from two, and on a shared two-core machine the second one only spins.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = TVAESynthesizer(
            metadata, epochs=600, batch_size=30, embedding_dim=32, compress_dims=(256, 256), decompress_dims=(256, 256)
        )
        model.fit({"data": members})
        synthetic = model.sample(20 * TRAIN_ROWS)["data"]
    finally:
        torch.set_num_threads(threads)
    return members, non_members, unseen, reference, synthetic, _sdmetrics(table)


def test_overfit_model_is_caught(overfit) -> None:
    members, non_members, _, reference, synthetic, metadata = overfit
    auc = membership_inference_auc(members, non_members, synthetic, metadata=metadata, reference=reference)
    # Measured 0.81 (0.48 for the unseen rows below); the bar leaves room for torch's run-to-run differences.
    assert auc >= 0.65


def test_rows_the_model_never_saw_give_a_coin_flip(overfit) -> None:
    # The same overfit model, but neither side of the attack was trained on: nothing to infer.
    _, non_members, unseen, reference, synthetic, metadata = overfit
    auc = membership_inference_auc(unseen, non_members, synthetic, metadata=metadata, reference=reference)
    assert 0.42 <= auc <= 0.58


def test_report_entry_point_splits_the_holdout_into_reference_and_non_members(overfit) -> None:
    members, non_members, _, reference, synthetic, metadata = overfit
    holdout = pd.concat([non_members, reference], ignore_index=True)
    assert membership_inference(members, holdout, synthetic, metadata, seed=0) >= 0.6
    assert membership_inference(members, None, synthetic, metadata, seed=0) is None


def test_copied_training_rows_are_caught(adult: pd.DataFrame) -> None:
    members, non_members = adult.iloc[:1000], adult.iloc[1000:2000]
    assert membership_inference_auc(members, non_members, synthetic=members, max_rows=500) > 0.95


def test_rows_unrelated_to_training_give_a_coin_flip(adult: pd.DataFrame) -> None:
    members, non_members, fresh = adult.iloc[:600], adult.iloc[600:1200], adult.iloc[1200:2000]
    auc = membership_inference_auc(members, non_members, synthetic=fresh, metadata=_sdmetrics(adult), seed=3)
    assert 0.43 < auc < 0.57


def test_cost_is_bounded_by_the_sample(adult: pd.DataFrame) -> None:
    members, non_members = adult.iloc[:1000], adult.iloc[1000:2000]
    member_scores, outsider_scores = membership_scores(members, non_members, adult.iloc[:1500], max_rows=100)
    assert len(member_scores) == len(outsider_scores) == 100


def test_same_seed_same_auc(adult: pd.DataFrame) -> None:
    members, non_members = adult.iloc[:500], adult.iloc[500:1000]
    synthetic = adult.iloc[1000:1500]
    first = membership_inference_auc(members, non_members, synthetic, max_rows=200, seed=5)
    assert first == membership_inference_auc(members, non_members, synthetic, max_rows=200, seed=5)
