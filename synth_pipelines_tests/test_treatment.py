"""Column treatment on real public tables (the corpus): each messy kind of column gets the treatment that fits it.

Slices of the corpus tables, never generated data. The reasons are read by a person in the UI,
so they are checked to hold counts and kinds, never a value of the table.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synth_pipelines.core.request import parse_request
from synth_pipelines.data import corpus
from synth_pipelines.data.profiling import profile_dataset
from synth_pipelines.data.treatment import character_pattern, is_class_pattern, normalise, treatment_markdown
from synth_pipelines_tests.conftest import small_request


@pytest.fixture(scope="module")
def planes() -> pd.DataFrame:
    return corpus.load("planes")


def _by_name(profile) -> dict[str, dict]:
    return {c["name"]: c for c in profile.columns}


def test_sparse_all_null_constant_and_id_columns(planes) -> None:
    billboard = corpus.load("billboard", columns=["artist", "wk1", "wk30", "wk66", "wk76"])
    penguins = corpus.load("penguins_raw", columns=["Region", "Stage", "Species"])
    columns = {
        **_by_name(profile_dataset(planes)),
        **_by_name(profile_dataset(billboard)),
        **_by_name(profile_dataset(penguins)),
    }
    assert columns["speed"]["treatment"] == "modelled" and columns["speed"]["missing_rate"] > 0.99  # sparse
    for all_null in ("wk66", "wk76"):
        assert columns[all_null]["treatment"] == "kept" and columns[all_null]["missing_rate"] == 1.0
        assert "every value missing" in columns[all_null]["reason"]
    for constant in ("Region", "Stage"):
        assert columns[constant]["treatment"] == "kept" and "one value" in columns[constant]["reason"]
    assert columns["tailnum"]["treatment"] == "generated_id"
    assert columns["Species"]["treatment"] == "modelled"


def test_an_id_is_generated_from_a_pattern_of_character_classes(planes) -> None:
    profile = profile_dataset(planes)
    pattern = profile.metadata["columns"]["tailnum"]["regex_format"]
    assert is_class_pattern(pattern)
    assert not any(value in pattern for value in planes["tailnum"].head(50))
    assert character_pattern("N10156") == "[A-Z][0-9]{5}"
    assert not is_class_pattern("N[0-9]{5}")  # a literal letter could be a real value's: never kept
    assert profile.metadata.get("primary_key") == "tailnum"


def test_free_text_is_generated_never_modelled_as_categories() -> None:
    tweets = corpus.load("trump_tweets", rows=3000)
    birds = corpus.load("bird_strikes", rows=3000, columns=["remarks", "sky"])
    columns = {**_by_name(profile_dataset(tweets)), **_by_name(profile_dataset(birds))}
    for text in ("text", "remarks"):
        assert columns[text]["treatment"] == "generated_text"
        assert columns[text]["sdtype"] == "text"
        assert "free text" in columns[text]["reason"]
    assert columns["sky"]["treatment"] == "modelled"


def test_numbers_stored_as_text_become_numbers_and_their_markers_missing() -> None:
    raw = corpus.load("opt", columns=["OPG1", "Group", "Hisp"])
    assert raw["OPG1"].dtype == object and (raw["OPG1"].str.strip() == ".").any()
    clean = normalise(raw)
    assert pd.api.types.is_numeric_dtype(clean.frame["OPG1"])
    assert clean.frame["OPG1"].isna().sum() == (raw["OPG1"].str.strip() == ".").sum() + raw["OPG1"].isna().sum()
    assert "numbers stored as text" in clean.notes["OPG1"]
    # blank cells are missing, padded ones trimmed: "No " and "No" are one category
    assert clean.frame["Hisp"].isna().sum() >= (raw["Hisp"].fillna("").str.strip() == "").sum()
    assert set(clean.frame["Group"].dropna()) == set(raw["Group"].dropna().str.strip())
    assert profile_dataset(raw).sdtypes["OPG1"] == "numerical"


def test_a_low_cardinality_pii_like_column_is_modelled_as_a_category() -> None:
    weather = corpus.load("city_weather", columns=["city", "avg_temp"])
    column = _by_name(profile_dataset(weather))["city"]
    assert column["treatment"] == "modelled" and column["sdtype"] == "categorical"


def test_the_request_schema_overrides_the_treatment(planes) -> None:
    profile = profile_dataset(planes, declared={"model": "id", "speed": "categorical"})
    columns = _by_name(profile)
    assert columns["model"]["treatment"] == "generated_id"
    assert columns["speed"]["treatment"] == "modelled" and columns["speed"]["sdtype"] == "categorical"
    assert "declared" in columns["model"]["reason"]


def test_reasons_hold_kinds_and_counts_never_a_value(planes) -> None:
    tweets = corpus.load("trump_tweets", rows=2000)
    for frame in (planes, tweets):
        profile = profile_dataset(frame)
        text = json.dumps(profile.to_dict()) + treatment_markdown(profile.columns)
        for column in frame.select_dtypes(include="object").columns:
            for value in frame[column].dropna().astype(str).head(20):
                if len(value) >= 4:
                    assert value not in text, column


def test_a_sparse_column_is_not_refused_by_validation(planes) -> None:
    from synth_pipelines.data.validation import validate_dataset

    profile = profile_dataset(planes)
    outcome = validate_dataset(normalise(planes).frame, profile, parse_request(small_request()))
    assert outcome.success, outcome.failure_message()
    assert any(w["column"] == "speed" for w in outcome.warnings)  # inferred from the data: a warning
