"""Split off a holdout of real rows before training: the quality report tests on rows the model never saw.

Each row goes to the holdout on its own coin, a keyed hash of the row itself, so adding or
removing one row moves that row alone: the training sets of neighbouring datasets differ by
at most one row (a fixed-size sample would reshuffle hundreds). For a DP request the key is
secret and the share is fixed, so the split decides nothing from the rows; for any other
request the key comes from the seed (the same request gives the same split) and the share
keeps the holdout near MAX_HOLDOUT_ROWS on big tables.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import numpy as np
import pandas as pd

HOLDOUT_FRACTION = 0.2
MAX_HOLDOUT_ROWS = 5_000
MIN_ROWS_FOR_HOLDOUT = 50


def _below(hashes: np.ndarray, fraction: float) -> np.ndarray:
    return (hashes >> np.uint64(11)).astype(np.float64) / float(2**53) < fraction


def holdout_mask(frame: pd.DataFrame, key: str, fraction: float) -> np.ndarray:
    """True for the rows held out: each row's hash (pandas', salted with `key`), compared with `fraction`."""
    salted = frame.assign(__split_key__=key)  # pandas keys only text columns: a text column carries the key
    return _below(pd.util.hash_pandas_object(salted, index=False).to_numpy(dtype=np.uint64), fraction)


def seed_key(seed: int) -> str:
    """The 16-character hash key of a non-DP request's split, from its seed."""
    return hashlib.sha256(f"holdout:{seed}".encode()).hexdigest()[:16]


def split_holdout(
    frame: pd.DataFrame, seed: int, domain: Any = None, key: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): about 20% of the rows held out, each row on its own keyed coin.

    `domain` (a DP request's `PrivateSchema`) makes the split private: a secret key, a fixed
    share, and each row hashed by its canonical values, so its coin does not depend on the
    dtypes the other rows give its columns. `key` fixes that secret (tests compare neighbours).
    """
    if domain is not None:
        from synth_pipelines.privacy.domain import row_hash

        mask = _below(row_hash(domain, frame, key or secrets.token_urlsafe(12)), HOLDOUT_FRACTION)
    elif len(frame) < MIN_ROWS_FOR_HOLDOUT:
        return frame.reset_index(drop=True), frame.iloc[0:0].copy()
    else:
        fraction = min(HOLDOUT_FRACTION, MAX_HOLDOUT_ROWS / len(frame))
        mask = holdout_mask(frame, seed_key(seed), fraction)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
