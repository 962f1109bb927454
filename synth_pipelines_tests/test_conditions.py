"""Conditional generation: fixed values with exact row counts, through the whole graph on Adult.

The runs read the export itself: every condition's block has exactly its rows and its values,
the same request gives the same bytes, and the quality report compares with the real rows that
match the conditions (counted here from the training split, not taken from the report).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import RequestError, parse_request
from synth_pipelines.data.loading import read_table
from synth_pipelines.data.profiling import DatasetProfile, model_metadata, profile_dataset
from synth_pipelines.data.treatment import normalise
from synth_pipelines.generation.export import chunk_conditions, chunk_plan
from synth_pipelines.quality.report import render_markdown
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines.training.conditions import data_condition_problems
from synth_pipelines_tests.conftest import ADULT, small_request

ADULT_SCHEMA = json.loads((REPO_ROOT / "requests" / "schemas" / "adult.json").read_text())
RICH = {"values": {"income": ">50K"}, "rows": 1200}
WOMEN = {"values": {"income": "<=50K", "sex": "Female"}, "rows": 800}


def refusal(**fields) -> list[tuple[str, str]]:
    with pytest.raises(RequestError) as caught:
        parse_request(small_request(**fields))
    return caught.value.problems


def test_conditions_must_add_up_to_rows():
    [(field, message)] = refusal(rows=2000, conditions=[{**RICH, "rows": 1000}])
    assert field == "conditions" and "1,000" in message and "2,000" in message
    request = parse_request(small_request(rows=2000, conditions=[RICH, WOMEN]))
    assert request.condition_list == [({"income": ">50K"}, 1200), ({"income": "<=50K", "sex": "Female"}, 800)]


def test_a_dp_synthesizer_is_refused_by_name():
    [(field, message)] = refusal(
        rows=2000,
        synthesizer={"name": "dp_ctgan", "batch_size": 500},
        privacy={"epsilon": 1.0},
        schema=ADULT_SCHEMA,
        conditions=[{**RICH, "rows": 2000}],
    )
    assert field == "conditions" and "'dp_ctgan'" in message
    assert "gaussian_copula, ctgan, tvae, copulagan, schema_only" in message


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"salary": 1}, "conditions.0.values.salary", ["not a column of the schema", "income"]),
        ({"income": "rich"}, "conditions.0.values.income", ["category_values", "'<=50K', '>50K'"]),
        ({"age": 130}, "conditions.0.values.age", ["outside the declared bounds [0, 100]"]),
        ({"age": "old"}, "conditions.0.values.age", ["not a number"]),
        ({"income": None}, "conditions.0.values.income", ["string, number or true/false"]),
    ],
)
def test_bad_columns_and_values_name_the_field_and_what_the_schema_allows(values, field, words):
    problems = refusal(rows=10, schema=ADULT_SCHEMA, conditions=[{"values": values, "rows": 10}])
    assert problems[0][0] == field
    assert all(word in problems[0][1] for word in words), problems


def test_an_unconditioned_request_is_stored_as_before():
    assert "conditions" not in parse_request(small_request()).canonical_json()
    with_conditions = parse_request(small_request(rows=2000, conditions=[RICH, WOMEN]))
    assert parse_request(with_conditions.canonical_json()) == with_conditions


@pytest.mark.parametrize("chunk_rows", [1, 7, 700, 1200, 5000])
def test_chunks_split_the_conditions_rows_exactly_and_in_order(chunk_rows):
    conditions = [({"a": 1}, 1200), ({"a": 2}, 3), ({"a": 3}, 797)]
    sizes = chunk_plan(2000, chunk_rows)
    split = chunk_conditions(conditions, sizes)
    assert [sum(rows for _, rows in chunk) for chunk in split] == sizes
    laid_out = [values["a"] for chunk in split for values, rows in chunk for _ in range(rows)]
    assert laid_out == [1] * 1200 + [2] * 3 + [3] * 797


def test_values_the_data_cannot_back_are_refused_without_showing_the_data():
    frame = normalise(read_table(ADULT, "csv").head(600)).frame
    profile = profile_dataset(frame, None).to_dict()
    treatments = DatasetProfile.from_dict(profile).treatments
    metadata = model_metadata(profile["metadata"])
    cases = {
        "workclass": ("Astronaut", "is not a value of this column in the data"),
        "age": (500, "outside the range of the column in the data"),
        "hours_per_week": (40.5, "not a whole number"),
        "salary": (">50K", "is not a column of the dataset"),
    }
    for column, (value, words) in cases.items():
        [(field, message)] = data_condition_problems([({column: value}, 5)], frame, metadata, treatments)
        assert field == f"conditions.0.values.{column}" and words in message
        if column in frame.columns:  # no level and no bound of the data in the message
            present = frame[column].dropna()
            shown = (
                {str(v) for v in present.unique()}
                if present.dtype == object
                else {str(present.min()), str(present.max())}
            )
            assert not [level for level in shown if f"'{level}'" in message or f" {level}" in message]
    assert data_condition_problems([({"income": ">50K", "age": 40}, 5)], frame, metadata, treatments) == []


def test_a_run_with_a_value_the_data_lacks_fails_before_the_fit_naming_the_field(settings):
    conditions = [{"values": {"workclass": "Astronaut"}, "rows": 100}, {"values": {"salary": 1}, "rows": 100}]
    request = parse_request(small_request(request_id="cond-bad", rows=200, conditions=conditions))
    ok, _, error = run_request(request, settings, instance=DagsterInstance.ephemeral())
    assert not ok
    assert "conditions refused: conditions.0.values.workclass: 'Astronaut' is not a value of this column" in error
    assert "conditions.1.values.salary: is not a column of the dataset; allowed: age, workclass" in error
    assert not (settings.work_root / "cond-bad" / "model").exists()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def conditioned_run(settings, request_id: str, synthesizer: dict, conditions: list[dict], **fields):
    fields = {"rows": 2000, "chunk_rows": 700, **fields}
    request = parse_request(
        small_request(request_id=request_id, synthesizer=synthesizer, conditions=conditions, **fields)
    )
    ok, manifest_path, error = run_request(request, settings, instance=DagsterInstance.ephemeral())
    assert ok, error
    return json.loads(Path(manifest_path).read_text())


def assert_blocks(export: pd.DataFrame, conditions: list[dict]) -> None:
    assert len(export) == sum(c["rows"] for c in conditions)
    start = 0
    for condition in conditions:
        block = export.iloc[start : start + condition["rows"]]
        for column, value in condition["values"].items():
            assert (block[column] == value).all(), column
        start += condition["rows"]


def test_gaussian_copula_exact_counts_same_bytes_and_a_filtered_report(settings):
    conditions = [RICH, WOMEN]
    quality = {"target_column": "income"}  # fixed by the conditions: nothing for TSTR to predict
    first = conditioned_run(settings, "cond-a", {"name": "gaussian_copula"}, conditions, quality=quality)
    export = pd.read_parquet(first["export_uri"])
    assert_blocks(export, conditions)
    assert export["income"].value_counts().to_dict() == {">50K": 1200, "<=50K": 800}
    # The other columns follow the condition: the rich rows are older on average (as in the real table).
    assert export["age"].iloc[:1200].mean() > export["age"].iloc[1200:].mean()

    again = conditioned_run(settings, "cond-b", {"name": "gaussian_copula"}, conditions, quality=quality)
    assert again["sha256"] == first["sha256"] == sha256(Path(again["export_uri"]))

    train = pd.read_parquet(settings.work_root / "cond-a" / "data" / "train.parquet")
    matching = ((train["income"] == ">50K") | ((train["income"] == "<=50K") & (train["sex"] == "Female"))).sum()
    scores = json.loads((settings.work_root / "cond-a" / "quality" / "quality_scores.json").read_text())
    assert scores["real_train_rows"] == matching < len(train)
    assert scores["conditioned_on"]["columns"] == ["income", "sex"]
    assert scores["conditioned_on"]["real_train_rows_before"] == len(train)
    assert "fixed value in the conditions" in scores["skipped"]["tstr"]
    report = (settings.work_root / "cond-a" / "quality" / "quality_report.html").read_text()
    assert "match one of the conditions" in report
    summary = render_markdown(scores, [])  # the quality_report asset's summary in the UI
    assert f"scored against the {matching:,} of {len(train):,} real training rows" in summary


def test_ctgan_exact_counts_and_fixed_values(settings):
    conditions = [{"values": {"income": ">50K"}, "rows": 2000}]
    manifest = conditioned_run(
        settings, "cond-ctgan", {"name": "ctgan", "epochs": 2, "batch_size": 500}, conditions, chunk_rows=1000
    )
    export = pd.read_parquet(manifest["export_uri"])
    assert_blocks(export, conditions)
    assert export.drop(columns="income").nunique().min() > 1  # only the fixed column is constant


def test_schema_only_fixes_values_too():
    from synth_pipelines.training.schema_only import SchemaOnlyModel
    from synth_pipelines.training.synthesizers import sample_chunk

    request = parse_request(
        {
            "request_id": "cond-schema",
            "synthesizer": {"name": "schema_only"},
            "template": "customers",
            "rows": 50,
            "requester": "tester@example.org",
            "conditions": [{"values": {"segment": "enterprise"}, "rows": 30}, {"values": {"age": 40}, "rows": 20}],
        }
    )
    model = SchemaOnlyModel(request.schema)
    rows = sample_chunk(model, 50, 3, 0, request.condition_list)
    assert (rows["segment"].iloc[:30] == "enterprise").all() and (rows["age"].iloc[30:] == 40).all()
    assert rows["customer_id"].is_unique


def test_the_launch_form_files_conditions_and_refuses_a_mismatch_before_a_run(settings):
    from synth_pipelines.defs.intake.submit import RequestRefused
    from synth_pipelines.intake.requests import LocalRequestStore
    from synth_pipelines_tests.test_submit import form, submit

    instance = DagsterInstance.ephemeral()
    with pytest.raises(RequestRefused) as refused:
        submit(settings, instance, form(rows=2000, conditions=[RICH]))
    assert "conditions: the conditions' rows add up to 1,200 but rows is 2,000" in str(refused.value)
    assert instance.get_runs() == []
    assert submit(settings, instance, form(rows=2000, conditions=[RICH, WOMEN])).success
    filed = parse_request(LocalRequestStore(settings.request_root).read_incoming("from-the-form.json"))
    assert filed.condition_list == parse_request(small_request(rows=2000, conditions=[RICH, WOMEN])).condition_list
