"""MST written on Private-PGM's `mbi` 2.0 (JAX) with OpenDP noise, public domain from the schema.

Run:  OMP_NUM_THREADS=2 /tmp/mbivenv/bin/python /tmp/notes/mbi_mst_example.py [EPS] [ITERS]

Follows the reference mechanisms/mst.py of github.com/ryan112358/mbi (not shipped in the wheel):
rho = zCDP of (eps, delta); 1/3 on all 1-way marginals, 1/3 on the exponential-mechanism tree
selection, 1/3 on the selected 2-way marginals.  Differences from the reference: the noise is
OpenDP's discrete Gaussian on integer counts (as synth_pipelines does), the exponential mechanism
draws from a CSPRNG-seeded generator, no domain compression, and the domain is the schema's.
"""

from __future__ import annotations

import itertools
import math
import secrets
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import opendp.prelude as dp  # noqa: E402
import pandas as pd  # noqa: E402
from mbi import Dataset, Domain, LinearMeasurement, estimation  # noqa: E402
from scipy.cluster.hierarchy import DisjointSet  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

sys.path.insert(0, "/tmp/notes")
from public_codec import PublicCodec, load_schema  # noqa: E402

DATA = "/work/shared/datasets/adult.csv"
DELTA, N_SAMPLE, SEED = 1e-7, 5000, 7
dp.enable_features("contrib")


def cdp_rho(eps: float, delta: float) -> float:
    """Smallest-eps conversion of Canonne-Kamath-Steinke (same as dpmm/mbi cdp2adp), by bisection."""

    def cdp_delta(rho: float, e: float) -> float:
        amin, amax = 1.01, (e + 1) / (2 * rho) + 2
        for _ in range(1000):
            alpha = (amin + amax) / 2
            if (2 * alpha - 1) * rho - e + math.log1p(-1.0 / alpha) < 0:
                amin = alpha
            else:
                amax = alpha
        return min(math.exp((alpha - 1) * (alpha * rho - e) + alpha * math.log1p(-1 / alpha)) / (alpha - 1.0), 1.0)

    lo, hi = 0.0, eps + 1
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdp_delta(mid, eps) <= delta else (lo, mid)
    return lo


def measure(data: Dataset, cliques: list[tuple], rho_total: float) -> tuple[list[LinearMeasurement], float]:
    """Each clique's count vector + discrete Gaussian; rho_total split evenly, as OpenDP maps it."""
    rho_each = rho_total / len(cliques)
    scale = 1.0 / math.sqrt(2.0 * rho_each)
    meas = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int), scale=scale)
    out = []
    for cl in cliques:
        x = data.project(cl).datavector().astype(np.int64)
        y = np.asarray(meas([int(v) for v in x]), dtype=float)
        out.append(LinearMeasurement(y, cl, stddev=scale))
    return out, float(meas.map(1)) * len(cliques)


def select(data: Dataset, rho: float, log1: list, iters: int, rng: np.random.Generator) -> list[tuple]:
    est = estimation.MirrorDescent().estimate(data.domain, log1, iters=iters)
    cands = list(itertools.combinations(list(data.domain), 2))
    weights = {
        (a, b): np.linalg.norm(data.project((a, b)).datavector() - est.project((a, b)).datavector(), 1)
        for a, b in cands
    }
    ds = DisjointSet(list(data.domain))
    r = len(list(data.domain))
    eps = math.sqrt(8 * rho / (r - 1))  # each pick is eps-DP = eps^2/8 zCDP
    edges = []
    for _ in range(r - 1):
        cands = [e for e in cands if not ds.connected(*e)]
        q = 0.5 * eps * np.array([weights[e] for e in cands])  # sensitivity 1
        idx = rng.choice(len(cands), p=np.exp(q - logsumexp(q)))
        edges.append(cands[idx])
        ds.merge(*cands[idx])
    return edges


def main() -> None:
    eps = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    df = pd.read_csv(DATA, na_values=["?"], skipinitialspace=True)
    codec = PublicCodec(load_schema())
    codes = codec.encode(df)
    sizes = codec.sizes()
    domain = Domain(list(sizes), list(sizes.values()))
    data = Dataset({c: codes[c].to_numpy() for c in sizes}, domain)
    rng = np.random.default_rng(secrets.randbits(128))

    t0 = time.perf_counter()
    rho = cdp_rho(eps, DELTA)
    log1, rho1 = measure(data, [(c,) for c in sizes], rho / 3)
    tree = select(data, rho / 3, log1, iters=max(iters // 4, 250), rng=rng)
    log2, rho2 = measure(data, tree, rho / 3)
    model = estimation.MirrorDescent().estimate(domain, log1 + log2, iters=iters)
    t_fit = time.perf_counter() - t0

    t0 = time.perf_counter()
    np.random.seed(SEED)  # mbi's synthetic_data draws from numpy's global RNG (post-processing)
    synth = model.synthetic_data(rows=N_SAMPLE)
    codes_out = pd.DataFrame({c: np.asarray(synth.data[c]) for c in sizes})
    out = codec.decode(codes_out, np.random.default_rng(SEED))
    t_sample = time.perf_counter() - t0
    path = f"/tmp/notes/synth_mbi_mst_eps{eps:g}.csv"
    out.to_csv(path, index=False)
    print(f"mbi-mst eps={eps} rho={rho:.5f} (opendp-stated: 1-way {rho1:.5f} + select {rho / 3:.5f} + "
          f"2-way {rho2:.5f}) tree={len(tree)} fit {t_fit:.1f}s sample {t_sample:.1f}s -> {path}")


if __name__ == "__main__":
    main()
