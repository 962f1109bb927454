"""Minimal dpmm MST / AIM fit on Adult with a PUBLIC domain (no epsilon spent on preprocessing).

Run:  OMP_NUM_THREADS=2 /tmp/dpmmvenv/bin/python /tmp/notes/dpmm_example.py {mst|aim|mst-binner} [out.csv]

Two ways to give dpmm a public domain:

* "own encoding" (mst, aim): we discretise every column ourselves from the public schema
  (requests/schemas/adult.json: category_values, min/max), hand dpmm integer codes plus
  {column: n_slots}, and fit the bare model (GenerativePipeline(gen, proc=None)).  Nothing
  structural depends on the rows.
* dpmm's own TableBinner (mst-binner): domain={col: {"lower","upper"}} / {"categories": [...]},
  binner_type="uniform", proc_epsilon=None, n_bins=<int>.  Works, but its NaN indicator columns,
  static-column dropping and the NaN fill value are decided from the rows (see fidelity_libs.md).
"""

from __future__ import annotations

import secrets
import sys
import time

import numpy as np
import pandas as pd
from numpy.random import MT19937, RandomState, SeedSequence

from dpmm.models.aim import AIMGM
from dpmm.models.mst import MSTGM
from dpmm.pipelines import MSTPipeline
from dpmm.pipelines.base import GenerativePipeline

sys.path.insert(0, "/tmp/notes")
from public_codec import WIDE_BINS, PublicCodec, load_schema  # noqa: E402

DATA = "/work/shared/datasets/adult.csv"
EPSILON, DELTA, N_SAMPLE, SEED = 1.0, 1e-7, 5000, 7


def secret_state() -> RandomState:
    """RandomState seeded from the OS CSPRNG: DP selection must not follow a public seed."""
    return RandomState(MT19937(SeedSequence(secrets.randbits(128))))


def fit_own_encoding(kind: str, df: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    codec = PublicCodec(load_schema())
    codes = codec.encode(df)
    sizes = codec.sizes()
    if kind == "mst":
        gen = MSTGM(epsilon=EPSILON, delta=DELTA, n_jobs=1, compress=True)
    else:
        # AIM knobs that bound time: rounds (default 16*d), n_iters (mirror descent iterations
        # per estimate), max_model_size (MB of the junction tree), max_cells, degree.
        gen = AIMGM(
            epsilon=EPSILON, delta=DELTA, n_jobs=1, compress=True,
            rounds=int(sys.argv[3]) if len(sys.argv) > 3 else None,
            n_iters=int(sys.argv[4]) if len(sys.argv) > 4 else 1000,
            max_model_size=float(sys.argv[5]) if len(sys.argv) > 5 else 80,
        )
    pipe = GenerativePipeline(gen=gen, proc=None)
    t0 = time.perf_counter()
    pipe.fit(codes, domain=sizes, random_state=secret_state())
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth_codes = pipe.generate(n_records=N_SAMPLE, random_state=SEED)
    synth = codec.decode(synth_codes, np.random.default_rng(SEED))
    t_sample = time.perf_counter() - t0
    print(f"{kind}: rho={gen.generator.rho:.5f} cliques={len(gen.generator.cliques)}")
    return synth, t_fit, t_sample


def fit_dpmm_binner(df: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    params = load_schema()
    domain = {}
    for col, p in params.items():
        if "category_values" in p:
            domain[col] = {"categories": list(p["category_values"])}
        else:
            domain[col] = {"lower": int(p["min_value"]), "upper": int(p["max_value"])}
    # Unknown categories make sklearn's OrdinalEncoder raise, so fold them to NaN first.
    df = df.copy()
    for col, p in params.items():
        if "category_values" in p:
            df.loc[~df[col].isin(p["category_values"]), col] = np.nan
    pipe = MSTPipeline(
        epsilon=EPSILON, delta=DELTA, n_jobs=1,
        binner_type="uniform", proc_epsilon=None, n_bins=WIDE_BINS,
    )
    t0 = time.perf_counter()
    pipe.fit(df, domain=domain, random_state=secret_state())
    t_fit = time.perf_counter() - t0
    print("binner spent_epsilon:", pipe.proc.spent_epsilon)
    print("binner nan indicator columns (data-dependent):", sorted(pipe.proc.nan_columns))
    t0 = time.perf_counter()
    synth = pipe.generate(n_records=N_SAMPLE, random_state=SEED)
    t_sample = time.perf_counter() - t0
    return synth, t_fit, t_sample


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "mst"
    out = sys.argv[2] if len(sys.argv) > 2 else f"/tmp/notes/synth_{kind}.csv"
    df = pd.read_csv(DATA, na_values=["?"], skipinitialspace=True)
    if kind == "mst-binner":
        synth, t_fit, t_sample = fit_dpmm_binner(df)
    else:
        synth, t_fit, t_sample = fit_own_encoding(kind, df)
    synth.to_csv(out, index=False)
    print(f"{kind}: fit {t_fit:.1f}s sample {t_sample:.1f}s rows={len(synth)} -> {out}")


if __name__ == "__main__":
    main()
