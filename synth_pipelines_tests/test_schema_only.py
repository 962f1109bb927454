"""Schema-only generation end to end: rows from a schema alone, every column inside its declared parameters.

The acceptance request is built from a real table's public schema (UCI Adult's SDV metadata and
DayZ parameters, requests/schemas/adult.json); each shipped template runs through the graph too.
The checks below read the export and the schema directly, not the pipeline's own validity report.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import main, run_request
from synth_pipelines.core.request import QualitySpec, parse_request
from synth_pipelines.core.table_schema import check_schema
from synth_pipelines.core.templates import load_template, template_names
from synth_pipelines.quality.report import threshold_checks
from synth_pipelines.quality.validity import MISSING_TOLERANCE, schema_validity
from synth_pipelines.settings import REPO_ROOT, Settings
from synth_pipelines.training.schema_only import SchemaOnlyModel
from synth_pipelines_tests.conftest import markdown_table_rows, same_cell

ADULT_SCHEMA = REPO_ROOT / "requests" / "schemas" / "adult.json"
TIME_DIRECTIVES = ("%H", "%M", "%S")


def schema_only_request(request_id: str, rows: int = 5000, **fields) -> dict:
    return {
        "request_id": request_id,
        "synthesizer": {"name": "schema_only"},
        "rows": rows,
        "chunk_rows": 2000,
        "seed": 11,
        "requester": "tester@example.org",
        **fields,
    }


def _no_stale_instance() -> None:
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory):
    """One schema_only run of Adult's public schema; the data root does not even exist."""
    root = tmp_path_factory.mktemp("schema-only")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNTH_DATA_ROOT", str(root / "no-data-here"))
        patch.setenv("SYNTH_HOME", str(root / "home"))
        for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT", "SYNTH_IPFS_API_URL"):
            patch.delenv(var, raising=False)
        settings = Settings.from_env()
        _no_stale_instance()
        instance = DagsterInstance.ephemeral()
        schema = json.loads(ADULT_SCHEMA.read_text())
        request = parse_request(schema_only_request("adult-schema", schema=schema, publish=["local", "ipfs"]))
        ok, manifest_path, error = run_request(request, settings, instance=instance)
        assert ok, error
        manifest = json.loads(manifest_path.read_text())
        yield {"settings": settings, "instance": instance, "manifest": manifest}


def _datetime_bounds(meta: dict, params: dict) -> tuple[pd.Timestamp, pd.Timestamp]:
    fmt = meta.get("datetime_format")
    return (pd.to_datetime(params["start_timestamp"], format=fmt), pd.to_datetime(params["end_timestamp"], format=fmt))


def assert_column_follows_its_parameters(name: str, values: pd.Series, meta: dict, params: dict, key: bool) -> None:
    declared = float(params.get("missing_values_proportion", 0.0))
    assert abs(values.isna().mean() - declared) <= MISSING_TOLERANCE, name
    present = values.dropna()
    assert len(present) > 0, name
    sdtype = meta["sdtype"]
    if sdtype == "categorical":
        # drawn from the declared list, and (at these row counts) every declared value shows up
        assert set(present.astype(str)) == {str(v) for v in params["category_values"]}, name
    elif sdtype == "numerical":
        numbers = pd.to_numeric(present).astype(float)
        assert params["min_value"] <= numbers.min() and numbers.max() <= params["max_value"], name
        scaled = numbers * 10 ** params["num_decimal_digits"]
        assert (scaled - scaled.round()).abs().max() < 1e-6, name
        assert numbers.nunique() > 1, name
    elif sdtype == "datetime":
        low, high = _datetime_bounds(meta, params)
        stamps = pd.to_datetime(present)
        assert low <= stamps.min() and stamps.max() <= high, name
        if not any(d in (meta.get("datetime_format") or "%H") for d in TIME_DIRECTIVES):
            assert (stamps == stamps.dt.normalize()).all(), name  # a date-only format gives whole days
    elif sdtype == "boolean":
        assert set(present.astype(str)) == {"True", "False"}, name
    elif sdtype == "id":
        pattern = re.compile(meta["regex_format"])
        assert present.map(lambda v: bool(pattern.fullmatch(str(v)))).all(), name
        if key:
            assert present.is_unique, name
    else:  # PII-like sdtypes: made-up, varied, realistic-looking text
        text = present.astype(str)
        assert (text.str.len() > 0).all() and text.nunique() >= min(100, len(text) // 10), name
        if sdtype == "email":
            assert text.str.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+").all(), name


def assert_export_follows_schema(export: pd.DataFrame, schema: dict, rows: int) -> None:
    table = next(iter(schema["metadata"]["tables"].values()))
    parameters = next(iter(schema["parameters"]["tables"].values()))["columns"]
    assert list(export.columns) == list(table["columns"])
    assert len(export) == rows
    for name, meta in table["columns"].items():
        key = table.get("primary_key") == name
        assert_column_follows_its_parameters(name, export[name], meta, parameters.get(name, {}), key)


def test_a_real_tables_schema_generates_every_column_within_its_parameters(adult_run) -> None:
    manifest = adult_run["manifest"]
    export = pd.read_parquet(manifest["export_uri"])
    assert_export_follows_schema(export, json.loads(ADULT_SCHEMA.read_text()), rows=5000)
    assert manifest["sha256"] == hashlib.sha256(Path(manifest["export_uri"]).read_bytes()).hexdigest()


def test_no_data_is_read_and_no_epsilon_is_spent(adult_run) -> None:
    manifest, settings = adult_run["manifest"], adult_run["settings"]
    assert not settings.data_root.exists()  # nothing could have been read from it
    assert not (settings.work_root / "adult-schema" / "data").exists()  # no snapshot, no split
    assert manifest["privacy"]["epsilon_total"] == 0.0
    assert manifest["privacy"]["real_data_read"] is False
    # the quality block is validity against the schema, with nothing compared to real rows
    quality = manifest["quality"]
    assert quality["diagnostic"] == quality["data_validity"] == quality["data_structure"] == 1.0
    assert "overall" not in quality and "mia_auc" not in quality
    assert len(list(settings.work_root.glob("adult-schema/chunks/*/chunk-*.parquet"))) == 3


def test_the_embedded_ipfs_record_says_nothing_serves_it(adult_run) -> None:
    ipfs = adult_run["manifest"]["locations"]["ipfs"]
    assert ipfs["node"] == "embedded" and ipfs["served"] is False and ipfs["cid_computed_locally"] is True
    assert "pinned" not in ipfs and "gateway_url" not in ipfs
    assert "computed locally" in ipfs["note"] and "serves" in ipfs["note"]


def test_the_summary_says_no_data_was_read_and_offers_no_link_nothing_serves(adult_run) -> None:
    from synth_pipelines.publishing.summary import summary_lines

    manifest = adult_run["manifest"]
    lines = [line.strip() for line in summary_lines(manifest, (), "manifest.json")]
    assert next(line for line in lines if line.startswith("privacy")).endswith("no real data read (schema_only): ε 0")
    assert next(line for line in lines if line.startswith("quality")).split(maxsplit=1)[1].startswith("diagnostic")
    cid = manifest["locations"]["ipfs"]["cid"]
    assert any(line.endswith(f"ipfs: ipfs://{cid} (CID computed locally; nothing serves it)") for line in lines)
    event = adult_run["instance"].get_latest_materialization_event(dg.AssetKey("published_artifact"))
    assert "export_link" not in event.asset_materialization.metadata  # no node serves the bytes: no URL


def test_synthetic_export_shows_its_first_20_rows_as_a_preview(adult_run) -> None:
    event = adult_run["instance"].get_latest_materialization_event(dg.AssetKey("synthetic_export"))
    preview = event.asset_materialization.metadata["preview"]
    assert isinstance(preview, dg.MarkdownMetadataValue)
    header, rows = markdown_table_rows(preview.value)
    export = pd.read_parquet(adult_run["manifest"]["export_uri"])
    assert header == list(export.columns)
    assert len(rows) == 20
    for cells, (_, expected) in zip(rows, export.head(20).iterrows(), strict=True):
        assert all(same_cell(c, v) for c, v in zip(cells, expected, strict=True)), (cells, list(expected))


def test_preview_command_prints_rows_of_the_published_export(adult_run, capsys) -> None:
    assert Settings.from_env().artifact_root == adult_run["settings"].artifact_root  # the run's environment
    assert main(["preview", "adult-schema", "-n", "5"]) == 0
    out = capsys.readouterr().out
    header, rows = markdown_table_rows(out)
    export = pd.read_parquet(adult_run["manifest"]["export_uri"])
    assert header == list(export.columns) and len(rows) == 5
    assert all(same_cell(c, v) for c, v in zip(rows[4], export.iloc[4], strict=True))
    assert main(["preview", "never-published"]) == 2
    assert "no manifest for 'never-published'" in capsys.readouterr().err


@pytest.mark.parametrize("name", template_names())
def test_each_template_is_a_valid_sdv_schema(name: str) -> None:
    template = load_template(name)
    assert check_schema(template["metadata"], template["parameters"]) == []
    assert template["description"]


def test_the_shipped_templates_include_the_asked_for_ones() -> None:
    assert {"customers", "transactions", "patients"} <= set(template_names())


@pytest.mark.parametrize("name", template_names())
def test_each_template_runs_end_to_end_within_its_parameters(settings, name: str) -> None:
    request = parse_request(
        schema_only_request(f"tpl-{name}", rows=3000, chunk_rows=1000, template=name, output={"format": "csv"})
    )
    ok, manifest_path, error = run_request(request, settings, instance=DagsterInstance.ephemeral())
    assert ok, error
    manifest = json.loads(manifest_path.read_text())
    assert manifest["template"] == name and manifest["quality"]["diagnostic"] == 1.0
    export = pd.read_csv(manifest["export_uri"], dtype=str, keep_default_na=False, na_values=[""])
    template = load_template(name)
    for column, meta in next(iter(template["metadata"]["tables"].values()))["columns"].items():
        if meta["sdtype"] == "boolean":
            export[column] = export[column].map({"True": True, "False": False})
    assert_export_follows_schema(export, template, rows=3000)  # keys unique across the three chunks too


def test_the_same_request_gives_the_same_bytes_and_another_seed_others(settings) -> None:
    digests = []
    for request_id, seed in (("same-a", 5), ("same-b", 5), ("other", 6)):
        request = parse_request(
            schema_only_request(request_id, rows=1500, chunk_rows=500, seed=seed, template="transactions")
        )
        ok, manifest_path, error = run_request(request, settings, instance=DagsterInstance.ephemeral())
        assert ok, error
        digests.append(json.loads(manifest_path.read_text())["sha256"])
    assert digests[0] == digests[1] != digests[2]


def test_the_validity_report_sees_a_value_outside_the_domain_and_a_wrong_missing_share() -> None:
    schema = parse_request(schema_only_request("v", template="patients")).schema
    frame = SchemaOnlyModel(schema).sample(1000, seed=1)
    assert schema_validity(frame, schema)["diagnostic"] == 1.0
    broken = frame.copy()
    broken.loc[0, "blood_type"] = "Z+"  # not a declared category
    broken.loc[1, "height_cm"] = 300.0  # above max_value
    broken.loc[2, "weight_kg"] = 70.123  # more decimals than declared
    broken.loc[: len(broken) // 2, "smoker"] = None  # half missing where 0.1 is declared
    scores = schema_validity(broken, schema)
    for column in ("blood_type", "height_cm", "weight_kg"):
        assert scores["columns"][column]["validity"] < 1.0, column
    assert scores["columns"]["smoker"]["missing_within_tolerance"] is False
    assert scores["diagnostic"] < 1.0
    gate = threshold_checks(scores, QualitySpec(min_diagnostic=0.999))
    assert [c["passed"] for c in gate] == [False]


def test_a_primary_key_stays_unique_across_chunks() -> None:
    schema = parse_request(schema_only_request("k", template="customers")).schema
    model = SchemaOnlyModel(schema)
    first, second = model.sample(700, seed=1, first_row=0), model.sample(700, seed=2, first_row=700)
    keys = pd.concat([first["customer_id"], second["customer_id"]])
    assert keys.is_unique and keys.str.fullmatch(r"CUS-[0-9]{8}").all()
