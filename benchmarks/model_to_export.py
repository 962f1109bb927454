"""Model → export: the pipeline against a like-for-like one-process script, and against plain SDV, repeated.

Adult, gaussian_copula, 1,000,000 rows in chunks of 10,000, Parquet+zstd, seed 7. In one session:
- pipeline: `synth-pipelines run --workers 2 REQUEST` in a fresh process per run (the
  executor is built once per process); timed from the end of `trained_model` to the end of
  `synthetic_export` in the run's event log;
- like-for-like script: the same fitted model (loaded from the first pipeline run), the same
  tabulated sampler and chunk seeds, each chunk coerced to the export schema and written by
  the same writer (`export_tables`: a Parquet row group per chunk, hashed as it is written),
  in one process with no chunk files, no Dagster and no second worker; its SHA-256 must equal
  the pipeline's, which proves the two did the same work;
- plain SDV: the same synthesizer's own `sample(1_000_000)` in one call, then
  `DataFrame.to_parquet(compression="zstd")`.
Each is run `--repeats` times; the table gives the median and the spread (min-max) and the
ratios of the medians. The headline is pipeline / like-for-like script.

Usage: .venv/bin/python benchmarks/model_to_export.py [--rows N] [--repeats 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK_ROWS = 10_000
SEED = 7
TARGET = 1.2


def _spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "runs": [round(v, 2) for v in values],
    }


def _request(request_id: str, rows: int) -> dict:
    return {
        "request_id": request_id,
        "dataset": {"uri": "adult.csv"},
        "synthesizer": {"name": "gaussian_copula"},
        "rows": rows,
        "chunk_rows": CHUNK_ROWS,
        "output": {"format": "parquet", "compression": "zstd"},
        "seed": SEED,
        "publish": ["local"],
        "requester": "benchmark@example.org",
    }


def run_pipeline(settings, request_id: str, rows: int) -> dict:
    from dagster import DagsterInstance

    path = settings.work_root.parent / f"{request_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_request(request_id, rows)))
    command = [sys.executable, "-m", "synth_pipelines.cli", "run", "--workers", "2", str(path)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{request_id} failed: {done.stderr[-2000:]}")
    manifest = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    with DagsterInstance.get() as instance:
        run = next(r for r in instance.get_runs() if r.tags.get("dagster/partition") == request_id)
        stamps: dict[str, list[float]] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event and event.step_key and event.event_type_value == "STEP_SUCCESS":
                stamps.setdefault(event.step_key, []).append(record.timestamp)
    model_done = max(stamps["trained_model"])
    export_done = max(stamps["synthetic_export"])
    return {
        "request_id": request_id,
        "model_to_export_seconds": export_done - model_done,
        "run_wall_seconds": wall,
        "sha256": manifest["sha256"],
        "model_path": str(settings.work_root / request_id / "model" / "model.pkl"),
    }


def run_script(model_path: str, kinds: dict[str, str], rows: int, out: Path) -> dict:
    """The pipeline's work in one process: sample every chunk in order, write it with the export writer."""
    from synth_pipelines.generation.export import chunk_plan, export_tables, to_arrow
    from synth_pipelines.training.synthesizers import chunk_seed, load_model

    model = load_model(Path(model_path))
    started = time.perf_counter()
    tables = (
        to_arrow(model.sample(size, chunk_seed(SEED, index)), kinds)
        for index, size in enumerate(chunk_plan(rows, CHUNK_ROWS))
    )
    result = export_tables(tables, kinds, out, "parquet", "zstd")
    return {"seconds": time.perf_counter() - started, "sha256": result.sha256}


def run_plain_sdv(model_path: str, rows: int, out: Path) -> dict:
    from synth_pipelines.training.synthesizers import load_model

    model = load_model(Path(model_path))
    # The SDV synthesizer itself: a TreatedModel (rare levels, kept and id columns) wraps it as `inner`.
    synthesizer = getattr(model, "inner", model).synthesizer
    started = time.perf_counter()
    frame = synthesizer.sample(rows)["data"]  # SDV 2's sample returns {"data": frame}
    frame.to_parquet(out, compression="zstd", index=False)
    return {"seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    load_start = os.getloadavg()

    home = Path(tempfile.mkdtemp(prefix="synth-export-"))
    os.environ.update(
        {
            "SYNTH_HOME": str(home / "synth"),
            "SYNTH_DATA_ROOT": str(REPO / "sample_data"),
            "DAGSTER_HOME": str(home / "dagster"),
            "GX_ANALYTICS_ENABLED": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
    )
    (home / "dagster").mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster" / "dagster.yaml")

    import pandas as pd

    from synth_pipelines.generation.export import kinds_of
    from synth_pipelines.settings import Settings

    settings = Settings.from_env()
    pipeline, script, plain = [], [], []
    for repeat in range(args.repeats):
        pipeline.append(run_pipeline(settings, f"export-bench-{repeat}", args.rows))
        model_path = pipeline[0]["model_path"]
        # The export's column types, as `trained_model` derives them from the training rows.
        kinds = kinds_of(pd.read_parquet(settings.work_root / pipeline[0]["request_id"] / "data" / "train.parquet"))
        script.append(run_script(model_path, kinds, args.rows, home / f"script-{repeat}.parquet"))
        plain.append(run_plain_sdv(model_path, args.rows, home / f"plain-{repeat}.parquet"))
        print(
            f"run {repeat + 1}: pipeline {pipeline[-1]['model_to_export_seconds']:.2f} s, "
            f"script {script[-1]['seconds']:.2f} s, plain SDV {plain[-1]['seconds']:.2f} s",
            flush=True,
        )
    pipeline_s = _spread([r["model_to_export_seconds"] for r in pipeline])
    script_s = _spread([r["seconds"] for r in script])
    plain_s = _spread([r["seconds"] for r in plain])
    same_bytes = len({r["sha256"] for r in pipeline} | {r["sha256"] for r in script}) == 1
    # Each run's pipeline / script pair ran back to back: their ratio cancels most of the machine's drift.
    paired = [p["model_to_export_seconds"] / s["seconds"] for p, s in zip(pipeline, script, strict=True)]
    result = {
        "command": "python benchmarks/model_to_export.py"
        + (f" --rows {args.rows}" if args.rows != 1_000_000 else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "python": platform.python_version(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "rows": args.rows,
        "chunk_rows": CHUNK_ROWS,
        "pipeline_model_to_export_seconds": pipeline_s,
        "script_seconds": script_s,
        "plain_sdv_seconds": plain_s,
        "pipeline_vs_script": round(pipeline_s["median"] / script_s["median"], 3),
        "pipeline_vs_plain_sdv": round(pipeline_s["median"] / plain_s["median"], 3),
        "paired_pipeline_vs_script": _spread(paired),
        "paired_pipeline_vs_plain_sdv": _spread(
            [p["model_to_export_seconds"] / q["seconds"] for p, q in zip(pipeline, plain, strict=True)]
        ),
        "target_pipeline_vs_script": TARGET,
        "pipeline_and_script_export_identical": same_bytes,
        "pipeline_runs": pipeline,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model_to_export.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "model_to_export.md").write_text(markdown(result))
    print(markdown(result))
    shutil.rmtree(home, ignore_errors=True)


def markdown(result: dict) -> str:
    p, s, q = result["pipeline_model_to_export_seconds"], result["script_seconds"], result["plain_sdv_seconds"]
    ratio = result["pipeline_vs_script"]
    paired, paired_plain = result["paired_pipeline_vs_script"], result["paired_pipeline_vs_plain_sdv"]
    return "\n".join(
        [
            "# Model → export: pipeline vs a like-for-like script",
            "",
            f"`{result['command']}`, {result['date']}, {result['machine']['cpus']} CPUs shared with other work "
            f"(load average {result['machine']['load_avg_start'][0]:.1f} at the start, "
            f"{result['machine']['load_avg_end'][0]:.1f} at the end); Adult, gaussian_copula, "
            f"{result['rows']:,} rows in chunks of {result['chunk_rows']:,}, Parquet+zstd; {len(p['runs'])} runs each.",
            "",
            "| measure | value | target | pass |",
            "|---|---:|---:|---|",
            f"| **pipeline / like-for-like script (same sampler, same writer)** | **{ratio:.2f}** | ≤ {TARGET} "
            f"| {'yes' if ratio <= TARGET else 'NO'} |",
            f"| the same, median of each run's back-to-back ratio [min-max] | {paired['median']:.2f} "
            f"[{paired['min']:.2f}-{paired['max']:.2f}] | ≤ {TARGET} "
            f"| {'yes' if paired['median'] <= TARGET else 'NO'} |",
            f"| pipeline / plain SDV `sample()` + `to_parquet` | {result['pipeline_vs_plain_sdv']:.2f} | | |",
            f"| the same, median of each run's ratio [min-max] | {paired_plain['median']:.2f} "
            f"[{paired_plain['min']:.2f}-{paired_plain['max']:.2f}] | | |",
            f"| pipeline and script wrote the same bytes (SHA-256) | {result['pipeline_and_script_export_identical']} "
            "| True | |",
            "",
            "| run | median s | min-max s |",
            "|---|---:|---:|",
            f"| pipeline, 2 workers, model → export | {p['median']:.2f} | {p['min']:.2f}-{p['max']:.2f} |",
            f"| like-for-like script, one process | {s['median']:.2f} | {s['min']:.2f}-{s['max']:.2f} |",
            f"| plain SDV, one call | {q['median']:.2f} | {q['min']:.2f}-{q['max']:.2f} |",
            "",
        ]
    )


if __name__ == "__main__":
    main()
