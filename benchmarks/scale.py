"""A million rows: the pipeline's generation phase against a plain SDV script, in one session.

What it runs (Adult, gaussian_copula, 1,000,000 rows, chunk_rows 10,000):
- plain: `synthesizer.sample(1_000_000)` on the same fitted model, then one write of the
  file (pandas to_parquet zstd / to_csv gzip), timed in this process; and, to show what
  the parallel steps add on their own, the same script with our tabulated sampler;
- how far the tabulated marginals move values from SDV's exact ppf (same seed, both paths);
- pipeline: the whole `synthesize` job through the multiprocess executor, timed from the
  end of `trained_model` to the end of `synthetic_export` (the event log's timestamps), for
  Parquet+zstd and CSV+gzip with 2 workers, and Parquet+zstd with 1 worker;
- the export step's peak RSS at 100,000 and 1,000,000 rows (from its metadata).

Usage: .venv/bin/python benchmarks/scale.py [--rows N] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster import AssetKey

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def step_times(instance, run_id: str) -> dict[str, list[tuple[str, float]]]:
    events: dict[str, list[tuple[str, float]]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        events.setdefault(event.step_key, []).append((event.event_type_value, record.timestamp))
    return events


def phase(events, step_prefix: str, kind: str, pick) -> float:
    stamps = [t for key, items in events.items() if key.startswith(step_prefix) for k, t in items if k == kind]
    return pick(stamps)


def run_pipeline(settings, instance, request_id: str, rows: int, fmt: str, compression: str, workers: int) -> dict:
    from synth_pipelines.core.request import parse_request

    request = parse_request(
        {
            "request_id": request_id,
            "dataset": {"uri": "adult.csv"},
            "synthesizer": {"name": "gaussian_copula"},
            "rows": rows,
            "chunk_rows": 10_000,
            "output": {"format": fmt, "compression": compression},
            "seed": 7,
            "requester": "benchmark@example.org",
        }
    )
    # A fresh process per run: the executor (and its worker count) is built once per process.
    request_path = settings.work_root.parent / f"{request_id}.json"
    request_path.parent.mkdir(parents=True, exist_ok=True)
    request_path.write_text(request.model_dump_json())
    command = [sys.executable, "-m", "synth_pipelines.cli", "run", "--workers", str(workers), str(request_path)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{request_id} failed: {done.stderr[-2000:]}")
    manifest_path = done.stdout.strip().splitlines()[-1]
    run = [r for r in instance.get_runs() if r.tags.get("dagster/partition") == request_id][0]
    events = step_times(instance, run.run_id)
    model_done = phase(events, "trained_model", "STEP_SUCCESS", max)
    export_done = phase(events, "synthetic_export", "STEP_SUCCESS", max)
    chunks_start = phase(events, "synthetic_chunks.generate_chunks", "STEP_START", min)
    chunks_done = phase(events, "synthetic_chunks.generate_chunks", "STEP_SUCCESS", max)
    records = instance.fetch_materializations(AssetKey("synthetic_export"), limit=100).records
    export_meta = next(
        r.asset_materialization.metadata for r in records if r.asset_materialization.partition == request_id
    )
    manifest = json.loads(Path(manifest_path).read_text())
    return {
        "request_id": request_id,
        "rows": rows,
        "format": f"{fmt}+{compression}",
        "workers": workers,
        "model_to_export_seconds": round(export_done - model_done, 2),
        "chunk_phase_seconds": round(chunks_done - chunks_start, 2),
        "run_wall_seconds": round(wall, 2),
        "export_peak_rss_bytes": int(export_meta["peak_rss_bytes"].value),
        "export_rss_before_bytes": int(export_meta["rss_before_bytes"].value),
        "sha256": manifest["sha256"],
        "bytes": manifest["bytes"],
    }


def run_through_daemon(settings, rows: int, log: Path) -> dict:
    """Drop a request into incoming/ and let `dagster-daemon` (sensor, queue, run launcher) run it."""
    from synth_pipelines.publishing import sha256_file
    from synth_pipelines_tests.dagster_processes import BIN, dagster_process, wait_for

    request = {
        "request_id": "scale-daemon",
        "dataset": {"uri": "adult.csv"},
        "synthesizer": {"name": "gaussian_copula"},
        "rows": rows,
        "output": {"format": "parquet", "compression": "zstd"},
        "seed": 7,
        "requester": "benchmark@example.org",
    }
    incoming = settings.request_root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    (incoming / "scale-daemon.json").write_text(json.dumps(request))
    manifest_path = settings.artifact_root / "scale-daemon" / "manifest.json"
    started = time.perf_counter()
    with dagster_process([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], dict(os.environ), log):
        wait_for(manifest_path.is_file, 1800, "the daemon's run to publish its manifest", interval=2)
    wall = time.perf_counter() - started
    manifest = json.loads(manifest_path.read_text())
    return {
        "rows": manifest["rows"],
        "seconds_from_drop_to_manifest": round(wall, 1),
        "manifest_sha256_matches_file": manifest["sha256"] == sha256_file(Path(manifest["export_uri"])),
        "rows_match_request": manifest["rows"] == rows,
    }


def run_plain(model, rows: int, fmt: str, compression: str, folder: Path, tabulated: bool = False) -> dict:
    """SDV's own `sample(rows)`; or, with `tabulated`, ours (the same model, tabulated marginals) in one call."""
    started = time.perf_counter()
    frame = model.sample(rows, seed=7) if tabulated else model.synthesizer.sample(rows)["data"]
    sampled = time.perf_counter()
    path = folder / f"plain.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path, compression=compression, index=False)
    else:
        frame.to_csv(path, compression=compression, index=False)
    done = time.perf_counter()
    return {
        "rows": rows,
        "format": f"{fmt}+{compression}",
        "sampler": "synth_pipelines tabulated marginals, one process" if tabulated else "SDV sample()",
        "seconds": round(done - started, 2),
        "sample_seconds": round(sampled - started, 2),
        "write_seconds": round(done - sampled, 2),
    }


def tabulation_error(model, rows: int = 100_000) -> dict:
    """How far the tabulated marginals move the rows from SDV's exact ppf: same seed, both paths."""
    import numpy as np

    os.environ["SYNTH_COPULA_SAMPLING"] = "exact"
    exact = model.sample(rows, seed=3)
    os.environ["SYNTH_COPULA_SAMPLING"] = "table"
    table = model.sample(rows, seed=3)
    differ, largest = {}, {}
    for name in exact.columns:
        a, b = exact[name], table[name]
        same = (a == b) | (a.isna() & b.isna())
        differ[name] = int((~same).sum())
        if differ[name] and np.issubdtype(a.dtype, np.number):
            largest[name] = float(np.nanmax(np.abs(a.to_numpy(float) - b.to_numpy(float))))
    return {
        "rows": rows,
        "values_compared": rows * len(exact.columns),
        "values_that_differ": sum(differ.values()),
        "share_that_differ": round(sum(differ.values()) / (rows * len(exact.columns)), 6),
        "differ_by_column": {k: v for k, v in differ.items() if v},
        "largest_difference_by_column": largest,
    }


def markdown(result: dict) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"`{result['command']}` on {result['machine']}, {result['date']}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| pipeline / plain time, Parquet+zstd (model → export) | {result['pipeline_vs_plain_ratio']:.2f} | ≤ 1.0 |",
        f"| pipeline / plain time, CSV+gzip | {result['pipeline_vs_plain_ratio_csv_gzip']:.2f} | ≤ 1.0 |",
        f"| pipeline / plain script with our tabulated sampler, Parquet+zstd | "
        f"{result['pipeline_vs_plain_tabulated_ratio']:.2f} | |",
        f"| chunk phase speedup, 2 workers vs 1 | {result['two_worker_speedup']:.2f}× | ≥ 1.7× |",
        f"| export peak RSS, 1M / 100k rows | {result['export_rss_ratio_1m_vs_100k']:.2f} | ≤ 1.3 |",
        f"| rows per second, chunk phase (2 workers) | {result['rows_per_second']:,.0f} | |",
        "",
        "| run | rows | workers | model → export s | chunk phase s | run wall s | export peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["pipeline_runs"]:
        lines.append(
            f"| {run['format']} | {run['rows']:,} | {run['workers']} | {run['model_to_export_seconds']} "
            f"| {run['chunk_phase_seconds']} | {run['run_wall_seconds']} | {run['export_peak_rss_bytes'] / 2**20:.0f} |"
        )
    daemon = result["daemon_run"]
    lines += [
        "",
        f"Through the daemon (request dropped into incoming/, sensor → queue → run): {daemon['rows']:,} rows, "
        f"{daemon['seconds_from_drop_to_manifest']} s from drop to manifest; manifest SHA-256 matches the file: "
        f"{daemon['manifest_sha256_matches_file']}.",
    ]
    lines += [
        "",
        "| plain script | sampler | rows | total s | sample s | write s |",
        "|---|---|---|---|---|---|",
    ]
    for run in result["plain_runs"]:
        lines.append(
            f"| {run['format']} | {run['sampler']} | {run['rows']:,} | {run['seconds']} | {run['sample_seconds']} "
            f"| {run['write_seconds']} |"
        )
    error = result["tabulation_error"]
    lines += [
        "",
        f"Tabulated marginals against SDV's exact ppf, same seed, {error['rows']:,} rows: "
        f"{error['values_that_differ']:,} of {error['values_compared']:,} values differ "
        f"({error['share_that_differ']:.4%}); largest difference by column: "
        + (", ".join(f"{k} {v:g}" for k, v in error["largest_difference_by_column"].items()) or "none")
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="synth-scale-"))
    os.environ.update(
        {
            "SYNTH_HOME": str(home / "synth"),
            "SYNTH_DATA_ROOT": str(REPO / "sample_data"),
            "DAGSTER_HOME": str(home / "dagster"),
            "GX_ANALYTICS_ENABLED": "false",
        }
    )
    (home / "dagster").mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster" / "dagster.yaml")

    from dagster import DagsterInstance

    from synth_pipelines.settings import Settings
    from synth_pipelines.training.synthesizers import load_model

    settings = Settings.from_env()
    instance = DagsterInstance.get()
    rows, small = args.rows, max(args.rows // 10, 1)
    pipeline_runs = [
        run_pipeline(settings, instance, "scale-parquet-2w", rows, "parquet", "zstd", 2),
        run_pipeline(settings, instance, "scale-csv-2w", rows, "csv", "gzip", 2),
        run_pipeline(settings, instance, "scale-parquet-1w", rows, "parquet", "zstd", 1),
        run_pipeline(settings, instance, "scale-parquet-small", small, "parquet", "zstd", 2),
    ]
    daemon_run = run_through_daemon(settings, rows, home / "daemon.log")
    model = load_model(settings.work_root / "scale-parquet-2w" / "model" / "model.pkl")
    plain_runs = [
        run_plain(model, rows, "parquet", "zstd", home),
        run_plain(model, rows, "csv", "gzip", home),
        run_plain(model, rows, "parquet", "zstd", home, tabulated=True),
    ]
    by_id = {r["request_id"]: r for r in pipeline_runs}
    two, csv, one, tenth = (
        by_id[k] for k in ("scale-parquet-2w", "scale-csv-2w", "scale-parquet-1w", "scale-parquet-small")
    )
    result = {
        "command": "python benchmarks/scale.py" + ("" if rows == 1_000_000 else f" --rows {rows}"),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "what_was_run": (
            "Adult (32,561 rows), gaussian_copula, chunk_rows 10,000, seed 7; SYNTH_CHUNK_STEPS default "
            "(one step per worker); SYNTH_COPULA_SAMPLING default (table)"
        ),
        "pipeline_vs_plain_ratio": round(two["model_to_export_seconds"] / plain_runs[0]["seconds"], 3),
        "pipeline_vs_plain_ratio_csv_gzip": round(csv["model_to_export_seconds"] / plain_runs[1]["seconds"], 3),
        "pipeline_vs_plain_tabulated_ratio": round(two["model_to_export_seconds"] / plain_runs[2]["seconds"], 3),
        "two_worker_speedup": round(one["chunk_phase_seconds"] / two["chunk_phase_seconds"], 3),
        "export_rss_ratio_1m_vs_100k": round(two["export_peak_rss_bytes"] / tenth["export_peak_rss_bytes"], 3),
        "export_rss_growth_bytes_1m_vs_100k": (two["export_peak_rss_bytes"] - two["export_rss_before_bytes"])
        - (tenth["export_peak_rss_bytes"] - tenth["export_rss_before_bytes"]),
        "rows_per_second": round(rows / two["chunk_phase_seconds"]),
        "one_and_two_workers_identical": one["sha256"] == two["sha256"],
        "daemon_run": daemon_run,
        "tabulation_error": tabulation_error(model),
        "pipeline_runs": pipeline_runs,
        "plain_runs": plain_runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "scale.md").write_text(markdown(result))
    print(markdown(result))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
