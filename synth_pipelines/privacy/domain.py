"""The public domain of a DP request, and the marginals released on it through OpenDP.

Structure comes from the request's `schema` alone (`domain_from_schema`): which columns are
modelled and how, their bins, their category lists, which may hold nulls, every dtype. The
rows only ever reach `release_marginals`, which adds OpenDP's discrete Gaussian noise to
each column's histogram over those public bins. Under add/remove-one-row neighbours a row
adds 1 to one bin of each histogram, so each histogram has L2 sensitivity 1 and OpenDP's
`map(1)` states what it costs in zCDP. A value outside the declared domain is clipped to
its bounds or folded into `FOLDED`; it changes a count, never the structure.

The DP row-count estimate `rows_estimate` is post-processing of those histograms (their
noisy totals averaged by inverse variance): it costs nothing more, and it is what DP-SGD's
sampling rate and step count are computed from, never the real n.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from synth_pipelines.core.table_schema import MODELLED_SDTYPES

if TYPE_CHECKING:
    from synth_pipelines.core.request import TableSchema

FOLDED = "__other__"
NUMERIC_SDTYPES = ("numerical", "datetime")
FINE_BINS = 200  # bins of a numeric marginal when the column is not a small integer range
INTEGER_BINS_MAX = 256  # integer columns up to this range get one bin per value


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
    nullable: bool = True  # declared: the schema's missing_values_proportion > 0 (or not given)

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
    categories: list[Any]  # declared values; FOLDED stands for every other value
    probs: np.ndarray  # [null, *categories], noisy and normalised
    dtype: str
    nullable: bool = True


@dataclass
class GeneratedColumn:
    """A column no model learns: ids and PII-like sdtypes are made up at sampling time."""

    name: str
    sdtype: str
    regex: str | None = None


@dataclass
class PrivateSchema:
    columns: list[NumericColumn | CategoricalColumn]
    order: list[str]  # the modelled columns, in the schema's order
    generated: list[GeneratedColumn] = field(default_factory=list)
    output_order: list[str] = field(default_factory=list)  # every output column, generated ones included
    rho_spent: float = 0.0
    threshold_delta: float = 0.0  # kept for the record's shape: nothing here releases a data-chosen list
    mechanisms: list[str] = field(default_factory=list)
    rows_estimate: float | None = None  # DP estimate of n (post-processing of the histograms)

    @property
    def widths(self) -> list[int]:
        """Width of each column's slot in the neural models' encoding (1 numeric, one-hot otherwise)."""
        return [1 if isinstance(c, NumericColumn) else len(c.probs) for c in self.columns]

    def kinds(self) -> dict[str, str]:
        """The export's logical type of every output column (the vocabulary of export.kinds_of)."""
        kinds: dict[str, str] = {}
        by_name = {c.name: c for c in self.columns}
        for name in self.output_order or self.order:
            spec = by_name.get(name)
            if isinstance(spec, NumericColumn):
                kinds[name] = spec.kind
            elif isinstance(spec, CategoricalColumn):
                kinds[name] = "bool" if spec.kind == "boolean" else "string"
            else:
                kinds[name] = "string"
        return kinds


def _as_float(column: pd.Series, kind: str) -> np.ndarray:
    """Each value on its own: a number, or nanoseconds since the epoch (UTC); NaN when it is not one.

    Never a format or dtype inferred from the column as a whole: that would let one row change
    how every other row is read.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' parse warnings depend on the values: none may reach a log
        if kind == "datetime":
            if pd.api.types.is_datetime64_any_dtype(column):
                stamps = pd.to_datetime(column, errors="coerce", utc=True)
            else:
                stamps = pd.to_datetime(column.astype(object), errors="coerce", utc=True, format="mixed")
            nanos = stamps.dt.tz_convert(None).astype("datetime64[ns]").astype("int64")
            return nanos.where(stamps.notna()).to_numpy(dtype=float)
        return pd.to_numeric(column.astype(object), errors="coerce").to_numpy(dtype=float)


def _timestamp(value: str, datetime_format: str | None) -> float:
    return float(pd.Timestamp(pd.to_datetime(value, format=datetime_format)).value)


def domain_from_schema(schema: TableSchema) -> PrivateSchema:
    """Every structural decision of a DP fit, taken from the declared schema alone (probs still empty)."""
    columns: list[NumericColumn | CategoricalColumn] = []
    generated: list[GeneratedColumn] = []
    for name, meta in schema.columns.items():
        sdtype = meta.get("sdtype")
        params = schema.column_parameters(name)
        nullable = float(params.get("missing_values_proportion", 1.0)) > 0
        if sdtype in NUMERIC_SDTYPES:
            if sdtype == "datetime":
                fmt = meta.get("datetime_format")
                low, high = _timestamp(params["start_timestamp"], fmt), _timestamp(params["end_timestamp"], fmt)
                kind = "datetime"
                dtype = "datetime64[ns]"
            else:
                low, high = float(params["min_value"]), float(params["max_value"])
                representation = str(meta.get("computer_representation", ""))
                integer = params.get("num_decimal_digits") == 0 or representation.startswith(("Int", "UInt"))
                kind = "int" if integer else "float"
                dtype = ("Int64" if nullable else "int64") if integer else "float64"
            integer_bins = kind == "int" and (high - low) <= INTEGER_BINS_MAX
            spec = NumericColumn(
                name=name,
                kind=kind,
                low=low,
                high=high,
                scale=max(abs(low), abs(high), 1e-12) / 1e4,
                integer_bins=integer_bins,
                edges=np.empty(0),
                probs=np.empty(0),
                dtype=dtype,
                nullable=nullable,
            )
            if integer_bins:
                spec.edges = np.arange(math.floor(low), math.ceil(high) + 2) - 0.5
            else:
                grid_low, grid_high = spec.to_grid(np.array([low, high]))
                spec.edges = np.linspace(grid_low, grid_high, FINE_BINS + 1)
            columns.append(spec)
        elif sdtype == "boolean":
            columns.append(CategoricalColumn(name, "boolean", [False, True, FOLDED], np.empty(0), "boolean", nullable))
        elif sdtype in MODELLED_SDTYPES:  # categorical, ordinal
            values = [str(v) for v in params["category_values"]]
            columns.append(CategoricalColumn(name, "categorical", [*values, FOLDED], np.empty(0), "object", nullable))
        else:
            generated.append(GeneratedColumn(name, str(sdtype), meta.get("regex_format")))
    return PrivateSchema(
        columns=columns, order=[c.name for c in columns], generated=generated, output_order=list(schema.columns)
    )


def discrete_gaussian(rho: float):
    """OpenDP's discrete Gaussian on integer count vectors with L2 sensitivity 1, costing `rho` (zCDP)."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    scale = 1.0 / math.sqrt(2.0 * rho)
    measurement = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int), scale=scale)
    return measurement, scale


def release_histogram(counts: np.ndarray, rho: float) -> tuple[np.ndarray, float, float]:
    """(noisy counts, noise scale, ρ spent as OpenDP states it) of one sensitivity-1 histogram."""
    measurement, scale = discrete_gaussian(rho)
    noisy = np.asarray(measurement([int(c) for c in counts]), dtype=float)
    return noisy, scale, float(measurement.map(1))


def histogram_counts(spec: NumericColumn | CategoricalColumn, column: pd.Series) -> np.ndarray:
    """Each declared slot's count (null, then bins or categories): a row adds 1 to exactly one slot."""
    slots = len(spec.categories) + 1 if isinstance(spec, CategoricalColumn) else len(spec.edges)
    return np.bincount(slots_of(spec, column), minlength=slots).astype(np.int64)


def _normalise(noisy: np.ndarray, floor: float) -> np.ndarray:
    """Post-processing: drop counts the noise could have made, keep the rest as probabilities."""
    kept = np.where(noisy > floor, noisy, 0.0)
    if kept.sum() <= 0:
        kept = np.where(noisy != 0, 1.0, 0.0) if (noisy != 0).any() else np.ones_like(noisy)
    return kept / kept.sum()


def release_marginals(domain: PrivateSchema, data: pd.DataFrame, rho: float) -> PrivateSchema:
    """Spend `rho` (zCDP) on one noisy histogram per modelled column; fill `probs` and `rows_estimate`."""
    rho_column = rho / max(len(domain.columns), 1)
    spent, totals, weights = 0.0, [], []
    mechanisms = []
    for spec in domain.columns:
        counts = histogram_counts(spec, data[spec.name])
        noisy, scale, cost = release_histogram(counts, rho_column)
        spent += cost
        totals.append(noisy.sum())
        weights.append(1.0 / (len(noisy) * scale**2))
        if not spec.nullable:
            noisy[0] = 0.0  # the schema says this column holds no null: none is generated
        if isinstance(spec, CategoricalColumn):
            # FOLDED counted the values outside the declared list; only declared values are generated.
            noisy[-1] = 0.0
        spec.probs = _normalise(noisy, 2.0 * scale)
        mechanisms.append(f"{spec.name}: OpenDP discrete Gaussian histogram over {len(noisy)} declared slots")
    domain.rho_spent = spent
    domain.mechanisms = mechanisms
    if totals:
        domain.rows_estimate = max(float(np.average(totals, weights=weights)), 1.0)
    return domain


def fit_private_schema(schema: TableSchema, data: pd.DataFrame, rho: float) -> PrivateSchema:
    """The declared domain with its marginals released at `rho`."""
    return release_marginals(domain_from_schema(schema), data, rho)


# --- encoding shared by the copula and the neural models -------------------------------------


def to_uniform(
    spec: NumericColumn | CategoricalColumn, column: pd.Series, jitter: np.random.Generator | np.ndarray
) -> np.ndarray:
    """Randomised probability integral transform through the column's noisy marginal.

    `jitter` is each row's position inside its slot: an array (one uniform per row, e.g.
    `row_jitter`, which ties it to the row so a neighbour's other rows keep theirs) or a
    generator to draw them from.
    """
    cdf = np.r_[0.0, np.cumsum(spec.probs)]
    slot = slots_of(spec, column)
    position = (
        np.array(jitter, dtype=float, copy=True) if isinstance(jitter, np.ndarray) else jitter.uniform(size=len(slot))
    )
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
    values = column[present]
    if spec.kind == "boolean":
        slots[present] = [{False: 1, True: 2, None: 3}[_as_bool(v)] for v in values]
        return slots
    lookup = {category_key(value): i for i, value in enumerate(known)}
    slots[present] = [1 + lookup.get(category_key(v), len(known)) for v in values]
    return slots


def category_key(value: Any) -> str:
    """A category's text whatever the column's dtype: 5, 5.0 and "5" are one value (a null turns ints to floats)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _as_bool(value: Any) -> bool | None:
    """A boolean column's value as True/False; anything else is outside the domain (folded)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = category_key(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def canonical_frame(domain: PrivateSchema, data: pd.DataFrame) -> pd.DataFrame:
    """Each modelled value as the domain reads it (float64 number, or slot index), whatever the column's dtype.

    A row's hash must not depend on the other rows: pandas hashes by dtype, and one added
    null turns an int64 column into float64, which would change every row's hash.
    """
    columns = {}
    for spec in domain.columns:
        if isinstance(spec, NumericColumn):
            columns[spec.name] = pd.Series(_as_float(data[spec.name], spec.kind), dtype="float64")
        else:
            columns[spec.name] = pd.Series(slots_of(spec, data[spec.name]), dtype="int64")
    return pd.DataFrame(columns)


def row_hash(domain: PrivateSchema, data: pd.DataFrame, key: str) -> np.ndarray:
    """A keyed BLAKE2b (a PRF) of each row's canonical values, as uint64; `key` is secret (`secrets.token_urlsafe`).

    Not pandas' row hash: its `hash_key` keys only text columns, so numbers would hash the
    same under every key and anyone could recompute the jitter.
    """
    import hashlib

    values = canonical_frame(domain, data).to_numpy(dtype=np.float64)
    values[np.isnan(values)] = np.nan  # one bit pattern for every null
    secret = key.encode()
    rows = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), -1)
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(row.tobytes(), key=secret, digest_size=8).digest(), "little") for row in rows),
        dtype=np.uint64,
        count=len(rows),
    )


def row_jitter(domain: PrivateSchema, data: pd.DataFrame, key: str) -> np.ndarray:
    """(rows × modelled columns) uniforms, each a keyed hash of its own row: removing a row changes no other row's.

    The row's keyed hash (`row_hash`), then SplitMix64 per column. Drawing these by position from a
    seeded generator instead would shift every later row's draw when one row is removed,
    and the released statistic would move far beyond its sensitivity.
    """
    hashes = row_hash(domain, data, key)
    out = np.empty((len(data), len(domain.columns)))
    with np.errstate(over="ignore"):
        for j in range(len(domain.columns)):
            z = hashes + np.uint64(0x9E3779B97F4A7C15) * np.uint64(j + 1)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            out[:, j] = (z >> np.uint64(11)).astype(np.float64) / float(2**53)
    return out


def from_uniform(spec: NumericColumn | CategoricalColumn, u: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Inverse of `to_uniform`: a value per uniform, drawn from the noisy marginal."""
    cdf = np.cumsum(spec.probs)
    # Below the cdf's end, so rounding can never land in trailing empty slots (FOLDED is never generated).
    u = np.minimum(u, np.nextafter(cdf[-1], 0.0))
    slot = np.minimum(np.searchsorted(cdf, u, side="right"), len(spec.probs) - 1)
    if isinstance(spec, CategoricalColumn):
        return decode_slots(spec, slot)
    lower_cdf = np.r_[0.0, cdf][slot]
    within = np.clip((u - lower_cdf) / np.where(spec.probs[slot] > 0, spec.probs[slot], 1.0), 0.0, 1.0)
    return decode_numeric(spec, slot, within)


def decode_slots(spec: CategoricalColumn, slot: np.ndarray) -> pd.Series:
    if spec.kind == "boolean":
        # The FOLDED slot of a boolean column holds values outside {True, False}: they come out as nulls.
        truth = np.array([None, False, True, None], dtype=object)[np.minimum(slot, 3)]
        series = pd.Series(truth, dtype=object)
        return series.astype("boolean" if spec.nullable or (slot == 0).any() or (slot == 3).any() else bool)
    values = np.array([None, *spec.categories], dtype=object)[slot]
    series = pd.Series(values, dtype=object)
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
    """The declared dtype, whatever this sample holds: a dtype that followed the sample would vary run to run."""
    if spec.kind == "datetime":
        return pd.Series(pd.to_datetime(values, unit="ns"))
    if spec.kind == "int":
        if spec.dtype == "Int64":
            return pd.Series(values).astype("Int64")
        # Declared without missing values: the null slot's probability is 0, so this fills nothing.
        return pd.Series(np.nan_to_num(values, nan=spec.low).astype("int64"))
    return pd.Series(values.astype("float64"))


def uniform_to_normal(u: np.ndarray) -> np.ndarray:
    return norm.ppf(u)
