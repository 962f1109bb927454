"""A DP request's manifest and published report: synthetic-only scores, the gate declared outside ε.

The quality_report and published_artifact assets are invoked directly (their upstream values
passed in), on a small Adult table; the manifest is read back from the local artifact store.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from synth_pipelines.core.payloads import SyntheticExport, TrainedModel, ValidatedDataset
from synth_pipelines.core.request import SynthesisRequest, parse_request
from synth_pipelines.core.table_schema import draft_schema
from synth_pipelines.data.profiling import DatasetProfile
from synth_pipelines.defs.partitions import requests_partitions
from synth_pipelines.defs.publishing.assets import published_artifact
from synth_pipelines.defs.quality.assets import quality_report
from synth_pipelines.publishing import sha256_file
from synth_pipelines.resources import ArtifactStoreResource, S3Resource, WorkAreaIOManager, WorkAreaResource
from synth_pipelines_tests.quality.test_public_scores import REAL_DATA_KEYS, _keys


def _request(real_train, dp: bool) -> SynthesisRequest:
    payload = {
        "request_id": "dp-public" if dp else "plain-public",
        "dataset": {"uri": "adult.csv"},
        "synthesizer": {"name": "dp_gaussian_copula" if dp else "gaussian_copula"},
        "rows": 1500,
        "requester": "owner@example.org",
        "quality": {"min_overall": 0.1, "target_column": "income"},
        "schema": draft_schema(real_train, table="adult"),  # public by assumption in this test
    }
    if dp:
        payload["privacy"] = {"epsilon": 1.0}
    return parse_request(payload)


def _stub(name: str, value: object) -> dg.AssetsDefinition:
    @dg.asset(name=name, partitions_def=requests_partitions, group_name="synthesis")
    def _upstream():
        return value

    return _upstream


def _publish(tmp_path: Path, real_train, real_holdout, synthetic, metadata, dp: bool):
    """Materialize quality_report and published_artifact on stub upstream assets; return their events' payloads."""
    request = _request(real_train, dp)
    data = tmp_path / "data"
    data.mkdir()
    train_path, holdout_path = data / "train.parquet", data / "holdout.parquet"
    real_train.to_parquet(train_path)
    real_holdout.to_parquet(holdout_path)
    export = tmp_path / "synthetic.parquet"
    synthetic.head(1500).to_parquet(export)
    stubs = {
        "synthesis_request": request,
        "dataset_profile": DatasetProfile(rows=None, columns=[], metadata=metadata),
        "validated_dataset": ValidatedDataset(str(train_path), str(holdout_path), None, None),
        "synthetic_export": SyntheticExport(
            path=str(export),
            rows=1500,
            format="parquet",
            compression="snappy",
            sha256=sha256_file(export),
            bytes=export.stat().st_size,
            schema=[],
        ),
        "trained_model": TrainedModel(
            model_path=str(tmp_path / "model.pkl"),
            training_record={
                "train_seconds": 1.0,
                "device": "cpu",
                "privacy": {"epsilon_total": 1.0} if dp else None,
            },
            kinds={},
        ),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(requests_partitions.name, [request.request_id])
    result = dg.materialize(
        [*(_stub(name, value) for name, value in stubs.items()), quality_report, published_artifact],
        partition_key=request.request_id,
        instance=instance,
        resources={
            "io_manager": WorkAreaIOManager(root=str(tmp_path / "work")),
            "work_area": WorkAreaResource(root=str(tmp_path / "work")),
            "artifact_store": ArtifactStoreResource(root=str(tmp_path / "artifacts"), s3=S3Resource()),
        },
    )
    assert result.success
    report = result.output_for_node("quality_report")
    (materialization,) = result.asset_materializations_for_node("quality_report")
    checks = result.get_asset_check_evaluations()
    manifest = json.loads((tmp_path / "artifacts" / request.request_id / "manifest.json").read_text())
    return report, materialization.metadata, checks, manifest


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory, real_train, real_holdout, synthetic, metadata):
    return _publish(tmp_path_factory.mktemp("dp"), real_train, real_holdout, synthetic, metadata, dp=True)


def test_dp_manifest_quality_holds_no_real_data_score(dp_run) -> None:
    report, _, _, manifest = dp_run
    assert report.scores["overall"] is not None  # the private report did score against real rows
    assert not _keys(manifest["quality"]) & REAL_DATA_KEYS
    assert manifest["quality"]["synthetic_rows"] == 1500
    assert 0.0 <= manifest["quality"]["domain_share_overall"] <= 1.0


def test_dp_published_report_is_the_public_scores_only(dp_run) -> None:
    *_, manifest = dp_run
    assert set(manifest["reports"]) == {"report"}
    published = json.loads(Path(manifest["report_uri"]).read_text())
    assert published == manifest["quality"]
    assert not _keys(published) & REAL_DATA_KEYS


def test_dp_manifest_declares_the_gate_outside_the_guarantee(dp_run) -> None:
    *_, manifest = dp_run
    gate = manifest["publish_gate"]
    assert gate["differentially_private"] is False and gate["checks"] == ["min_overall"]
    assert "beyond ε" in gate["note"]


def test_dp_dagster_metadata_and_checks_show_no_real_data_score(dp_run) -> None:
    report, metadata, checks, _ = dp_run
    overall = report.scores["overall"]
    shown = json.dumps({k: str(v) for k, v in metadata.items()})
    assert "overall" not in metadata
    assert f"{overall:.4f}" not in shown and "Quality (overall)" not in shown
    assert [c.check_name for c in checks if c.description and "min_overall" in c.description] == ["min_overall"]
    for check in checks:
        assert f"{overall:.4f}" not in (check.description or "")
        assert "value" not in check.metadata


def test_non_dp_manifest_keeps_todays_scores(tmp_path, real_train, real_holdout, synthetic, metadata) -> None:
    report, _, _, manifest = _publish(tmp_path, real_train, real_holdout, synthetic, metadata, dp=False)
    assert manifest["quality"]["overall"] == report.scores["overall"]
    assert "publish_gate" not in manifest
