"""Small slices of the Adult data and its public schema, so the privacy tests stay fast on two cores."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
ADULT_SCHEMA = ROOT / "requests" / "schemas" / "adult.json"


def load_adult(nrows: int | None = None) -> pd.DataFrame:
    """Adult as the pipeline loads it ("?" is missing)."""
    from synth_pipelines.core.request import DatasetSpec
    from synth_pipelines.data.loading import load_dataset

    frame = load_dataset(ADULT, DatasetSpec(uri="adult.csv"))
    return frame.head(nrows).reset_index(drop=True) if nrows else frame


def adult_schema_dict() -> dict:
    return json.loads(ADULT_SCHEMA.read_text())


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return load_adult(2000)


@pytest.fixture(scope="session")
def adult_metadata(adult: pd.DataFrame):
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({"data": adult})


@pytest.fixture(scope="session")
def adult_schema():
    """Adult's public schema (the UCI codebook's kinds, category lists and rounded bounds)."""
    from synth_pipelines.core.request import TableSchema

    return TableSchema.model_validate(adult_schema_dict())
