"""The membership-inference attack separates copied rows from fresh ones, and not otherwise."""

from __future__ import annotations

import pandas as pd

from synth_pipelines.privacy.attacks import membership_inference_auc


def test_copied_training_rows_are_caught(adult: pd.DataFrame) -> None:
    members, non_members = adult.iloc[:1000], adult.iloc[1000:2000]
    assert membership_inference_auc(members, non_members, synthetic=members, max_rows=500) > 0.95


def test_rows_unrelated_to_training_give_a_coin_flip(adult: pd.DataFrame) -> None:
    members, non_members, fresh = adult.iloc[:600], adult.iloc[600:1200], adult.iloc[1200:2000]
    metadata = {
        "columns": {c: {"sdtype": "numerical" if adult[c].dtype.kind in "if" else "categorical"} for c in adult}
    }
    auc = membership_inference_auc(members, non_members, synthetic=fresh, metadata=metadata, seed=3)
    assert 0.43 < auc < 0.57


def test_same_seed_same_auc(adult: pd.DataFrame) -> None:
    members, non_members = adult.iloc[:500], adult.iloc[500:1000]
    synthetic = adult.iloc[1000:1500]
    first = membership_inference_auc(members, non_members, synthetic, max_rows=200, seed=5)
    assert first == membership_inference_auc(members, non_members, synthetic, max_rows=200, seed=5)
