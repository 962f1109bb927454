"""Code-based QualityReport/DiagnosticReport, pattern DCR, sorted copy search: SDMetrics' numbers, bounded memory.

Tables are Adult rows (the quality conftest) with awkward cases made from their own values:
missing values, a constant column, a category only the synthetic rows have, a boolean, a key
with repeats, and `fnlwgt` as text: a categorical column with thousands of distinct values.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sdmetrics.reports.single_table import DiagnosticReport, QualityReport
from sdmetrics.single_table import NewRowSynthesis

from synth_pipelines.quality import fidelity_metrics
from synth_pipelines.quality.distances import (
    closest_record_distances,
    closest_record_sums,
    copied_rows,
    encode_reference,
    statistical_columns,
)
from synth_pipelines.quality.similarity import auc_standard_error

MB = 2**20
ADULT = Path(__file__).resolve().parents[2] / "sample_data" / "adult.csv"


@pytest.fixture(scope="module")
def awkward(real_train: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict):
    real = real_train.head(1500).reset_index(drop=True).copy()
    rows = synthetic.head(1200).reset_index(drop=True).copy()
    for frame in (real, rows):
        frame["constant"] = 7
        frame["over_50k"] = frame["income"].eq(">50K")
        frame["key"] = frame["fnlwgt"]  # unique-ish in the real rows, repeats in the synthetic ones
    real.loc[::11, "age"] = np.nan
    rows.loc[::13, "age"] = np.nan
    real.loc[::17, "workclass"] = None
    rows.loc[::5, "workclass"] = None
    rows.loc[3, "race"] = rows.loc[4, "native_country"]  # a value the real race column never has
    rows.loc[::9, "constant"] = 8
    real = real.drop_duplicates("key").reset_index(drop=True)
    meta = {
        "columns": {
            **metadata["columns"],
            "constant": {"sdtype": "numerical"},
            "over_50k": {"sdtype": "boolean"},
            "key": {"sdtype": "id"},
        },
        "primary_key": "key",
    }
    return real, rows, meta


def _sdmetrics_reports(real, rows, meta):
    quality, diagnostic = QualityReport(), DiagnosticReport()
    quality.generate(real, rows, meta, verbose=False)
    diagnostic.generate(real, rows, meta, verbose=False)
    return quality, diagnostic


def test_quality_and_diagnostic_scores_equal_sdmetrics(awkward) -> None:
    real, rows, meta = awkward
    quality, diagnostic = _sdmetrics_reports(real, rows, meta)
    reference = fidelity_metrics.RealReference(real, meta)
    ours, ours_diagnostic = reference.quality(rows), reference.diagnostic(rows)
    assert ours.overall == pytest.approx(quality.get_score(), abs=1e-12)
    assert ours_diagnostic.diagnostic == pytest.approx(diagnostic.get_score(), abs=1e-12)
    shapes = quality.get_details("Column Shapes").merge(ours.shapes, on="Column", suffixes=("", "_ours"))
    np.testing.assert_allclose(shapes["Score"], shapes["Score_ours"], atol=1e-12)
    pairs = quality.get_details("Column Pair Trends").merge(ours.pairs, on=["Column 1", "Column 2"])
    assert len(pairs) == len(ours.pairs) > 0
    assert (pairs["Score_x"].isna() == pairs["Score_y"].isna()).all()  # the same pairs pass the real thresholds
    assert pairs["Score_x"].notna().sum() >= 3
    np.testing.assert_allclose(pairs["Score_x"].dropna(), pairs["Score_y"].dropna(), atol=1e-12)


def test_one_real_reference_scores_many_samples_as_fresh_reports_do(awkward) -> None:
    real, rows, meta = awkward
    reference = fidelity_metrics.RealReference(real, meta)
    for part in np.array_split(rows, 3):
        fresh = fidelity_metrics.quality_scores(real, part, meta)
        assert reference.quality(part).overall == fresh.overall


def test_datetime_columns_score_as_sdmetrics_and_send_the_diagnostic_to_it(real_train, synthetic, metadata) -> None:
    real, rows = real_train.head(800).copy(), synthetic.head(600).copy()
    start = pd.Timestamp("2020-01-01")
    real["joined"] = (start + pd.to_timedelta(real["age"] * 9, unit="D")).dt.strftime("%Y-%m-%d")
    rows["joined"] = (start + pd.to_timedelta(rows["age"] * 9 + 3, unit="D")).dt.strftime("%Y-%m-%d")
    meta = {"columns": {**metadata["columns"], "joined": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"}}}
    quality, _ = _sdmetrics_reports(real, rows, meta)
    assert fidelity_metrics.quality_scores(real, rows, meta).overall == pytest.approx(quality.get_score(), abs=1e-12)
    assert not fidelity_metrics.implements_diagnostic(meta)


@pytest.fixture(scope="module")
def wide_category() -> tuple[pd.DataFrame, dict]:
    """All of Adult with fnlwgt also as text: a categorical column with a distinct value for most rows."""
    frame = pd.read_csv(ADULT)
    frame["fnlwgt_text"] = frame["fnlwgt"].astype(str)
    meta = {"columns": {name: {"sdtype": "categorical"} for name in frame.columns}}
    for name in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[name]):
            meta["columns"][name] = {"sdtype": "numerical"}
    return frame, meta


def _peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_high_cardinality_column_costs_its_rows_not_rows_times_categories(wide_category) -> None:
    frame, meta = wide_category
    real, rows = frame.iloc[:20_000], frame.iloc[20_000:22_000]
    assert real["fnlwgt_text"].nunique() > 12_000
    # A one-hot of the reference would be 20,000 x 12,000+ floats (about 1 GB); a levels x levels
    # contingency table 12,000+ squared. Neither may appear.
    _, peak = _peak_bytes(lambda: closest_record_distances(rows, real, meta))
    assert peak < 40 * MB
    _, peak = _peak_bytes(lambda: fidelity_metrics.quality_scores(real, rows, meta))
    assert peak < 40 * MB
    _, peak = _peak_bytes(lambda: copied_rows(rows, real, meta))
    assert peak < 40 * MB


def test_pattern_dcr_equals_the_definition_with_a_high_cardinality_column(wide_category) -> None:
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    frame, meta = wide_category
    real, rows = frame.iloc[:700], frame.iloc[3000:3150]
    expected = calculate_dcr(dataset=rows, reference_dataset=real, metadata=meta).to_numpy()
    np.testing.assert_allclose(closest_record_distances(rows, real, meta), expected, atol=1e-6)


def test_a_search_below_a_bound_finds_exactly_what_beats_it(real_train, real_holdout, synthetic, metadata) -> None:
    numeric, categorical = statistical_columns(metadata, [synthetic, real_train])
    rows, reference = synthetic.head(1500), real_train.head(1200)
    encoded = encode_reference(reference, metadata, numeric, categorical)
    exact = closest_record_sums(rows, reference, metadata, encoded)
    bound = closest_record_sums(rows, real_holdout.head(1200), metadata)
    below = closest_record_sums(rows, reference, metadata, encoded, upper=bound)
    np.testing.assert_array_equal(below, np.minimum(exact, bound))
    assert (exact < bound).any() and (exact >= bound).any()


def test_copied_rows_equal_sdmetrics_with_missing_values_and_unseen_categories(awkward) -> None:
    real, rows, meta = awkward
    meta = {"columns": {k: v for k, v in meta["columns"].items() if k != "key"}}
    real, rows = real.drop(columns="key"), rows.drop(columns="key").head(300).copy()
    copies = real.sample(20, random_state=4).reset_index(drop=True)
    copies.loc[0, "fnlwgt"] = copies.loc[0, "fnlwgt"] * 1.009  # inside the 1% tolerance
    copies.loc[1, "fnlwgt"] = copies.loc[1, "fnlwgt"] * 1.02  # outside it
    rows = pd.concat([rows, copies], ignore_index=True)
    expected = NewRowSynthesis.compute_breakdown(real, rows, meta)["num_matched_rows"]
    assert int(copied_rows(rows, real, meta).sum()) == expected >= 19


def test_copied_rows_without_categorical_columns(real_train, synthetic) -> None:
    numbers = [c for c in real_train.columns if pd.api.types.is_numeric_dtype(real_train[c])]
    meta = {"columns": {c: {"sdtype": "numerical"} for c in numbers}}
    real = real_train[numbers].head(800)
    rows = pd.concat([synthetic[numbers].head(200), real.sample(12, random_state=1)], ignore_index=True)
    expected = NewRowSynthesis.compute_breakdown(real, rows, meta)["num_matched_rows"]
    assert int(copied_rows(rows, real, meta).sum()) == expected >= 12


def test_auc_standard_error_matches_the_spread_of_repeated_attacks() -> None:
    rng = np.random.default_rng(0)

    def draw():
        return rng.normal(0.3, 1.0, 400), rng.normal(0.0, 1.0, 300)

    aucs = []
    for _ in range(300):
        positive, negative = draw()
        aucs.append((positive[:, None] > negative[None, :]).mean())
    stated = np.mean([auc_standard_error(*draw()) for _ in range(50)])
    assert stated == pytest.approx(np.std(aucs, ddof=1), rel=0.15)


def _corpus_case(name: str, kinds: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Two disjoint row sets of a real corpus table, restricted to numerical and/or categorical columns."""
    from synth_pipelines.data import corpus

    frame = corpus.load(name).sample(frac=1.0, random_state=0).reset_index(drop=True)
    columns = {}
    for column in frame.columns:
        values = frame[column]
        if (
            pd.api.types.is_bool_dtype(values)
            or values.dtype == object
            or isinstance(values.dtype, pd.CategoricalDtype)
        ):
            if kinds != "numerical" and values.nunique() < 0.5 * len(values):  # no free text or ids
                columns[column] = {"sdtype": "categorical"}
        elif pd.api.types.is_numeric_dtype(values) and kinds != "categorical":
            columns[column] = {"sdtype": "numerical"}
    frame = frame[list(columns)]
    for column, meta in columns.items():  # SDMetrics' reference needs plain dtypes: object categories, float numbers
        frame[column] = frame[column].astype(object if meta["sdtype"] == "categorical" else "float64")
    cut = min(600, 2 * len(frame) // 3)
    return frame.iloc[:cut], frame.iloc[cut : cut + 120], {"columns": columns}


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("penguins_raw", "both"),  # missing numbers and categories
        ("weather", "both"),  # missing values in most numeric columns
        ("planes", "both"),
        ("loans", "numerical"),  # numbers only: one group holds every reference row
        ("bird_strikes", "categorical"),  # categories only (11, many missing): no numeric part to sum
    ],
)
def test_dcr_equals_sdmetrics_on_real_corpus_tables(name: str, kinds: str) -> None:
    """The grouped scan's distances, with and without a bound, against SDMetrics' definition on real tables."""
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    real, rows, meta = _corpus_case(name, kinds)
    assert meta["columns"], f"{name}: no column of the kinds {kinds}"
    expected = calculate_dcr(dataset=rows, reference_dataset=real, metadata=meta).to_numpy()
    np.testing.assert_allclose(closest_record_distances(rows, real, meta), expected, atol=1e-6)
    numeric, categorical = statistical_columns(meta, [rows, real])
    sums = closest_record_sums(rows, real, meta)
    bound = np.quantile(sums, 0.5)
    np.testing.assert_array_equal(
        closest_record_sums(rows, real, meta, upper=np.full(len(rows), bound)), np.minimum(sums, bound)
    )
    assert len(numeric) + len(categorical) == len(meta["columns"])


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("penguins_raw", "both"),
        ("weather", "both"),
        ("planes", "both"),
        ("loans", "numerical"),
        ("bird_strikes", "categorical"),
    ],
)
@pytest.mark.parametrize("search", ["grouped", "kd_tree"])
def test_attack_neighbours_equal_a_plain_search_on_real_corpus_tables(
    name: str, kinds: str, search: str, monkeypatch
) -> None:
    """The membership attack's k nearest distances, grouped scan and k-d tree, against brute force in one-hot space."""
    from sklearn.neighbors import NearestNeighbors

    from synth_pipelines.quality import attacks

    real, rows, meta = _corpus_case(name, kinds)
    numeric, categorical = attacks._column_kinds(real, meta)
    index, queries = attacks._encode([real, rows], real, numeric, categorical)
    monkeypatch.setattr(attacks, "KD_TREE_WIDTH", 10_000 if search == "kd_tree" else -1)
    for k in (1, 5):
        brute = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(index.one_hot())
        expected = np.square(brute.kneighbors(queries.one_hot())[0])
        np.testing.assert_allclose(attacks.k_nearest_squared(index, queries, k), expected, rtol=1e-9, atol=1e-9)
