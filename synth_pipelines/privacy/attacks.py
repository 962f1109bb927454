"""Empirical privacy checks: how well an attacker tells training members from outsiders.

The attack is distance to closest synthetic record (DCR): a real row that sits unusually
close to some synthetic row is guessed to have been trained on. Its AUC is 0.5 when the
synthetic data says nothing about membership and 1.0 when it copies its training rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

_NUMERIC_SDTYPES = ("numerical", "datetime")


def _numeric_columns(frame: pd.DataFrame, metadata: dict[str, Any] | None) -> list[str]:
    if metadata and "columns" in metadata:
        kinds = {name: spec.get("sdtype") for name, spec in metadata["columns"].items()}
        return [c for c in frame.columns if kinds.get(c) in _NUMERIC_SDTYPES]
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not frame[c].dtype == bool]


def _as_number(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("int64").where(column.notna()).astype(float)
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    converted = pd.to_datetime(column, errors="coerce") if column.dtype == object else column
    if pd.api.types.is_datetime64_any_dtype(converted) and converted.notna().any():
        return converted.astype("int64").where(converted.notna()).astype(float)
    return pd.to_numeric(column, errors="coerce").astype(float)


def _encode(
    frames: list[pd.DataFrame], reference: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> list[np.ndarray]:
    """One feature space for every frame: scaled by the real rows' spread, one-hot categories."""
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for column in numeric:
        ref = _as_number(reference[column])
        centre = float(ref.median()) if ref.notna().any() else 0.0
        spread = float(ref.std()) if ref.notna().sum() > 1 else 0.0
        spread = spread if spread > 0 and np.isfinite(spread) else 1.0
        for block, frame in zip(blocks, frames, strict=True):
            values = _as_number(frame[column])
            block.append(((values.fillna(centre) - centre) / spread).to_numpy()[:, None])
            if ref.isna().any():
                block.append(values.isna().to_numpy(dtype=float)[:, None])
    for column in categorical:
        levels = pd.Index(pd.unique(reference[column].astype(str)))
        for block, frame in zip(blocks, frames, strict=True):
            codes = levels.get_indexer(frame[column].astype(str))
            onehot = np.zeros((len(frame), len(levels)))
            known = codes >= 0
            onehot[np.flatnonzero(known), codes[known]] = 1.0
            block.append(onehot)
    return [
        np.hstack(block) if block else np.zeros((len(frame), 0)) for block, frame in zip(blocks, frames, strict=True)
    ]


def membership_inference_auc(
    members: pd.DataFrame,
    non_members: pd.DataFrame,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
    max_rows: int = 5000,
    seed: int = 0,
) -> float:
    """AUC of a distance-to-closest-synthetic-record attack: members vs. equally many non-members.

    `metadata` is SDMetrics' single-table dict (`{"columns": {name: {"sdtype": ...}}}`); without
    it, numeric dtypes are numeric and everything else is categorical. Numeric columns are
    scaled by the real rows' median and standard deviation, categorical ones one-hot encoded.
    """
    columns = [c for c in members.columns if c in non_members.columns and c in synthetic.columns]
    if not columns:
        raise ValueError("members, non_members and synthetic share no column")
    size = min(len(members), len(non_members), max_rows)
    if size < 1 or len(synthetic) < 1:
        raise ValueError(
            f"need at least one row each; got members={len(members)}, non_members={len(non_members)}, "
            f"synthetic={len(synthetic)}"
        )
    rng = np.random.default_rng(seed)
    member_rows = members[columns].iloc[rng.choice(len(members), size, replace=False)].reset_index(drop=True)
    outsider_rows = non_members[columns].iloc[rng.choice(len(non_members), size, replace=False)].reset_index(drop=True)
    # A larger cap for the synthetic side: subsampling it would hide the very copies the attack looks for.
    synthetic_size = min(len(synthetic), 10 * max_rows)
    synthetic_rows = synthetic[columns].iloc[rng.choice(len(synthetic), synthetic_size, replace=False)]

    numeric = _numeric_columns(member_rows, metadata)
    categorical = [c for c in columns if c not in numeric]
    reference = pd.concat([member_rows, outsider_rows], ignore_index=True)
    member_x, outsider_x, synthetic_x = _encode(
        [member_rows, outsider_rows, synthetic_rows.reset_index(drop=True)], reference, numeric, categorical
    )
    index = NearestNeighbors(n_neighbors=1).fit(synthetic_x)
    member_distance = index.kneighbors(member_x)[0][:, 0]
    outsider_distance = index.kneighbors(outsider_x)[0][:, 0]
    labels = np.r_[np.ones(size), np.zeros(size)]
    # Ties (many rows at distance 0 on coarse tables) are scored as coin flips by the AUC itself.
    return float(roc_auc_score(labels, -np.r_[member_distance, outsider_distance]))
