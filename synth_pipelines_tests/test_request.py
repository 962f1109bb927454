"""The request contract: accepted shapes, refusals that name the field, and the JSON Schema."""

import copy
import json

import pytest

from synth_pipelines.core.request import RequestError, parse_request, request_json_schema
from synth_pipelines.core.templates import load_template
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.conftest import small_request

ISSUE_EXAMPLE = {
    "request_id": "adult-demo",
    "dataset": {"uri": "adult.csv", "format": "csv"},
    "synthesizer": {"name": "gaussian_copula", "epochs": 5, "batch_size": 500},
    "rows": 50000,
    "chunk_rows": 10000,
    "output": {"format": "parquet", "compression": "zstd"},
    "seed": 7,
    "privacy": None,
    "quality": {"min_overall": 0.6},
    "publish": ["local"],
    "requester": "alice@example.org",
}


def test_the_documented_example_parses():
    request = parse_request(json.dumps(ISSUE_EXAMPLE))
    assert request.n_chunks == 5
    assert request.output.compression == "zstd"
    assert request.quality.min_overall == 0.6


def refusal(**overrides) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_request(small_request(**overrides))
    return caught.value


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"rows": 0}, "rows", "greater than or equal to 1"),
        ({"rows": 2_000_000}, "rows", "less than or equal to 1000000"),
        ({"synthesizer": {"name": "magic"}}, "synthesizer.name", "'gaussian_copula'"),
        ({"output": {"format": "xlsx"}}, "output.format", "'csv' or 'parquet'"),
        ({"output": {"format": "csv", "compression": "snappy"}}, "output.compression", "allowed: none, gzip, zstd"),
        ({"chunk_rows": 0}, "chunk_rows", "greater than or equal to 1"),
        ({"seed": -1}, "seed", "greater than or equal to 0"),
        ({"publish": ["ftp"]}, "publish.0", "'local', 's3', 'ipfs' or 'arweave'"),
        ({"publish": ["local", "local"]}, "publish", "unique"),
        ({"request_id": "../evil"}, "request_id", "should match pattern"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"synthesizer": {"name": "ctgan", "batch_size": 505}}, "synthesizer.batch_size", "multiple of 10"),
        ({"synthesizer": {"name": "dp_ctgan"}}, "privacy", "needs a privacy block"),
        ({"privacy": {"epsilon": 1.0}}, "privacy", "needs a DP synthesizer"),
        ({"schedule": "every day"}, "schedule", "five-field cron"),
        ({"dataset": {"uri": "table.xls"}}, "dataset.format", "cannot infer"),
    ],
)
def test_refusals_name_the_field_the_value_and_what_is_allowed(overrides, field, words):
    problems = dict(refusal(**overrides).problems)
    assert field in problems, problems
    assert words in problems[field]


def test_missing_required_fields_are_each_named():
    with pytest.raises(RequestError) as caught:
        parse_request({"request_id": "x"})
    assert {"dataset", "rows", "requester"} <= {f for f, _ in caught.value.problems}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_refused(raw):
    with pytest.raises(RequestError) as caught:
        parse_request(raw)
    assert caught.value.problems[0][0] == "request"


def test_json_schema_lists_the_contract():
    schema = request_json_schema()
    assert {"request_id", "dataset", "rows", "output", "privacy", "quality", "publish"} <= set(schema["properties"])
    assert schema["properties"]["rows"]["maximum"] == 1_000_000
    assert schema["additionalProperties"] is False


ADULT_SCHEMA = json.loads((REPO_ROOT / "requests" / "schemas" / "adult.json").read_text())


def schema_only(**fields) -> dict:
    return {"request_id": "gen", "synthesizer": {"name": "schema_only"}, "rows": 100, "requester": "a@b.org", **fields}


def _without_age_bound() -> dict:
    schema = copy.deepcopy(ADULT_SCHEMA)
    del schema["parameters"]["tables"]["data"]["columns"]["age"]["min_value"]
    return schema


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({}, "schema", "give `schema`"),
        ({"template": "customers", "dataset": {"uri": "adult_small.csv"}}, "dataset", "reads no data"),
        ({"template": "nonesuch"}, "template", "allowed: customers, patients, transactions"),
        ({"template": "customers", "schema": ADULT_SCHEMA}, "template", "not both"),
        ({"template": "customers", "privacy": {"epsilon": 1.0}}, "privacy", "spends no ε"),
        ({"template": "customers", "quality": {"min_overall": 0.5}}, "quality.min_overall", "has none"),
        ({"template": "customers", "quality": {"target_column": "age"}}, "quality.target_column", "has none"),
        ({"template": "customers", "quality": {"publish_plots": True}}, "quality.publish_plots", "has none"),
        (
            {"schema": _without_age_bound()},
            "schema.parameters.tables.data.columns.age.min_value",
            "of a schema_only request",
        ),
    ],
)
def test_schema_only_refusals_name_the_field(fields, field, words):
    with pytest.raises(RequestError) as caught:
        parse_request(schema_only(**fields))
    problems = dict(caught.value.problems)
    assert field in problems, problems
    assert words in problems[field]


def test_a_learning_synthesizer_needs_a_dataset():
    request = small_request()
    del request["dataset"]
    with pytest.raises(RequestError) as caught:
        parse_request(request)
    assert dict(caught.value.problems)["dataset"].startswith("is required for synthesizer 'gaussian_copula'")


def test_a_schema_only_request_from_a_real_tables_schema_or_a_template_parses():
    written = parse_request(schema_only(schema=ADULT_SCHEMA, quality={"min_diagnostic": 0.99}))
    assert written.dataset is None and written.schema_only and written.dataset_id is None
    assert list(written.schema.columns) == list(ADULT_SCHEMA["metadata"]["tables"]["data"]["columns"])
    named = parse_request(schema_only(template="patients"))
    assert named.schema.metadata == load_template("patients")["metadata"]


def test_a_template_request_is_kept_by_name_and_reads_back_the_same():
    request = parse_request(schema_only(template="transactions"))
    stored = json.loads(request.canonical_json())
    assert stored["template"] == "transactions" and "schema" not in stored
    again = parse_request(request.canonical_json())
    assert again == request and again.schema == request.schema
