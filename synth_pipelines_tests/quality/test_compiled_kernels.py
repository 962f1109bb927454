"""`make setup` compiles the report's numba kernels once: the first report after it compiles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPORT = """
import json, sys
import pandas as pd
from synth_pipelines.core.request import QualitySpec
from synth_pipelines.quality import build_quality_report
from synth_pipelines.quality import attacks, distances

adult = pd.read_csv(sys.argv[1], nrows=3200)
metadata = {"columns": {c: {"sdtype": "numerical" if pd.api.types.is_numeric_dtype(adult[c]) else "categorical"}
                        for c in adult.columns}}
export = sys.argv[2] + "/synthetic.parquet"
adult.iloc[:2500].sample(3000, replace=True, random_state=1).to_parquet(export)
build_quality_report(adult.iloc[:2500], adult.iloc[2500:], export, metadata, QualitySpec(), sys.argv[2] + "/out")
kernels = (attacks._k_nearest_grouped, distances._nearest_grouped)  # order_by_mismatches is inlined in both
print(json.dumps({k.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())] for k in kernels}))
"""


def _python(code: str, *args: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_first_report_after_setup_compiles_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    adult = str(Path(__file__).resolve().parents[2] / "sample_data" / "adult.csv")
    warm = "from synth_pipelines.quality.attacks import compile_kernels; compile_kernels()"
    _python(warm, cache=cache)
    assert list(cache.rglob("*.nbc")), "compile_kernels wrote nothing to numba's cache"
    stats = json.loads(_python(REPORT, adult, str(tmp_path), cache=cache).splitlines()[-1])
    # Each kernel the report ran was loaded from the cache (hits), none compiled afresh (misses).
    assert all(hits >= 1 and misses == 0 for hits, misses in stats.values()), stats
    assert len(stats) == 2
