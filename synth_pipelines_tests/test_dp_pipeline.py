"""A differentially private request end to end: the manifest, the ledger, no real value anywhere, neighbours.

The marker test plants a row with a marker value in a real table and searches every byte
the run wrote (the artifact store, the work area, the Dagster instance's folder: its event
log, run storage and any asset storage) except the work area's own copies of the input
(`<work>/<request>/data/`, the rows themselves). The neighbour test runs D and D plus one row
and compares the public manifests: only noise may differ.
"""

import json
import re
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.privacy.ledger import PrivacyLedger
from synth_pipelines_tests.conftest import markdown_table_rows, same_cell, small_request
from synth_pipelines_tests.privacy.conftest import adult_schema_dict

MARKER_TEXT = "Zebra-Quokka-7781"
MARKER_NUMBER = 987651


def dp_request(**overrides):
    request = small_request(
        synthesizer={"name": "dp_gaussian_copula"}, privacy={"epsilon": 1.0}, rows=1500, schema=adult_schema_dict()
    )
    return parse_request({**request, **overrides})


def test_dp_request_publishes_its_privacy_block_and_charges_every_attempt(settings):
    instance = DagsterInstance.ephemeral()
    ok, manifest_path, error = run_request(dp_request(request_id="dp-one"), settings, instance)
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    privacy = manifest["privacy"]
    assert 0 < privacy["epsilon_total"] <= 1.0
    # The UI's preview is the DP export's own first 20 rows (post-processing, covered by ε)
    event = instance.get_latest_materialization_event(dg.AssetKey("synthetic_export"))
    header, rows = markdown_table_rows(event.asset_materialization.metadata["preview"].value)
    first = pd.read_parquet(manifest["export_uri"]).head(20)
    assert header == list(first.columns) and len(rows) == 20
    for cells, (_, row) in zip(rows, first.iterrows(), strict=True):
        assert all(same_cell(c, v) for c, v in zip(cells, row, strict=True)), (cells, list(row))
    assert abs(sum(privacy["epsilon_by_stage"].values()) - privacy["epsilon_total"]) < 1e-9
    assert {"delta", "accountant", "mechanism"} <= set(privacy)
    assert privacy["delta_was_default"] is True and privacy["delta"] == 1e-7  # the schema declares no num_rows
    # The run page's summary: the public scores and the ε spent, no score computed against the real rows.
    published = instance.get_latest_materialization_event(dg.AssetKey("published_artifact"))
    summary = published.asset_materialization.metadata["summary"].value
    assert "ε spent" in summary
    quality_row = next(line for line in summary.splitlines() if line.startswith("| quality |"))
    shown = re.findall(r"(\w+) [\d.,]+", quality_row.split("covered by ε):", 1)[1])
    assert shown and set(shown) <= set(manifest["quality"])  # only the public block's own scores
    # A second run of the same request releases fresh noise: it is charged again.
    ok, _, error = run_request(dp_request(request_id="dp-one"), settings, instance)
    assert ok, error
    entries = PrivacyLedger(settings.ledger_url).entries()
    assert [(e["request_id"], e["dataset_id"], e["epsilon"]) for e in entries] == [
        ("dp-one", "adult_small.csv", 1.0),
        ("dp-one", "adult_small.csv", 1.0),
    ]


def test_over_cap_and_over_max_are_refused_before_training(settings):
    settings = replace(settings, dataset_epsilon_cap=1.5, max_epsilon=5.0)
    instance = DagsterInstance.ephemeral()
    ok, _, error = run_request(dp_request(request_id="first"), settings, instance)
    assert ok, error
    # Another copy of the same data under another path, declared as the same dataset, shares the cap.
    Path(settings.data_root, "copy.csv").write_bytes(Path(settings.data_root, "adult_small.csv").read_bytes())
    same = dp_request(request_id="second", dataset={"uri": "copy.csv", "id": "adult_small.csv"})
    ok, _, error = run_request(same, settings, instance)
    assert not ok and "trained_model" in error and "privacy.epsilon" in error and "cap" in error
    assert not (settings.work_root / "second" / "model").exists()
    ok, _, error = run_request(dp_request(request_id="greedy", privacy={"epsilon": 6.0}), settings, instance)
    assert not ok and "privacy.epsilon" in error
    assert [e["request_id"] for e in PrivacyLedger(settings.ledger_url).entries()] == ["first"]


def _files(root: Path, skip: list[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skip)]


def test_a_marker_row_reaches_no_file_event_or_storage(settings, adult_small_frame, tmp_path):
    frame = adult_small_frame.copy()
    frame.loc[3, "native_country"] = MARKER_TEXT
    frame.loc[3, "fnlwgt"] = MARKER_NUMBER
    frame.to_csv(Path(settings.data_root) / "marked.csv", index=False)
    request = dp_request(
        request_id="marked", dataset={"uri": "marked.csv"}, output={"format": "csv", "compression": "none"}
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        ok, manifest_path, error = run_request(request, settings, instance)
        assert ok, error
        logged = "\n".join(str(entry) for entry in instance.all_logs(instance.get_runs()[0].run_id))
    assert MARKER_TEXT not in logged and str(MARKER_NUMBER) not in logged
    inputs = settings.work_root / "marked" / "data"  # the rows themselves, in the owner's private area
    searched = _files(home, []) + _files(settings.artifact_root, []) + _files(settings.work_root, [inputs])
    assert any(p.suffix == ".db" for p in searched) and manifest_path in searched
    markers = [MARKER_TEXT.encode(), MARKER_TEXT.encode("utf-16-le")]
    for path in searched:
        data = path.read_bytes()
        for marker in markers:
            assert marker not in data, path
        if path.suffix != ".csv":  # an export could hold the same number by chance
            assert str(MARKER_NUMBER).encode() not in data, path
    assert MARKER_TEXT.encode() in (inputs / "raw.parquet").read_bytes()  # the search would find it


def _public(manifest: dict) -> dict:
    """A manifest less what is noise or differs run to run by design."""
    out = json.loads(json.dumps(manifest))
    for key in (
        *("sha256", "bytes", "created_at", "published_at", "dagster_run_id", "request_id"),
        *("export", "export_uri", "report_uri", "reports", "files", "locations"),
    ):
        out.pop(key, None)
    privacy = out.get("privacy") or {}
    for key in ("epsilon_total", "epsilon_by_stage", "rho", "tree"):  # dp_mst's tree is a noisy selection
        privacy.pop(key, None)
    out.pop("quality", None)  # synthetic-only scores: functions of the noisy model
    return out


@pytest.mark.parametrize("name", ["dp_gaussian_copula", "dp_mst"])
def test_manifests_of_neighbouring_datasets_differ_only_in_noise(settings, adult_small_frame, name):
    plus_one = pd.concat([adult_small_frame, adult_small_frame.iloc[[0]].assign(age=99)], ignore_index=True)
    plus_one.to_csv(Path(settings.data_root) / "plus_one.csv", index=False)
    instance = DagsterInstance.ephemeral()
    manifests = []
    for rid, uri in (("d", "adult_small.csv"), ("d-plus-one", "plus_one.csv")):
        synthesizer = {"name": name, "epochs": 50}  # dp_mst: mirror-descent iterations; the copula ignores it
        request = dp_request(request_id=rid, dataset={"uri": uri, "id": "adult"}, synthesizer=synthesizer)
        ok, path, error = run_request(request, settings, instance)
        assert ok, error
        manifests.append(json.loads(path.read_text()))
    assert _public(manifests[0]) == _public(manifests[1])
    assert set(manifests[0]["quality"]) == set(manifests[1]["quality"])
    for manifest, n in zip(manifests, (600, 601), strict=True):
        text = json.dumps(manifest)
        for exact in (f": {n},", f": {n}}}", f"{n} rows", f": {n - len(adult_small_frame) // 5}"):
            assert exact not in text


def test_a_dp_mst_request_runs_the_graph_and_its_manifest_states_the_epsilon(settings):
    instance = DagsterInstance.ephemeral()
    request = dp_request(request_id="mst", synthesizer={"name": "dp_mst", "epochs": 100})
    ok, manifest_path, error = run_request(request, settings, instance)
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    privacy = manifest["privacy"]
    assert 0.99 <= privacy["epsilon_total"] <= 1.0 and privacy["epsilon_requested"] == 1.0
    assert set(privacy["rho_by_stage"]) == {"one_way", "selection", "two_way"}
    export = pd.read_parquet(manifest["export_uri"])
    assert len(export) == 1500 and list(export.columns) == list(
        adult_schema_dict()["metadata"]["tables"]["data"]["columns"]
    )
    entries = PrivacyLedger(settings.ledger_url).entries()
    assert [(e["request_id"], e["epsilon"]) for e in entries] == [("mst", 1.0)]
