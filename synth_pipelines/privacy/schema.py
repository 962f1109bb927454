"""Private preprocessing: column bounds, category lists and marginals, each public or paid for with DP.

Nothing here looks at the data without a mechanism between them. Numeric bounds come from
the request or from a noisy histogram over a fixed power-of-two grid; category lists come
from the request or from a thresholded noisy histogram (the threshold is what makes an
unseen category cost δ instead of being released outright). Every column then gets a noisy
histogram over public bins, which both the copula and the neural models use as their
marginal. Rare values fall into `FOLDED` and are never released.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from synth_pipelines.privacy.budget import gaussian_sigma

FOLDED = "__other__"
NUMERIC_SDTYPES = ("numerical", "datetime")
FINE_BINS = 200  # bins of a numeric marginal when the column is not a small integer range
INTEGER_BINS_MAX = 256  # integer columns up to this range get one bin per value
# Power-of-two grid for private bounds: magnitudes 2^-10 .. 2^62 on both sides, and 0.
_COARSE_EXPONENTS = np.arange(-10, 63)


@dataclass
class NumericColumn:
    name: str
    kind: str  # "int" | "float" | "datetime"
    low: float
    high: float
    scale: float  # the log1p grid's knee: linear below it, logarithmic above
    integer_bins: bool
    edges: np.ndarray  # bin edges in grid space (see `to_grid`)
    probs: np.ndarray  # [null, bin_0, ..., bin_k-1], noisy and normalised
    dtype: str

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        if self.integer_bins:
            return values
        return np.sign(values) * np.log1p(np.abs(values) / self.scale)

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        if self.integer_bins:
            return grid
        return np.sign(grid) * np.expm1(np.abs(grid)) * self.scale


@dataclass
class CategoricalColumn:
    name: str
    kind: str  # "categorical" | "boolean"
    categories: list[Any]  # released values; FOLDED stands for every other value
    probs: np.ndarray  # [null, *categories], noisy and normalised
    dtype: str


@dataclass
class PrivateSchema:
    columns: list[NumericColumn | CategoricalColumn]
    order: list[str]
    rho_spent: float = 0.0
    threshold_delta: float = 0.0
    mechanisms: list[str] = field(default_factory=list)

    @property
    def widths(self) -> list[int]:
        """Width of each column's slot in the neural models' encoding (1 numeric, one-hot otherwise)."""
        return [1 if isinstance(c, NumericColumn) else len(c.probs) for c in self.columns]


def _sdtypes(metadata: Any, data: pd.DataFrame) -> dict[str, str]:
    """Column kinds only: SDV metadata also carries ranges and category lists, which are private."""
    table = metadata.tables["data"] if hasattr(metadata, "tables") else None
    columns = table.columns if table is not None else (metadata or {}).get("columns", {})
    kinds = {}
    for name in data.columns:
        sdtype = columns.get(name, {}).get("sdtype")
        if sdtype is None:
            sdtype = "numerical" if pd.api.types.is_numeric_dtype(data[name]) else "categorical"
        kinds[name] = sdtype
    return kinds


def _as_float(column: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        stamps = pd.to_datetime(column, errors="coerce")
        return stamps.astype("int64").where(stamps.notna()).to_numpy(dtype=float)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def _noisy(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return counts + rng.normal(0.0, sigma, size=counts.shape)


def _normalise(noisy: np.ndarray, floor: float) -> np.ndarray:
    """Post-processing: drop counts the noise could have made, keep the rest as probabilities."""
    kept = np.where(noisy > floor, noisy, 0.0)
    if kept.sum() <= 0:
        kept = np.ones_like(noisy)
    return kept / kept.sum()


def private_bounds(values: np.ndarray, rho: float, rng: np.random.Generator) -> tuple[float, float]:
    """Bounds from a noisy histogram over a public power-of-two grid (sensitivity 1 under add/remove)."""
    finite = values[np.isfinite(values)]
    magnitude = np.abs(finite)
    exponent = np.clip(np.ceil(np.log2(np.maximum(magnitude, 2.0**-11))), -10, 62).astype(int)
    index = np.where(finite == 0, 0, np.sign(finite).astype(int) * (exponent - _COARSE_EXPONENTS[0] + 1))
    size = len(_COARSE_EXPONENTS)
    counts = np.bincount(index + size, minlength=2 * size + 1).astype(float)
    sigma = gaussian_sigma(rho)
    # A bin is believed only when its noisy count clears 4σ: a spurious bin far out would
    # stretch the range that every later bin and sample lives in.
    kept = np.flatnonzero(_noisy(counts, sigma, rng) > 4.0 * sigma)
    if len(kept) == 0:
        return 0.0, 1.0

    def edge(slot: int, upper: bool) -> float:
        signed = slot - size
        if signed == 0:
            return 0.0
        magnitude_high = 2.0 ** _COARSE_EXPONENTS[abs(signed) - 1]
        magnitude_low = magnitude_high / 2 if abs(signed) > 1 else 0.0
        if signed > 0:
            return magnitude_high if upper else magnitude_low
        return -magnitude_low if upper else -magnitude_high

    return edge(int(kept[0]), upper=False), edge(int(kept[-1]), upper=True)


def _numeric_column(
    name: str, column: pd.Series, kind: str, bounds: tuple[float, float] | None, rho: float, rng: np.random.Generator
) -> NumericColumn:
    values = _as_float(column, kind)
    spend_on_bounds = bounds is None
    rho_marginal = rho / 2 if spend_on_bounds else rho
    low, high = bounds if bounds is not None else private_bounds(values, rho / 2, rng)
    integer_bins = kind == "int" and (high - low) <= INTEGER_BINS_MAX
    scale = max(abs(low), abs(high), 1e-12) / 1e4
    column_spec = NumericColumn(
        name=name,
        kind=kind,
        low=float(low),
        high=float(high),
        scale=scale,
        integer_bins=integer_bins,
        edges=np.empty(0),
        probs=np.empty(0),
        dtype=str(column.dtype),
    )
    if integer_bins:
        edges = np.arange(math.floor(low), math.ceil(high) + 2) - 0.5
    else:
        grid_low, grid_high = column_spec.to_grid(np.array([low, high]))
        edges = np.linspace(grid_low, grid_high, FINE_BINS + 1)
    column_spec.edges = edges
    present = np.isfinite(values)
    grid = column_spec.to_grid(np.clip(values[present], low, high))
    bins = np.clip(np.searchsorted(edges, grid, side="right") - 1, 0, len(edges) - 2)
    counts = np.r_[(~present).sum(), np.bincount(bins, minlength=len(edges) - 1)].astype(float)
    sigma = gaussian_sigma(rho_marginal)
    noisy = _noisy(counts, sigma, rng)
    if column_spec.dtype.startswith(("int", "uint")):
        # A NumPy integer dtype cannot hold a null, so the schema already says there is none.
        noisy[0] = 0.0
    column_spec.probs = _normalise(noisy, 2.0 * sigma)
    return column_spec


def _categorical_column(
    name: str,
    column: pd.Series,
    kind: str,
    public: list[str] | None,
    rho: float,
    threshold_delta: float,
    rng: np.random.Generator,
) -> CategoricalColumn:
    present = column.notna()
    if kind == "boolean":
        categories: list[Any] = [False, True]
        rho_marginal = rho
    elif public is not None:
        categories = list(public)
        rho_marginal = rho
    else:
        # Stability-based release: a value only one row has clears the threshold with
        # probability at most `threshold_delta`, so the list costs (ρ/2, threshold_delta).
        observed = column[present].astype(str).value_counts()
        sigma = gaussian_sigma(rho / 2)
        threshold = 1.0 + sigma * float(norm.isf(threshold_delta))
        noisy = _noisy(observed.to_numpy(dtype=float), sigma, rng)
        categories = sorted(str(v) for v in observed.index[noisy > threshold])
        rho_marginal = rho / 2
    text = column.astype(str) if kind != "boolean" else column
    lookup = {value if kind == "boolean" else str(value): i for i, value in enumerate(categories)}
    folded_slot = len(categories)
    slots = np.array(
        [0 if not ok else 1 + lookup.get(v, folded_slot) for v, ok in zip(text, present, strict=True)], dtype=int
    )
    counts = np.bincount(slots, minlength=len(categories) + 2).astype(float)
    sigma = gaussian_sigma(rho_marginal)
    probs = _normalise(_noisy(counts, sigma, rng), 2.0 * sigma)
    return CategoricalColumn(name, kind, [*categories, FOLDED], probs, str(column.dtype))


def fit_private_schema(
    data: pd.DataFrame,
    metadata: Any,
    bounds: dict[str, tuple[float, float]],
    categories: dict[str, list[str]],
    rho: float,
    threshold_delta: float,
    rng: np.random.Generator,
) -> PrivateSchema:
    """Spend `rho` (zCDP) and `threshold_delta` on every column's bounds, categories and marginal."""
    kinds = _sdtypes(metadata, data)
    rho_column = rho / max(len(data.columns), 1)
    private_lists = [
        c for c in data.columns if kinds[c] not in NUMERIC_SDTYPES and kinds[c] != "boolean" and c not in categories
    ]
    delta_column = threshold_delta / max(len(private_lists), 1)
    columns: list[NumericColumn | CategoricalColumn] = []
    mechanisms = []
    for name in data.columns:
        column = data[name]
        sdtype = kinds[name]
        if sdtype in NUMERIC_SDTYPES:
            if sdtype == "datetime":
                kind = "datetime"
            elif pd.api.types.is_integer_dtype(column):
                kind = "int"
            else:
                kind = "float"
            columns.append(_numeric_column(name, column, kind, bounds.get(name), rho_column, rng))
            mechanisms.append(f"{name}: gaussian histogram" + ("" if name in bounds else " + private bounds"))
        else:
            kind = "boolean" if sdtype == "boolean" or pd.api.types.is_bool_dtype(column) else "categorical"
            columns.append(_categorical_column(name, column, kind, categories.get(name), rho_column, delta_column, rng))
            public = name in categories or kind == "boolean"
            mechanisms.append(f"{name}: gaussian histogram" + ("" if public else " + thresholded category release"))
    return PrivateSchema(
        columns=columns,
        order=list(data.columns),
        rho_spent=rho_column * len(data.columns),
        threshold_delta=threshold_delta if private_lists else 0.0,
        mechanisms=mechanisms,
    )


# --- encoding shared by the copula and the neural models -------------------------------------


def to_uniform(spec: NumericColumn | CategoricalColumn, column: pd.Series, rng: np.random.Generator) -> np.ndarray:
    """Randomised probability integral transform through the column's noisy marginal."""
    cdf = np.r_[0.0, np.cumsum(spec.probs)]
    slot = slots_of(spec, column)
    position = rng.uniform(size=len(slot))
    if isinstance(spec, NumericColumn) and not spec.integer_bins:
        # Inside a bin, keep the value's own position: a histogram would flatten it away.
        present = slot > 0
        values = _as_float(column, spec.kind)[present]
        grid = spec.to_grid(np.clip(values, spec.low, spec.high))
        lower = spec.edges[slot[present] - 1]
        width = spec.edges[slot[present]] - lower
        position[present] = np.clip((grid - lower) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    u = cdf[slot] + position * spec.probs[slot]
    return np.clip(u, 1e-6, 1 - 1e-6)


def slots_of(spec: NumericColumn | CategoricalColumn, column: pd.Series) -> np.ndarray:
    """Each value's slot in `spec.probs`: 0 is null, then bins (numeric) or categories."""
    present = column.notna().to_numpy().copy()
    slots = np.zeros(len(column), dtype=int)
    if isinstance(spec, NumericColumn):
        values = _as_float(column, spec.kind)
        present &= np.isfinite(values)
        grid = spec.to_grid(np.clip(values[present], spec.low, spec.high))
        slots[present] = 1 + np.clip(np.searchsorted(spec.edges, grid, side="right") - 1, 0, len(spec.edges) - 2)
        return slots
    known = spec.categories[:-1]
    lookup = {value if spec.kind == "boolean" else str(value): i for i, value in enumerate(known)}
    values = column[present]
    keys = values if spec.kind == "boolean" else values.astype(str)
    slots[present] = [1 + lookup.get(v, len(known)) for v in keys]
    return slots


def from_uniform(spec: NumericColumn | CategoricalColumn, u: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Inverse of `to_uniform`: a value per uniform, drawn from the noisy marginal."""
    cdf = np.cumsum(spec.probs)
    slot = np.minimum(np.searchsorted(cdf, u, side="right"), len(spec.probs) - 1)
    if isinstance(spec, CategoricalColumn):
        return decode_slots(spec, slot)
    lower_cdf = np.r_[0.0, cdf][slot]
    within = np.clip((u - lower_cdf) / np.where(spec.probs[slot] > 0, spec.probs[slot], 1.0), 0.0, 1.0)
    return decode_numeric(spec, slot, within)


def decode_slots(spec: CategoricalColumn, slot: np.ndarray) -> pd.Series:
    values = np.array([None, *spec.categories], dtype=object)[slot]
    series = pd.Series(values, dtype=object)
    if spec.kind == "boolean":
        return series.astype("boolean" if (slot == 0).any() else bool)
    return series.where(slot > 0, np.nan)


def decode_numeric(spec: NumericColumn, slot: np.ndarray, within: np.ndarray) -> pd.Series:
    """Values from (slot, position inside the bin); null slot → NaN, ints rounded, dtypes restored."""
    bins = np.maximum(slot - 1, 0)
    lower = spec.edges[bins]
    upper = spec.edges[bins + 1]
    if spec.integer_bins:
        values = (lower + upper) / 2
    else:
        values = spec.from_grid(lower + within * (upper - lower))
    values = np.clip(values, spec.low, spec.high)
    if spec.kind in ("int", "datetime"):
        values = np.round(values)
    values = np.where(slot == 0, np.nan, values)
    return restore_dtype(spec, values)


def restore_dtype(spec: NumericColumn, values: np.ndarray) -> pd.Series:
    has_null = np.isnan(values).any()
    if spec.kind == "datetime":
        return pd.Series(pd.to_datetime(values, unit="ns"))
    if spec.kind == "int":
        if has_null:
            return pd.Series(values).astype("Int64" if spec.dtype in ("Int64", "int64") else "float64")
        return pd.Series(values.astype(spec.dtype if spec.dtype.startswith(("int", "Int", "uint")) else "int64"))
    return pd.Series(values.astype("float64"))


def uniform_to_normal(u: np.ndarray) -> np.ndarray:
    return norm.ppf(u)
