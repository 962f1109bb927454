"""The whole graph materialized in-process for small requests, on the embedded defaults."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines_tests.conftest import markdown_table_rows, same_cell, small_request


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(settings, instance=None, **overrides):
    request = parse_request(small_request(**overrides))
    return run_request(request, settings, instance=instance or DagsterInstance.ephemeral())


def test_a_request_becomes_a_published_artifact(settings, adult_small_frame):
    instance = DagsterInstance.ephemeral()
    ok, manifest_path, error = run(settings, instance, quality={"min_overall": 0.5})
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    export = Path(manifest["export_uri"])
    assert manifest["sha256"] == sha256(export)
    assert manifest["bytes"] == export.stat().st_size
    assert manifest["rows"] == 2500 == len(pd.read_parquet(export))
    for key in (
        "request_id",
        "format",
        "compression",
        "report_uri",
        "synthesizer",
        "quality",
        "created_at",
        "code_version",
    ):
        assert manifest.get(key) is not None, key
    assert manifest["quality"]["overall"] >= 0.5
    assert Path(manifest["report_uri"]).is_file()
    chunks = sorted((settings.work_root / "small" / "chunks").glob("*/chunk-*.parquet"))
    assert len(chunks) == 3
    # The UI's preview: the export's first 20 rows, synthetic, none of them a row of the input table
    event = instance.get_latest_materialization_event(dg.AssetKey("synthetic_export"))
    header, rows = markdown_table_rows(event.asset_materialization.metadata["preview"].value)
    first = pd.read_parquet(export).head(20)
    assert header == list(first.columns) and len(rows) == 20
    for cells, (_, expected) in zip(rows, first.iterrows(), strict=True):
        assert all(same_cell(c, v) for c, v in zip(cells, expected, strict=True)), (cells, list(expected))
    assert first.astype(str).merge(adult_small_frame.astype(str)).empty


def test_same_seed_same_bytes_other_seed_other_bytes(settings, tmp_path):
    digests = []
    for request_id, seed in (("seed-a", 7), ("seed-b", 7), ("seed-c", 8)):
        ok, manifest_path, error = run(settings, request_id=request_id, seed=seed)
        assert ok, error
        digests.append(json.loads(manifest_path.read_text())["sha256"])
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_failed_validation_stops_the_run_and_lists_the_expectation(settings):
    ok, manifest_path, error = run(settings, quality={"target_column": "no_such_column"})
    assert not ok and manifest_path is None
    assert "validated_dataset" in error
    assert "expect_column_to_exist" in error and "no_such_column" in error
    assert not (settings.artifact_root / "small" / "manifest.json").exists()


def test_a_missed_quality_threshold_blocks_publishing(settings):
    ok, manifest_path, error = run(settings, quality={"min_overall": 0.999})
    assert not ok
    assert "min_overall" in error
    assert not (settings.artifact_root / "small" / "manifest.json").exists()


@pytest.mark.parametrize(("fmt", "compression"), [("csv", "gzip"), ("csv", "none"), ("parquet", "snappy")])
def test_output_formats(settings, fmt, compression):
    ok, manifest_path, error = run(
        settings, request_id=f"fmt-{fmt}-{compression}", output={"format": fmt, "compression": compression}, rows=1200
    )
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    export = Path(manifest["export_uri"])
    frame = pd.read_parquet(export) if fmt == "parquet" else pd.read_csv(export)
    assert len(frame) == 1200
    assert manifest["sha256"] == sha256(export)
    assert pd.api.types.is_integer_dtype(frame["age"])
