"""TSTR: models are scored only on holdout rows they never saw."""

from __future__ import annotations

import pandas as pd
import pytest

from synth_pipelines.quality import utility
from synth_pipelines.quality.sampling import plan_sampling


def test_models_fit_on_training_rows_and_score_only_unseen_holdout_rows(
    monkeypatch, real_train, real_holdout, synthetic, metadata
) -> None:
    fitted, scored = [], []
    make_model = utility._model

    class Spy:
        """The real model, recording the row labels it is fitted on and scored on."""

        def __init__(self, *args):
            self.model = make_model(*args)

        def fit(self, x, y):
            fitted.append(set(x.index))
            self.model.fit(x, y)
            return self

        def predict_proba(self, x):
            scored.append(set(x.index))
            return self.model.predict_proba(x)

        def __getattr__(self, name):
            return getattr(self.model, name)

        def __getitem__(self, key):
            return self.model[key]

    monkeypatch.setattr(utility, "_model", Spy)
    synthetic = synthetic.set_axis(range(100_000, 100_000 + len(synthetic)))  # labels unlike the real ones
    plan = plan_sampling(len(synthetic), len(real_train))
    result = utility.tstr_scores(real_train, real_holdout, synthetic, "income", metadata, plan, seed=0)
    holdout = set(real_holdout.index)
    assert len(fitted) == 1 + result["synthetic_fits"] and len(scored) == len(fitted)
    assert fitted[0] == set(real_train.index)
    assert all(rows.isdisjoint(holdout) for rows in fitted)
    assert all(rows == holdout for rows in scored)
    assert result["holdout_rows"] == len(real_holdout)
    assert 0.5 < result["real_score"] <= 1 and 0 < result["ratio"]


def test_a_holdout_that_repeats_training_rows_is_refused(real_train, synthetic, metadata) -> None:
    plan = plan_sampling(len(synthetic), len(real_train))
    with pytest.raises(ValueError, match="shares 300 rows"):
        utility.tstr_scores(real_train, real_train.head(300), synthetic, "income", metadata, plan, seed=0)


def test_unknown_target_is_named(real_train, real_holdout, synthetic, metadata) -> None:
    plan = plan_sampling(len(synthetic), len(real_train))
    with pytest.raises(ValueError, match="'salary'"):
        utility.tstr_scores(real_train, real_holdout, synthetic, "salary", metadata, plan, seed=0)


def test_regression_target(real_train, real_holdout, synthetic, metadata) -> None:
    plan = plan_sampling(len(synthetic), len(real_train))
    result = utility.tstr_scores(real_train, real_holdout, synthetic, "hours_per_week", metadata, plan, seed=0)
    assert result["metric"] == "r2" and isinstance(result["synthetic_score"], float)
    assert pd.notna(result["real_score"])
