"""`synth-pipelines validate | schema | run`: exit codes and messages a person can act on."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth_pipelines.cli import main
from synth_pipelines_tests.conftest import write_request


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"rows": 0}, "rows"),
        ({"rows": 2_000_000}, "rows"),
        ({"synthesizer": {"name": "nonesuch"}}, "synthesizer.name"),
        ({"output": {"format": "xlsx"}}, "output.format"),
        ({"dataset": {"uri": "../../etc/passwd", "format": "csv"}}, "dataset.uri"),
        ({"dataset": {"uri": "/etc/passwd", "format": "csv"}}, "dataset.uri"),
        ({"dataset": {"uri": "missing.csv"}}, "dataset.uri"),
    ],
)
def test_validate_refuses_with_exit_2_naming_the_field(synth_env, tmp_path, capsys, overrides, field):
    path = write_request(tmp_path / "request.json", **overrides)
    assert main(["validate", str(path)]) == 2
    errors = json.loads(capsys.readouterr().err.split("\nrefused:")[0])["errors"]
    assert field in [e["field"] for e in errors]


def test_validate_refuses_malformed_json(synth_env, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"request_id": "x", "rows": ')
    assert main(["validate", str(path)]) == 2
    assert "refused: request: is not valid JSON" in capsys.readouterr().err


def test_validate_accepts_a_good_request(synth_env, tmp_path, capsys):
    path = write_request(tmp_path / "request.json")
    assert main(["validate", str(path)]) == 0
    assert "ok: small: 2,500 rows with gaussian_copula in 3 chunks" in capsys.readouterr().out


def test_console_script_validate_and_schema(synth_env, tmp_path):
    script = [sys.executable, "-m", "synth_pipelines.cli"]
    bad = write_request(tmp_path / "bad.json", dataset={"uri": "../../etc/passwd", "format": "csv"})
    done = subprocess.run([*script, "validate", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "dataset.uri" in done.stderr and "outside the data root" in done.stderr
    schema = subprocess.run([*script, "schema"], capture_output=True, text=True, check=True)
    assert json.loads(schema.stdout)["title"] == "SynthesisRequest"


def test_draft_schema_prints_a_schema_a_dp_request_accepts(synth_env, tmp_path, capsys):
    from synth_pipelines.core.request import parse_request
    from synth_pipelines_tests.conftest import small_request

    assert main(["draft-schema", str(synth_env.data_root / "adult_small.csv")]) == 0
    out, err = capsys.readouterr()
    assert "publicly known" in err
    schema = json.loads(out)
    request = parse_request(
        small_request(synthesizer={"name": "dp_gaussian_copula"}, privacy={"epsilon": 1.0}, schema=schema)
    )
    assert set(request.schema.columns) >= {"age", "workclass", "income"}


def test_templates_lists_each_shipped_schema_with_its_columns(capsys):
    from synth_pipelines.core.templates import load_template

    assert main(["templates"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = {line.split()[0]: line for line in lines}
    assert {"customers", "transactions", "patients"} <= set(listed)
    for name, line in listed.items():
        template = load_template(name)
        columns = len(next(iter(template["metadata"]["tables"].values()))["columns"])
        assert f"{columns} columns" in line and template["description"] in line
    assert main(["templates", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in described] == sorted(listed)


def test_validate_accepts_a_schema_only_template_request_without_any_data(synth_env, tmp_path, capsys):
    path = tmp_path / "request.json"
    request = {"request_id": "gen", "synthesizer": {"name": "schema_only"}, "template": "customers"}
    path.write_text(json.dumps({**request, "rows": 500, "requester": "a@b.org"}))
    assert main(["validate", str(path)]) == 0
    assert "ok: gen: 500 rows with schema_only in 1 chunks" in capsys.readouterr().out


def test_preview_refuses_an_id_that_is_not_a_request_id(synth_env, capsys):
    assert main(["preview", "../etc"]) == 2
    assert "request_id" in capsys.readouterr().err


def test_run_prints_progress_at_info_and_ends_with_the_summary(synth_env, tmp_path):
    """`synth-pipelines run`: each step's start and end, no DEBUG flood, a closing summary, a notification."""
    from synth_pipelines_tests.dagster_processes import make_dagster_home

    path = write_request(tmp_path / "request.json", quality={"min_overall": 0.3})
    env = {**os.environ, "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home"))}
    script = [sys.executable, "-m", "synth_pipelines.cli"]
    # Bytes, not text: text mode would turn the carriage returns of a redrawn progress bar into lines.
    done = subprocess.run([*script, "run", str(path)], capture_output=True, env=env, timeout=900)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    manifest_path = stdout.strip().splitlines()[-1]
    manifest = json.loads(Path(manifest_path).read_text())
    # Terminal lines: a progress bar redrawn in place is one (Great Expectations draws one).
    lines = (stderr + stdout).rstrip("\n").split("\n")
    print(f"{len(lines)} lines of output")  # 38 on the small request (Dagster's default logger: 158)
    assert not [line for line in lines if "DEBUG" in line]
    assert len(lines) <= 50, "\n".join(lines)
    for step in ("synthesis_request", "trained_model", "synthetic_export", "quality_report", "published_artifact"):
        assert any(f'Started execution of step "{step}"' in line for line in lines), (step, lines)
        assert any(f'Finished execution of step "{step}"' in line for line in lines), (step, lines)
    assert any("fitting gaussian_copula" in line for line in lines)  # the run's own context.log.info

    block = lines[lines.index("== small: published ==") :]
    summary = {line.split()[0]: line.split(maxsplit=1)[1] for line in block[1:]}
    assert summary["rows"].startswith(f"{manifest['rows']:,} ")
    assert summary["sha256"] == manifest["sha256"]
    assert summary["quality"].startswith(f"overall {manifest['quality']['overall']:.3f}")
    assert summary["checks"].startswith("3 of 3 passed (inferred_expectations, expectation_suite, min_overall)")
    assert summary["privacy"].startswith("no DP")
    assert summary["published"] == f"local: {manifest['locations']['local']}"
    assert summary["manifest"] == manifest_path == lines[-1].split()[-1]

    notes = subprocess.run([*script, "notifications", "--request-id", "small"], capture_output=True, text=True, env=env)
    assert notes.returncode == 0
    (record,) = notes.stdout.splitlines()
    assert "success" in record.split() and record.endswith(manifest_path)
