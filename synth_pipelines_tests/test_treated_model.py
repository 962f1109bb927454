"""The treated model on real tables: kept columns repeat, rare levels come back, the fit is bounded."""

from __future__ import annotations

import pandas as pd
import pytest

from synth_pipelines.core.request import SynthesizerSpec
from synth_pipelines.data import corpus
from synth_pipelines.data.profiling import profile_dataset
from synth_pipelines.data.treatment import normalise
from synth_pipelines.training import treated


def _fit(frame: pd.DataFrame, spec: SynthesizerSpec) -> treated.TreatedModel:
    clean = normalise(frame).frame
    profile = profile_dataset(frame)
    return treated.fit_treated(clean, profile.metadata, profile.treatments, spec, seed=0)


def test_rare_levels_are_one_token_in_a_neural_fit_and_drawn_back_by_frequency() -> None:
    pets = corpus.load("seattle_pets", rows=2_000, columns=["animal_name", "species", "primary_breed"])
    assert pets["animal_name"].nunique() > treated.NEURAL_MAX_LEVELS
    model = _fit(pets, SynthesizerSpec(name="ctgan", epochs=1, batch_size=500))
    assert "animal_name" in model.rare and model.training_record["rare_levels_grouped"]["columns"] >= 1
    sample = model.sample(2_000, seed=3)
    names = sample["animal_name"].dropna()
    assert treated.RARE not in set(names)
    assert names.isin(set(pets["animal_name"].dropna())).all()
    again = model.sample(2_000, seed=3)
    pd.testing.assert_frame_equal(sample, again)  # a chunk is a function of its seed


def test_the_fit_sees_at_most_the_cap_and_says_so(monkeypatch) -> None:
    weather = corpus.load("weather", rows=3_000)
    monkeypatch.setitem(treated.FIT_ROWS_CAP, "gaussian_copula", 1_000)
    model = _fit(weather, SynthesizerSpec())
    sample = model.training_record["training_sample"]
    assert sample == {
        "rows_available": 3_000,
        "rows_used": 1_000,
        "cap": 1_000,
        "sampled": True,
        "how": "1,000 of 3,000 rows drawn with the seed",
    }
    assert model.training_record["training_rows"] == 1_000
    out = model.sample(4_000, seed=1)
    assert out["year"].nunique() == 1 and out["year"].notna().all()  # constant year: kept, repeated
    assert list(out.columns) == list(weather.columns)


# Each column's missing share in the export is its share in the real table (after `normalise`, which
# reads blank cells and missing markers as missing). At 2,000 rows out a share's sampling error is
# at most 0.011 (one standard error), so 0.05 leaves room for the model and ~4 standard errors.
MISSING_SHARE_TOLERANCE = 0.05


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("seattle_pets", 3_000),  # a date column whose name reads as a licence plate; a 56%-missing one
        ("opt", None),  # 171 columns, blank cells and "." markers in numbers stored as text
        ("penguins_raw", None),  # sparse comments, a few missing measurements
    ],
)
def test_every_exported_column_keeps_its_missing_share_on_real_tables(name: str, rows: int | None) -> None:
    from synth_pipelines.generation.export import coerce, kinds_of

    frame = corpus.load(name, rows=rows)
    clean = normalise(frame).frame
    model = _fit(frame, SynthesizerSpec(name="gaussian_copula"))
    # The export's types are the training data's (generation/export.py): a value that does not fit is a null.
    out = coerce(model.sample(2_000, seed=0), kinds_of(clean[model.order]))
    shift = (out.isna().mean() - clean[model.order].isna().mean()).abs()
    assert (shift <= MISSING_SHARE_TOLERANCE).all(), shift[shift > MISSING_SHARE_TOLERANCE].round(3).to_dict()
