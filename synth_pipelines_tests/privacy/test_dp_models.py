"""DP synthesizers on the public schema: honest ε, structure from the schema, no training rows in the artifact."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth_pipelines.core.request import PrivacySpec, RequestError, SynthesizerSpec, TableSchema
from synth_pipelines.training.dp import fit_dp_model
from synth_pipelines.training.synthesizers import fit_model, load_model, save_model

from .conftest import adult_schema_dict

MARKER_TEXT = "zq-marker-7f3a9c1e"
MARKER_NUMBER = 987_654
DP_NAMES = ["dp_gaussian_copula", "dp_tvae", "dp_ctgan", "dp_mst"]


def _spec(name: str) -> SynthesizerSpec:
    return SynthesizerSpec(name=name, epochs=2, batch_size=200)


@pytest.fixture(scope="module")
def fitted(adult, adult_schema) -> dict:
    privacy = PrivacySpec(epsilon=2.0, delta=1e-5)
    return {name: fit_dp_model(adult, adult_schema, _spec(name), privacy, "cpu", 0) for name in DP_NAMES}


@pytest.mark.parametrize("name", DP_NAMES)
def test_epsilon_total_adds_every_stage_and_stays_within_target(fitted, name: str) -> None:
    privacy = fitted[name].training_record["privacy"]
    stages = privacy["epsilon_by_stage"]
    assert set(stages) == {"preprocessing", "training"}
    assert all(value > 0 for value in stages.values())
    assert privacy["epsilon_total"] == pytest.approx(sum(stages.values()))
    assert privacy["epsilon_total"] <= 2.0
    assert privacy["epsilon_total"] >= 0.9 * 2.0  # calibration wastes little of the budget
    assert privacy["delta_spent"] <= privacy["delta"] == 1e-5
    assert privacy["delta_was_default"] is False


@pytest.mark.parametrize("name", DP_NAMES)
def test_sample_is_deterministic_and_typed_by_the_schema(fitted, adult, name: str) -> None:
    model = fitted[name]
    first = model.sample(300, seed=11)
    model.sample(123, seed=5)  # an earlier call must not change the next one
    assert first.equals(model.sample(300, seed=11))
    assert not first.equals(model.sample(300, seed=12))
    assert list(first.columns) == list(adult.columns)
    # Declared without missing values → int64; declared with some → may hold nulls.
    assert first["age"].dtype == np.int64 and first["age"].between(0, 100).all()
    allowed = set(adult_schema_dict()["parameters"]["tables"]["data"]["columns"]["sex"]["category_values"])
    assert set(first["sex"].dropna()) <= allowed  # out-of-list values are counted, never generated


def test_dp_fit_without_schema_is_refused(adult) -> None:
    with pytest.raises(RequestError) as refused:
        fit_dp_model(adult, None, _spec("dp_gaussian_copula"), PrivacySpec(epsilon=1.0), "cpu", 0)
    field, message = refused.value.problems[0]
    assert field == "schema" and "draft-schema" in message


def test_a_declared_column_the_data_lacks_is_refused_by_name(adult, adult_schema) -> None:
    with pytest.raises(RequestError) as refused:
        fit_dp_model(adult.drop(columns=["age"]), adult_schema, _spec("dp_gaussian_copula"), PrivacySpec(epsilon=1.0))
    assert "age" in refused.value.problems[0][1]


def test_values_outside_the_declared_domain_are_clipped_or_folded(adult) -> None:
    schema = adult_schema_dict()
    columns = schema["parameters"]["tables"]["data"]["columns"]
    columns["age"].update(min_value=30, max_value=40)
    columns["workclass"]["category_values"] = ["Private"]
    model = fit_dp_model(adult, TableSchema.model_validate(schema), _spec("dp_gaussian_copula"), PrivacySpec(epsilon=3))
    rows = model.sample(3000, seed=1)
    assert rows["age"].between(30, 40).all()
    assert set(rows["workclass"].dropna()) <= {"Private"}


def test_id_and_pii_columns_are_generated_not_learned(adult) -> None:
    data = adult.assign(customer_id=[f"C{i:06d}" for i in range(len(adult))], email="someone@real.example")
    schema = adult_schema_dict()
    schema["metadata"]["tables"]["data"]["columns"].update(
        {"customer_id": {"sdtype": "id"}, "email": {"sdtype": "email"}}
    )
    model = fit_dp_model(data, TableSchema.model_validate(schema), _spec("dp_gaussian_copula"), PrivacySpec(epsilon=1))
    rows = model.sample(500, seed=3)
    assert rows["customer_id"].is_unique and not set(rows["customer_id"]) & set(data["customer_id"])
    assert rows["email"].str.contains("@").all() and "someone@real.example" not in set(rows["email"])
    assert model.training_record["privacy"]["generated_columns"] == ["customer_id", "email"]


def _marker_bytes() -> list[bytes]:
    number = MARKER_NUMBER
    return [
        MARKER_TEXT.encode(),
        MARKER_TEXT.encode("utf-16-le"),
        str(number).encode(),
        struct.pack("<q", number),
        struct.pack("<d", float(number)),
    ]


@pytest.mark.parametrize("name", DP_NAMES)
def test_model_artifact_holds_no_training_rows(adult, adult_schema, tmp_path: Path, name: str) -> None:
    data = adult.copy()
    data.loc[7, "workclass"] = MARKER_TEXT
    data.loc[7, "fnlwgt"] = MARKER_NUMBER
    model = fit_model(data, None, _spec(name), PrivacySpec(epsilon=1.0), device="cpu", seed=0, schema=adult_schema)
    path = tmp_path / "model.pkl"
    save_model(model, path)
    blob = path.read_bytes()
    for marker in _marker_bytes():
        assert marker not in blob, f"{marker!r} found in the serialized {name} model"
    leaky = tmp_path / "leaky.pkl"  # the search finds a marker that is there
    save_model(data, leaky)
    assert MARKER_TEXT.encode() in leaky.read_bytes()
    reloaded = load_model(path)
    rows = pd.concat([reloaded.sample(2000, seed=s) for s in range(3)])
    assert MARKER_TEXT not in set(rows["workclass"].dropna())


def test_calibration_gives_the_released_marginal_and_keeps_each_rows_odds_order() -> None:
    from synth_pipelines.training.dp.neural import calibrate_to_marginal

    rng = np.random.default_rng(4)
    logits = rng.normal(scale=2.0, size=(3000, 4)) + np.array([2.0, 0.0, -1.0, 0.0])
    probs = np.exp(logits) * np.array([1, 1, 1, 0])  # the last slot is released as empty
    probs /= probs.sum(axis=1, keepdims=True)
    target = np.array([0.2, 0.5, 0.3, 0.0])
    calibrated = calibrate_to_marginal(probs, target)
    np.testing.assert_allclose(calibrated.mean(axis=0), target, atol=1e-4)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert (calibrated[:, 3] == 0).all()
    before, after = probs[:, 0] / probs[:, 1], calibrated[:, 0] / calibrated[:, 1]
    assert (np.argsort(before, kind="stable") == np.argsort(after, kind="stable")).all()


@pytest.mark.parametrize("name", ["dp_tvae", "dp_ctgan"])
def test_neural_categorical_columns_take_the_released_marginal(fitted, name: str) -> None:
    model = fitted[name]
    rows = model.sample(6000, seed=2)
    spec = next(c for c in model.schema.columns if c.name == "relationship")
    released = dict(zip([None, *spec.categories], spec.probs, strict=True))
    shares = rows["relationship"].value_counts(normalize=True, dropna=False)
    for value, share in shares.items():
        key = None if pd.isna(value) else value
        assert share == pytest.approx(released[key], abs=0.02), value
