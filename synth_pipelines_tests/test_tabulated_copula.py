"""The Gaussian copula's tabulated marginals: SDV's rows to within the interpolation error, and deterministic."""

from __future__ import annotations

import io

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from synth_pipelines.core.request import SynthesizerSpec
from synth_pipelines.data.profiling import detect_metadata
from synth_pipelines.settings import Settings
from synth_pipelines.training.synthesizers import PPF_KNOTS, fit_model, load_model


@pytest.fixture(scope="module")
def copula_model(adult_small_frame: pd.DataFrame):
    return fit_model(adult_small_frame, detect_metadata(adult_small_frame), SynthesizerSpec(name="gaussian_copula"))


def _both(model, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    model.copula_sampling = "exact"
    try:
        exact = model.sample(rows, seed)
    finally:
        model.copula_sampling = "table"
    return exact, model.sample(rows, seed)


def test_tabulated_rows_equal_sdv_rows_but_for_rare_rounding(copula_model) -> None:
    exact, table = _both(copula_model, 20_000, seed=5)
    assert list(exact.columns) == list(table.columns) and (exact.dtypes == table.dtypes).all()
    same = (exact == table) | (exact.isna() & table.isna())
    # The draws are SDV's own; only ppf(Φ(z)) is interpolated, so almost every value is identical...
    assert same.to_numpy().mean() > 0.999
    for name in exact.columns:
        moved = ~same[name]
        if moved.any():
            # ...and a value that moved is a numeric one, off by its rounding step.
            assert pd.api.types.is_numeric_dtype(exact[name]), name
            assert (exact[name][moved] - table[name][moved]).abs().max() <= 1, name


def test_tabulated_sampling_is_deterministic_per_seed(copula_model) -> None:
    first = copula_model.sample(3_000, 9)
    copula_model.sample(1_000, 4)  # whatever was sampled in between
    assert first.equals(copula_model.sample(3_000, 9))
    assert not first.equals(copula_model.sample(3_000, 10))


def test_the_stored_model_holds_the_tables_and_sdv_keeps_its_own_method(copula_model) -> None:
    copula = copula_model.synthesizer._model
    assert "sample" not in vars(copula)  # the per-call override is gone after sampling
    assert copula_model.marginals.values.shape == (len(copula.columns), PPF_KNOTS)
    assert np.all(np.diff(copula_model.marginals.values, axis=1) >= 0)  # inverse CDFs are monotone
    buffer = io.BytesIO()
    cloudpickle.dump(copula_model, buffer)
    reloaded = cloudpickle.loads(buffer.getvalue())
    assert reloaded.sample(500, 2).equals(copula_model.sample(500, 2))


def test_an_unknown_sampling_mode_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="SYNTH_COPULA_SAMPLING='fast' is not allowed; allowed: table, exact"):
        Settings.from_env({"SYNTH_COPULA_SAMPLING": "fast"})
    with pytest.raises(ValueError, match="copula_sampling 'fast' is not allowed; allowed: table, exact"):
        load_model(tmp_path / "model.pkl", copula_sampling="fast")
