"""Shared fixtures: an isolated data root, request store, work area and artifact store per test."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.settings import REPO_ROOT, Settings

ADULT = REPO_ROOT / "sample_data" / "adult.csv"


@pytest.fixture(scope="session")
def adult_small_frame() -> pd.DataFrame:
    from synth_pipelines.data.loading import read_table

    return read_table(ADULT, "csv").head(600)  # as the pipeline reads a CSV ("?" is missing)


@pytest.fixture
def settings(tmp_path: Path, adult_small_frame: pd.DataFrame) -> Settings:
    """Every root in a fresh temporary folder; the data root holds adult_small.csv (600 rows).

    Nothing is read from or written to the environment: graph tests pass
    `build_resources(settings)` (or `run_request(request, settings)`) themselves.
    """
    data = tmp_path / "data"
    data.mkdir()
    adult_small_frame.to_csv(data / "adult_small.csv", index=False)
    return Settings.in_folder(tmp_path / "home", data)


@pytest.fixture
def synth_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The same settings in the environment, for tests that start processes (CLI, dagster dev, workers)."""
    monkeypatch.setenv("SYNTH_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("SYNTH_HOME", str(tmp_path / "home"))
    for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT", "SYNTH_LEDGER_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    assert Settings.from_env() == settings
    return settings


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
