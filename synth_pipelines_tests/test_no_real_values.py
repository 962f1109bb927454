"""No real value reaches Dagster: the profile, validation messages, the event log and the instance's storage.

A marker value planted in the real table must appear nowhere a UI viewer or the instance
can read; asset outputs live in the request's work area (the work-area IO manager), never in
DAGSTER_HOME/storage, and retention removes them with the rest of the request.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.core.table_schema import draft_schema
from synth_pipelines.data.profiling import DatasetProfile, profile_dataset
from synth_pipelines.data.validation import validate_dataset
from synth_pipelines.publishing.retention import find_expired, remove
from synth_pipelines_tests.conftest import small_request

MARKER = "MARKER_7f3a9c"
MARKER_NUMBER = 987654321


def _with_markers(frame: pd.DataFrame) -> pd.DataFrame:
    marked = frame.copy()
    marked.loc[3, "occupation"] = MARKER
    marked.loc[4, "fnlwgt"] = MARKER_NUMBER  # the table's maximum: an exact max would show it
    return marked


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_profile_holds_kinds_and_counts_only(adult_small_frame) -> None:
    profile = profile_dataset(_with_markers(adult_small_frame))
    text = json.dumps(profile.to_dict())
    assert MARKER not in text and str(MARKER_NUMBER) not in text
    for column in profile.columns:
        assert set(column) == {"name", "dtype", "sdtype", "missing_rate", "cardinality", "pii", "treatment", "reason"}
    assert profile.metadata["columns"]["occupation"] == {"sdtype": "categorical"}
    # an old profile (with min/max and SDV's detected ranges) is read back without them
    old = {
        "rows": 1,
        "columns": [{**profile.columns[0], "min": 1, "max": MARKER_NUMBER}],
        "metadata": {"columns": {"age": {"sdtype": "numerical", "range_max": MARKER_NUMBER}}},
    }
    assert str(MARKER_NUMBER) not in json.dumps(DatasetProfile.from_dict(old).to_dict())


def test_validation_failure_names_counts_never_the_observed_value() -> None:
    clean = pd.DataFrame({"amount": [i * 1.5 for i in range(60)], "label": ["a", "b"] * 30})
    profile = profile_dataset(clean)
    assert profile.sdtypes["amount"] == "numerical"
    dirty = clean.astype({"amount": object})
    dirty.loc[7, "amount"] = MARKER  # a text value in a numerical column: the type expectation fails on it
    # The owner declares `amount` numerical (the blocking contract); the draft's values are this test's own.
    request = parse_request(small_request(quality={"target_column": "label"}, schema=draft_schema(clean)))
    outcome = validate_dataset(dirty, profile, request)
    assert not outcome.success
    message = outcome.failure_message()
    assert "expect_column_values_to_be_in_type_list on column 'amount'" in message
    assert "unexpected count 1" in message and "element count 60" in message
    assert MARKER not in message
    assert MARKER not in repr(outcome)  # nor in what becomes the check's metadata


def _instance(tmp_path: Path) -> DagsterInstance:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return DagsterInstance.local_temp(tempdir=str(home))


def _event_log_text(instance: DagsterInstance) -> str:
    return "\n".join(
        dg.serialize_value(record.event_log_entry)
        for run in instance.get_runs()
        for record in instance.get_records_for_run(run.run_id, limit=100_000).records
    )


def test_a_failed_run_leaves_no_marker_in_the_event_log_or_instance(settings, adult_small_frame, tmp_path) -> None:
    _with_markers(adult_small_frame).to_csv(settings.data_root / "adult_small.csv", index=False)
    instance = _instance(tmp_path)
    # Validation refuses the request after raw_dataset and dataset_profile have run and been recorded.
    request = parse_request(small_request(request_id="marked", quality={"target_column": "no_such_column"}))
    ok, _, error = run_request(request, settings, instance=instance)
    assert not ok and "no_such_column" in error
    assert MARKER not in error
    log = _event_log_text(instance)
    assert "dataset_profile" in log  # the profile was recorded...
    assert MARKER not in log and str(MARKER_NUMBER) not in log  # ...without the marker
    home = Path(instance.root_directory)
    assert _files_containing(home, MARKER.encode()) == []
    # the snapshot in the private work area does hold it: the search above could find it
    assert _files_containing(settings.work_root / "marked", MARKER.encode())


def test_outputs_live_in_the_work_area_and_retention_removes_them(settings, tmp_path) -> None:
    instance = _instance(tmp_path)
    ok, manifest_path, error = run_request(parse_request(small_request()), settings, instance=instance)
    assert ok, error
    storage = Path(instance.storage_directory())
    # Only the captured step logs (searched for the marker above) may sit in the instance's storage;
    # Dagster's default IO manager would have written every output here.
    stored = [p for p in storage.rglob("*") if p.is_file() and p.parent.name != "compute_logs"]
    assert stored == [], stored
    io = settings.work_root / "small" / "io"
    for asset in ("synthesis_request", "raw_dataset", "dataset_profile", "validated_dataset", "quality_report"):
        assert (io / f"{asset}.pickle").is_file(), asset
    assert any((io / "runs").rglob("*.pickle"))  # op steps inside the synthetic_chunks graph asset

    expired = {
        e.request_id: e
        for e in find_expired(
            settings.artifact_root, settings.work_root, timedelta(days=1), datetime.now(UTC) + timedelta(days=400)
        )
    }
    assert set(expired) == {"small"}
    remove(expired["small"])
    assert not io.exists() and not (settings.work_root / "small").exists()


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_retention_expires_unpartitioned_run_outputs_but_never_calls_them_a_request(tmp_path) -> None:
    import os

    work, artifacts = tmp_path / "work", tmp_path / "artifacts"
    old_run = work / "_io" / "runs" / "old-run" / "remove_expired_artifacts" / "result.pickle"
    new_run = work / "_io" / "runs" / "new-run" / "remove_expired_artifacts" / "result.pickle"
    for path in (old_run, new_run):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    stamp = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    for path in [old_run.parents[1], *old_run.parents[1].rglob("*")]:
        os.utime(path, (stamp, stamp))
    expired = find_expired(artifacts, work, timedelta(days=7), datetime.now(UTC))
    assert [e.request_id for e in expired] == ["_io/old-run"]
    remove(expired[0])
    assert not old_run.parents[1].exists() and new_run.exists()
