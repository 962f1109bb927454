"""Split off a holdout of real rows before training: the quality report tests on rows the model never saw."""

from __future__ import annotations

import pandas as pd

HOLDOUT_FRACTION = 0.2
MAX_HOLDOUT_ROWS = 5_000
MIN_ROWS_FOR_HOLDOUT = 50


def split_holdout(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): a seeded random 20% (at most 5,000 rows) held out; none for tiny tables."""
    if len(frame) < MIN_ROWS_FOR_HOLDOUT:
        return frame.reset_index(drop=True), frame.iloc[0:0].copy()
    size = min(int(len(frame) * HOLDOUT_FRACTION), MAX_HOLDOUT_ROWS)
    holdout = frame.sample(n=size, random_state=seed % 2**32)
    train = frame.drop(index=holdout.index)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)
