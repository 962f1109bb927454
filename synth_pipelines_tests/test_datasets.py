"""Loading input tables: confinement to the data root, formats, broken files; profiling and validation."""

import os

import pandas as pd
import pytest

from synth_pipelines.core.request import DatasetSpec, RequestError, parse_request
from synth_pipelines.data.loading import load_dataset, resolve_local_dataset
from synth_pipelines.data.profiling import profile_dataset
from synth_pipelines.data.validation import validate_dataset
from synth_pipelines_tests.conftest import small_request


def field_of(exc: RequestError) -> str:
    return exc.problems[0][0]


@pytest.mark.parametrize("uri", ["../outside.csv", "/etc/passwd", "sub/../../outside.csv", "file:///etc/passwd"])
def test_paths_outside_the_root_are_refused(tmp_path, uri):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.csv").write_text("a\n1\n")
    with pytest.raises(RequestError, match="outside the data root") as caught:
        resolve_local_dataset(uri, root)
    assert field_of(caught.value) == "dataset.uri"


def test_symlinks_out_of_the_root_are_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    os.symlink(tmp_path / "secret.csv", root / "link.csv")
    with pytest.raises(RequestError, match="outside the data root"):
        resolve_local_dataset("link.csv", root)


def test_formats_load(tmp_path, adult_small_frame):
    frame = adult_small_frame.head(50)
    frame.to_parquet(tmp_path / "a.parquet")
    frame.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    for name in ("a.parquet", "a.jsonl"):
        spec = DatasetSpec(uri=name)
        loaded = load_dataset(resolve_local_dataset(name, tmp_path), spec)
        assert loaded.shape == frame.shape


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("broken.parquet", b"PAR1 this is not parquet", "could not be read as parquet"),
        ("empty.csv", b"", "could not be read as csv"),
        ("header.csv", b"a,b\n", "no rows"),
        ("dupes.csv", b"a,a\n1,2\n", "repeats column names"),
    ],
)
def test_broken_files_are_refused_with_the_reason(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(RequestError, match=words):
        load_dataset(tmp_path / name, DatasetSpec(uri=name))


def test_profile_describes_columns(adult_small_frame):
    frame = adult_small_frame.assign(email=[f"user{i}@example.org" for i in range(len(adult_small_frame))])
    profile = profile_dataset(frame)
    columns = {c["name"]: c for c in profile.columns}
    assert columns["age"]["sdtype"] == "numerical" and "min" not in columns["age"]  # kinds and counts only
    assert columns["sex"]["cardinality"] == 2
    assert columns["workclass"]["missing_rate"] > 0
    assert columns["email"]["pii"] and not columns["age"]["pii"]
    assert set(profile.metadata["columns"]) == set(frame.columns)
    assert {c["treatment"] for c in profile.columns} <= {"modelled", "generated_fake", "generated_id"}
    assert columns["age"]["treatment"] == "modelled"


def test_validation_lists_each_failed_expectation(adult_small_frame):
    request = parse_request(small_request(quality={"target_column": "missing_target"}))
    frame = adult_small_frame.copy()
    profile = profile_dataset(frame)
    frame["age"] = None
    outcome = validate_dataset(frame, profile, request)
    assert not outcome.success
    message = outcome.failure_message()
    assert "expect_column_to_exist" in message and "missing_target" in message and "named in the request" in message
    # what the data's own profile suggests only warns: an empty column is not a broken contract
    assert "'age'" not in message
    warning = outcome.warning_message()
    assert "expect_column_values_to_not_be_null" in warning and "'age'" in warning and "not blocking" in warning
    assert validate_dataset(adult_small_frame, profile, parse_request(small_request())).success


def test_holdout_is_disjoint_and_seeded(adult_small_frame):
    from synth_pipelines.data.splitting import split_holdout

    frame = adult_small_frame.assign(row_id=range(len(adult_small_frame)))
    train, holdout = split_holdout(frame, seed=3)
    assert len(train) + len(holdout) == len(frame) and 80 <= len(holdout) <= 160  # each row on a 20% coin
    assert not set(train["row_id"]) & set(holdout["row_id"])
    again, _ = split_holdout(frame, seed=3)
    pd.testing.assert_frame_equal(train, again)
    other, _ = split_holdout(frame, seed=4)
    assert set(other["row_id"]) != set(train["row_id"])
