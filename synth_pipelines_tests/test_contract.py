"""Validation as the owner's data contract: what the owner declared blocks, what the data suggests warns.

Real public data only: Adult (the sample table) and planes from the corpus.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import RequestError, parse_request
from synth_pipelines.core.table_schema import draft_schema
from synth_pipelines.data import corpus
from synth_pipelines.data.profiling import profile_dataset
from synth_pipelines.data.validation import load_suite, validate_dataset
from synth_pipelines.intake.requests import check_request_context
from synth_pipelines_tests.conftest import small_request


def _schema_with(frame: pd.DataFrame, column: str, **params) -> dict:
    """A draft schema of `frame` (its own values: this is the owner's test) with `params` declared for `column`."""
    schema = draft_schema(frame)
    schema["parameters"]["tables"]["data"]["columns"][column].update(params)
    return schema


def _checks(instance: DagsterInstance) -> dict[str, object]:
    (run,) = instance.get_runs()
    evaluations = {}
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        evaluations[evaluation.check_name] = evaluation
    return evaluations


def test_a_declared_bound_blocks_and_names_column_declaration_and_count(adult_small_frame) -> None:
    # The owner declares ages 0..60; the table has older people: the contract is broken.
    schema = _schema_with(adult_small_frame, "age", min_value=0, max_value=60)
    request = parse_request(small_request(schema=schema))
    outcome = validate_dataset(adult_small_frame, profile_dataset(adult_small_frame), request)
    assert not outcome.success
    (failure,) = [f for f in outcome.failures if f["column"] == "age"]
    message = outcome.failure_message()
    assert "expect_column_values_to_be_between on column 'age': declared min_value=0, max_value=60" in message
    assert "the request's schema" in message
    expected = int((adult_small_frame["age"] > 60).sum())
    assert failure["counts"]["unexpected_count"] == expected and f"unexpected count {expected}" in message
    for age in adult_small_frame.loc[adult_small_frame["age"] > 60, "age"].unique():
        assert f"{age}," not in message.split("declared")[-1].split(";")[-1]  # found: counts, not the ages


def test_a_declared_category_list_and_no_missing_share_block(adult_small_frame) -> None:
    schema = _schema_with(adult_small_frame, "workclass", missing_values_proportion=0.0)
    schema["parameters"]["tables"]["data"]["columns"]["race"]["category_values"] = ["White", "Black"]
    request = parse_request(small_request(schema=schema))
    outcome = validate_dataset(adult_small_frame, profile_dataset(adult_small_frame), request)
    failed = {(f["expectation"], f["column"]) for f in outcome.failures}
    assert ("expect_column_values_to_be_in_set", "race") in failed
    assert ("expect_column_values_to_not_be_null", "workclass") in failed
    assert "value_set=['White', 'Black']" in outcome.failure_message()


def test_checks_inferred_from_the_data_only_warn() -> None:
    planes = corpus.load("planes")
    profile = profile_dataset(planes)
    outcome = validate_dataset(planes, profile, parse_request(small_request()))
    assert outcome.success and outcome.failures == []
    assert {w["column"] for w in outcome.warnings} == {"speed"}  # 99.3% missing: worth a look, not an error


def test_a_suite_file_blocks_and_a_broken_one_is_refused_naming_the_field(settings, adult_small_frame) -> None:
    suite = {
        "name": "owner",
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "hours_per_week", "max_value": 40}},
            {"type": "expect_column_to_exist", "kwargs": {"column": "age"}},
        ],
    }
    (settings.data_root / "suite.json").write_text(json.dumps(suite))
    request = parse_request(small_request(validation={"expectation_suite": "suite.json"}))
    check_request_context(request, settings.data_root)
    expectations = load_suite(settings.data_root / "suite.json")
    outcome = validate_dataset(adult_small_frame, profile_dataset(adult_small_frame), request, expectations)
    (failure,) = outcome.failures
    assert failure["column"] == "hours_per_week" and failure["source"] == "the owner's expectation suite"

    broken = {"name": "owner", "expectations": [{"type": "expect_column_to_be_a_unicorn", "kwargs": {}}]}
    (settings.data_root / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(RequestError) as refused:
        check_request_context(
            parse_request(small_request(validation={"expectation_suite": "broken.json"})), settings.data_root
        )
    assert refused.value.problems[0][0] == "validation.expectation_suite.expectations.0"
    with pytest.raises(RequestError) as missing:
        check_request_context(
            parse_request(small_request(validation={"expectation_suite": "nowhere.json"})), settings.data_root
        )
    assert missing.value.problems[0][0] == "validation.expectation_suite"


def test_the_graph_blocks_on_the_contract_and_warns_on_the_rest(settings, adult_small_frame) -> None:
    suite = {
        "name": "owner",
        "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "max_value": 60}}],
    }
    (settings.data_root / "suite.json").write_text(json.dumps(suite))
    instance = DagsterInstance.ephemeral()
    request = parse_request(small_request(request_id="contract", validation={"expectation_suite": "suite.json"}))
    ok, manifest, error = run_request(request, settings, instance=instance)
    assert not ok and manifest is None
    assert "expect_column_values_to_be_between on column 'age': declared max_value=60" in error
    checks = _checks(instance)
    assert not checks["expectation_suite"].passed

    planes = corpus.load("planes", rows=1200)
    corpus.write_frame(planes, settings.data_root / "planes.parquet")
    instance = DagsterInstance.ephemeral()
    ok, manifest, error = run_request(
        parse_request(small_request(request_id="warned", dataset={"uri": "planes.parquet"}, rows=600)),
        settings,
        instance=instance,
    )
    assert ok, error
    checks = _checks(instance)
    assert checks["expectation_suite"].passed
    inferred = checks["inferred_expectations"]
    assert not inferred.passed and inferred.severity == AssetCheckSeverity.WARN


def test_a_dp_request_runs_only_the_owners_suite_and_shows_no_count(settings, adult_small_frame) -> None:
    from synth_pipelines_tests.privacy.conftest import adult_schema_dict

    suite = {
        "name": "owner",
        "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "max_value": 60}}],
    }
    (settings.data_root / "suite.json").write_text(json.dumps(suite))
    request = parse_request(
        small_request(
            synthesizer={"name": "dp_gaussian_copula"},
            privacy={"epsilon": 1.0},
            schema=adult_schema_dict(),
            validation={"expectation_suite": "suite.json"},
        )
    )
    outcome = validate_dataset(adult_small_frame, None, request, load_suite(settings.data_root / "suite.json"))
    assert outcome.evaluated == 1 and outcome.warnings == []  # the schema's checks and inferred ones do not run
    message = outcome.failure_message(counts=False)
    assert "declared max_value=60" in message and "no count is shown" in message
    assert "unexpected count" not in message and "element count" not in message
