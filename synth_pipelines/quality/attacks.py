"""Membership inference against a synthetic table: how well an attacker tells training rows from outsiders.

The attack is a density ratio in the style of DOMIAS (van Breugel et al., 2023): a real row x
is scored by how much denser the synthetic data is around x than a reference sample of real
rows that were never trained on,

    score(x) = log p_synthetic(x) − log p_reference(x).

A generator that memorises pulls synthetic density towards its training rows, and above all
towards the unusual ones, where the population (the reference) is thin; the ratio cancels
what is merely common. Both densities are k-nearest-neighbour estimates in one feature space
(numbers standardised by the reference, categories one-hot): p(x) ∝ 1 / (n · r(x)^d), with
log r(x) the mean log distance to the k nearest rows, so the score is, up to constants that
an AUC ignores, log r_reference(x) − log r_synthetic(x).

The AUC is over members (training rows) and as many non-members (holdout rows not used as
the reference): 0.5 when the synthetic data says nothing about membership, towards 1.0 when
it copies its training rows. A raw distance-to-closest-record attack (`method="dcr"`) is kept
for comparison; DCR alone misses memorised outliers that sit far from everything.

Cost is bounded by the samples, not by the table: at most `max_rows` rows per real side and
`10 · max_rows` synthetic rows, and the neighbour search returns k neighbours per query.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

_NUMERIC_SDTYPES = ("numerical", "datetime")
# Keys, free text and PII carry no distributional signal for a density and one-hot would explode.
_SKIPPED_SDTYPES = ("id", "text", "pii", "unknown")
# Levels beyond this many (by reference frequency) share one "other" slot: bounded width.
MAX_LEVELS = 50
# Floor on neighbour distances, so that an exact copy scores high but finite.
_DISTANCE_FLOOR = 1e-6


def _column_kinds(frame: pd.DataFrame, metadata: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    if metadata and "columns" in metadata:
        kinds = {name: spec.get("sdtype") for name, spec in metadata["columns"].items()}
        numeric = [c for c in frame.columns if kinds.get(c) in _NUMERIC_SDTYPES]
        categorical = [c for c in frame.columns if c not in numeric and kinds.get(c) not in _SKIPPED_SDTYPES]
        return numeric, categorical
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and not frame[c].dtype == bool]
    return numeric, [c for c in frame.columns if c not in numeric]


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
    """One feature space for every frame: numbers standardised by `reference`, categories one-hot.

    A one-hot block is scaled by 1/√2 so that a changed category moves a row by 1, as one
    standard deviation of a number does.
    """
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
        counts = reference[column].astype(str).value_counts()
        levels = pd.Index(counts.index[:MAX_LEVELS])
        width = len(levels) + 1  # the last slot: levels the reference never showed, or beyond MAX_LEVELS
        for block, frame in zip(blocks, frames, strict=True):
            codes = levels.get_indexer(frame[column].astype(str))
            codes = np.where(codes >= 0, codes, width - 1)
            onehot = np.zeros((len(frame), width))
            onehot[np.arange(len(frame)), codes] = 1.0 / np.sqrt(2.0)
            block.append(onehot)
    return [
        np.hstack(block) if block else np.zeros((len(frame), 0)) for block, frame in zip(blocks, frames, strict=True)
    ]


def _mean_log_distance(index_rows: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Mean log distance to the k nearest rows: a kNN log-density up to sign, scale and constants.

    Averaging over the first k neighbours, rather than the k-th alone, keeps the nearest one in
    the score, so an exact copy still counts when k > 1.
    """
    k = min(k, len(index_rows))
    # Single precision halves the neighbour search's matrix products; distances keep 7 digits, far finer
    # than the attack's ranking needs (equal rows stay at distance 0, then the floor).
    index = NearestNeighbors(n_neighbors=k).fit(index_rows.astype(np.float32))
    distances = index.kneighbors(queries.astype(np.float32))[0].astype(np.float64)
    return np.log(np.maximum(distances, _DISTANCE_FLOOR)).mean(axis=1)


def _sample(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[rng.choice(len(frame), size, replace=False)].reset_index(drop=True)


def membership_scores(
    members: pd.DataFrame,
    non_members: pd.DataFrame,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any] | None = None,
    max_rows: int = 5000,
    seed: int = 0,
    reference: pd.DataFrame | None = None,
    method: str = "density_ratio",
    k: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """(member scores, non-member scores) of the attack; higher means "was trained on".

    Without `reference`, a random half of `non_members` becomes the reference and the other
    half is scored. Members are subsampled to as many rows as the scored non-members.
    """
    if method not in ("density_ratio", "dcr"):
        raise ValueError(f"method must be 'density_ratio' or 'dcr', got {method!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    columns = [c for c in members.columns if c in non_members.columns and c in synthetic.columns]
    if reference is not None:
        columns = [c for c in columns if c in reference.columns]
    if not columns:
        raise ValueError("members, non_members and synthetic share no column")
    rng = np.random.default_rng(seed)
    if reference is None:
        if len(non_members) < 4:
            raise ValueError(f"need at least 4 non-member rows to split off a reference; got {len(non_members)}")
        order = rng.permutation(len(non_members))
        half = len(non_members) // 2
        reference, non_members = non_members.iloc[order[:half]], non_members.iloc[order[half:]]
    size = min(len(members), len(non_members), max_rows)
    if size < 1 or len(synthetic) < 1 or len(reference) < 1:
        raise ValueError(
            f"need at least one row each; got members={len(members)}, non_members={len(non_members)}, "
            f"reference={len(reference)}, synthetic={len(synthetic)}"
        )
    member_rows = _sample(members[columns], size, rng)
    outsider_rows = _sample(non_members[columns], size, rng)
    reference_rows = _sample(reference[columns], min(len(reference), max_rows), rng)
    # A larger cap for the synthetic side: subsampling it would hide the very copies the attack looks for.
    synthetic_rows = _sample(synthetic[columns], min(len(synthetic), 10 * max_rows), rng)

    numeric, categorical = _column_kinds(member_rows, metadata)
    if not numeric and not categorical:
        raise ValueError("no numerical or categorical column to attack on")
    # Scaled by the reference: real rows, but never the ones being scored.
    member_x, outsider_x, reference_x, synthetic_x = _encode(
        [member_rows, outsider_rows, reference_rows, synthetic_rows], reference_rows, numeric, categorical
    )
    queries = np.vstack([member_x, outsider_x])
    to_synthetic = _mean_log_distance(synthetic_x, queries, 1 if method == "dcr" else k)
    if method == "dcr":
        scores = -to_synthetic
    else:
        scores = _mean_log_distance(reference_x, queries, k) - to_synthetic
    return scores[:size], scores[size:]


def membership_inference_auc(
    members: pd.DataFrame, non_members: pd.DataFrame, synthetic: pd.DataFrame, **options: Any
) -> float:
    """AUC of the membership-inference attack (see the module docstring): members vs. equally many non-members.

    `options` are `membership_scores`' (metadata, max_rows, seed, reference, method, k).
    `metadata` is SDMetrics' single-table dict (`{"columns": {name: {"sdtype": ...}}}`); without
    it, numeric dtypes are numeric and everything else is categorical. With it, id, text and
    PII columns are left out.
    """
    member_scores, outsider_scores = membership_scores(members, non_members, synthetic, **options)
    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(outsider_scores))]
    # Ties (coarse tables) are scored as coin flips by the AUC itself.
    return float(roc_auc_score(labels, np.r_[member_scores, outsider_scores]))
