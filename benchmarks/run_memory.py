"""Peak resident memory of a whole run (the CLI process and every process under it), per table of the corpus.

Each case runs `synth-pipelines run REQUEST` in a fresh process with fresh DAGSTER_HOME and
SYNTH_HOME folders; the resident memory of that process and all of its descendants is summed
every 20 ms (`synth_pipelines_tests.test_run_memory.run_watched`, the acceptance test's own
meter) and the peak kept. Cases:
- `adult_id_10k`: the first 10,000 rows of sample_data/adult.csv as an id column (each row's
  index in the file), sex, race, age and hours_per_week (as floats): 20,000 rows out, the case
  that peaked at 14.3 GB;
- `adult`: sample_data/adult.csv (32,561 x 15), the demo's 50,000 rows;
- `adult, 1M rows`: the same table, 1,000,000 rows in chunks of 10,000;
- `adult_test`: sample_data/adult_test.csv (16,281 x 15), 50,000 rows.
All gaussian_copula, Parquet+zstd, every step in the CLI's process (the default).

Usage: .venv/bin/python benchmarks/run_memory.py [--repeats 3] [--out benchmarks/results]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth_pipelines_tests.test_run_memory import public_table, run_watched  # noqa: E402

LIMIT_BYTES = 2 * 1024**3
CASES = (
    ("adult_id_10k", "adult_id_10k.csv", 20_000),
    ("adult", "adult.csv", 50_000),
    ("adult, 1M rows", "adult.csv", 1_000_000),
    ("adult_test", "adult_test.csv", 50_000),
)


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_case(data: Path, name: str, uri: str, rows: int, index: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="synth-memory-"))
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
    request = {
        "request_id": f"memory-{index}",
        "dataset": {"uri": uri},
        "synthesizer": {"name": "gaussian_copula"},
        "rows": rows,
        "chunk_rows": 10_000,
        "output": {"format": "parquet", "compression": "zstd"},
        "seed": 7,
        "publish": ["local"],
        "requester": "benchmark@example.org",
    }
    (home / "request.json").write_text(json.dumps(request))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SYNTH_HOME": str(home / "var"),
        "SYNTH_DATA_ROOT": str(data),
        "GX_ANALYTICS_ENABLED": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT"):
        env.pop(var, None)
    started = time.perf_counter()
    command = [sys.executable, "-m", "synth_pipelines.cli", "run", str(home / "request.json")]
    code, peak, log = run_watched(command, env, limit=8 * 1024**3, timeout=1800)
    wall = time.perf_counter() - started
    shutil.rmtree(home, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"{name} run failed:\n{log}")
    return {"peak_rss_bytes": peak, "wall_seconds": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    load_start = os.getloadavg()
    data = Path(tempfile.mkdtemp(prefix="synth-memory-data-"))
    public_table(data / "adult_id_10k.csv")
    for name in ("adult.csv", "adult_test.csv"):
        shutil.copy(ROOT / "sample_data" / name, data / name)
    rows = []
    for name, uri, out_rows in CASES:
        runs = [run_case(data, name, uri, out_rows, i) for i in range(args.repeats)]
        peaks = [r["peak_rss_bytes"] / 2**20 for r in runs]
        rows.append(
            {
                "case": name,
                "table": uri,
                "rows_out": out_rows,
                "peak_rss_mb": {
                    "median": round(statistics.median(peaks)),
                    "min": round(min(peaks)),
                    "max": round(max(peaks)),
                    "runs": [round(p) for p in peaks],
                },
                "wall_seconds": [r["wall_seconds"] for r in runs],
                "under_2_gb": max(peaks) * 2**20 <= LIMIT_BYTES,
            }
        )
        print(rows[-1], flush=True)
    shutil.rmtree(data, ignore_errors=True)
    result = {
        "command": "python benchmarks/run_memory.py" + (f" --repeats {args.repeats}" if args.repeats != 3 else ""),
        "date": time.strftime("%Y-%m-%d"),
        "code_version": _code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "meter": "summed RSS of the CLI process and its descendants, sampled every 20 ms",
        "limit_bytes": LIMIT_BYTES,
        "cases": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "run_memory.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [
        "# Peak memory of a whole run, per corpus table",
        "",
        f"`{result['command']}`, {result['date']}, code {result['code_version']}; {result['meter']}; "
        "gaussian_copula, Parquet+zstd, every step in the CLI's process.",
        "",
        "| case | table | rows out | peak RSS MB, median (min-max) | limit | pass |",
        "|---|---|---:|---:|---:|---|",
    ]
    for case in result["cases"]:
        peak = case["peak_rss_mb"]
        lines.append(
            f"| {case['case']} | {case['table']} | {case['rows_out']:,} | {peak['median']:,} "
            f"({peak['min']:,}-{peak['max']:,}) | 2,048 | {'yes' if case['under_2_gb'] else 'NO'} |"
        )
    lines += [
        "",
        "`adult_id_10k` is the acceptance test's table (`synth_pipelines_tests/test_run_memory.py`): before "
        "new-row synthesis stopped joining every pair of rows that share their categories, this request peaked at "
        "14.3 GB (`/usr/bin/time -v`), and the test's meter killed the old code's run at 2,051 MB.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
