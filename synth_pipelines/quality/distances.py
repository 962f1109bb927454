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


def copied_rows(
    synthetic: pd.DataFrame, real: pd.DataFrame, metadata: dict[str, Any], tolerance: float = 0.01
) -> np.ndarray:
    """Which synthetic rows match some real row (SDMetrics NewRowSynthesis' rule), as a boolean array.

    A match: every categorical/boolean value equal (missing matches missing) and every
    numerical/datetime value within `tolerance` x |synthetic value| of the real one.
    Candidate pairs come from a hash join on the categorical columns, so the work grows with
    the number of rows that share all categories, not with rows x real rows.
    """
    numeric, categorical = statistical_columns(metadata, [synthetic, real])
    syn = pd.DataFrame({"_row": np.arange(len(synthetic))})
    ref = pd.DataFrame(index=np.arange(len(real)))
    for name in categorical:
        syn[name] = synthetic[name].astype(object).where(synthetic[name].notna(), "\x00<NA>").to_numpy()
        ref[name] = real[name].astype(object).where(real[name].notna(), "\x00<NA>").to_numpy()
    for name in numeric:
        sdtype = metadata["columns"][name]["sdtype"]
        syn[name + "\x00n"] = _as_float(synthetic[name], sdtype)
        ref[name + "\x00n"] = _as_float(real[name], sdtype)
    matched = np.zeros(len(synthetic), dtype=bool)
    # Without categorical columns every pair is a candidate: keep each chunk's cross join small.
    chunk = 50_000 if categorical else max(1, _BLOCK_CELLS // max(len(real), 1))
    for start in range(0, len(syn), chunk):
        part = syn.iloc[start : start + chunk]
        pairs = (
            part.merge(ref, on=categorical, suffixes=("", "\x00r"))
            if categorical
            else part.merge(ref, how="cross", suffixes=("", "\x00r"))
        )
        keep = np.ones(len(pairs), dtype=bool)
        for name in numeric:
            a = pairs[name + "\x00n"].to_numpy()
            b = pairs[name + "\x00n\x00r"].to_numpy()
            close = np.abs(b - a) <= np.abs(tolerance * a)
            keep &= np.where(np.isnan(a), np.isnan(b), close)
        matched[pairs["_row"].to_numpy()[keep]] = True
    return matched
