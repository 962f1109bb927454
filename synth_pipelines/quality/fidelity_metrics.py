"""SDMetrics 0.32's QualityReport and DiagnosticReport scores, computed from per-column codes and sorted values.

SDMetrics scores every column pair with its own pandas group-by, copy and validation (105
pairs on Adult: about 2 s per report at 26,000 rows, and the sampling plan runs five reports
to measure the error). Here each column is encoded once per table (integer codes for
categories, 10-bin codes for numbers, sorted values for the KS statistic) and every metric is
a few NumPy reductions over those codes, so a report costs milliseconds per pair and its memory
is linear in the rows (contingency tables are counted sparsely, never as a levels x levels
matrix, so a high-cardinality column costs what its rows cost).

The definitions are SDMetrics' own (the tests hold the two equal on tables with missing values,
constant columns, booleans and keys):
- Column Shapes: KSComplement (1 - the two-sample KS statistic, values rounded to 14 decimals)
  for numerical/datetime columns, TVComplement (with SDMetrics' 1e-6 regularisation of
  categories the real data lacks) for categorical/ordinal/boolean ones.
- Column Pair Trends: CorrelationSimilarity (Pearson) for two continuous columns, scored only
  when |real correlation| > 0.5; ContingencySimilarity for the others (a continuous column cut
  into the 10 histogram bins of its own table), scored only when the real Cramér's V > 0.3;
  the property is the mean of the scored pairs.
- Data Validity: BoundaryAdherence, CategoryAdherence and KeyUniqueness per column; Data
  Structure: TableStructure.
One deliberate difference: SDMetrics scores ContingencySimilarity on an unseeded random
50,000-row subsample when a table has more rows; here every row counts, so a score is
reproducible. Metadata this module does not implement (datetime or regex formats, declared
ranges, alternate keys, sequence indexes, composite keys) sends the diagnostic to SDMetrics.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CONTINUOUS = ("numerical", "datetime")
DISCRETE = ("categorical", "ordinal", "boolean")
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3
DISCRETE_BINS = 10
KS_DECIMALS = 14
# TVComplement's weight for a category only the synthetic data has (SDMetrics' regularisation).
_UNSEEN_WEIGHT = 1e-6
# Column metadata keys whose diagnostic metrics only SDMetrics implements (datetime columns go there too).
_SDMETRICS_ONLY_KEYS = ("regex_format", "range_min", "range_max", "range_values", "range_is_nullable")
_SDMETRICS_ONLY_TABLE_KEYS = ("alternate_keys", "sequence_index")


def _as_datetimes(column: pd.Series, meta: dict[str, Any]) -> pd.Series | None:
    """SDMetrics' datetime conversion: datetime dtype as is, else its `datetime_format`; None when that fails."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if meta.get("datetime_format") is None:
        return None
    try:
        return pd.to_datetime(column, format=meta["datetime_format"])
    except (ValueError, TypeError):
        return None


def _continuous_values(column: pd.Series) -> np.ndarray:
    """Numbers as float64 with NaN for missing; datetimes as nanoseconds (SDMetrics' pd.to_numeric)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        values = column.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        values[column.isna().to_numpy()] = np.nan
        return values
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")


def _ks_values(column: pd.Series) -> np.ndarray:
    """Sorted non-missing values for KSComplement: datetimes as int64 ns, numbers rounded to 14 decimals."""
    present = column.dropna()
    if pd.api.types.is_datetime64_any_dtype(present):
        return np.sort(present.to_numpy(dtype="datetime64[ns]").astype("int64"))
    return np.sort(present.astype("float64").round(KS_DECIMALS).to_numpy())


def _bin_codes(values: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation: 10 histogram bins of this table's own values; missing gets code 11."""
    present = values[~np.isnan(values)]
    try:
        edges = np.histogram_bin_edges(present, bins=DISCRETE_BINS)
    except ValueError:  # infinite values: SDMetrics' discretisation fails too
        return np.full(len(values), -1, dtype="int64")
    return np.digitize(values, bins=edges).astype("int64")


def _constant(values: np.ndarray) -> bool:
    """Exactly one distinct non-missing value (SDMetrics refuses such data for correlations)."""
    present = values[~np.isnan(values)]
    return len(present) > 0 and bool((present == present[0]).all())


@dataclass
class _Table:
    """One table's columns encoded for the metrics."""

    continuous: dict[str, np.ndarray] = field(default_factory=dict)
    ks: dict[str, np.ndarray] = field(default_factory=dict)
    bins: dict[str, np.ndarray] = field(default_factory=dict)
    constant: dict[str, bool] = field(default_factory=dict)
    # Category codes over the real table's categories: missing = len(categories), then unseen ones.
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # datetime columns that could not be converted


def ks_complement(real_sorted: np.ndarray, synthetic_sorted: np.ndarray) -> float:
    """1 - the two-sample Kolmogorov-Smirnov statistic of two sorted samples (scipy's ks_2samp statistic)."""
    if len(real_sorted) == 0 or len(synthetic_sorted) == 0:
        return float("nan")
    both = np.concatenate([real_sorted, synthetic_sorted])
    difference = np.searchsorted(real_sorted, both, side="right") / len(real_sorted) - np.searchsorted(
        synthetic_sorted, both, side="right"
    ) / len(synthetic_sorted)
    statistic = max(float(np.clip(-difference.min(), 0, 1)), float(difference.max()))
    return 1.0 - statistic


def tv_complement(real_codes: np.ndarray, synthetic_codes: np.ndarray, missing: int) -> float:
    """SDMetrics' TVComplement over non-missing codes, with its 1e-6 weight for categories the real data lacks."""
    levels = int(max(real_codes.max(initial=0), synthetic_codes.max(initial=0))) + 1
    real_counts = np.bincount(real_codes[real_codes != missing], minlength=levels).astype("float64")
    synthetic_counts = np.bincount(synthetic_codes[synthetic_codes != missing], minlength=levels).astype("float64")
    if real_counts.sum() == 0 or synthetic_counts.sum() == 0:
        return float("nan")
    real_counts[(real_counts == 0) & (synthetic_counts > 0)] = _UNSEEN_WEIGHT
    listed = real_counts > 0
    observed = synthetic_counts[listed] / synthetic_counts.sum()
    expected = real_counts[listed] / real_counts.sum()
    return 1.0 - 0.5 * float(np.abs(observed - expected).sum())


def _joint_counts(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The observed cells (first code, second code) of two code arrays and their counts.

    A dense bincount when the grid is at most a few times the rows, else a sort: memory stays linear in rows.
    """
    width = int(second.max(initial=0)) + 1
    keys = first.astype("int64") * width + second
    cells = (int(first.max(initial=0)) + 1) * width
    if cells <= 4 * len(keys) + 4096:
        counts = np.bincount(keys, minlength=cells)
        observed = np.flatnonzero(counts)
        counts = counts[observed]
    else:
        observed, counts = np.unique(keys, return_counts=True)
    return observed // width, observed % width, counts


def _cramers_v(first: np.ndarray, second: np.ndarray, cells: tuple[np.ndarray, ...]) -> float:
    """Cramér's V of the real contingency table (scipy's association, no continuity correction), counted sparsely.

    chi2 = sum over cells of (o - e)^2 / e = sum over observed cells of o^2 / e - n, since the
    expected counts sum to n: empty cells need no storage.
    """
    n = len(first)
    if n == 0:
        return float("nan")
    row_totals, column_totals = np.bincount(first), np.bincount(second)
    n_rows, n_columns = int((row_totals > 0).sum()), int((column_totals > 0).sum())
    if min(n_rows, n_columns) < 2:
        return float("nan")
    rows, columns, counts = cells
    expected = row_totals[rows] * column_totals[columns] / n
    chi2 = max(float((counts.astype("float64") ** 2 / expected).sum() - n), 0.0)
    return math.sqrt(chi2 / n / (min(n_rows, n_columns) - 1))


def _total_variation(real: tuple[np.ndarray, ...], synthetic: tuple[np.ndarray, ...], n_real: int, n_synthetic: int):
    """Half the L1 distance between two joint distributions given as observed cells and counts."""
    width = int(max(real[1].max(initial=0), synthetic[1].max(initial=0))) + 1
    real_keys = real[0].astype("int64") * width + real[1]
    synthetic_keys = synthetic[0].astype("int64") * width + synthetic[1]
    keys = np.union1d(real_keys, synthetic_keys)
    real_share = np.zeros(len(keys))
    real_share[np.searchsorted(keys, real_keys)] = real[2] / n_real
    synthetic_share = np.zeros(len(keys))
    synthetic_share[np.searchsorted(keys, synthetic_keys)] = synthetic[2] / n_synthetic
    return float(np.abs(real_share - synthetic_share).sum()) / 2


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """scipy.stats.pearsonr's statistic: NaN for a constant input, clipped to [-1, 1]."""
    xm, ym = x - x.mean(), y - y.mean()
    x_norm, y_norm = math.sqrt((xm * xm).sum()), math.sqrt((ym * ym).sum())
    if x_norm == 0 or y_norm == 0:
        return float("nan")
    return float(np.clip(((xm / x_norm) * (ym / y_norm)).sum(), -1.0, 1.0))


def _complete_correlation(first: np.ndarray, second: np.ndarray) -> float | None:
    """Pearson on the rows where both are present; None when fewer than two (SDMetrics fails the pair)."""
    complete = ~(np.isnan(first) | np.isnan(second))
    if complete.sum() < 2:
        return None
    return _pearson(first[complete], second[complete])


@dataclass
class _Pair:
    """A column pair's metric and what the real table alone decides about it (computed once)."""

    first: str
    second: str
    metric: str
    scored: bool  # the real table meets the metric's threshold (and nothing failed)
    real_correlation: float = float("nan")
    real_cells: tuple[np.ndarray, ...] = ()


@dataclass
class QualityScores:
    """The QualityReport: its three scores and the per-column and per-pair details."""

    overall: float
    column_shapes: float
    column_pair_trends: float
    shapes: pd.DataFrame  # Column, Metric, Score
    pairs: pd.DataFrame  # Column 1, Column 2, Metric, Score (NaN: the pair is not scored)


@dataclass
class DiagnosticScores:
    diagnostic: float
    data_validity: float
    data_structure: float


def _mean(scores: list[float]) -> float:
    values = [s for s in scores if not math.isnan(s)]
    return float(np.mean(values)) if values else float("nan")


class RealReference:
    """The real table encoded once, with every pair decision that depends on it alone; synthetic samples are
    then scored against it at the cost of encoding the sample (the error's replicates reuse it)."""

    def __init__(self, real: pd.DataFrame, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
        self.real = real
        self.sdtypes = {name: meta.get("sdtype") for name, meta in metadata["columns"].items()}
        self.categories: dict[str, pd.Index] = {}
        self.table = self._encode(real, is_real=True)
        scored = [n for n, s in self.sdtypes.items() if s in CONTINUOUS + DISCRETE]
        self.pairs = [self._real_pair(a, b) for a, b in itertools.combinations(scored, 2)]

    def _codes(self, column: pd.Series, name: str, is_real: bool) -> np.ndarray:
        if is_real:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            self.categories[name] = pd.Index(uniques)
            return np.where(codes < 0, len(uniques), codes).astype("int64")
        categories = self.categories[name]
        missing = column.isna().to_numpy()
        codes = categories.get_indexer(column.where(~missing, None))
        unseen = (codes < 0) & ~missing
        codes[missing] = len(categories)
        if unseen.any():  # categories the real table lacks: codes of their own after the missing one
            codes[unseen] = len(categories) + 1 + pd.factorize(column[unseen])[0]
        return codes.astype("int64")

    def _encode(self, frame: pd.DataFrame, is_real: bool) -> _Table:
        table = _Table()
        for name, meta in self.metadata["columns"].items():
            sdtype = meta.get("sdtype")
            if sdtype in CONTINUOUS:
                column = frame[name]
                if sdtype == "datetime":
                    column = _as_datetimes(column, meta)
                    if column is None:
                        table.failed.add(name)
                        continue
                values = _continuous_values(column)
                table.continuous[name] = values
                table.ks[name] = _ks_values(column)
                table.bins[name] = _bin_codes(values)
                table.constant[name] = _constant(values)
            elif sdtype in DISCRETE:
                table.codes[name] = self._codes(frame[name], name, is_real)
        return table

    def _discrete(self, table: _Table, name: str) -> np.ndarray:
        return table.bins[name] if self.sdtypes[name] in CONTINUOUS else table.codes[name]

    def _real_pair(self, first: str, second: str) -> _Pair:
        real = self.table
        continuous = [self.sdtypes[c] in CONTINUOUS for c in (first, second)]
        if real.failed & {first, second}:
            metric = "CorrelationSimilarity" if all(continuous) else "ContingencySimilarity"
            return _Pair(first, second, metric, scored=False)
        if all(continuous):
            if real.constant[first] or real.constant[second]:
                return _Pair(first, second, "CorrelationSimilarity", scored=False)
            correlation = _complete_correlation(real.continuous[first], real.continuous[second])
            scored = correlation is not None and abs(correlation) > REAL_CORRELATION_THRESHOLD
            return _Pair(first, second, "CorrelationSimilarity", scored, real_correlation=correlation or 0.0)
        codes = (self._discrete(real, first), self._discrete(real, second))
        if (codes[0] < 0).any() or (codes[1] < 0).any():
            return _Pair(first, second, "ContingencySimilarity", scored=False)
        cells = _joint_counts(*codes)
        scored = _cramers_v(*codes, cells) > REAL_ASSOCIATION_THRESHOLD
        return _Pair(first, second, "ContingencySimilarity", scored, real_cells=cells)

    def _pair_score(self, pair: _Pair, synthetic: _Table, n_synthetic: int) -> float:
        if not pair.scored or synthetic.failed & {pair.first, pair.second}:
            return float("nan")
        if pair.metric == "CorrelationSimilarity":
            if synthetic.constant[pair.first] or synthetic.constant[pair.second]:
                return float("nan")  # SDMetrics refuses constant data
            correlation = _complete_correlation(synthetic.continuous[pair.first], synthetic.continuous[pair.second])
            if correlation is None or math.isnan(correlation):
                return float("nan")
            return 1.0 - abs(pair.real_correlation - correlation) / 2
        codes = (self._discrete(synthetic, pair.first), self._discrete(synthetic, pair.second))
        if (codes[0] < 0).any() or (codes[1] < 0).any():
            return float("nan")
        return 1.0 - _total_variation(pair.real_cells, _joint_counts(*codes), len(self.real), n_synthetic)

    def quality(self, synthetic: pd.DataFrame) -> QualityScores:
        """SDMetrics' QualityReport of `synthetic` against the real table (see the module docstring)."""
        table = self._encode(synthetic, is_real=False)
        shape_rows = []
        for name, sdtype in self.sdtypes.items():
            if sdtype in CONTINUOUS:
                failed = name in self.table.failed or name in table.failed
                score = float("nan") if failed else ks_complement(self.table.ks[name], table.ks[name])
                shape_rows.append((name, "KSComplement", score))
            elif sdtype in DISCRETE:
                missing = len(self.categories[name])
                shape_rows.append(
                    (name, "TVComplement", tv_complement(self.table.codes[name], table.codes[name], missing))
                )
        pair_rows = [(p.first, p.second, p.metric, self._pair_score(p, table, len(synthetic))) for p in self.pairs]
        shapes = pd.DataFrame(shape_rows, columns=["Column", "Metric", "Score"])
        pairs = pd.DataFrame(pair_rows, columns=["Column 1", "Column 2", "Metric", "Score"])
        column_shapes = _mean(shapes["Score"].tolist())
        column_pair_trends = _mean(pairs["Score"].tolist())
        return QualityScores(
            _mean([column_shapes, column_pair_trends]), column_shapes, column_pair_trends, shapes, pairs
        )

    def diagnostic(self, synthetic: pd.DataFrame) -> DiagnosticScores:
        """SDMetrics' DiagnosticReport, for metadata `implements_diagnostic` accepts."""
        primary_key = self.metadata.get("primary_key")
        validity = []
        for name, sdtype in self.sdtypes.items():
            if sdtype in CONTINUOUS:
                validity.append(boundary_adherence(self.real[name], synthetic[name]))
            elif sdtype in DISCRETE:
                validity.append(category_adherence(self.real[name], synthetic[name]))
            elif name == primary_key:
                validity.append(key_uniqueness(synthetic[name]))
        data_validity = _mean(validity)
        data_structure = table_structure(self.real, synthetic)
        return DiagnosticScores(_mean([data_validity, data_structure]), data_validity, data_structure)


def quality_scores(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any]) -> QualityScores:
    """SDMetrics' QualityReport on `real` and `synthetic` (see the module docstring)."""
    return RealReference(real, metadata).quality(synthetic)


def diagnostic_scores(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any]) -> DiagnosticScores:
    """SDMetrics' DiagnosticReport for metadata `implements_diagnostic` accepts."""
    return RealReference(real, metadata).diagnostic(synthetic)


def boundary_adherence(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of synthetic values inside the real [min, max] (missing ones count only when the real data has some)."""
    real_values, synthetic_values = _continuous_values(real), _continuous_values(synthetic)
    nullable = bool(np.isnan(real_values).any())
    if nullable:
        synthetic_values = synthetic_values[~np.isnan(synthetic_values)]
    if len(synthetic_values) == 0:
        return float("nan")
    low, high = np.nanmin(real_values), np.nanmax(real_values)
    return float(((synthetic_values >= low) & (synthetic_values <= high)).sum() / len(synthetic_values))


def category_adherence(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of synthetic values among the real categories (missing ones pass when the real data has some)."""
    real, synthetic = real.fillna(np.nan), synthetic.fillna(np.nan)
    valid = synthetic.isin(pd.Series(real.unique()).dropna())
    if real.isna().any():
        valid = valid | synthetic.isna()
    return float(valid.mean()) if len(valid) else float("nan")


def key_uniqueness(synthetic: pd.Series) -> float:
    """1 - the share of synthetic keys that are missing or repeat an earlier one."""
    bad = synthetic.duplicated() | synthetic.isna()
    return 1.0 - float(bad.sum()) / len(synthetic) if len(synthetic) else float("nan")


def table_structure(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Shared (column, dtype) pairs over all of them."""
    real_pairs = set(zip(real.columns, map(str, real.dtypes), strict=True))
    synthetic_pairs = set(zip(synthetic.columns, map(str, synthetic.dtypes), strict=True))
    return len(real_pairs & synthetic_pairs) / len(real_pairs | synthetic_pairs)


def implements_diagnostic(metadata: dict[str, Any]) -> bool:
    """False when the metadata asks for a diagnostic metric only SDMetrics implements."""
    if any(key in metadata for key in _SDMETRICS_ONLY_TABLE_KEYS) or isinstance(metadata.get("primary_key"), list):
        return False
    return not any(
        meta.get("sdtype") == "datetime" or any(key in meta for key in _SDMETRICS_ONLY_KEYS)
        for meta in metadata["columns"].values()
    )
