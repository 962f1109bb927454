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


def test_real_rows_read_back_from_an_export_score_like_the_real_ones(tmp_path) -> None:
    """penguins_raw (a date column): its training rows, written and read as the export is (timestamps in
    microseconds, the real table's in nanoseconds), are the same data, so TSTR is TRTR and DCR is zero."""
    from synth_pipelines.data import corpus
    from synth_pipelines.data.profiling import profile_dataset
    from synth_pipelines.data.treatment import normalise
    from synth_pipelines.generation.export import kinds_of, to_arrow
    from synth_pipelines.quality.similarity import dcr_scores

    frame = corpus.load("penguins_raw")
    clean = normalise(frame).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # rows come by species
    metadata = profile_dataset(frame).metadata
    real_train, real_holdout = clean.iloc[:260].reset_index(drop=True), clean.iloc[260:].reset_index(drop=True)
    path = tmp_path / "export.parquet"
    import pyarrow.parquet as pq

    pq.write_table(to_arrow(real_train, kinds_of(real_train)), path)
    exported = pd.read_parquet(path)
    assert exported["Date Egg"].dtype != real_train["Date Egg"].dtype  # the units differ, the dates do not
    plan = plan_sampling(len(exported), len(real_train))
    scores = utility.tstr_scores(real_train, real_holdout, exported, "Species", metadata, plan, seed=0)
    assert scores["synthetic_score"] == pytest.approx(scores["real_score"], abs=0.02)
    dcr = dcr_scores(real_train, None, exported, metadata, plan, seed=0)
    assert dcr["dcr_median_synthetic"] == pytest.approx(0.0, abs=1e-9)
