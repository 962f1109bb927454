"""`make demo`'s run, request to manifest: `synth-pipelines run requests/examples/adult-demo.json`, repeated.

Each run starts from fresh, empty DAGSTER_HOME and SYNTH_HOME folders under /tmp (the local
SQLite instance of deploy/local), in its own process, after the install (`make setup`). Kept
per run: the wall seconds, the CPU seconds of the process (user + system, from the kernel's
child accounting), each step's duration from the run's event log, the quality report's own
stage seconds, and the export's SHA-256 (which must not change from run to run, nor from the
bytes the demo wrote before this benchmark existed).

Usage: .venv/bin/python benchmarks/demo_time.py [--repeats 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUEST = ROOT / "requests" / "examples" / "adult-demo.json"
TARGET_SECONDS = 15.0
# The demo's export (Parquet+zstd, seed 7) since categorical copula columns got exact uniform marginals
# (65748ce); the report, the preview and the service changes after it must not change it.
KNOWN_SHA256 = "bf3d03ecb16e326c033a3f8b12ecb68884fae9dd7e55eb026761cd3024dd7832"


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("numpy", "pandas", "scipy", "sdv", "rdt", "copulas", "pyarrow")}


def _spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "runs": [round(v, 2) for v in values],
    }


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _step_seconds(dagster_home: Path) -> dict[str, float]:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs()[0]
        spans: dict[str, list[float]] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event and event.step_key and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                spans.setdefault(event.step_key, []).append(record.timestamp)
    return {key: round(max(t) - min(t), 2) for key, t in spans.items()}


def run_once(index: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"synth-demo-{index}-"))
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SYNTH_HOME": str(home / "var"),
        "GX_ANALYTICS_ENABLED": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for var in ("SYNTH_DATA_ROOT", "SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT"):
        env.pop(var, None)
    command = [str(Path(sys.executable).parent / "synth-pipelines"), "run", str(REQUEST)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"demo run {index} failed: {done.stderr[-2000:]}")
    manifest = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    report = json.loads((home / "var" / "work" / "adult-demo" / "quality" / "quality_scores.json").read_text())
    result = {
        "wall_seconds": wall,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "steps": _step_seconds(dagster_home),
        "quality_report_stages": {k: round(v, 2) for k, v in report["seconds"].items()},
        "sha256": manifest["sha256"],
    }
    shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    load_start = os.getloadavg()
    runs = []
    for index in range(args.repeats):
        runs.append(run_once(index))
        print(
            f"run {index + 1}: {runs[-1]['wall_seconds']:.1f} s wall, {runs[-1]['cpu_seconds']:.1f} s CPU", flush=True
        )
    steps = sorted({step for run in runs for step in run["steps"]}, key=lambda s: -runs[0]["steps"].get(s, 0))
    result = {
        "command": "synth-pipelines run requests/examples/adult-demo.json (fresh DAGSTER_HOME and SYNTH_HOME)",
        "benchmark": "python benchmarks/demo_time.py" + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "date": time.strftime("%Y-%m-%d"),
        "code_version": _code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        # The export's bytes depend on these as well as on the code (floating point, random streams).
        "libraries": _library_versions(),
        "target_seconds": TARGET_SECONDS,
        "wall_seconds": _spread([r["wall_seconds"] for r in runs]),
        "cpu_seconds": _spread([r["cpu_seconds"] for r in runs]),
        "step_seconds_median": {s: round(statistics.median(r["steps"].get(s, 0.0) for r in runs), 2) for s in steps},
        "export_sha256": sorted({r["sha256"] for r in runs}),
        "export_unchanged": {r["sha256"] for r in runs} == {KNOWN_SHA256},
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "demo_time.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "demo_time.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    wall, cpu = result["wall_seconds"], result["cpu_seconds"]
    passed = wall["median"] <= result["target_seconds"]
    lines = [
        "# `make demo`: request to manifest",
        "",
        f"`{result['benchmark']}`: `{result['command']}`, {len(wall['runs'])} runs, {result['date']}, code "
        f"{result['code_version']}, {result['machine']['cpus']} CPUs shared with other work (load average "
        f"{result['machine']['load_avg_start'][0]:.1f} at the start, {result['machine']['load_avg_end'][0]:.1f} at "
        "the end).",
        "",
        "| measure | median | min-max | target | pass |",
        "|---|---:|---:|---:|---|",
        f"| wall seconds, request to manifest | {wall['median']:.1f} | {wall['min']:.1f}-{wall['max']:.1f} "
        f"| ≤ {result['target_seconds']:.0f} | {'yes' if passed else 'NO'} |",
        f"| CPU seconds of the run (user + system) | {cpu['median']:.1f} | {cpu['min']:.1f}-{cpu['max']:.1f} | | |",
        f"| export SHA-256 unchanged ({KNOWN_SHA256[:12]}…) | {result['export_unchanged']} | | True | |",
        "",
        f"Export SHA-256 of these runs: {', '.join(result['export_sha256'])}; libraries: "
        + ", ".join(f"{name} {v}" for name, v in result.get("libraries", {}).items())
        + ".",
        "",
        "| step | median s |",
        "|---|---:|",
    ]
    lines += [f"| {step} | {seconds:.2f} |" for step, seconds in result["step_seconds_median"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
