"""Exact, vectorised distance-to-closest-record (DCR) and exact-copy counts, as SDMetrics defines them.

SDMetrics 0.32 computes DCR with a pandas cross join per 1,000 x 1,000 block and
NewRowSynthesis with one `DataFrame.query` per synthetic row: correct, but hours at a
million rows. These functions compute the same numbers (the tests compare them with
SDMetrics' own on small tables): DCR in a compiled scan (Numba) that abandons a pair once it
cannot be the nearest, the copy search with NumPy blocks, so the sampling plan decides how
many rows to score, not the implementation's speed.

The distance between two rows is SDMetrics' `calculate_dcr` distance: the mean over the
statistical columns of, for numerical/datetime columns, min(|a - b| / range, 1) with the
range taken from the reference rows (0/1 when the range is 0), and for categorical/boolean
columns 0 if equal else 1; one missing value against a present one counts 1, two missing 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pandas as pd

NUMERIC_SDTYPES = ("numerical", "datetime")
CATEGORICAL_SDTYPES = ("categorical", "boolean")
# Candidate (synthetic row, real row) pairs `copied_rows` checks at once: the memory bound of its pair work.
_PAIR_BLOCK = 1_000_000


def _as_float(column: pd.Series, sdtype: str) -> np.ndarray:
    if sdtype == "datetime" or pd.api.types.is_datetime64_any_dtype(column):
        # Nanoseconds as float, whatever the column's unit (an export reads back in microseconds, the
        # real table in nanoseconds): the distance divides by the range, so the unit must be one.
        as_time = pd.to_datetime(column, errors="coerce").astype("datetime64[ns]")
        values = as_time.astype("int64").astype("float64")
        values[as_time.isna().to_numpy()] = np.nan
        return values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")


def statistical_columns(metadata: dict[str, Any], frames: list[pd.DataFrame]) -> tuple[list[str], list[str]]:
    """Numerical/datetime and categorical/boolean columns present in every frame (others are skipped)."""
    numeric, categorical = [], []
    for name, column in metadata["columns"].items():
        if not all(name in frame.columns for frame in frames):
            continue
        if column.get("sdtype") in NUMERIC_SDTYPES:
            numeric.append(name)
        elif column.get("sdtype") in CATEGORICAL_SDTYPES:
            categorical.append(name)
    if not numeric and not categorical:
        raise ValueError("no numerical, datetime, categorical or boolean column is shared by the tables")
    return numeric, categorical


def _codes(column: pd.Series, categories: pd.Index) -> np.ndarray:
    # Missing values are a category of their own ("\x00<NA>"); unseen values get -1 (match nothing).
    values = column.astype(object).where(column.notna(), None)
    codes = categories.get_indexer(values.where(values.notna(), "\x00<NA>"))
    return codes


@dataclass
class EncodedReference:
    """Reference rows encoded once, so many synthetic blocks can be scored against them."""

    inverse_ranges: list[float]
    constants: list[float | None]  # the value of each zero-range column
    categories: list[pd.Index]
    numeric_columns: list[str]  # in the order their parts are summed
    categorical_columns: list[str]
    # The rows grouped by their tuple of categorical codes (`_codes`, `_group_patterns`): the scan compares
    # a synthetic row with each distinct tuple once and only opens the groups that can still hold its nearest.
    pattern_codes: np.ndarray  # distinct code tuples x categorical columns, int32
    pattern_starts: np.ndarray  # group p is rows pattern_starts[p]:pattern_starts[p + 1] of `numeric`
    numeric: np.ndarray  # rows (sorted by group) x numeric columns, float32 in distance units (`_scaled`), NaN missing

    @property
    def n_columns(self) -> int:
        return len(self.numeric_columns) + len(self.categorical_columns)


def _scaled(values: np.ndarray, inverse: float, constant: float | None) -> np.ndarray:
    """A numeric column in distance units: x / range, so a part is min(|a - b|, 1).

    A column whose reference range is 0 (value c) becomes 0 where x == c and 1 elsewhere, and
    its reference 0, so the same min(|a - b|, 1) gives SDMetrics' 0/1 for it. Missing stays NaN.
    """
    if constant is not None:
        return np.where(np.isnan(values), np.nan, (values != constant).astype("float64")).astype("float32")
    return (values * inverse).astype("float32")


def _matrix(columns: list[np.ndarray], n_rows: int, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(np.stack(columns, axis=1)) if columns else np.zeros((n_rows, 0), dtype=dtype)


def by_typical_part(reference: pd.DataFrame, metadata: dict[str, Any], numeric: list[str], seed: int = 0) -> list[str]:
    """`numeric` ordered by each column's mean part between random pairs of reference rows, largest first.

    The scan sums a pair's parts in this order and abandons it once the sum reaches the row's
    best, so the columns that usually differ most go first. Only the speed depends on it; give
    the same order to references whose distances are compared, so equal distances stay equal.
    """
    if len(reference) < 2 or len(numeric) < 2:
        return list(numeric)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(reference), (2, min(2_000, len(reference))))
    typical = {}
    for name in numeric:
        values = _as_float(reference[name], metadata["columns"][name]["sdtype"])
        present = values[~np.isnan(values)]
        span = float(present.max() - present.min()) if len(present) else 0.0
        a, b = values[first], values[second]
        part = np.where(
            np.isnan(a) | np.isnan(b), np.isnan(a) != np.isnan(b), np.minimum(np.abs(a - b) / (span or 1), 1)
        )
        typical[name] = float(np.mean(part))
    return sorted(numeric, key=lambda name: -typical[name])


def encode_reference(
    reference: pd.DataFrame, metadata: dict[str, Any], numeric: list[str], categorical: list[str]
) -> EncodedReference:
    columns, inverse_ranges, constants = [], [], []
    for name in numeric:
        values = _as_float(reference[name], metadata["columns"][name]["sdtype"])
        present = values[~np.isnan(values)]
        span = float(present.max() - present.min()) if len(present) else 0.0
        inverse = 0.0 if span == 0 else 1.0 / span
        constant = (float(present[0]) if len(present) else float("nan")) if span == 0 else None
        columns.append(_scaled(values, inverse, constant))
        inverse_ranges.append(inverse)
        constants.append(constant)
    categories, codes = [], []
    for name in categorical:
        column = reference[name].astype(object)
        index = pd.Index(pd.unique(column.where(column.notna(), "\x00<NA>")))
        categories.append(index)
        codes.append(_codes(reference[name], index).astype("int32"))
    numeric_matrix, code_matrix = _matrix(columns, len(reference), "float32"), _matrix(codes, len(reference), "int32")
    pattern_codes, pattern_of_row = _group_patterns(code_matrix)
    order = np.argsort(pattern_of_row, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(pattern_of_row, minlength=len(pattern_codes)))].astype("int64")
    return EncodedReference(
        inverse_ranges,
        constants,
        categories,
        list(numeric),
        list(categorical),
        pattern_codes,
        starts,
        np.ascontiguousarray(numeric_matrix[order]),
    )


def _group_patterns(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of `codes` (int32) and, per row, the index of its distinct row."""
    if codes.shape[1] == 0:
        return np.zeros((1, 0), dtype="int32"), np.zeros(len(codes), dtype="int64")
    distinct, inverse = np.unique(codes, axis=0, return_inverse=True)
    return np.ascontiguousarray(distinct.astype("int32")), inverse.reshape(-1).astype("int64")


@numba.njit(nogil=True, cache=True)
def order_by_mismatches(codes, patterns, mismatches, counts, ordered):  # pragma: no cover - compiled
    """mismatches[p] = the columns where `codes` differs from patterns[p]; `ordered` the patterns by that count.

    A counting sort (stable), into caller-owned buffers: counts has patterns.shape[1] + 2 slots.
    """
    n_patterns, n_columns = patterns.shape
    counts[:] = 0
    for p in range(n_patterns):
        m = 0
        for c in range(n_columns):
            if codes[c] != patterns[p, c]:
                m += 1
        mismatches[p] = m
        counts[m + 1] += 1
    for level in range(1, n_columns + 2):
        counts[level] += counts[level - 1]
    for p in range(n_patterns):
        ordered[counts[mismatches[p]]] = p
        counts[mismatches[p]] += 1


@numba.njit(nogil=True, cache=True)
def _nearest_grouped(
    values, row_patterns, patterns, pattern_codes, pattern_starts, ref_values, best
):  # pragma: no cover - compiled
    """best[i] = min(best[i], summed distance of row i to its nearest reference row), exactly.

    Parts: 1 per categorical mismatch (codes; -1 matches nothing), min(|a - b|, 1) per numeric
    column, 1 where one side is missing and 0 where both are; summed in float64, the mismatches
    first. Both sides are grouped by their tuple of categorical codes (rows of one tuple adjacent).
    Per distinct synthetic tuple, the mismatches with every reference tuple are counted once and
    the reference tuples ordered by that count (a counting sort); each synthetic row of the
    tuple then opens groups in that order and stops at the first whose mismatches alone reach its
    best so far; within a pair, summing stops once it reaches that best (every part is >= 0).
    The minima are those of a plain scan over every pair (tests compare them with SDMetrics' own).
    """
    n_numeric, n_categorical = values.shape[1], patterns.shape[1]
    n_ref_patterns = pattern_codes.shape[0]
    mismatches = np.empty(n_ref_patterns, dtype=np.int64)
    counts = np.empty(n_categorical + 2, dtype=np.int64)
    ordered = np.empty(n_ref_patterns, dtype=np.int64)
    first_row = 0
    n_rows = values.shape[0]
    while first_row < n_rows:
        pattern = row_patterns[first_row]
        last_row = first_row
        while last_row < n_rows and row_patterns[last_row] == pattern:
            last_row += 1
        order_by_mismatches(patterns[pattern], pattern_codes, mismatches, counts, ordered)
        for i in range(first_row, last_row):
            bound = best[i]
            for k in range(n_ref_patterns):
                p = ordered[k]
                base = np.float64(mismatches[p])
                if base >= bound:
                    break
                for j in range(pattern_starts[p], pattern_starts[p + 1]):
                    total = base
                    for c in range(n_numeric):
                        a, b = values[i, c], ref_values[j, c]
                        if np.isnan(a) or np.isnan(b):
                            if np.isnan(a) != np.isnan(b):
                                total += 1.0
                        else:
                            part = abs(np.float64(a) - np.float64(b))
                            total += part if part < 1.0 else 1.0
                        if total >= bound:
                            break
                    if total < bound:
                        bound = total
            best[i] = bound
        first_row = last_row


def closest_record_sums(
    rows: pd.DataFrame,
    reference: pd.DataFrame,
    metadata: dict[str, Any],
    encoded: EncodedReference | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Per row of `rows`, the smallest summed distance (columns' parts, not yet averaged) to a `reference` row.

    With `upper`, the result is min(upper, that distance): a reference row only counts when it is
    strictly closer than `upper`, which is what "closer to A than to B" needs, and the search
    abandons every pair as soon as it reaches the bound.

    Exact: in compiled code (`_nearest_grouped`) a row skips only the reference groups whose
    categorical mismatches alone reach its best distance so far, and stops summing a pair's parts
    once they reach it, so no closer row can be skipped. Memory: the encoded rows.
    """
    if encoded is None:
        encoded = encode_reference(reference, metadata, *statistical_columns(metadata, [rows, reference]))
    ref, numeric, categorical = encoded, encoded.numeric_columns, encoded.categorical_columns
    values = _matrix(
        [
            _scaled(_as_float(rows[name], metadata["columns"][name]["sdtype"]), inverse, constant)
            for name, inverse, constant in zip(numeric, ref.inverse_ranges, ref.constants, strict=True)
        ],
        len(rows),
        "float32",
    )
    codes = _matrix(
        [_codes(rows[name], index).astype("int32") for name, index in zip(categorical, ref.categories, strict=True)],
        len(rows),
        "int32",
    )
    best = np.full(len(rows), np.inf) if upper is None else np.asarray(upper, dtype="float64").copy()
    if len(ref.numeric) and len(rows):
        patterns, row_patterns = _group_patterns(codes)
        order = np.argsort(row_patterns, kind="stable")
        grouped_best = np.ascontiguousarray(best[order])
        _nearest_grouped(
            np.ascontiguousarray(values[order]),
            np.ascontiguousarray(row_patterns[order]),
            patterns,
            ref.pattern_codes,
            ref.pattern_starts,
            ref.numeric,
            grouped_best,
        )
        best[order] = grouped_best
    return best


def closest_record_distances(
    rows: pd.DataFrame, reference: pd.DataFrame, metadata: dict[str, Any], encoded: EncodedReference | None = None
) -> np.ndarray:
    """DCR of every row of `rows` to `reference` (SDMetrics' `calculate_dcr` distance), as float64."""
    numeric, categorical = statistical_columns(metadata, [rows, reference])
    return closest_record_sums(rows, reference, metadata, encoded).astype("float64") / (len(numeric) + len(categorical))


def random_baseline_rows(real: pd.DataFrame, n_rows: int, seed: int) -> pd.DataFrame:
    """Uniform random rows inside the real data's ranges and categories (SDMetrics' DCR baseline recipe)."""
    rng = np.random.default_rng(seed)
    columns = {}
    for name in real.columns:
        column = real[name]
        if pd.api.types.is_integer_dtype(column):
            values = pd.Series(rng.integers(column.min(), column.max() + 1, size=n_rows))
        elif pd.api.types.is_float_dtype(column):
            values = pd.Series(rng.uniform(column.min(), column.max(), size=n_rows))
        elif pd.api.types.is_datetime64_any_dtype(column):
            low, high = column.min(), column.max()
            values = pd.Series(low + pd.to_timedelta(rng.uniform(0, (high - low).total_seconds(), n_rows), unit="s"))
        else:
            values = pd.Series(rng.choice(column.dropna().unique(), size=n_rows), dtype=object)
        missing = rng.random(n_rows) < column.isna().mean()
        if missing.any():
            values = values.astype(object) if values.dtype.kind in "iub" else values
            values[missing] = pd.NaT if pd.api.types.is_datetime64_any_dtype(column) else np.nan
        columns[name] = values
    return pd.DataFrame(columns)


def _category_patterns(synthetic: pd.DataFrame, real: pd.DataFrame, categorical: list[str]) -> tuple[np.ndarray, ...]:
    """One integer per row for its tuple of categorical values, shared by both frames; -1: a tuple no real row has."""
    n_real = len(real)
    keys = np.zeros(n_real + len(synthetic), dtype="int64")
    unseen = np.zeros(len(synthetic), dtype=bool)
    for name in categorical:
        column = real[name].astype(object)
        index = pd.Index(pd.unique(column.where(column.notna(), "\x00<NA>")))
        codes = np.r_[_codes(real[name], index), _codes(synthetic[name], index)]
        unseen |= codes[n_real:] < 0
        # Re-factorised after every column, so the key stays below rows x categories (no overflow).
        keys = pd.factorize(keys * (len(index) + 1) + (codes + 1))[0].astype("int64")
    real_keys, synthetic_keys = keys[:n_real], keys[n_real:]
    present = np.zeros(int(keys.max(initial=0)) + 1, dtype=bool)
    present[real_keys] = True
    synthetic_keys = np.where(unseen | ~present[synthetic_keys], -1, synthetic_keys)
    return synthetic_keys, real_keys


def _windows(
    a: np.ndarray, b: np.ndarray, syn_keys: np.ndarray, real_keys: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real rows sorted by (pattern, b), and per synthetic row the [start, end) of those whose b may match a.

    The window [a - |tol a|, a + |tol a|] is widened by a hair so float rounding cannot drop a
    match; every candidate is checked exactly afterwards. A missing a matches missing b only.
    """
    values = np.unique(b[~np.isnan(b)])
    slots = len(values) + 1  # the last slot per pattern holds the missing values
    rank = np.where(np.isnan(b), len(values), np.searchsorted(values, b))
    composite = real_keys * slots + rank
    order = np.argsort(composite, kind="stable")
    composite = composite[order]
    width = np.abs(tolerance * a) * (1 + 1e-9) + 1e-300
    low = np.where(np.isnan(a), len(values), np.searchsorted(values, a - width, side="left"))
    high = np.where(np.isnan(a), len(values), np.searchsorted(values, a + width, side="right") - 1)
    base = np.maximum(syn_keys, 0) * slots
    start = np.searchsorted(composite, base + low, side="left")
    end = np.searchsorted(composite, base + high, side="right")
    end = np.where((syn_keys < 0) | (high < low), start, np.maximum(end, start))
    return order, start, end


def copied_rows(
    synthetic: pd.DataFrame, real: pd.DataFrame, metadata: dict[str, Any], tolerance: float = 0.01
) -> np.ndarray:
    """Which synthetic rows match some real row (SDMetrics NewRowSynthesis' rule), as a boolean array.

    A match: every categorical/boolean value equal (missing matches missing) and every
    numerical/datetime value within `tolerance` x |synthetic value| of the real one.
    Candidates are the real rows with the same categorical values whose value of one numeric
    column (the one that admits the fewest) lies in the tolerance window, found by binary
    search in a sorted copy; they are checked `_PAIR_BLOCK` pairs at a time. Memory is linear
    in the rows whatever the categories' cardinality; work grows with the candidates, not
    with rows x real rows.
    """
    numeric, categorical = statistical_columns(metadata, [synthetic, real])
    syn_keys, real_keys = _category_patterns(synthetic, real, categorical)
    if not numeric:
        return syn_keys >= 0
    syn_values = [_as_float(synthetic[name], metadata["columns"][name]["sdtype"]) for name in numeric]
    real_values = [_as_float(real[name], metadata["columns"][name]["sdtype"]) for name in numeric]
    windows = [_windows(a, b, syn_keys, real_keys, tolerance) for a, b in zip(syn_values, real_values, strict=True)]
    order, start, end = min(windows, key=lambda w: int((w[2] - w[1]).sum()))
    del windows
    counts = end - start
    offsets = np.r_[0, np.cumsum(counts)]
    matched = np.zeros(len(synthetic), dtype=bool)
    for first in range(0, int(offsets[-1]), _PAIR_BLOCK):
        flat = np.arange(first, min(first + _PAIR_BLOCK, int(offsets[-1])))
        rows = np.searchsorted(offsets, flat, side="right") - 1
        refs = order[start[rows] + (flat - offsets[rows])]
        keep = np.ones(len(flat), dtype=bool)
        for a_all, b_all in zip(syn_values, real_values, strict=True):
            a, b = a_all[rows], b_all[refs]
            keep &= np.where(np.isnan(a), np.isnan(b), np.abs(b - a) <= np.abs(tolerance * a))
        matched[rows[keep]] = True
    return matched
