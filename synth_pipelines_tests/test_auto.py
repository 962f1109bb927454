"""`auto`: the request names no synthesizer, the run picks one, and the manifest (and the ledger) say which and why."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import RequestError, parse_request
from synth_pipelines.privacy.ledger import PrivacyLedger
from synth_pipelines.training.auto import pick
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.privacy.conftest import adult_schema_dict


def _request(**overrides):
    return parse_request(small_request(**{"synthesizer": {"name": "auto"}, **overrides}))


def test_the_pick_follows_dp_conditions_and_the_time_budget() -> None:
    dp = _request(privacy={"epsilon": 1.0}, schema=adult_schema_dict())
    chosen = pick(dp)
    assert (chosen.spec.name, chosen.spec.epochs) == ("dp_mst", 3000) and "DP" in chosen.why
    conditioned = _request(rows=2500, conditions=[{"values": {"income": ">50K"}, "rows": 2500}])
    assert pick(conditioned, 480, 15).spec.name == "gaussian_copula"
    assert pick(_request(), 480, 15).spec.name == "argn"
    tight = _request(synthesizer={"name": "auto", "max_train_seconds": 5})
    chosen = pick(tight, 50_000, 40)
    assert chosen.spec.name == "gaussian_copula" and "max_train_seconds 5" in chosen.why
    roomy = pick(tight, 480, 15)
    assert roomy.spec.name == "argn" and roomy.spec.max_train_seconds == 5
    named = parse_request(small_request())
    assert pick(named).spec == named.synthesizer


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"privacy": {"epsilon": 1.0}}, "schema"),  # auto with privacy is a DP request: its domain must be declared
        (
            {
                "privacy": {"epsilon": 1.0},
                "schema": adult_schema_dict(),
                "conditions": [{"values": {"income": ">50K"}, "rows": 2500}],
            },
            "conditions",
        ),
        ({"synthesizer": {"name": "ctgan", "max_train_seconds": 60}}, "max_train_seconds"),
        ({"synthesizer": {"name": "auto", "max_train_seconds": 0}}, "max_train_seconds"),
    ],
)
def test_an_auto_request_that_cannot_be_honoured_is_refused_naming_the_field(overrides, field) -> None:
    request = small_request(synthesizer={"name": "auto"})
    request.update(overrides)
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    assert field in str(refused.value)


def test_an_auto_run_publishes_what_it_picked_and_why(settings) -> None:
    ok, manifest_path, error = run_request(_request(request_id="auto-plain"), settings, DagsterInstance.ephemeral())
    assert ok, error
    synthesizer = json.loads(manifest_path.read_text())["synthesizer"]
    assert synthesizer["name"] == "auto" and synthesizer["picked"] == "argn"
    assert "fidelity" in synthesizer["why"]


def test_a_dp_auto_run_charges_the_picked_mechanism(settings) -> None:
    request = _request(
        request_id="auto-dp",
        synthesizer={"name": "auto", "epochs": 50},
        privacy={"epsilon": 1.0},
        schema=adult_schema_dict(),
        rows=1500,
        quality={"target_column": "income"},
    )
    ok, manifest_path, error = run_request(request, settings, DagsterInstance.ephemeral())
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    assert manifest["synthesizer"]["picked"] == "dp_mst"
    assert manifest["privacy"]["target"] == "income"  # the request's target reaches the fit (a public choice)
    assert 0.99 <= manifest["privacy"]["epsilon_total"] <= 1.0
    (entry,) = PrivacyLedger(settings.ledger_url).entries()
    assert (entry["request_id"], entry["mechanism"], entry["epsilon"]) == ("auto-dp", "dp_mst", 1.0)
