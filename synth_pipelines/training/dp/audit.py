"""Empirical privacy audit: a distinguishing game whose outcome lower-bounds a mechanism's real ε.

The game: an auditor runs a mechanism many times on a fixed dataset D ("without") and on D
plus one worst-case canary row ("with"); each run yields a score, higher meaning "the canary
looks present". Any threshold test on the scores has a true-positive rate TPR and a
false-positive rate FPR, and (ε, δ)-DP forces

    TPR <= e^ε · FPR + δ        and        TNR <= e^ε · FNR + δ,

so a test that does better than that proves the mechanism's ε is larger than claimed. With
Clopper–Pearson intervals on the rates the bound holds at confidence 1 − α:

    eps_lb = max(log((TPR_low − δ) / FPR_high), log((TNR_low − δ) / FNR_high)), clipped at 0.

The threshold is chosen on a calibration share of the trials and the rates are counted on
the rest, so picking the best threshold does not inflate the bound (or, with a fixed grid of
thresholds, every trial is used and α is split over the grid: Bonferroni). The four one-sided
limits come from two-sided intervals on TPR and FPR at level α/2 each, so all four hold
together with probability ≥ 1 − α.

A lower bound at or below the claimed ε is consistent with the claim, never a proof of it;
that the same game catches a deliberately broken variant is what shows the audit has power.
Nothing here imports the orchestrator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import beta

# trial(with_canary, rng) -> score; higher means "the canary looks present" (direction is learnt anyway).
Trial = Callable[[bool, np.random.Generator], float]

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class AuditResult:
    """What one distinguishing game showed: the ε lower bound and everything it was computed from."""

    eps_lb: float
    claimed_epsilon: float | None
    delta: float
    confidence: float
    trials_per_side: int
    evaluation_trials_per_side: int
    threshold: float
    # "above": guess "canary" when score > threshold; "below": when score < threshold.
    direction: str
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    tpr_interval: tuple[float, float]
    fpr_interval: tuple[float, float]
    interval_confidence: float

    @property
    def violates_claim(self) -> bool:
        """True when the audit proves (at its confidence) that the claimed ε is too small."""
        return self.claimed_epsilon is not None and self.eps_lb > self.claimed_epsilon

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "violates_claim": self.violates_claim}


def clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval for a binomial proportion at confidence 1 − alpha."""
    if trials <= 0:
        return 0.0, 1.0
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return low, high


def _epsilon_from_counts(
    true_positives: int, false_positives: int, n_with: int, n_without: int, delta: float, alpha: float
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """eps_lb from one threshold's counts; α split in two so that all four one-sided limits hold together."""
    tpr_low, tpr_high = clopper_pearson(true_positives, n_with, alpha / 2)
    fpr_low, fpr_high = clopper_pearson(false_positives, n_without, alpha / 2)
    bounds = [0.0]
    # TNR_low = 1 − FPR_high and FNR_high = 1 − TPR_low.
    for numerator, denominator in ((tpr_low - delta, fpr_high), ((1 - fpr_high) - delta, 1 - tpr_low)):
        if numerator > 0 and denominator > 0:
            bounds.append(math.log(numerator / denominator))
    return max(bounds), (tpr_low, tpr_high), (fpr_low, fpr_high)


def _counts_above(with_scores: np.ndarray, without_scores: np.ndarray, thresholds: np.ndarray):
    """For each threshold t: how many 'with' and 'without' scores are > t (both arrays sorted)."""
    positives = len(with_scores) - np.searchsorted(with_scores, thresholds, side="right")
    false_positives = len(without_scores) - np.searchsorted(without_scores, thresholds, side="right")
    return positives, false_positives


def _oriented(scores: np.ndarray, direction: str) -> np.ndarray:
    return scores if direction == "above" else -scores


def _candidate_thresholds(with_scores: np.ndarray, without_scores: np.ndarray, limit: int = 4000) -> np.ndarray:
    pooled = np.unique(np.r_[with_scores, without_scores])
    if len(pooled) > limit:
        pooled = np.quantile(pooled, np.linspace(0, 1, limit))
    return pooled


def _bounds_vectorised(tp: np.ndarray, fp: np.ndarray, n_with: int, n_without: int, delta: float, alpha: float):
    """`_epsilon_from_counts` over arrays of counts (the calibration search scores thousands of thresholds)."""
    q = alpha / 4  # each one-sided tail of the two α/2 intervals
    tpr_low = np.where(tp > 0, beta.ppf(q, np.maximum(tp, 1), n_with - tp + 1), 0.0)
    fpr_high = np.where(fp < n_without, beta.ppf(1 - q, fp + 1, np.maximum(n_without - fp, 1)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where((tpr_low - delta > 0) & (fpr_high > 0), np.log((tpr_low - delta) / fpr_high), 0.0)
        second = np.where(
            (1 - fpr_high - delta > 0) & (1 - tpr_low > 0), np.log((1 - fpr_high - delta) / (1 - tpr_low)), 0.0
        )
    return np.maximum(np.maximum(first, second), 0.0)


def _best_threshold(
    with_scores: np.ndarray, without_scores: np.ndarray, delta: float, alpha: float
) -> tuple[float, str, float]:
    """The (threshold, direction) whose Clopper–Pearson bound is largest on these (calibration) scores."""
    best = (float("inf"), "above", -1.0)
    for direction in ("above", "below"):
        w = np.sort(_oriented(with_scores, direction))
        wo = np.sort(_oriented(without_scores, direction))
        candidates = _candidate_thresholds(w, wo)
        positives, false_positives = _counts_above(w, wo, candidates)
        bounds = _bounds_vectorised(positives, false_positives, len(w), len(wo), delta, alpha)
        i = int(np.argmax(bounds))
        if bounds[i] > best[2]:
            best = (float(candidates[i]), direction, float(bounds[i]))
    threshold, direction, score = best
    # Report the threshold on the original score scale: "below" searched the negated scores.
    return (threshold if direction == "above" else -threshold), direction, score


def _result(
    with_scores: np.ndarray,
    without_scores: np.ndarray,
    threshold: float,
    direction: str,
    delta: float,
    alpha: float,
    trials_per_side: int,
    claimed_epsilon: float | None,
    confidence: float,
) -> AuditResult:
    if direction == "above":
        tp, fp = int((with_scores > threshold).sum()), int((without_scores > threshold).sum())
    else:
        tp, fp = int((with_scores < threshold).sum()), int((without_scores < threshold).sum())
    n_with, n_without = len(with_scores), len(without_scores)
    eps, tpr_interval, fpr_interval = _epsilon_from_counts(tp, fp, n_with, n_without, delta, alpha)
    return AuditResult(
        eps_lb=eps,
        claimed_epsilon=claimed_epsilon,
        delta=delta,
        confidence=confidence,
        trials_per_side=trials_per_side,
        evaluation_trials_per_side=min(n_with, n_without),
        threshold=float(threshold),
        direction=direction,
        true_positives=tp,
        false_positives=fp,
        true_negatives=n_without - fp,
        false_negatives=n_with - tp,
        tpr_interval=tpr_interval,
        fpr_interval=fpr_interval,
        interval_confidence=1 - alpha / 2,
    )


def epsilon_lower_bound(
    with_scores: Sequence[float] | np.ndarray,
    without_scores: Sequence[float] | np.ndarray,
    delta: float,
    alpha: float = DEFAULT_ALPHA,
    calibration_share: float = 0.2,
    thresholds: Sequence[float] | None = None,
    claimed_epsilon: float | None = None,
    seed: int = 0,
) -> AuditResult:
    """The ε lower bound at confidence 1 − alpha from the game's scores.

    Without `thresholds`, a random `calibration_share` of each side picks the threshold and
    direction, and the rest is counted. With `thresholds` (a small fixed grid), every trial is
    counted and alpha is divided by 2·len(thresholds) (both directions), Bonferroni.
    """
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    with_scores = np.asarray(with_scores, dtype=float)
    without_scores = np.asarray(without_scores, dtype=float)
    if len(with_scores) < 2 or len(without_scores) < 2:
        raise ValueError("need at least two trials per side")
    if not (np.isfinite(with_scores).all() and np.isfinite(without_scores).all()):
        raise ValueError("trial scores must be finite numbers")
    trials_per_side = min(len(with_scores), len(without_scores))

    if thresholds is not None:
        grid = np.asarray(list(thresholds), dtype=float)
        if len(grid) == 0:
            raise ValueError("thresholds is empty")
        corrected = alpha / (2 * len(grid))
        best: AuditResult | None = None
        for t in grid:
            for direction in ("above", "below"):
                candidate = _result(
                    with_scores,
                    without_scores,
                    t,
                    direction,
                    delta,
                    corrected,
                    trials_per_side,
                    claimed_epsilon,
                    1 - alpha,
                )
                if best is None or candidate.eps_lb > best.eps_lb:
                    best = candidate
        assert best is not None
        return best

    if not 0 < calibration_share < 1:
        raise ValueError(f"calibration_share must be in (0, 1), got {calibration_share!r}")
    rng = np.random.default_rng(seed)
    with_order, without_order = rng.permutation(len(with_scores)), rng.permutation(len(without_scores))
    n_cal_with = max(1, int(round(calibration_share * len(with_scores))))
    n_cal_without = max(1, int(round(calibration_share * len(without_scores))))
    cal_with, eval_with = with_scores[with_order[:n_cal_with]], with_scores[with_order[n_cal_with:]]
    cal_without, eval_without = (
        without_scores[without_order[:n_cal_without]],
        without_scores[without_order[n_cal_without:]],
    )
    threshold, direction, _ = _best_threshold(cal_with, cal_without, delta, alpha)
    return _result(
        eval_with, eval_without, threshold, direction, delta, alpha, trials_per_side, claimed_epsilon, 1 - alpha
    )


def run_game(trial: Trial, trials_per_side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of `trials_per_side` runs with the canary and as many without.

    Each side gets its own generator spawned from `seed`. A trial may carry a `batch`
    attribute, `batch(with_canary, n, rng) -> n scores`, that plays n independent runs at once
    (the same distribution, far fewer Python calls); the game uses it when present. Otherwise
    the two sides are interleaved, so that slow drift in a mechanism (warm caches, a shared
    machine) cannot line up with one side.
    """
    if trials_per_side < 2:
        raise ValueError(f"trials_per_side must be at least 2, got {trials_per_side}")
    with_rng, without_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    batch = getattr(trial, "batch", None)
    if batch is not None:
        with_scores = np.asarray(batch(True, trials_per_side, with_rng), dtype=float)
        without_scores = np.asarray(batch(False, trials_per_side, without_rng), dtype=float)
        if with_scores.shape != (trials_per_side,) or without_scores.shape != (trials_per_side,):
            raise ValueError("trial.batch must return one score per run")
        return with_scores, without_scores
    with_scores = np.empty(trials_per_side)
    without_scores = np.empty(trials_per_side)
    for i in range(trials_per_side):
        with_scores[i] = float(trial(True, with_rng))
        without_scores[i] = float(trial(False, without_rng))
    return with_scores, without_scores


def audit(
    trial: Trial,
    trials_per_side: int,
    delta: float,
    claimed_epsilon: float | None = None,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    calibration_share: float = 0.2,
    thresholds: Sequence[float] | None = None,
) -> AuditResult:
    """Play the distinguishing game `trials_per_side` times per side and return its ε lower bound."""
    with_scores, without_scores = run_game(trial, trials_per_side, seed)
    return epsilon_lower_bound(
        with_scores,
        without_scores,
        delta,
        alpha=alpha,
        calibration_share=calibration_share,
        thresholds=thresholds,
        claimed_epsilon=claimed_epsilon,
        seed=seed + 1,
    )


# Reference mechanisms: small enough to audit in seconds, and the audit's own calibration targets.


def gaussian_sum_trial(
    epsilon: float, delta: float, clip: float = 1.0, broken: str | None = None, n_rows: int = 20, dim: int = 1
) -> Trial:
    """Trial of the clipped-sum Gaussian mechanism at (ε, δ), its σ from the zCDP calibration in `budget`.

    D is `n_rows` fixed rows in `dim` dimensions; the canary sits exactly at the clip norm, the
    worst case for add/remove neighbours. The score is the noisy sum minus D's exact sum,
    projected on the canary (the attacker knows D: the audit's worst case).
    `broken`: None (correct), "double" (the canary is counted twice: sensitivity 2C under
    noise calibrated to C), "half_noise", or "no_noise". The returned trial has a `batch`
    (see `run_game`).
    """
    from synth_pipelines.privacy.budget import gaussian_sigma, zcdp_rho

    if broken not in (None, "double", "half_noise", "no_noise"):
        raise ValueError(f"unknown broken variant {broken!r}")
    sigma = gaussian_sigma(zcdp_rho(epsilon, delta), clip)
    if broken == "half_noise":
        sigma /= 2
    elif broken == "no_noise":
        sigma = 0.0
    base = np.random.default_rng(12345).normal(size=(n_rows, dim)) * clip
    canary = np.zeros(dim)
    canary[0] = 10.0 * clip  # clipped down to the clip norm below
    copies = 2 if broken == "double" else 1

    def clip_rows(rows: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows * np.minimum(1.0, clip / np.maximum(norms, 1e-12))

    base_sum = clip_rows(base).sum(axis=0)
    canary_clipped = clip_rows(canary[None, :])
    direction = canary_clipped[0] / np.linalg.norm(canary_clipped[0])

    def trial(with_canary: bool, rng: np.random.Generator) -> float:
        rows = np.vstack([base] + [canary[None, :]] * copies) if with_canary else base
        noisy = clip_rows(rows).sum(axis=0) + rng.normal(0.0, sigma, size=dim)
        return float((noisy - base_sum) @ direction)

    def batch(with_canary: bool, n: int, rng: np.random.Generator) -> np.ndarray:
        # Clipping is deterministic, so the exact sum is computed once and only the noise is drawn n times.
        rows = np.vstack([base] + [canary[None, :]] * copies) if with_canary else base
        exact = clip_rows(rows).sum(axis=0) - base_sum
        return (exact[None, :] + rng.normal(0.0, sigma, size=(n, dim))) @ direction

    trial.batch = batch  # type: ignore[attr-defined]
    return trial
