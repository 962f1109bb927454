"""A differentially private request end to end: the manifest's privacy block, the ledger, and refusals."""

import json
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from synth_pipelines.cli import run_request
from synth_pipelines.privacy import PrivacyLedger
from synth_pipelines.request import parse_request
from synth_pipelines.settings import Settings
from synth_pipelines_tests.conftest import small_request

MARKER_TEXT = "Zebra-Quokka-7781"
MARKER_NUMBER = 987654


def dp_request(**overrides):
    return parse_request(
        small_request(synthesizer={"name": "dp_gaussian_copula"}, privacy={"epsilon": 1.0}, rows=1500, **overrides)
    )


def test_dp_request_publishes_its_privacy_block_and_charges_the_ledger(synth_env):
    ok, manifest_path, error = run_request(dp_request(request_id="dp-one"), synth_env, DagsterInstance.ephemeral())
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    privacy = manifest["privacy"]
    assert 0 < privacy["epsilon_total"] <= 1.0
    stages = privacy["epsilon_by_stage"]
    assert abs(sum(stages.values()) - privacy["epsilon_total"]) < 1e-9
    assert {"delta", "accountant", "mechanism"} <= set(privacy)
    assert privacy["delta_was_default"] is True and privacy["delta"] < 1 / 480
    entries = PrivacyLedger(synth_env.ledger_url).entries()
    assert [(e["request_id"], e["requester"], e["epsilon"]) for e in entries] == [("dp-one", "tester@example.org", 1.0)]


def test_over_cap_and_over_max_are_refused_before_training(synth_env, monkeypatch):
    monkeypatch.setenv("SYNTH_DATASET_EPSILON_CAP", "1.5")
    monkeypatch.setenv("SYNTH_MAX_EPSILON", "5")
    settings = Settings.from_env()
    instance = DagsterInstance.ephemeral()
    ok, _, error = run_request(dp_request(request_id="first"), settings, instance)
    assert ok, error
    ok, _, error = run_request(dp_request(request_id="second"), settings, instance)
    assert not ok and "trained_model" in error and "privacy.epsilon" in error and "cap" in error
    assert not (settings.work_root / "second" / "model").exists()
    too_much = parse_request(
        small_request(request_id="greedy", synthesizer={"name": "dp_gaussian_copula"}, privacy={"epsilon": 6.0})
    )
    ok, _, error = run_request(too_much, settings, instance)
    assert not ok and "privacy.epsilon" in error
    assert [e["request_id"] for e in PrivacyLedger(settings.ledger_url).entries()] == ["first"]


def test_no_training_row_reaches_the_model_or_anything_published(synth_env, adult_small_frame):
    frame = adult_small_frame.copy()
    frame.loc[3, "native_country"] = MARKER_TEXT
    frame.loc[3, "fnlwgt"] = MARKER_NUMBER
    frame.to_csv(Path(synth_env.data_root) / "marked.csv", index=False)
    request = dp_request(
        request_id="marked", dataset={"uri": "marked.csv"}, output={"format": "csv", "compression": "none"}
    )
    ok, manifest_path, error = run_request(request, synth_env, DagsterInstance.ephemeral())
    assert ok, error
    published = [p for p in manifest_path.parent.rglob("*") if p.is_file()]
    model = synth_env.work_root / "marked" / "model" / "model.pkl"
    for path in [*published, model]:
        data = path.read_bytes()
        assert MARKER_TEXT.encode() not in data, path
    export = pd.read_csv(json.loads(manifest_path.read_text())["export_uri"])
    assert MARKER_TEXT not in set(export["native_country"].astype(str))
