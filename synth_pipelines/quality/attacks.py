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

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from synth_pipelines.quality.distances import order_by_mismatches

_NUMERIC_SDTYPES = ("numerical", "datetime")
# Keys, free text and PII carry no distributional signal for a density and one-hot would explode.
_SKIPPED_SDTYPES = ("id", "text", "pii", "unknown")
# Levels beyond this many (by reference frequency) share one "other" slot: bounded width.
MAX_LEVELS = 50
# Up to this many one-hot dimensions the neighbour search is a k-d tree (`k_nearest_squared`).
KD_TREE_WIDTH = 15
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


@dataclass
class Encoded:
    """Rows in the attack's feature space, kept as its two parts.

    `numbers`: standardised numbers (and a 0/1 column per number the reference has missing), float64.
    `codes`: per categorical column the level's slot (int32). In the one-hot space, where a changed
    category moves a row by 1, the squared distance of two rows is the squared difference of their
    numbers plus their number of differing slots; the search below works on that sum directly.
    """

    numbers: np.ndarray
    codes: np.ndarray
    widths: tuple[int, ...]  # slots per categorical column

    def one_hot(self) -> np.ndarray:
        """The rows in the one-hot space itself: numbers, then per column its slots at 1/√2 (one set)."""
        out = np.zeros((len(self.numbers), self.numbers.shape[1] + sum(self.widths)))
        out[:, : self.numbers.shape[1]] = self.numbers
        offset = self.numbers.shape[1]
        for c, width in enumerate(self.widths):
            out[np.arange(len(out)), offset + self.codes[:, c]] = 1.0 / np.sqrt(2.0)
            offset += width
        return out


def _encode(
    frames: list[pd.DataFrame], reference: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> list[Encoded]:
    """One feature space for every frame: numbers standardised by `reference`, categories as slots.

    A category's slots are the reference's MAX_LEVELS most frequent levels and one more for every
    other level (or a level the reference never showed).
    """
    numbers: list[list[np.ndarray]] = [[] for _ in frames]
    codes: list[list[np.ndarray]] = [[] for _ in frames]
    widths: list[int] = []
    for column in numeric:
        ref = _as_number(reference[column])
        centre = float(ref.median()) if ref.notna().any() else 0.0
        spread = float(ref.std()) if ref.notna().sum() > 1 else 0.0
        spread = spread if spread > 0 and np.isfinite(spread) else 1.0
        for block, frame in zip(numbers, frames, strict=True):
            values = _as_number(frame[column])
            block.append(((values.fillna(centre) - centre) / spread).to_numpy(dtype=np.float64))
            if ref.isna().any():
                block.append(values.isna().to_numpy(dtype=np.float64))
    for column in categorical:
        counts = reference[column].astype(str).value_counts()
        levels = pd.Index(counts.index[:MAX_LEVELS])
        widths.append(len(levels) + 1)
        for block, frame in zip(codes, frames, strict=True):
            slot = levels.get_indexer(frame[column].astype(str))
            block.append(np.where(slot >= 0, slot, len(levels)).astype(np.int32))
    return [
        Encoded(
            np.ascontiguousarray(np.stack(n, axis=1)) if n else np.zeros((len(frame), 0)),
            np.ascontiguousarray(np.stack(c, axis=1)) if c else np.zeros((len(frame), 0), dtype=np.int32),
            tuple(widths),
        )
        for n, c, frame in zip(numbers, codes, frames, strict=True)
    ]


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct code rows, each row's group, the rows ordered by group): rows of one group made adjacent."""
    if codes.shape[1] == 0:
        return np.zeros((1, 0), dtype=np.int32), np.zeros(len(codes), dtype=np.int64), np.arange(len(codes))
    distinct, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.reshape(-1).astype(np.int64)
    return np.ascontiguousarray(distinct.astype(np.int32)), group, np.argsort(group, kind="stable")


@numba.njit(nogil=True, cache=True)
def _k_nearest_grouped(
    values, row_groups, patterns, index_patterns, index_starts, index_values, out
):  # pragma: no cover - compiled
    """out[i] = the k = out.shape[1] smallest squared distances of query row i to the index rows, ascending.

    A squared distance is the number of differing categorical slots plus the summed squared number
    differences. Queries and index rows are grouped by their tuple of slots (rows of one tuple adjacent).
    Per query tuple, the differing slots with every index tuple are counted once and the index tuples
    ordered by that count; each query row opens groups in that order and stops at the first whose
    differing slots alone reach its k-th best so far; within a pair, summing stops once it reaches it.
    The result is that of a scan over every pair (a test compares it with a plain neighbour search).
    """
    k = out.shape[1]
    n_numbers, n_categorical = values.shape[1], patterns.shape[1]
    n_index_patterns = index_patterns.shape[0]
    mismatches = np.empty(n_index_patterns, dtype=np.int64)
    counts = np.empty(n_categorical + 2, dtype=np.int64)
    ordered = np.empty(n_index_patterns, dtype=np.int64)
    best = np.empty(k, dtype=np.float64)
    first_row, n_rows = 0, values.shape[0]
    while first_row < n_rows:
        pattern = row_groups[first_row]
        last_row = first_row
        while last_row < n_rows and row_groups[last_row] == pattern:
            last_row += 1
        order_by_mismatches(patterns[pattern], index_patterns, mismatches, counts, ordered)
        for i in range(first_row, last_row):
            best[:] = np.inf
            bound = np.inf
            for q in range(n_index_patterns):
                p = ordered[q]
                base = np.float64(mismatches[p])
                if base >= bound:
                    break
                for j in range(index_starts[p], index_starts[p + 1]):
                    total = base
                    for c in range(n_numbers):
                        d = values[i, c] - index_values[j, c]
                        total += d * d
                        if total >= bound:
                            break
                    if total < bound:  # joins the k best: insert in order, the k-th drops out
                        slot = k - 1
                        while slot > 0 and best[slot - 1] > total:
                            best[slot] = best[slot - 1]
                            slot -= 1
                        best[slot] = total
                        bound = best[k - 1]
            out[i, :] = best
        first_row = last_row


def k_nearest_squared(index: Encoded, queries: Encoded, k: int) -> np.ndarray:
    """Per query row, its k smallest squared distances to the index rows (ascending), exactly.

    In a narrow space a k-d tree on the one-hot rows is fastest (scikit-learn's choice up to
    KD_TREE_WIDTH dimensions); in a wide one, where a tree degenerates into a scan of every pair, the
    grouped scan skips the pairs whose categories alone put them too far. Both are exact.
    """
    k = min(k, len(index.numbers))
    if index.numbers.shape[1] + sum(index.widths) <= KD_TREE_WIDTH:
        from sklearn.neighbors import NearestNeighbors

        tree = NearestNeighbors(n_neighbors=k, algorithm="kd_tree").fit(index.one_hot())
        return np.square(tree.kneighbors(queries.one_hot())[0])
    index_patterns, index_groups, index_order = _groups(index.codes)
    # Index rows sorted by group: group p is rows starts[p]:starts[p + 1]. Both sides' tuples hold slots of
    # the same levels, so a query tuple and an index tuple compare slot by slot.
    starts = np.r_[0, np.cumsum(np.bincount(index_groups, minlength=len(index_patterns)))].astype(np.int64)
    query_patterns, query_groups, query_order = _groups(queries.codes)
    out = np.empty((len(queries.numbers), k))
    _k_nearest_grouped(
        np.ascontiguousarray(queries.numbers[query_order]),
        query_groups[query_order],
        query_patterns,
        index_patterns,
        starts,
        np.ascontiguousarray(index.numbers[index_order]),
        out,
    )
    result = np.empty_like(out)
    result[query_order] = out
    return result


def _mean_log_distance(index: Encoded, queries: Encoded, k: int) -> np.ndarray:
    """Mean log distance to the k nearest rows: a kNN log-density up to sign, scale and constants.

    Averaging over the first k neighbours, rather than the k-th alone, keeps the nearest one in
    the score, so an exact copy still counts when k > 1.
    """
    distances = np.sqrt(k_nearest_squared(index, queries, k))
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
    queries, reference_x, synthetic_x = _encode(
        [pd.concat([member_rows, outsider_rows], ignore_index=True), reference_rows, synthetic_rows],
        reference_rows,
        numeric,
        categorical,
    )
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


def compile_kernels() -> None:
    """Compile the report's numba kernels into numba's on-disk cache (`make setup` runs this once).

    Without it the first report after an install compiles them (8-18 s on 2 cores), inside the demo's run.
    The frame is made up: two numbers and three categories with enough levels to take the grouped search.
    """
    from synth_pipelines.quality.distances import closest_record_sums

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "y": rng.integers(0, 9, 40).astype(float),
            **{name: rng.choice(list("abcdefgh"), 40) for name in ("a", "b", "c")},
        }
    )
    metadata = {"columns": {"x": {"sdtype": "numerical"}, "y": {"sdtype": "numerical"}}}
    metadata["columns"].update({name: {"sdtype": "categorical"} for name in ("a", "b", "c")})
    membership_scores(frame, frame, frame, metadata=metadata)
    closest_record_sums(frame, frame, metadata)
