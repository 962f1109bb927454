"""Chunks at scale: identical bytes whatever the worker count, chunks re-made alone, retries, edge sizes."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance

import synth_pipelines.defs.generation.assets as generation
from synth_pipelines.cli import run_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.generation.export import chunk_plan, to_arrow
from synth_pipelines.publishing import sha256_file
from synth_pipelines.training.synthesizers import chunk_seed, load_model
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import make_dagster_home


def run(settings, instance=None, **overrides):
    """The whole graph in this process (the in-process executor)."""
    request = parse_request(small_request(**overrides))
    ok, manifest, error = run_request(request, settings, instance=instance or DagsterInstance.ephemeral())
    assert ok, error
    return json.loads(manifest.read_text())


def cli_run(settings, dagster_home, workers: int, **overrides) -> dict:
    """`synth-pipelines run --workers N` in its own process (the executor is built once per process)."""
    path = settings.work_root.parent / f"{overrides['request_id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(small_request(**overrides)))
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    command = [sys.executable, "-m", "synth_pipelines.cli", "run", "--workers", str(workers), str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())


def chunk_step_spans(dagster_home, request_id: str) -> list[tuple[float, float]]:
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = next(r for r in instance.get_runs() if r.tags.get("dagster/partition") == request_id)
        spans: dict[str, list[float]] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event and (event.step_key or "").startswith("synthetic_chunks.generate_chunks"):
                if event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                    spans.setdefault(event.step_key, []).append(record.timestamp)
    return [(min(t), max(t)) for t in spans.values()]


def overlapping(spans: list[tuple[float, float]]) -> bool:
    ordered = sorted(spans)
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:], strict=False))


@pytest.mark.integration
def test_one_and_two_workers_give_byte_identical_exports(synth_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_CHUNK_STEPS", "4")
    home = make_dagster_home(tmp_path / "dagster_home")
    one = cli_run(synth_env, home, 1, request_id="one-worker", rows=6000, chunk_rows=1000)
    two = cli_run(synth_env, home, 2, request_id="two-workers", rows=6000, chunk_rows=1000)
    assert one["sha256"] == two["sha256"]
    assert one["rows"] == two["rows"] == 6000
    assert not overlapping(chunk_step_spans(home, "one-worker"))
    assert overlapping(chunk_step_spans(home, "two-workers"))  # the two workers really ran chunks side by side


def test_a_chunk_made_again_alone_equals_the_chunk_in_the_export(settings):
    manifest = run(settings, request_id="remake", rows=2500, chunk_rows=1000, seed=11)
    model_path = settings.work_root / "remake" / "model" / "model.pkl"
    model = load_model(model_path)
    export = pq.read_table(manifest["export_uri"])
    kinds = dict(manifest["schema"])
    kinds = {
        name: {"int64": "int", "double": "float", "string": "string", "bool": "bool"}.get(t, "datetime")
        for name, t in kinds.items()
    }
    for index in (2, 0):  # the short last chunk first, then the first
        offset = index * 1000
        rows = chunk_plan(2500, 1000)[index]
        alone = to_arrow(model.sample(rows, chunk_seed(11, index)), kinds)
        assert alone.equals(export.slice(offset, rows))


def test_a_chunk_that_raises_once_is_retried_and_the_run_succeeds(settings, monkeypatch):
    real = generation.make_chunk
    failures = {"left": 1}

    def flaky(chunk, *args):
        if chunk.index == 1 and failures["left"]:
            failures["left"] -= 1
            raise OSError("transient write failure")
        return real(chunk, *args)

    # A fault that cannot be caused for real on demand: one chunk write fails once.
    monkeypatch.setattr(generation, "make_chunk", flaky)
    instance = DagsterInstance.ephemeral()
    one_step = replace(settings, chunk_steps=1)  # all three chunks in one step
    manifest = run(one_step, instance, request_id="flaky", rows=3000, chunk_rows=1000)
    assert failures["left"] == 0
    assert manifest["rows"] == 3000
    retried = [r for r in instance.get_runs() if r.tags.get("dagster/partition") == "flaky"]
    events = instance.all_logs(retried[0].run_id)
    assert any(e.dagster_event and e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY" for e in events)
    messages = [e.user_message or "" for e in events]
    # The retry re-made only the chunk that failed: chunk 1 of 3 was kept from the first attempt.
    assert any(m.startswith("chunk 1/3 already written") for m in messages), messages


def test_one_row(settings):
    manifest = run(settings, request_id="one-row", rows=1, output={"format": "csv", "compression": "none"})
    assert manifest["rows"] == 1
    assert len(Path(manifest["export_uri"]).read_text().splitlines()) == 2


@pytest.mark.integration
def test_a_million_rows_through_the_cli_with_two_workers(synth_env, tmp_path):
    home = make_dagster_home(tmp_path / "dagster_home")
    manifest = cli_run(
        synth_env, home, 2, request_id="million", rows=1_000_000, output={"format": "csv", "compression": "gzip"}
    )
    assert manifest["sha256"] == sha256_file(Path(manifest["export_uri"]))
    assert manifest["rows"] == 1_000_000
