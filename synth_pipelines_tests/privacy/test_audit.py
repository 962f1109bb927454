"""The empirical audit bounds a correct Gaussian mechanism at or below its ε and catches broken ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from synth_pipelines.training.dp.audit import (
    audit,
    clopper_pearson,
    epsilon_lower_bound,
    gaussian_sum_trial,
    run_game,
)

EPSILON, DELTA = 2.0, 1e-5
# Enough for the broken variants' bound to clear 2 with a margin (≈ 2.5 measured over seeds), still ~1 s.
TRIALS = 300_000


def test_clopper_pearson_edges_and_coverage() -> None:
    low, high = clopper_pearson(0, 100, 0.05)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / 100))
    low, high = clopper_pearson(100, 100, 0.05)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / 100))
    # Coverage at p = 0.03, n = 200: the interval holds the truth in at least 95 % of draws.
    rng = np.random.default_rng(0)
    hits = [clopper_pearson(int(k), 200, 0.05) for k in rng.binomial(200, 0.03, size=2000)]
    assert np.mean([lo <= 0.03 <= hi for lo, hi in hits]) >= 0.95


def test_correct_gaussian_mechanism_stays_at_or_below_its_epsilon() -> None:
    result = audit(gaussian_sum_trial(EPSILON, DELTA), TRIALS, DELTA, claimed_epsilon=EPSILON, seed=1)
    assert result.eps_lb <= EPSILON and not result.violates_claim
    # Not vacuous: the game does tell the sides apart somewhat.
    assert result.eps_lb > 0.5
    assert result.confidence == 0.95 and result.trials_per_side == TRIALS


@pytest.mark.parametrize("broken", ["double", "half_noise"])
def test_sensitivity_two_c_is_caught(broken: str) -> None:
    result = audit(gaussian_sum_trial(EPSILON, DELTA, broken=broken), TRIALS, DELTA, claimed_epsilon=EPSILON, seed=2)
    assert result.eps_lb > EPSILON and result.violates_claim


def test_noise_off_is_caught() -> None:
    result = audit(gaussian_sum_trial(EPSILON, DELTA, broken="no_noise"), 2_000, DELTA, claimed_epsilon=EPSILON)
    assert result.eps_lb > EPSILON
    assert result.false_positives == 0 and result.false_negatives == 0


def test_correct_mechanism_in_several_dimensions_is_not_flagged() -> None:
    trial = gaussian_sum_trial(EPSILON, DELTA, dim=5)
    assert audit(trial, 100_000, DELTA, claimed_epsilon=EPSILON, seed=3).eps_lb <= EPSILON


def test_batch_and_one_by_one_play_the_same_game() -> None:
    trial = gaussian_sum_trial(EPSILON, DELTA, broken="double", dim=3)
    batched = run_game(trial, 3_000, seed=4)

    def one_by_one(with_canary: bool, rng: np.random.Generator) -> float:
        return trial(with_canary, rng)

    single = run_game(one_by_one, 3_000, seed=5)
    for side in (0, 1):
        assert ks_2samp(batched[side], single[side]).pvalue > 0.01


def test_bonferroni_grid_uses_every_trial_and_is_valid() -> None:
    trial = gaussian_sum_trial(EPSILON, DELTA)
    with_scores, without_scores = run_game(trial, 100_000, seed=6)
    sigma = float(np.std(without_scores))
    grid = sigma * np.linspace(-4, 4, 9)
    result = epsilon_lower_bound(with_scores, without_scores, DELTA, thresholds=grid, claimed_epsilon=EPSILON)
    assert result.evaluation_trials_per_side == 100_000
    assert 0 <= result.eps_lb <= EPSILON
    assert math.isfinite(result.threshold)


def test_identical_sides_give_no_evidence() -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(size=20_000)
    result = epsilon_lower_bound(scores[:10_000], scores[10_000:], DELTA)
    assert result.eps_lb < 0.25


def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "privacy_audit.py"
    spec = importlib.util.spec_from_file_location("privacy_audit_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dp_gaussian_copula_fit_passes_a_small_audit_and_its_noise_off_twin_fails_it() -> None:
    mechanism = _benchmark().dp_gaussian_copula()
    correct = audit(mechanism.correct, 80, mechanism.delta, claimed_epsilon=mechanism.epsilon)
    broken = audit(mechanism.broken, 80, mechanism.delta, claimed_epsilon=mechanism.epsilon)
    assert correct.eps_lb <= mechanism.epsilon
    assert broken.eps_lb > mechanism.epsilon


def test_the_dp_sgd_step_passes_a_small_audit_and_the_old_separate_clipping_shows_more_leakage() -> None:
    mechanism = _benchmark().dp_sgd_step()
    correct = audit(mechanism.correct, 200_000, mechanism.delta, claimed_epsilon=mechanism.epsilon)
    broken = audit(mechanism.broken, 200_000, mechanism.delta, claimed_epsilon=mechanism.epsilon)
    assert correct.eps_lb <= mechanism.epsilon
    # The old step's canary moves the sum by ~1.5 C: the same game proves clearly more ε against it.
    # (The full benchmark, at 1,000,000 trials per side, proves it past the claim.)
    assert broken.eps_lb > 1.3 * correct.eps_lb
