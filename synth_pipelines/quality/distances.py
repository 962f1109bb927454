"""Exact, vectorised distance-to-closest-record (DCR) and exact-copy counts, as SDMetrics defines them.

SDMetrics 0.32 computes DCR with a pandas cross join per 1,000 x 1,000 block and
NewRowSynthesis with one `DataFrame.query` per synthetic row: correct, but hours at a
million rows. These functions compute the same numbers (the tests compare them with
SDMetrics' own on small tables) with NumPy blocks, so the sampling plan decides how many
rows to score, not the implementation's speed.

The distance between two rows is SDMetrics' `calculate_dcr` distance: the mean over the
statistical columns of, for numerical/datetime columns, min(|a - b| / range, 1) with the
range taken from the reference rows (0/1 when the range is 0), and for categorical/boolean
columns 0 if equal else 1; one missing value against a present one counts 1, two missing 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

NUMERIC_SDTYPES = ("numerical", "datetime")
CATEGORICAL_SDTYPES = ("categorical", "boolean")
# Rows x reference rows per block (float32): bounds the memory of one block to tens of MB.
_BLOCK_CELLS = 2_000_000


def _as_float(column: pd.Series, sdtype: str) -> np.ndarray:
    if sdtype == "datetime" or pd.api.types.is_datetime64_any_dtype(column):
        # Nanoseconds as float: the distance divides by the range, so the unit cancels out.
        as_time = pd.to_datetime(column, errors="coerce")
        values = as_time.astype("int64").astype("float64")
        values[as_time.isna().to_numpy()] = np.nan
        return values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")


@dataclass
class EncodedReference:
    """Reference rows encoded once, so many synthetic blocks can be scored against them."""

    numeric: list[np.ndarray]
    numeric_nan: list[np.ndarray | None]
    inverse_ranges: list[float]
    onehot: np.ndarray  # rows x categories, float32; NaN is a category of its own
    categories: list[pd.Index]
    n_columns: int


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
    # Missing values become their own code (len(categories)); unseen values get -1 (match nothing).
    values = column.astype(object).where(column.notna(), None)
    codes = categories.get_indexer(values.where(values.notna(), "\x00<NA>"))
    return codes


def encode_reference(reference: pd.DataFrame, metadata: dict[str, Any], numeric: list[str], categorical: list[str]):
    numeric_values, numeric_nan, inverse_ranges = [], [], []
    for name in numeric:
        values = _as_float(reference[name], metadata["columns"][name]["sdtype"])
        nan = np.isnan(values)
        span = float(np.nanmax(values) - np.nanmin(values)) if (~nan).any() else 0.0
        numeric_values.append(values.astype("float32"))
        numeric_nan.append(nan if nan.any() else None)
        inverse_ranges.append(0.0 if span == 0 else 1.0 / span)
    categories, blocks = [], []
    for name in categorical:
        column = reference[name].astype(object)
        index = pd.Index(pd.unique(column.where(column.notna(), "\x00<NA>")))
        categories.append(index)
        codes = _codes(reference[name], index)
        block = np.zeros((len(reference), len(index)), dtype="float32")
        block[np.arange(len(reference)), codes] = 1.0
        blocks.append(block)
    onehot = np.hstack(blocks) if blocks else np.zeros((len(reference), 0), dtype="float32")
    return EncodedReference(
        numeric_values, numeric_nan, inverse_ranges, onehot, categories, len(numeric) + len(categorical)
    )


def _encode_rows(rows: pd.DataFrame, metadata: dict[str, Any], numeric, categorical, ref: EncodedReference):
    values = [_as_float(rows[name], metadata["columns"][name]["sdtype"]).astype("float32") for name in numeric]
    blocks = []
    for name, index in zip(categorical, ref.categories, strict=True):
        codes = _codes(rows[name], index)
        block = np.zeros((len(rows), len(index)), dtype="float32")
        seen = codes >= 0
        block[np.flatnonzero(seen), codes[seen]] = 1.0
        blocks.append(block)
    onehot = np.hstack(blocks) if blocks else np.zeros((len(rows), 0), dtype="float32")
    return values, onehot


def closest_record_distances(
    rows: pd.DataFrame, reference: pd.DataFrame, metadata: dict[str, Any], encoded: EncodedReference | None = None
) -> np.ndarray:
    """DCR of every row of `rows` to `reference` (SDMetrics' `calculate_dcr` distance), as float64."""
    numeric, categorical = statistical_columns(metadata, [rows, reference])
    ref = encoded if encoded is not None else encode_reference(reference, metadata, numeric, categorical)
    values, onehot = _encode_rows(rows, metadata, numeric, categorical, ref)
    n_rows, n_ref = len(rows), len(reference)
    block = max(1, _BLOCK_CELLS // max(n_ref, 1))
    result = np.empty(n_rows, dtype="float64")
    # Columns pre-scaled by 1/range, so a numeric part is min(|a - b|, 1) (or a 0/1 flag for constant columns).
    scaled = [v * np.float32(inv) if inv else v for v, inv in zip(values, ref.inverse_ranges, strict=True)]
    ref_scaled = [v * np.float32(inv) if inv else v for v, inv in zip(ref.numeric, ref.inverse_ranges, strict=True)]
    ref_onehot_t = np.ascontiguousarray(ref.onehot.T)
    n_cat = np.float32(len(categorical))
    for start in range(0, n_rows, block):
        stop = min(start + block, n_rows)
        # Categorical matches for all pairs: one matrix product of the one-hot codes.
        matches = onehot[start:stop] @ ref_onehot_t
        # Mismatches alone are a lower bound of a pair's summed distance. The full distance to
        # each row's fewest-mismatch reference row is an upper bound of its minimum, so only
        # pairs whose lower bound is within it can hold the minimum: exact, and most pairs skip
        # the numeric work.
        rows = np.arange(stop - start)
        nearest = matches.argmax(axis=1)
        bound = _numeric_sum(scaled, ref_scaled, ref, start + rows, nearest) + (n_cat - matches[rows, nearest])
        row_index, ref_index = np.nonzero(matches >= (n_cat - bound - np.float32(1e-5))[:, None])
        totals = (n_cat - matches[row_index, ref_index]) + _numeric_sum(
            scaled, ref_scaled, ref, start + row_index, ref_index
        )
        best = np.full(stop - start, np.inf, dtype="float32")
        np.minimum.at(best, row_index, totals)
        result[start:stop] = best / ref.n_columns
    return result


def _numeric_sum(scaled, ref_scaled, ref: EncodedReference, rows: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Summed numeric parts of the distance for the pairs (rows[k], refs[k])."""
    total = np.zeros(len(rows), dtype="float32")
    for column, ref_values, ref_nan, inverse in zip(
        scaled, ref_scaled, ref.numeric_nan, ref.inverse_ranges, strict=True
    ):
        a, b = column[rows], ref_values[refs]
        part = np.abs(a - b)
        part = (part > 0).astype("float32") if inverse == 0.0 else np.minimum(part, np.float32(1.0))
        a_nan, b_nan = np.isnan(a), np.isnan(b)
        if a_nan.any() or (ref_nan is not None):
            # One side missing counts 1, both missing 0 (SDMetrics' rule).
            either = a_nan | b_nan
            part[either] = (a_nan != b_nan)[either]
        total += part
    return total


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


# Candidate (synthetic row, real row) pairs checked at once by `copied_rows`: its memory bound.
_PAIR_BLOCK = 1_000_000


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
