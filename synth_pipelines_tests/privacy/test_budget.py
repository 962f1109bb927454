"""Budget refusals: ε outside (0, max], δ ≥ 1/n, DP synthesizers without a privacy block."""

from __future__ import annotations

import math

import pytest

from synth_pipelines.core.request import PrivacySpec, RequestError, SynthesizerSpec, parse_request
from synth_pipelines.privacy.budget import check_budget, resolve_delta, zcdp_epsilon, zcdp_rho
from synth_pipelines.training.dp import fit_dp_model

from .conftest import adult_schema_dict


def _request(privacy: dict | None, synthesizer: str = "dp_gaussian_copula", schema: bool = True) -> dict:
    request = {
        "request_id": "dp-1",
        "dataset": {"uri": "adult.csv"},
        "synthesizer": {"name": synthesizer},
        "rows": 10,
        "requester": "ana@example.org",
    }
    if schema and synthesizer.startswith("dp_"):
        request["schema"] = adult_schema_dict()
    if privacy is not None:
        request["privacy"] = privacy
    return request


@pytest.mark.parametrize("epsilon", [0, -1])
def test_parse_refuses_non_positive_epsilon(epsilon: float) -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(_request({"epsilon": epsilon}))
    fields = [field for field, _ in refused.value.problems]
    assert fields == ["privacy.epsilon"]
    assert str(epsilon) in refused.value.problems[0][1]


@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.inf, 11.0])
def test_check_budget_refuses_epsilon_outside_range(epsilon: float) -> None:
    # model_construct skips pydantic, as a caller holding an unvalidated spec would.
    privacy = PrivacySpec.model_construct(epsilon=epsilon, delta=None)
    with pytest.raises(RequestError) as refused:
        check_budget(privacy, 1000, max_epsilon=10.0)
    (field, message), *_ = refused.value.problems
    assert field == "privacy.epsilon"
    assert f"{epsilon:g}" in message and "<= 10" in message


def test_check_budget_accepts_epsilon_at_the_maximum() -> None:
    check_budget(PrivacySpec(epsilon=10.0), 1000, max_epsilon=10.0)
    check_budget(None, 1000, max_epsilon=10.0)


@pytest.mark.parametrize("delta", [1e-3, 2e-3, 0.5])
def test_delta_at_or_above_one_over_the_declared_rows_is_refused(delta: float) -> None:
    privacy = PrivacySpec(epsilon=1.0, delta=delta)
    with pytest.raises(RequestError) as refused:
        check_budget(privacy, 1000, max_epsilon=10.0)
    (field, message), *_ = refused.value.problems
    assert field == "privacy.delta"
    assert "1/num_rows" in message and f"{delta:g}" in message


def test_default_delta_comes_from_the_declared_rows_never_the_data(adult, adult_schema) -> None:
    delta, was_default = resolve_delta(PrivacySpec(epsilon=1.0), 1_000_000)
    assert was_default and delta == pytest.approx(1_000_000**-1.1)
    assert resolve_delta(PrivacySpec(epsilon=1.0), 1000) == (1e-6, True)  # never above 1e-6
    assert resolve_delta(PrivacySpec(epsilon=1.0), None) == (1e-7, True)
    assert resolve_delta(PrivacySpec(epsilon=1.0, delta=1e-6), 1000) == (1e-6, False)
    spec = SynthesizerSpec(name="dp_gaussian_copula")
    deltas = {
        fit_dp_model(adult.head(n), adult_schema, spec, PrivacySpec(epsilon=1.0)).training_record["privacy"]["delta"]
        for n in (300, 301, 1999)
    }
    assert deltas == {1e-7}


def test_dp_synthesizer_without_privacy_is_refused(adult, adult_schema) -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(_request(None, "dp_ctgan"))
    assert [field for field, _ in refused.value.problems] == ["privacy"]
    with pytest.raises(RequestError) as refused:
        fit_dp_model(adult, adult_schema, SynthesizerSpec(name="dp_tvae"), None, "cpu", 0)
    assert refused.value.problems[0][0] == "privacy"


def test_dp_request_without_schema_is_refused_with_how_to_write_one() -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(_request({"epsilon": 1.0}, schema=False))
    (field, message), *_ = refused.value.problems
    assert field == "schema"
    assert "DayZ" in message and "draft-schema" in message


def test_dp_schema_without_bounds_or_categories_is_refused_by_field() -> None:
    request = _request({"epsilon": 1.0})
    columns = request["schema"]["parameters"]["tables"]["data"]["columns"]
    del columns["age"]["max_value"]
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    assert refused.value.problems[0][0] == "schema.parameters.tables.data.columns.age.max_value"
    request = _request({"epsilon": 1.0})
    request["schema"]["parameters"]["tables"]["data"]["columns"]["sex"]["category_values"] = []
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    assert refused.value.problems[0][0] == "schema.parameters.tables.data.columns.sex.category_values"


def test_an_invalid_sdv_schema_is_refused_with_sdvs_reason() -> None:
    request = _request({"epsilon": 1.0})
    request["schema"]["parameters"]["tables"]["data"]["columns"]["age"]["min_value"] = "zero"
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    field, message = refused.value.problems[0]
    assert field == "schema.parameters" and "min_value" in message
    request["schema"] = {"metadata": {"tables": {}}, "parameters": {}}
    with pytest.raises(RequestError) as refused:
        parse_request(request)
    assert refused.value.problems[0][0] == "schema.metadata"


def test_the_old_privacy_bounds_field_is_refused() -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(_request({"epsilon": 1.0, "bounds": {"age": [0, 100]}}))
    assert refused.value.problems[0][0] == "privacy.bounds"


def test_privacy_with_non_dp_synthesizer_is_refused() -> None:
    with pytest.raises(RequestError) as refused:
        parse_request(_request({"epsilon": 1.0}, "ctgan"))
    assert [field for field, _ in refused.value.problems] == ["privacy"]


@pytest.mark.parametrize("epsilon,delta", [(0.1, 1e-6), (1.0, 1e-5), (10.0, 1e-8)])
def test_zcdp_calibration_never_overshoots(epsilon: float, delta: float) -> None:
    rho = zcdp_rho(epsilon, delta)
    assert zcdp_epsilon(rho, delta) <= epsilon
    assert zcdp_epsilon(rho * 1.01, delta) > epsilon * 0.99  # and wastes little
