"""Small Adult-based tables for the quality tests: real train, disjoint holdout, a noisy synthetic copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ADULT = Path(__file__).resolve().parents[2] / "sample_data" / "adult.csv"


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT, nrows=3500)


@pytest.fixture(scope="session")
def metadata(adult: pd.DataFrame) -> dict:
    return {
        "columns": {
            name: {"sdtype": "numerical" if pd.api.types.is_numeric_dtype(adult[name]) else "categorical"}
            for name in adult.columns
        }
    }


@pytest.fixture(scope="session")
def real_train(adult: pd.DataFrame) -> pd.DataFrame:
    return adult.iloc[:2500]


@pytest.fixture(scope="session")
def real_holdout(adult: pd.DataFrame) -> pd.DataFrame:
    return adult.iloc[2500:3200]


@pytest.fixture(scope="session")
def synthetic(real_train: pd.DataFrame) -> pd.DataFrame:
    """Training rows resampled with jittered numbers and 10% of categories shuffled: imperfect on purpose."""
    rng = np.random.default_rng(7)
    frame = real_train.sample(n=6000, replace=True, random_state=7).reset_index(drop=True)
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name]):
            spread = frame[name].std() * 0.1
            frame[name] = (frame[name] + rng.normal(0, spread, len(frame))).round().astype("int64")
        else:
            shuffle = rng.random(len(frame)) < 0.1
            frame.loc[shuffle, name] = rng.permutation(frame.loc[shuffle, name].to_numpy())
    return frame
