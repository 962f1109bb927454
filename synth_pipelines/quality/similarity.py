"""Similarity and attack scores of a synthetic table: DCR similarity, exact copies, disclosure, membership inference.

Scores follow SDMetrics' definitions (DCRBaselineProtection, DCROverfittingProtection,
NewRowSynthesis, DisclosureProtection); the distance work runs in `distances`, which the
tests hold equal to SDMetrics' own code. Every function returns the score, the rows it
scored and the measured standard error of that choice of rows.

The DCR scores and NewRowSynthesis measure similarity (how far synthetic rows sit from real
ones), not privacy: they can pass while membership inference succeeds, for instance when a
model reproduces a few outliers closely but not exactly. The evidence about privacy is the
membership-inference attack (`membership_inference`) and, for a DP model, its ε.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.quality.distances import (
    by_typical_part,
    closest_record_distances,
    closest_record_sums,
    copied_rows,
    encode_reference,
    random_baseline_rows,
    statistical_columns,
)
from synth_pipelines.quality.sampling import SamplingPlan, bootstrap_standard_error, finite_population_factor

log = logging.getLogger(__name__)
# Columns the disclosure attacker is assumed to know (see `disclosure_protection`).
KNOWN_COLUMNS = 4


def _baseline_score(synthetic_dcr: np.ndarray, random_dcr: np.ndarray) -> float:
    random_median = float(np.nanmedian(random_dcr))
    if random_median == 0.0:
        return float("nan")
    return min(float(np.median(synthetic_dcr)) / random_median, 1.0)


def _overfitting_score(closer_to_training: np.ndarray) -> float:
    return min((1.0 - float(np.mean(closer_to_training))) * 2.0, 1.0)


def _grow_until_precise(
    score_rows: Callable[[int, int], np.ndarray],
    statistic: Callable[[np.ndarray], float],
    start_rows: int,
    max_rows: int,
    plan: SamplingPlan,
    rng: np.random.Generator,
    population: int | None = None,
) -> tuple[np.ndarray, float]:
    """Per-row values for the first n rows, n growing from `start_rows` until the measured SE meets the target.

    `score_rows(begin, end)` returns the per-row values of rows begin..end of a fixed random
    order, so each step scores only the new rows. The error is the bootstrap SE; with
    `population` (the rows the sample is drawn from, without replacement) it is the error
    against the all-rows value, which shrinks to 0 as the sample reaches every row. Each step
    jumps to the size the measured spread says meets the target (10% over), so the sample
    ends near the size it needs instead of up to twice it.
    """
    values = score_rows(0, start_rows)
    while True:
        n_rows = len(values)
        scored = values

        def resampled(idx: np.ndarray, scored: np.ndarray = scored) -> float:
            return statistic(scored[idx])

        spread = bootstrap_standard_error(resampled, n_rows, plan.dcr_bootstrap, rng)
        error = spread * finite_population_factor(n_rows, population) if population else spread
        if not np.isfinite(error) or error <= plan.target_standard_error or n_rows >= max_rows:
            return values, error
        variance = spread**2 * n_rows  # of one row's contribution
        inverse_needed = plan.target_standard_error**2 / variance + (1 / population if population else 0.0)
        needed = math.ceil(1.1 / inverse_needed) if inverse_needed > 0 else max_rows
        values = np.r_[values, score_rows(n_rows, min(max(needed, n_rows + start_rows), max_rows))]


def _grow_baseline(
    synthetic_part: Callable[[int, int], np.ndarray],
    random_part: Callable[[int, int], np.ndarray],
    n_random: int,
    plan: SamplingPlan,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, float]:
    """DCRs of synthetic and of random baseline rows, grown until the baseline score's bootstrap SE meets the target.

    The two are independent samples, so each is resampled on its own. A random row costs several
    synthetic ones (it sits far from every real row, so more reference rows can be nearest), and
    the synthetic median carries most of the error, so the random sample grows as a share
    (`plan.dcr_random_share`, at least 1,000 rows) of the synthetic one.
    """

    def random_size(synthetic_rows: int) -> int:
        return min(n_random, max(min(1_000, n_random), math.ceil(plan.dcr_random_share * synthetic_rows)))

    synthetic_dcr = synthetic_part(0, plan.dcr_start_rows)
    random_dcr = random_part(0, random_size(plan.dcr_start_rows))
    while True:
        n_synthetic, n_random_rows = len(synthetic_dcr), len(random_dcr)
        error = float("nan")
        if plan.dcr_bootstrap >= 2 and n_synthetic >= 2 and n_random_rows >= 2:
            draws = [
                _baseline_score(
                    synthetic_dcr[rng.integers(0, n_synthetic, n_synthetic)],
                    random_dcr[rng.integers(0, n_random_rows, n_random_rows)],
                )
                for _ in range(plan.dcr_bootstrap)
            ]
            error = float(np.nanstd(draws, ddof=1))
        if not np.isfinite(error) or error <= plan.target_standard_error or n_synthetic >= plan.dcr_max_rows:
            return synthetic_dcr, random_dcr, error
        needed = math.ceil(1.1 * n_synthetic * (error / plan.target_standard_error) ** 2)
        grown = min(max(needed, n_synthetic + plan.dcr_start_rows), plan.dcr_max_rows)
        synthetic_dcr = np.r_[synthetic_dcr, synthetic_part(n_synthetic, grown)]
        random_dcr = np.r_[random_dcr, random_part(n_random_rows, random_size(grown))]


def dcr_scores(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    plan: SamplingPlan,
    seed: int,
    reference: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """DCRBaselineProtection and (with a holdout) DCROverfittingProtection: similarity scores, not privacy.

    `reference` (default: `real_train`) is the real rows baseline protection searches, synthetic and
    random rows alike (a bounded sample, `sampling.real_reference`); overfitting protection draws its
    holdout-sized subset from all of `real_train`, so its cost never grew with the training rows.

    Each score's sample starts at `plan.dcr_start_rows` rows and grows while its bootstrap
    standard error is above the plan's target, up to its cap.

    DCROverfittingProtection compares each synthetic row's distance to the holdout with its
    distance to an equally large random subset of the training rows: with the 26k-vs-5k
    sets SDMetrics would otherwise compare, rows look "closer to training" merely because
    the training set is bigger (SDMetrics itself warns when the holdout is under half).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(synthetic))
    numeric, categorical = statistical_columns(metadata, [synthetic, real_train])
    searched = real_train if reference is None else reference
    n_random = min(plan.dcr_max_rows, plan.dcr_random_max_rows)
    random_rows = random_baseline_rows(searched[numeric + categorical], n_random, seed + 1)
    numeric = by_typical_part(searched, metadata, numeric, seed)  # one summation order for every reference
    train_ref = encode_reference(searched, metadata, numeric, categorical)

    def synthetic_part(begin: int, end: int) -> np.ndarray:
        return closest_record_distances(synthetic.iloc[order[begin:end]], searched, metadata, train_ref)

    def random_part(begin: int, end: int) -> np.ndarray:
        return closest_record_distances(random_rows.iloc[begin:end], searched, metadata, train_ref)

    synthetic_dcr, random_dcr, baseline_error = _grow_baseline(synthetic_part, random_part, n_random, plan, rng)
    result: dict[str, Any] = {
        "dcr_baseline_protection": _baseline_score(synthetic_dcr, random_dcr),
        "dcr_median_synthetic": float(np.median(synthetic_dcr)),
        "dcr_median_random_baseline": float(np.median(random_dcr)),
        "dcr_random_baseline_rows": len(random_dcr),
        "dcr_rows": len(synthetic_dcr),
        "standard_errors": {"dcr_baseline_protection": baseline_error},
    }
    if real_holdout is None or len(real_holdout) == 0:
        return result

    # Its own generator: the reference subsets must not depend on how many bootstrap draws the
    # baseline took, or the score would change with the sampling plan, not just with the rows.
    subset_rng = np.random.default_rng(seed + 6)
    size = min(len(real_holdout), len(real_train))
    train_subset = real_train.iloc[subset_rng.choice(len(real_train), size, replace=False)]
    holdout = real_holdout.iloc[subset_rng.choice(len(real_holdout), size, replace=False)]
    subset_ref = encode_reference(train_subset, metadata, numeric, categorical)
    holdout_ref = encode_reference(holdout, metadata, numeric, categorical)

    def closer_to_training(begin: int, end: int) -> np.ndarray:
        rows = synthetic.iloc[order[begin:end]]
        to_holdout = closest_record_sums(rows, holdout, metadata, holdout_ref)
        # Only a training row strictly closer than the holdout's nearest matters: search below that bound.
        to_train = closest_record_sums(rows, train_subset, metadata, subset_ref, upper=to_holdout)
        return (to_train < to_holdout).astype(float)

    closer, closer_error = _grow_until_precise(
        closer_to_training,
        lambda values: _overfitting_score(values),
        plan.dcr_start_rows,
        plan.dcr_overfitting_max_rows,
        plan,
        rng,
        population=plan.synthetic_rows,
    )
    result["dcr_overfitting_protection"] = _overfitting_score(closer)
    result["dcr_closer_to_training"] = float(np.mean(closer))
    result["dcr_overfitting_rows"] = len(closer)
    result["dcr_overfitting_reference_rows"] = int(size)
    result["standard_errors"]["dcr_overfitting_protection"] = closer_error
    return result


def new_row_synthesis(
    real_train: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict[str, Any], plan: SamplingPlan, seed: int
) -> dict[str, Any]:
    """Share of synthetic rows that copy no real row (SDMetrics NewRowSynthesis), with its binomial error.

    The error is against the all-rows share (finite-population corrected): 0 when every row is checked.
    """
    rng = np.random.default_rng(seed + 2)
    rows = synthetic.iloc[rng.choice(len(synthetic), plan.new_row_rows, replace=False)]
    copied = copied_rows(rows, real_train, metadata)
    share_new = 1.0 - float(copied.mean())
    # The per-row outcome is 0/1, so the bootstrap SE equals the binomial one; compute it directly.
    standard_error = float(np.sqrt(share_new * (1 - share_new) / len(rows))) * finite_population_factor(
        len(rows), plan.synthetic_rows
    )
    return {
        "new_row_synthesis": share_new,
        "copied_rows_in_sample": int(copied.sum()),
        "new_row_rows": len(rows),
        "standard_errors": {"new_row_synthesis": standard_error},
    }


def disclosure_protection(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    sensitive_columns: list[str],
    plan: SamplingPlan,
    seed: int,
) -> dict[str, Any]:
    """SDMetrics DisclosureProtection (CAP) for the sensitive columns.

    The attacker is assumed to know the `KNOWN_COLUMNS` non-sensitive columns with the fewest
    distinct values (numbers binned into 10): demographic-style keys such as sex or race.
    Knowing every other column would make almost every key unique in a sample, leaving CAP
    nothing to match and no score. CAP compares every real row with every synthetic row, so
    it runs on small seeded samples; the replicates' spread is the measured error.
    """
    from sdmetrics.single_table import DisclosureProtection

    numeric, categorical = statistical_columns(metadata, [synthetic, real_train])
    missing = [c for c in sensitive_columns if c not in numeric + categorical]
    if missing:
        raise ValueError(f"sensitive_columns {missing} are not numerical/categorical columns of the table")
    candidates = [c for c in numeric + categorical if c not in sensitive_columns]
    known = sorted(
        candidates, key=lambda c: min(real_train[c].nunique(), 10) if c in numeric else real_train[c].nunique()
    )
    known = known[:KNOWN_COLUMNS]
    continuous = [c for c in numeric if c in known or c in sensitive_columns]
    rng = np.random.default_rng(seed + 3)
    n_rows = plan.disclosure_rows
    scores = []
    for _ in range(plan.disclosure_replicates):
        real_rows = real_train.iloc[rng.choice(len(real_train), min(n_rows, len(real_train)), replace=False)]
        synthetic_rows = synthetic.iloc[rng.choice(len(synthetic), n_rows, replace=False)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            breakdown = DisclosureProtection.compute_breakdown(
                real_rows.reset_index(drop=True),
                synthetic_rows.reset_index(drop=True),
                known_column_names=known,
                sensitive_column_names=list(sensitive_columns),
                continuous_column_names=continuous or None,
            )
        scores.append(float(breakdown["score"]))
    error = float(np.std(scores, ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else float("nan")
    return {
        "disclosure_protection": float(np.mean(scores)),
        "disclosure_rows": n_rows,
        "disclosure_known_columns": known,
        "standard_errors": {"disclosure_protection": error},
    }


def membership_inference(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    seed: int,
) -> float | None:
    """AUC of the density-ratio membership-inference attack, or None without a usable holdout.

    Members are training rows; the holdout is split at random into the attack's reference
    sample of the population and the non-members it is scored against (see
    `synth_pipelines.quality.attacks`). 0.5 means the synthetic data gives an attacker nothing
    about who was trained on; an overfit non-DP model scores clearly above.
    """
    # The attack needs a reference half and a scored half of the holdout, each of at least two rows.
    if real_holdout is None or len(real_holdout) < 4 or len(real_train) == 0 or len(synthetic) == 0:
        return None
    try:
        from synth_pipelines.quality.attacks import membership_inference_auc
    except ImportError:  # the privacy module ships separately; the report stays useful without it
        log.warning("synth_pipelines.quality.attacks is not importable; mia_auc left out")
        return None
    return float(membership_inference_auc(real_train, real_holdout, synthetic, metadata=metadata, seed=seed))


def auc_standard_error(positive: np.ndarray, negative: np.ndarray) -> float:
    """DeLong's standard error of the AUC of `positive` over `negative` scores (ties count one half).

    Each score's structural component is its share of the other group it outranks, so the
    variance is var(positive components)/m + var(negative components)/n, in O((m + n) log).
    """
    if len(positive) < 2 or len(negative) < 2:
        return float("nan")
    negative_sorted, positive_sorted = np.sort(negative), np.sort(positive)
    below = np.searchsorted(negative_sorted, positive, side="left")
    tied = np.searchsorted(negative_sorted, positive, side="right") - below
    positive_part = (below + 0.5 * tied) / len(negative)
    above = len(positive) - np.searchsorted(positive_sorted, negative, side="right")
    tied = np.searchsorted(positive_sorted, negative, side="right") - np.searchsorted(
        positive_sorted, negative, side="left"
    )
    negative_part = (above + 0.5 * tied) / len(positive)
    variance = positive_part.var(ddof=1) / len(positive) + negative_part.var(ddof=1) / len(negative)
    return float(np.sqrt(variance))


def membership_inference_scores(
    real_train: pd.DataFrame,
    real_holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    metadata: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """`membership_inference`'s AUC and its standard error over the members and non-members drawn (DeLong)."""
    if real_holdout is None or len(real_holdout) < 4 or len(real_train) == 0 or len(synthetic) == 0:
        return {"mia_auc": None, "standard_errors": {}}
    try:
        from synth_pipelines.quality.attacks import membership_scores
    except ImportError:  # the privacy module ships separately; the report stays useful without it
        log.warning("synth_pipelines.quality.attacks is not importable; mia_auc left out")
        return {"mia_auc": None, "standard_errors": {}}
    from sklearn.metrics import roc_auc_score

    members, outsiders = membership_scores(real_train, real_holdout, synthetic, metadata, seed=seed)
    labels = np.r_[np.ones(len(members)), np.zeros(len(outsiders))]
    auc = float(roc_auc_score(labels, np.r_[members, outsiders]))
    return {
        "mia_auc": auc,
        "mia_scored_rows": int(len(members) + len(outsiders)),
        "standard_errors": {"mia_auc": auc_standard_error(members, outsiders)},
    }
