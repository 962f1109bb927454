"""Small slices of the Adult data, so the privacy tests stay fast on two cores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ADULT = Path(__file__).resolve().parents[2] / "sample_data" / "adult.csv"


@pytest.fixture(scope="session")
def adult() -> pd.DataFrame:
    return pd.read_csv(ADULT, nrows=2000)


@pytest.fixture(scope="session")
def adult_metadata(adult: pd.DataFrame):
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({"data": adult})
