"""Shared fixtures: an isolated data root, request store, work area and artifact store per test."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.core.settings import REPO_ROOT, Settings

ADULT = REPO_ROOT / "sample_data" / "adult.csv"


@pytest.fixture(scope="session")
def adult_small_frame() -> pd.DataFrame:
    return pd.read_csv(ADULT, skipinitialspace=True, na_values=["?"]).head(600)


@pytest.fixture
def synth_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adult_small_frame: pd.DataFrame) -> Settings:
    """Every SYNTH_* root in a fresh temporary folder; the data root holds adult_small.csv (600 rows)."""
    data = tmp_path / "data"
    data.mkdir()
    adult_small_frame.to_csv(data / "adult_small.csv", index=False)
    monkeypatch.setenv("SYNTH_DATA_ROOT", str(data))
    monkeypatch.setenv("SYNTH_HOME", str(tmp_path / "home"))
    for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    return Settings.from_env()


def small_request(**overrides) -> dict:
    """A request that runs in seconds: gaussian_copula on 600 rows, 2,500 rows out in 3 chunks."""
    request = {
        "request_id": "small",
        "dataset": {"uri": "adult_small.csv"},
        "synthesizer": {"name": "gaussian_copula"},
        "rows": 2500,
        "chunk_rows": 1000,
        "output": {"format": "parquet", "compression": "zstd"},
        "seed": 7,
        "publish": ["local"],
        "requester": "tester@example.org",
    }
    for key, value in overrides.items():
        request[key] = value
    return request


def write_request(path: Path, **overrides) -> Path:
    path.write_text(json.dumps(small_request(**overrides)))
    return path


@pytest.fixture(autouse=True)
def no_stale_dagster_instance():
    """Entering a DagsterInstance sets Dagster's current defs-state storage, which holds only a weakref
    to that instance; one left behind by an earlier test breaks every later in-process definitions
    load ("Attempted to resolve undefined DagsterInstance weakref"). Start each test without it."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield


def markdown_table_rows(markdown: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a Markdown table such as an export's preview."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return split[0], split[2:]


def same_cell(cell: str, value) -> bool:
    """A preview cell shows this export value (missing values as empty cells)."""
    if pd.isna(value):
        return cell == ""
    if isinstance(value, (int, float)):
        return float(cell) == float(value)
    return cell == str(value)
