"""DP synthesizers: honest ε accounting, no training rows in the artifact, deterministic sampling."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.privacy import fit_dp_model
from synth_pipelines.request import PrivacySpec, RequestError, SynthesizerSpec
from synth_pipelines.synthesizers import fit_model, load_model, save_model

MARKER_TEXT = "zq-marker-7f3a9c1e"
MARKER_NUMBER = 987_654_321
DP_NAMES = ["dp_gaussian_copula", "dp_tvae", "dp_ctgan"]


def _spec(name: str) -> SynthesizerSpec:
    return SynthesizerSpec(name=name, epochs=2, batch_size=200)


@pytest.fixture(scope="module")
def fitted(adult, adult_metadata) -> dict:
    privacy = PrivacySpec(epsilon=2.0, delta=1e-5)
    return {name: fit_dp_model(adult, adult_metadata, _spec(name), privacy, "cpu", 0) for name in DP_NAMES}


@pytest.mark.parametrize("name", DP_NAMES)
def test_epsilon_total_adds_every_stage_and_stays_within_target(fitted, name: str) -> None:
    privacy = fitted[name].training_record["privacy"]
    stages = privacy["epsilon_by_stage"]
    assert set(stages) == {"preprocessing", "training"}
    assert all(value > 0 for value in stages.values())
    assert privacy["epsilon_total"] == pytest.approx(sum(stages.values()))
    assert privacy["epsilon_total"] <= 2.0
    # Calibration should waste little of the budget, not just stay under it.
    assert privacy["epsilon_total"] >= 0.9 * 2.0
    assert privacy["delta_spent"] <= privacy["delta"] == 1e-5
    assert privacy["delta_was_default"] is False
    for key in ("accountant", "mechanism", "noise_multiplier", "sampling_rate", "steps"):
        assert privacy[key] is not None


@pytest.mark.parametrize("name", ["dp_tvae", "dp_ctgan"])
def test_dp_sgd_accountant_epsilon_never_exceeds_the_training_stage(fitted, name: str) -> None:
    from opacus.accountants import RDPAccountant

    privacy = fitted[name].training_record["privacy"]
    # Recompute from the recorded noise, rate and steps with a fresh accountant.
    accountant = RDPAccountant()
    accountant.history = [(privacy["noise_multiplier"], privacy["sampling_rate"], privacy["steps"])]
    recomputed = accountant.get_epsilon(delta=privacy["delta"] / 2)
    assert recomputed == pytest.approx(privacy["epsilon_by_stage"]["training"], rel=1e-6)
    assert recomputed <= 2.0 * (1 - 0.2)  # the training share of ε
    assert privacy["steps"] == pytest.approx(2 / privacy["sampling_rate"])


@pytest.mark.parametrize("name", DP_NAMES)
def test_sample_is_deterministic_and_shaped_like_the_input(fitted, adult, name: str) -> None:
    model = fitted[name]
    first = model.sample(300, seed=11)
    model.sample(123, seed=5)  # an earlier call must not change the next one
    assert first.equals(model.sample(300, seed=11))
    assert not first.equals(model.sample(300, seed=12))
    assert list(first.columns) == list(adult.columns)
    assert (first.dtypes == adult.dtypes).all()
    if name == "dp_gaussian_copula":  # nulls come from the marginal; a 2-epoch GAN need not learn them
        assert first["workclass"].isna().any()


def test_public_bounds_and_categories_are_used_and_cost_nothing_extra(adult, adult_metadata) -> None:
    privacy = PrivacySpec(
        epsilon=1.0,
        bounds={"age": (17, 90)},
        categories={"sex": ["Female", "Male"], "income": ["<=50K", ">50K"]},
    )
    model = fit_dp_model(adult, adult_metadata, _spec("dp_gaussian_copula"), privacy, "cpu", 0)
    rows = model.sample(2000, seed=1)
    assert rows["age"].between(17, 90).all()
    assert set(rows["sex"].dropna()) <= {"Female", "Male", "__other__"}
    # The null slot is a noisy count too: a zero count clears the 2σ floor about 2% of the
    # time, and then a few rows in a thousand come out null. Never more than that.
    assert rows["sex"].isna().mean() < 0.02
    mechanisms = model.training_record["privacy"]["preprocessing_mechanisms"]
    assert "age: gaussian histogram" in mechanisms and "sex: gaussian histogram" in mechanisms


def test_bounds_on_an_unknown_column_are_refused(adult, adult_metadata) -> None:
    privacy = PrivacySpec(epsilon=1.0, bounds={"salary": (0, 1)})
    with pytest.raises(RequestError) as refused:
        fit_dp_model(adult, adult_metadata, _spec("dp_gaussian_copula"), privacy, "cpu", 0)
    assert refused.value.problems[0][0] == "privacy.bounds.salary"


def _marker_bytes() -> list[bytes]:
    number = MARKER_NUMBER
    return [
        MARKER_TEXT.encode(),
        MARKER_TEXT.encode("utf-16-le"),
        str(number).encode(),
        struct.pack("<q", number),
        struct.pack("<d", float(number)),
        struct.pack("<f", float(number)),
    ]


@pytest.mark.parametrize("name", DP_NAMES)
def test_model_artifact_holds_no_training_rows(adult, adult_metadata, tmp_path: Path, name: str) -> None:
    data = adult.copy()
    data.loc[7, "workclass"] = MARKER_TEXT
    data.loc[7, "fnlwgt"] = MARKER_NUMBER
    model = fit_model(data, adult_metadata, _spec(name), PrivacySpec(epsilon=1.0), device="cpu", seed=0)
    path = tmp_path / "model.pkl"
    save_model(model, path)
    blob = path.read_bytes()
    for marker in _marker_bytes():
        assert marker not in blob, f"{marker!r} found in the serialized {name} model"
    # Sanity: the search would find a marker that was there.
    leaky = tmp_path / "leaky.pkl"
    save_model(data, leaky)
    assert MARKER_TEXT.encode() in leaky.read_bytes()

    reloaded = load_model(path)
    rows = pd.concat([reloaded.sample(2000, seed=s) for s in range(3)])
    assert MARKER_TEXT not in set(rows["workclass"].dropna())
    assert (rows["fnlwgt"] != MARKER_NUMBER).all()


def test_calibration_gives_the_released_marginal_and_keeps_each_rows_odds_order() -> None:
    import numpy as np

    from synth_pipelines.privacy.neural import calibrate_to_marginal

    rng = np.random.default_rng(4)
    logits = rng.normal(scale=2.0, size=(3000, 4)) + np.array([2.0, 0.0, -1.0, 0.0])
    probs = np.exp(logits) * np.array([1, 1, 1, 0])  # the last slot is released as empty
    probs /= probs.sum(axis=1, keepdims=True)
    target = np.array([0.2, 0.5, 0.3, 0.0])
    calibrated = calibrate_to_marginal(probs, target)
    np.testing.assert_allclose(calibrated.mean(axis=0), target, atol=1e-4)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert (calibrated[:, 3] == 0).all()
    # The rows that favoured slot 0 over slot 1 most still do, in the same order.
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
