"""Real public tables that nobody prepared run through the whole graph and keep each column's missing share.

Slices of corpus tables (synth_pipelines/data/corpus.py), written to the data root as a user
would drop them (CSV or Parquet), a default gaussian_copula request, 5,000 rows out. Each slice
carries one of the columns that used to stop a run or be modelled wrongly: a sparse column, an
all-null column, a constant column with missing values, an id column, free text. The export's
null share per column must stay within 0.02 of the input's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.data import corpus

MISSING_SHARE_TOLERANCE = 0.02
ROWS_OUT = 5_000

SLICES = {
    # all-null (wk66-wk68), constant with missing values (wk64, wk65), sparse (wk20, wk40), an id-like track
    "billboard": {
        "columns": ["artist", "track", "date.entered", "wk1", "wk20", "wk40", "wk64", "wk65", "wk66", "wk67", "wk68"],
        "rows": None,
    },
    # a constant with 3.2% missing, sparse joint-application columns (85% missing), free-typed job titles
    "loans": {
        "columns": [
            "emp_title",
            "emp_length",
            "state",
            "annual_income",
            "annual_income_joint",
            "debt_to_income_joint",
            "num_accounts_120d_past_due",
            "grade",
            "issue_month",
            "loan_amount",
        ],
        "rows": 4_000,
    },
    # free text with unicode, a unique id, an id that is 88% missing, a constant boolean, a datetime
    "trump_tweets": {"columns": None, "rows": 4_000},
    # a unique id (tailnum) and a 99.3% missing column (speed)
    "planes": {"columns": None, "rows": None},
}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def _run(name: str, settings) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    spec = SLICES[name]
    path = corpus.write_table(name, settings.data_root, rows=spec["rows"], columns=spec["columns"])
    request = parse_request(
        {
            "request_id": name.replace("_", "-"),
            "dataset": {"uri": path.name},
            "rows": ROWS_OUT,
            "requester": "tester@example.org",
        }
    )
    ok, manifest_path, error = run_request(request, settings, instance=DagsterInstance.ephemeral())
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    return _read(path), pd.read_parquet(manifest["export_uri"]), manifest


def _treatments(settings, name: str) -> dict[str, str]:
    import pickle

    profile = pickle.loads((settings.work_root / name.replace("_", "-") / "io" / "dataset_profile.pickle").read_bytes())
    return profile.treatments


@pytest.mark.parametrize("name", list(SLICES))
def test_a_messy_real_table_runs_end_to_end_and_keeps_missing_shares(settings, name) -> None:
    source, export, manifest = _run(name, settings)
    assert manifest["rows"] == ROWS_OUT == len(export)
    assert list(export.columns) == list(source.columns)  # nothing here is dropped
    shares = pd.DataFrame({"input": source.isna().mean(), "export": export[source.columns].isna().mean()})
    off = shares[(shares["input"] - shares["export"]).abs() > MISSING_SHARE_TOLERANCE]
    assert off.empty, f"missing shares moved by more than {MISSING_SHARE_TOLERANCE}:\n{off}"

    treatments = _treatments(settings, name)
    if name == "billboard":
        assert export[["wk66", "wk67", "wk68"]].isna().all().all()
        assert {treatments[c] for c in ("wk64", "wk65", "wk66")} == {"kept"}
        assert treatments["wk20"] == "modelled"
    if name == "loans":
        assert treatments["num_accounts_120d_past_due"] == "kept"
        assert export["num_accounts_120d_past_due"].nunique() == 1
        assert treatments["emp_title"] == "generated_text"
        assert treatments["annual_income_joint"] == "modelled"
    if name == "trump_tweets":
        assert treatments["text"] == "generated_text" and treatments["id_str"] == "generated_id"
        assert not set(export["text"].dropna()) & set(source["text"].dropna())  # no real tweet comes out
    if name == "planes":
        assert treatments["tailnum"] == "generated_id" and export["tailnum"].notna().all()
        # made up from the pattern, not copied: a chance match of the pattern is rare
        assert export["tailnum"].isin(set(source["tailnum"])).mean() < 0.01
