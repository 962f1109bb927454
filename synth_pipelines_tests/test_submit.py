"""submit_request: the UI's form for a new request; it files the request, and the intake sensor runs it once."""

import json

import dagster as dg
import pytest
from dagster import DagsterInstance

from synth_pipelines.core.request import SynthesisRequest, parse_request
from synth_pipelines.defs.intake.submit import RequestRefused, submit_request
from synth_pipelines.intake.requests import LocalRequestStore
from synth_pipelines.resources import build_resources
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.test_intake import evaluate


def form(**overrides) -> dict:
    """The form as a person fills it in: the request's own fields, nothing about the server."""
    return small_request(request_id="from-the-form", **overrides)


def submit(settings, instance, run_config):
    job = dg.Definitions(jobs=[submit_request], resources=build_resources(settings)).resolve_job_def("submit_request")
    return job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)


def test_the_form_is_the_request_fields_with_the_models_defaults_and_descriptions():
    fields = submit_request.run_config_schema.config_type.fields
    model = SynthesisRequest.model_fields
    assert set(fields) == {field.alias or name for name, field in model.items()}  # no ops:, no resources:
    assert {name for name, field in fields.items() if field.is_required} == {"request_id", "rows", "requester"}
    assert fields["chunk_rows"].default_value == model["chunk_rows"].default
    assert fields["publish"].default_value == ["local"]
    assert fields["synthesizer"].default_value["name"] == "gaussian_copula"
    assert fields["rows"].description.startswith(model["rows"].description)
    assert "at most 1,000,000" in fields["rows"].description
    nested = fields["output"].config_type.fields
    assert nested["format"].default_value == "parquet" and nested["format"].description


def test_a_submitted_request_lands_in_incoming_and_the_sensor_makes_it_one_run(settings):
    instance = DagsterInstance.ephemeral()
    result = submit(settings, instance, form())
    assert result.success
    store = LocalRequestStore(settings.request_root)
    assert store.incoming() == ["from-the-form.json"]
    filed = parse_request(store.read_incoming("from-the-form.json"))
    assert filed.canonical_json() == parse_request(form()).canonical_json()

    first = evaluate(settings, instance)
    assert [r.partition_key for r in first.run_requests] == ["from-the-form"]
    assert first.dynamic_partitions_requests[0].partition_keys == ["from-the-form"]
    assert store.incoming() == [] and store.accepted() == ["from-the-form"]
    assert evaluate(settings, instance, cursor=first.cursor).run_requests == []

    again = submit(settings, instance, form())  # the same form twice: refused by name, no second run
    assert not again.success
    failure = next(e for e in again.all_events if e.is_step_failure)
    assert "request_id: 'from-the-form' is already accepted" in failure.event_specific_data.error.message
    assert store.incoming() == []


def test_a_schema_only_request_from_a_template_needs_no_dataset(settings):
    instance = DagsterInstance.ephemeral()
    values = {"synthesizer": {"name": "schema_only"}, "template": "customers", "dataset": None}
    assert submit(settings, instance, form(**values)).success
    filed = json.loads(LocalRequestStore(settings.request_root).read_incoming("from-the-form.json"))
    assert filed["template"] == "customers" and filed.get("dataset") is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rows": 0}, "rows"),  # a range: the contract check in the form's config mapping
        ({"rows": "many"}, "rows"),  # a type: Dagster's config validation
        ({"output": {"format": "xlsx"}}, "output:format"),
        ({"publish": ["ftp"]}, "publish"),
        ({"synthesizer": {"name": "nonesuch"}}, "synthesizer:name"),
        ({"synthesizer": {"name": "ctgan", "batch_size": 55}}, "synthesizer.batch_size"),
        ({"privacy": {"epsilon": 1.0}}, "privacy"),  # a rule between fields
        ({"requester": {"env": "HOME"}}, "requester"),  # the server's environment never fills a field
        ({"nonesuch": 1}, "nonesuch"),
    ],
)
def test_a_bad_value_is_refused_before_a_run_exists_naming_the_field(settings, overrides, field):
    instance = DagsterInstance.ephemeral()
    with pytest.raises((RequestRefused, dg.DagsterInvalidConfigError)) as refused:
        submit(settings, instance, form(**overrides))
    assert field in str(refused.value)
    assert instance.get_runs() == []
    assert LocalRequestStore(settings.request_root).incoming() == []


def test_a_dataset_outside_the_data_root_is_refused_at_the_first_step(settings):
    result = submit(settings, DagsterInstance.ephemeral(), form(dataset={"uri": "missing.csv"}))
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "dataset.uri" in failure.event_specific_data.error.message
    assert LocalRequestStore(settings.request_root).incoming() == []
