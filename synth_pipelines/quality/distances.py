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
# Synthetic x reference patterns per block of mismatch counts (one byte each): a few MB.
_BLOCK_CELLS = 2_000_000
# Candidate (synthetic row, real row) pairs checked at once: the memory bound of the pair work.
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
    # Missing values become their own code (len(categories)); unseen values get -1 (match nothing).
    values = column.astype(object).where(column.notna(), None)
    codes = categories.get_indexer(values.where(values.notna(), "\x00<NA>"))
    return codes


@dataclass
class EncodedReference:
    """Reference rows encoded once, so many synthetic blocks can be scored against them.

    Rows with the same categorical values form a pattern; the categorical part of a distance is
    computed once per (synthetic pattern, reference pattern), not per pair of rows.
    """

    # numeric columns x rows, float32, scaled by 1/range; a column whose range is 0 holds 0 (see `_scaled`)
    numeric: np.ndarray
    numeric_has_nan: bool
    inverse_ranges: list[float]
    constants: list[float | None]  # the value of each zero-range column
    categories: list[pd.Index]
    n_columns: int
    pattern_codes: list[np.ndarray]  # per categorical column, the code of each reference pattern
    order: np.ndarray  # reference rows grouped by pattern: pattern q is order[offsets[q]:offsets[q + 1]]
    offsets: np.ndarray


def _code_dtype(levels: int) -> np.dtype:
    # Compact codes keep a block of comparisons in cache; `levels` itself is the code of an unseen value.
    return np.dtype("uint8") if levels < 255 else np.dtype("uint16") if levels < 65_535 else np.dtype("int64")


def _patterns(codes: list[np.ndarray], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Pattern id of each row (rows with equal codes in every column share one) and each pattern's first row."""
    keys = np.zeros(n_rows, dtype="int64")
    for column in codes:
        # Re-factorised after every column, so the key stays below rows x levels (no overflow).
        keys = pd.factorize(keys * (int(column.max(initial=0)) + 1) + column)[0].astype("int64")
    first = np.unique(keys, return_index=True)[1] if n_rows else np.zeros(0, dtype="int64")
    return keys, first


def _grouped(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return order, np.r_[0, np.cumsum(np.bincount(keys, minlength=n_groups))]


def _scaled(values: np.ndarray, inverse: float, constant: float | None) -> np.ndarray:
    """A numeric column in distance units: x / range, so a part is min(|a - b|, 1).

    A column whose reference range is 0 (value c) becomes 0 where x == c and 1 elsewhere, and
    its reference 0, so the same min(|a - b|, 1) gives SDMetrics' 0/1 for it. Missing stays NaN.
    """
    if constant is not None:
        return np.where(np.isnan(values), np.nan, (values != constant).astype("float64")).astype("float32")
    return (values * inverse).astype("float32")


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
    matrix = np.stack(columns) if columns else np.zeros((0, len(reference)), dtype="float32")
    categories, codes = [], []
    for name in categorical:
        column = reference[name].astype(object)
        index = pd.Index(pd.unique(column.where(column.notna(), "\x00<NA>")))
        categories.append(index)
        codes.append(_codes(reference[name], index).astype(_code_dtype(len(index))))
    keys, first = _patterns(codes, len(reference))
    order, offsets = _grouped(keys, len(first))
    return EncodedReference(
        matrix,
        bool(np.isnan(matrix).any()),
        inverse_ranges,
        constants,
        categories,
        len(numeric) + len(categorical),
        [np.ascontiguousarray(column[first]) for column in codes],
        order,
        offsets,
    )


def _mismatches(codes: list[np.ndarray], n_rows: int, ref: EncodedReference) -> np.ndarray:
    """Categorical mismatches of each of a block of `n_rows` synthetic patterns with every reference pattern."""
    dtype = "uint8" if len(codes) < 255 else "uint16"
    total = np.zeros((n_rows, len(ref.offsets) - 1), dtype=dtype)
    for column, reference in zip(codes, ref.pattern_codes, strict=True):
        total += column[:, None] != reference[None, :]
    return total


def _numeric_sum(values: np.ndarray, has_nan: bool, ref: EncodedReference, rows: np.ndarray, refs: np.ndarray):
    """Summed numeric parts of the distance for the pairs (rows[k], refs[k]); `values` is columns x rows."""
    total = np.zeros(len(rows), dtype="float32")
    for column, ref_column in zip(values, ref.numeric, strict=True):
        a, b = column[rows], ref_column[refs]
        part = np.abs(a - b)
        np.minimum(part, np.float32(1.0), out=part)
        if has_nan or ref.numeric_has_nan:
            # One side missing counts 1, both missing 0 (SDMetrics' rule).
            a_nan, b_nan = np.isnan(a), np.isnan(b)
            either = a_nan | b_nan
            part[either] = (a_nan != b_nan)[either]
        total += part
    return total


@dataclass
class _Rows:
    """The rows being scored, grouped by categorical pattern."""

    values: np.ndarray  # numeric columns x rows, in distance units
    has_nan: bool
    pattern_codes: list[np.ndarray]
    pattern: np.ndarray  # each row's pattern
    order: np.ndarray
    offsets: np.ndarray


def _encode_rows(
    rows: pd.DataFrame, metadata: dict[str, Any], numeric: list[str], categorical: list[str], ref: EncodedReference
) -> _Rows:
    columns = [
        _scaled(_as_float(rows[name], metadata["columns"][name]["sdtype"]), inverse, constant)
        for name, inverse, constant in zip(numeric, ref.inverse_ranges, ref.constants, strict=True)
    ]
    values = np.stack(columns) if columns else np.zeros((0, len(rows)), dtype="float32")
    codes = []
    for name, index in zip(categorical, ref.categories, strict=True):
        column = _codes(rows[name], index)
        codes.append(np.where(column < 0, len(index), column).astype(_code_dtype(len(index))))
    keys, first = _patterns(codes, len(rows))
    order, offsets = _grouped(keys, len(first))
    return _Rows(values, bool(np.isnan(values).any()), [column[first] for column in codes], keys, order, offsets)


def _score_pattern_pairs(
    mine: np.ndarray,
    theirs: np.ndarray,
    base: np.ndarray,
    row_order: np.ndarray,
    row_offsets: np.ndarray,
    rows: _Rows,
    ref: EncodedReference,
    best: np.ndarray,
) -> None:
    """best[row] = min(best[row], base + numeric part) over every row x reference row of each pattern pair.

    Pattern mine[k]'s rows are row_order[row_offsets[mine[k]]:row_offsets[mine[k] + 1]].
    """
    row_counts = row_offsets[mine + 1] - row_offsets[mine]
    ref_counts = ref.offsets[theirs + 1] - ref.offsets[theirs]
    cumulative = np.r_[0, np.cumsum(row_counts * ref_counts)]
    total = int(cumulative[-1])
    for first in range(0, total, _PAIR_BLOCK):
        last = min(first + _PAIR_BLOCK, total)
        # The pattern pairs this slice of the flat pair index touches, clipped to the slice.
        pairs_here = np.arange(
            np.searchsorted(cumulative, first, side="right") - 1, np.searchsorted(cumulative, last - 1, side="right")
        )
        counts = np.minimum(cumulative[pairs_here + 1], last) - np.maximum(cumulative[pairs_here], first)
        k = np.repeat(pairs_here, counts)
        local = np.arange(first, last) - np.repeat(cumulative[pairs_here], counts)
        row = row_order[row_offsets[mine[k]] + local // ref_counts[k]]
        other = ref.order[ref.offsets[theirs[k]] + local % ref_counts[k]]
        np.minimum.at(best, row, base[k] + _numeric_sum(rows.values, rows.has_nan, ref, row, other))


def closest_record_sums(
    rows: pd.DataFrame,
    reference: pd.DataFrame,
    metadata: dict[str, Any],
    encoded: EncodedReference | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Per row of `rows`, the smallest summed distance (columns' parts, not yet averaged) to a `reference` row.

    With `upper`, the result is min(upper, that distance) and only reference rows strictly
    closer than `upper` are looked for: what "closer to A than to B" needs.

    Per block of synthetic patterns: the mismatch count with every reference pattern (one
    compact comparison per categorical column), then the numeric part only for the reference
    rows of the patterns at the fewest mismatches, then at one more, and so on, for the rows
    that can still improve: a row is settled once its best distance is at most the next
    level's mismatch count, which no reference row left can beat (numeric parts are never
    negative). Exact, and most pairs are never formed. Memory: one block of pattern pairs and
    `_PAIR_BLOCK` row pairs, whatever the table.
    """
    numeric, categorical = statistical_columns(metadata, [rows, reference])
    ref = encoded if encoded is not None else encode_reference(reference, metadata, numeric, categorical)
    encoded_rows = _encode_rows(rows, metadata, numeric, categorical, ref)
    best = np.full(len(rows), np.inf, dtype="float32") if upper is None else upper.astype("float32").copy()
    n_patterns = len(encoded_rows.offsets) - 1
    block = max(1, _BLOCK_CELLS // max(len(ref.offsets) - 1, 1))
    for start in range(0, n_patterns, block):
        stop = min(start + block, n_patterns)
        mismatch = _mismatches([column[start:stop] for column in encoded_rows.pattern_codes], stop - start, ref)
        lowest = mismatch.min(axis=1)
        segment = encoded_rows.order[encoded_rows.offsets[start] : encoded_rows.offsets[stop]]
        local_pattern = encoded_rows.pattern[segment] - start
        for level in range(len(categorical) + 1):
            # Rows a reference row at this level (distance >= lowest + level) could still improve.
            improvable = best[segment] > lowest[local_pattern] + np.float32(level)
            if not improvable.any():
                break
            open_rows = segment[improvable]
            counts = np.bincount(local_pattern[improvable], minlength=stop - start)
            open_patterns = np.flatnonzero(counts)
            target = lowest[open_patterns] + level
            candidates = mismatch if len(open_patterns) == stop - start else mismatch[open_patterns]
            found, theirs = np.nonzero(candidates == target[:, None].astype(mismatch.dtype))
            row_offsets = np.r_[0, np.cumsum(counts)]
            _score_pattern_pairs(
                open_patterns[found],
                theirs,
                target[found].astype("float32"),
                open_rows,
                row_offsets,
                encoded_rows,
                ref,
                best,
            )
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
