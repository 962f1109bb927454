"""The sampling plan: how many synthetic rows each metric scores, and how the error of that choice is measured.

Every score in the report is a statistic of the synthetic rows against fixed real rows, so
scoring a random subset of the synthetic rows estimates the all-rows value with an error
that shrinks like 1/sqrt(rows) and does not depend on how many synthetic rows exist. The
plan therefore picks sizes from the real data (its row count) and from the spread actually
observed, never from the export's size, which is what keeps the report's time flat.

The error is measured, not assumed: fidelity scores are recomputed on disjoint quarters of
their sample, distance-based scores are bootstrapped over their per-row values, TSTR is
refitted on independent synthetic samples. `standard_errors` in the scores holds the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# A score's standard error at or below this keeps three standard errors under 0.01.
TARGET_STANDARD_ERROR = 0.003
# Real training rows DCR and TSTR compare against at most: a uniform sample drawn with the seed
# (`real_reference`). DCR's nearest-row search costs synthetic rows x real rows, and TSTR's real
# model fits every real row; bounded, both cost the same on a 300k-row table as on a 50k one.
# Fidelity (its pair contingencies of thousands of levels would be biased by a sparser real
# table), new-row synthesis (a copy of a row left out of a sample must not pass as new) and the
# attack keep every real row; each is linear in them. The change a bounded reference makes is
# measured: `benchmarks/corpus.py --report-only HOME ID --report-real-cap 0` scores every row
# (flights, 331,832 training rows: see benchmarks/results/report_real_cap.md).
REAL_ROWS_CAP = 50_000


@dataclass(frozen=True)
class SamplingPlan:
    """Rows scored per metric family; every size is min(its choice, the synthetic rows)."""

    synthetic_rows: int
    real_rows: int
    fidelity_rows: int
    fidelity_replicates: int
    dcr_start_rows: int
    dcr_max_rows: int
    dcr_overfitting_max_rows: int
    dcr_random_max_rows: int
    dcr_bootstrap: int
    new_row_rows: int
    tstr_rows: int
    tstr_replicates: int
    disclosure_rows: int
    disclosure_replicates: int
    target_standard_error: float = TARGET_STANDARD_ERROR
    # Random baseline rows per synthetic row scored for DCR baseline protection (see similarity._grow_baseline).
    dcr_random_share: float = 1.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def rows_needed(self) -> int:
        """The most synthetic rows any metric of this plan scores (TSTR's replicates are disjoint samples)."""
        return max(
            self.fidelity_rows,
            self.dcr_max_rows,
            self.dcr_overfitting_max_rows,
            self.new_row_rows,
            self.tstr_rows * self.tstr_replicates,
            self.disclosure_rows,
        )


def plan_sampling(synthetic_rows: int, real_rows: int, reference_rows: int | None = None) -> SamplingPlan:
    """Sample sizes from the data's shape.

    Fidelity compares two empirical distributions whose noise is set by both sample sizes:
    as many synthetic rows as real ones, bounded to [10k, 50k] so tiny tables still get
    stable numbers and huge ones stay fast (on Adult, 26k rows land within 0.002 of 1M).
    DCR starts at 2,000 rows and doubles until the bootstrap says the target error is met.
    TSTR trains on as many synthetic rows as the real model sees (a like-for-like fit): the
    `reference_rows` it is given (`REAL_ROWS_CAP` at most, see `real_reference`), else all real rows.
    """
    cap = max(synthetic_rows, 1)
    return SamplingPlan(
        synthetic_rows=synthetic_rows,
        real_rows=real_rows,
        fidelity_rows=min(cap, int(np.clip(real_rows, 10_000, 50_000))),
        fidelity_replicates=4,
        dcr_start_rows=min(cap, 2_000),
        dcr_max_rows=min(cap, 16_000),
        # Closer-to-training is a coin flip per row (p near 0.5): SE 0.003 needs ~110k rows;
        # 64k keeps it near 0.004 in a few seconds against holdout-sized references.
        dcr_overfitting_max_rows=min(cap, 64_000),
        dcr_random_max_rows=min(cap, 16_000),
        dcr_bootstrap=200,
        new_row_rows=min(cap, 100_000),
        tstr_rows=min(cap, max(real_rows if reference_rows is None else reference_rows, 5_000)),
        tstr_replicates=3,
        disclosure_rows=min(cap, real_rows, 1_000),
        disclosure_replicates=3,
        dcr_random_share=0.2,
    )


def all_rows_plan(synthetic_rows: int, real_rows: int) -> SamplingPlan:
    """The reference plan: every synthetic row in every metric, no replicates (what sampling is measured against)."""
    return SamplingPlan(
        synthetic_rows=synthetic_rows,
        real_rows=real_rows,
        fidelity_rows=synthetic_rows,
        fidelity_replicates=1,
        dcr_start_rows=synthetic_rows,
        dcr_max_rows=synthetic_rows,
        dcr_overfitting_max_rows=synthetic_rows,
        # The random baseline is a reference distribution, not the data under test: SDMetrics draws as
        # many random rows as synthetic ones, but its median is settled to ~0.001 by 100k rows, and
        # drawing a million would double the slowest all-rows step.
        dcr_random_max_rows=min(synthetic_rows, 100_000),
        dcr_bootstrap=0,
        new_row_rows=synthetic_rows,
        tstr_rows=synthetic_rows,
        tstr_replicates=1,
        disclosure_rows=min(synthetic_rows, real_rows),
        disclosure_replicates=1,
        target_standard_error=0.0,
    )


def finite_population_factor(n_rows: int, population: int | None) -> float:
    """sqrt((N - n) / (N - 1)): how much of a sample's standard error remains against the value on all N rows.

    A sample drawn without replacement from N rows differs from the all-rows value by less than
    from the value an infinite population would give; at n = N it is the all-rows value.
    """
    if not population or population <= 1:
        return 1.0
    return math.sqrt(max(population - n_rows, 0) / (population - 1))


def quarter_standard_error(quarter_scores: Sequence[float]) -> float:
    """Standard error of a score on a whole sample from its spread over k disjoint parts of it.

    Each part has 1/k of the rows, so its variance is k times the whole sample's:
    SE(whole) = sd(parts) / sqrt(k).
    """
    values = np.asarray([v for v in quarter_scores if v is not None and np.isfinite(v)], dtype=float)
    if len(values) < 2:
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def bootstrap_standard_error(
    statistic: Callable[[np.ndarray], float], n_rows: int, resamples: int, rng: np.random.Generator
) -> float:
    """Standard deviation of `statistic(row_indices)` over bootstrap resamples of the scored rows."""
    if resamples < 2 or n_rows < 2:
        return float("nan")
    values = [statistic(rng.integers(0, n_rows, n_rows)) for _ in range(resamples)]
    return float(np.nanstd(values, ddof=1))


def real_reference(real_train: pd.DataFrame, seed: int, cap: int | None = REAL_ROWS_CAP) -> pd.DataFrame:
    """At most `cap` of the real training rows, drawn uniformly with `seed` (in their order); all of them below it."""
    if cap is None or len(real_train) <= cap:
        return real_train
    rows = np.sort(np.random.default_rng([seed % 2**32, 0x4EA1]).choice(len(real_train), size=cap, replace=False))
    return real_train.iloc[rows]
