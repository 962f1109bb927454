"""A whole run's peak memory stays under 2 GB: 20,000 rows from a 10,000 x 5 public table with an id column.

The table is the first 10,000 rows of the public UCI Adult file (`sample_data/adult.csv`):
`row_id` is each row's index in that file (an integer key, detected as the primary key), `sex`
and `race` are its two categoricals (few values, so almost every synthetic row shares its
categories with thousands of real rows: the case that made exact-copy detection join every
such pair, 14 GB), `age` and `hours_per_week` its numbers, stored as floats. Nothing in it is
generated.

`synth-pipelines run` runs in its own process; the resident memory of that process and all of
its descendants is summed every 20 ms and the run is killed as soon as the sum passes the
limit, so a regression fails fast instead of pushing the machine into its OOM killer.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from synth_pipelines_tests.conftest import ADULT
from synth_pipelines_tests.dagster_processes import make_dagster_home

LIMIT_BYTES = 2 * 1024**3
SAMPLE_SECONDS = 0.02


def public_table(path: Path) -> Path:
    adult = pd.read_csv(ADULT, nrows=10_000)
    table = pd.DataFrame(
        {
            "row_id": adult.index.astype("int64"),
            "sex": adult["sex"],
            "race": adult["race"],
            "age": adult["age"].astype("float64"),
            "hours_per_week": adult["hours_per_week"].astype("float64"),
        }
    )
    table.to_csv(path, index=False)
    return path


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_watched(command: list[str], env: dict[str, str], limit: int, timeout: float) -> tuple[int, int, str]:
    """Run `command`; return (exit code, peak summed RSS of its process tree, stderr tail); kill it past `limit`."""
    log = Path(env["SYNTH_HOME"]) / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as stream:
        child = subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        peak, deadline = 0, time.monotonic() + timeout
        while child.poll() is None:
            try:
                peak = max(peak, tree_rss(watched))
            except psutil.Error:
                pass
            if peak > limit or time.monotonic() > deadline:
                for member in [*watched.children(recursive=True), watched]:
                    try:
                        member.kill()
                    except psutil.Error:
                        continue
                child.wait()
                break
            time.sleep(SAMPLE_SECONDS)
    return child.returncode, peak, log.read_text()[-3000:]


def test_a_run_on_a_public_table_with_an_id_column_stays_under_2_gb(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    public_table(data / "adult_id_10k.csv")
    request = {
        "request_id": "memory-20k",
        "dataset": {"uri": "adult_id_10k.csv"},
        "synthesizer": {"name": "gaussian_copula"},
        "rows": 20_000,
        "chunk_rows": 10_000,
        "output": {"format": "parquet", "compression": "zstd"},
        "seed": 7,
        "publish": ["local"],
        "requester": "tester@example.org",
    }
    request_path = tmp_path / "request.json"
    request_path.write_text(json.dumps(request))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home")),
        "SYNTH_HOME": str(tmp_path / "home"),
        "SYNTH_DATA_ROOT": str(data),
        "GX_ANALYTICS_ENABLED": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for var in ("SYNTH_REQUEST_ROOT", "SYNTH_WORK_ROOT", "SYNTH_ARTIFACT_ROOT"):
        env.pop(var, None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    command = [sys.executable, "-m", "synth_pipelines.cli", "run", str(request_path)]
    code, peak, log = run_watched(command, env, LIMIT_BYTES, timeout=600)

    print(f"peak RSS of the run's process tree: {peak / 2**20:,.0f} MB")
    assert peak <= LIMIT_BYTES, f"the run's process tree passed 2 GB ({peak / 2**20:,.0f} MB) and was killed"
    assert code == 0, log
    # The kernel's own high-water mark of the largest waited-for child (KiB on Linux) agrees.
    largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert largest_child <= LIMIT_BYTES or before * 1024 > LIMIT_BYTES
    manifest = json.loads((tmp_path / "home" / "artifacts" / "memory-20k" / "manifest.json").read_text())
    assert manifest["rows"] == 20_000
    # Every synthetic row was checked for an exact copy: the bound comes from the method, not a smaller sample.
    assert manifest["quality"]["new_row_rows"] == 20_000
