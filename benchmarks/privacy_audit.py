"""Empirical privacy audit: the ε lower bound a distinguishing game proves for each DP mechanism.

For every mechanism in `MECHANISMS` the game runs the mechanism on a fixed dataset D and on
D plus one worst-case canary row, `--trials` times per side, and reports the ε lower bound
those runs prove at 95 % confidence (Clopper–Pearson; see `synth_pipelines/training/dp/audit.py`).
A correct mechanism must show eps_lb ≤ its claimed ε; the same game on a deliberately broken
variant of it must show eps_lb > the claim, or the audit has no power for that mechanism.

    .venv/bin/python benchmarks/privacy_audit.py                       # every mechanism
    .venv/bin/python benchmarks/privacy_audit.py --trials 20000 --only gaussian_sum

Writes benchmarks/results/privacy_audit.json and privacy_audit.md (or --out-dir).

Adding a mechanism: write a factory that returns `Mechanism(correct, broken, epsilon, delta)`,
each trial being `trial(with_canary: bool, rng) -> score` (higher = "the canary looks
present"; an optional `trial.batch(with_canary, n, rng)` plays n runs at once), and add it to
`MECHANISMS`. Set `Mechanism.trials` for mechanisms too slow for the default trial count
(neural models): the report states the count each mechanism got.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synth_pipelines.privacy.budget import gaussian_sigma, zcdp_rho  # noqa: E402
from synth_pipelines.training.dp.audit import AuditResult, Trial, audit, gaussian_sum_trial  # noqa: E402

DEFAULT_TRIALS = 200_000
CLAIMED_EPSILON, DELTA = 2.0, 1e-5


class Mechanism(NamedTuple):
    """One audited mechanism: its correct trial, a deliberately broken trial, and the (ε, δ) it claims."""

    correct: Trial
    broken: Trial
    epsilon: float
    delta: float
    broken_label: str = "broken"
    description: str = ""
    # Trials per side for this mechanism; None takes --trials (expensive mechanisms set fewer).
    trials: int | None = None


def gaussian_sum() -> Mechanism:
    """Clipped-sum Gaussian mechanism in numpy; broken: the canary's contribution counted twice (2C)."""
    return Mechanism(
        correct=gaussian_sum_trial(CLAIMED_EPSILON, DELTA),
        broken=gaussian_sum_trial(CLAIMED_EPSILON, DELTA, broken="double"),
        epsilon=CLAIMED_EPSILON,
        delta=DELTA,
        broken_label="sensitivity 2C (canary counted twice)",
        description="sum of 20 rows clipped to C = 1, Gaussian noise σ·C from the zCDP calibration; canary at the "
        "clip norm; score = noisy sum − D's sum along the canary",
    )


# The public categories of a small column; D never holds the last one, so the canary has its bin to itself.
HISTOGRAM_CATEGORIES = ["White", "Black", "Asian-Pac-Islander", "Other", "Amer-Indian-Eskimo"]
HISTOGRAM_ROWS = ["White"] * 30 + ["Black"] * 8 + ["Asian-Pac-Islander"] * 3 + ["Other"] * 1
HISTOGRAM_CANARY = "Amer-Indian-Eskimo"


def _histogram_trial(scale: float) -> Trial:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    input_space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    # OpenDP derives the count's sensitivity itself (symmetric distance 1 → L2 distance 1).
    pipeline = input_space >> dp.t.then_count_by_categories(
        categories=HISTOGRAM_CATEGORIES, null_category=False, MO=dp.L2Distance[int]
    )
    release = pipeline >> dp.m.then_gaussian(scale=scale)
    noise = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int), scale=scale)
    canary_bin = HISTOGRAM_CATEGORIES.index(HISTOGRAM_CANARY)
    datasets = {False: HISTOGRAM_ROWS, True: [*HISTOGRAM_ROWS, HISTOGRAM_CANARY]}

    def trial(with_canary: bool, rng: np.random.Generator) -> float:
        # OpenDP draws from its own secure RNG: trials are independent but not replayable from `rng`.
        return float(release(datasets[with_canary])[canary_bin])

    def batch(with_canary: bool, n: int, rng: np.random.Generator) -> np.ndarray:
        # The chain is "count, then noise": the counts are exact, so n releases are the exact counts
        # repeated n times under one call of the same discrete Gaussian (independent per coordinate).
        counts = list(pipeline(datasets[with_canary]))
        width = len(counts)
        scores = []
        for start in range(0, n, 50_000):
            size = min(50_000, n - start)
            noisy = np.asarray(noise(counts * size), dtype=float).reshape(size, width)
            scores.append(noisy[:, canary_bin])
        return np.concatenate(scores)

    trial.batch = batch  # type: ignore[attr-defined]
    trial.claimed = release  # type: ignore[attr-defined]
    return trial


def opendp_histogram() -> Mechanism:
    """OpenDP count-by-categories + discrete Gaussian; broken: scale halved (4× the ρ it claims)."""
    import opendp.prelude as dp

    scale = gaussian_sigma(zcdp_rho(CLAIMED_EPSILON, DELTA), 1.0)
    correct = _histogram_trial(scale)
    # The claim is OpenDP's own: its zCDP → (ε, δ) conversion of the measurement at d_in = 1.
    epsilon = float(dp.c.make_zCDP_to_approxDP(correct.claimed).map(1).epsilon(DELTA))  # type: ignore[attr-defined]
    return Mechanism(
        correct=correct,
        broken=_histogram_trial(scale / 2),
        epsilon=epsilon,
        delta=DELTA,
        broken_label="noise scale halved",
        description=f"counts of a {len(HISTOGRAM_CATEGORIES)}-category column over {len(HISTOGRAM_ROWS)} rows, "
        f"discrete Gaussian scale {scale:.3f}; canary in the otherwise-empty bin; score = that bin's noisy count",
    )


# --- the project's own DP fits ------------------------------------------------------------

COPULA_SCHEMA = {
    "metadata": {"tables": {"t": {"columns": {"x": {"sdtype": "numerical"}, "y": {"sdtype": "numerical"}}}}},
    "parameters": {
        "DAYZ_SPEC_VERSION": "V1",
        "tables": {
            "t": {
                "columns": {
                    "x": {"min_value": -3.0, "max_value": 3.0, "missing_values_proportion": 0.0},
                    "y": {"min_value": -3.0, "max_value": 3.0, "missing_values_proportion": 0.0},
                }
            }
        },
    },
}
COPULA_ROWS = 30


def _copula_trial(private: bool) -> Trial:
    """`fit_dp_model` end to end (marginals + correlation); score = the released correlation of x and y."""
    import pandas as pd

    from synth_pipelines.core.request import PrivacySpec, SynthesizerSpec, TableSchema
    from synth_pipelines.training.dp import fit_dp_model

    schema = TableSchema.model_validate(COPULA_SCHEMA)
    rows = np.random.default_rng(7).normal(size=(COPULA_ROWS, 2)) * 0.5
    rows[:, 1] = -rows[:, 0]  # D is perfectly anti-correlated; the canary pulls towards +1
    base = pd.DataFrame(rows, columns=["x", "y"])
    datasets = {False: base, True: pd.concat([base, pd.DataFrame({"x": [3.0], "y": [3.0]})], ignore_index=True)}
    spec = SynthesizerSpec(name="dp_gaussian_copula")
    privacy = PrivacySpec(epsilon=CLAIMED_EPSILON, delta=DELTA)

    def trial(with_canary: bool, rng: np.random.Generator) -> float:
        # The fit draws its noise and jitter key from `secrets`: trials are independent, not replayable.
        model = fit_dp_model(datasets[with_canary], schema, spec, privacy, private=private)
        return float(model.model.correlation[0, 1])

    return trial


def dp_gaussian_copula() -> Mechanism:
    """The whole dp_gaussian_copula fit; broken: the same fit with noise off (`private=False`)."""
    return Mechanism(
        correct=_copula_trial(private=True),
        broken=_copula_trial(private=False),
        epsilon=CLAIMED_EPSILON,
        delta=DELTA,
        broken_label="noise off (the same fit, private=False)",
        description=f"`fit_dp_model` end to end on {COPULA_ROWS} rows of two declared columns; canary at the "
        "domain's corner; score = the released correlation",
        trials=1_000,
    )


DP_SGD_WIDTH, DP_SGD_HIDDEN, DP_SGD_ROWS = 6, 16, 20
CANARY_SEARCH = 400


def _dp_sgd_trial(joint: bool) -> tuple[Trial, float]:
    """One DP-SGD step of the GAN's discriminator through the project's clipper, plan and noise.

    The weights and D's fake rows are fixed; the canary is a (real row, its fake row) pair.
    The step is deterministic up to the noise, so the clipped sums of D and D plus the canary
    are computed once and each run adds fresh noise from Opacus' `_generate_noise(secure_mode=True)`
    (what `DPSGD.release` calls), projected on the direction the canary moves the sum.
    `joint=False` clips the real and the fake row as separate samples: the old, 2C-sensitive step.
    """
    import torch
    from opacus.optimizers.optimizer import _generate_noise
    from torch import nn
    from torch.nn import functional as F

    from synth_pipelines.training.dp.neural import BookKeepingClipper, _mlp, discriminator_backward, plan_dp_sgd

    torch.manual_seed(0)
    network = nn.Sequential(
        _mlp([DP_SGD_WIDTH, DP_SGD_HIDDEN, DP_SGD_HIDDEN], final_activation=True), nn.Linear(DP_SGD_HIDDEN, 1)
    ).double()
    clipper = BookKeepingClipper(network, 1.0)
    real = torch.randn(DP_SGD_ROWS, DP_SGD_WIDTH, dtype=torch.float64).clamp(-2, 2)
    fake = torch.randn(DP_SGD_ROWS, DP_SGD_WIDTH, dtype=torch.float64).clamp(-2, 2)

    def clipped_sum(real_rows: torch.Tensor, fake_rows: torch.Tensor) -> torch.Tensor:
        for p in network.parameters():
            p.grad = None
        if joint:
            discriminator_backward(network, clipper, real_rows, fake_rows)
        else:
            labels = torch.cat([torch.ones(len(real_rows)), torch.zeros(len(fake_rows))]).double()
            with clipper.recording():
                logits = network(torch.cat([real_rows, fake_rows]))[:, 0]
            clipper.backward(F.binary_cross_entropy_with_logits(logits, labels, reduction="none"))
        return torch.cat([p.grad.flatten() for p in network.parameters()])

    # The worst canary for the step under audit, among extreme pairs and a random search in the encoding's range.
    extreme = torch.full((1, DP_SGD_WIDTH), 2.0, dtype=torch.float64)
    candidates = [(extreme, -extreme), (-extreme, extreme), (extreme, extreme), (extreme * 50, -extreme * 50)]
    search = torch.Generator().manual_seed(1)
    for _ in range(CANARY_SEARCH):
        pair = (torch.rand(2, 1, DP_SGD_WIDTH, generator=search, dtype=torch.float64) * 4 - 2) * 5
        candidates.append((pair[0], pair[1]))
    base = clipped_sum(real, fake)
    moves = [clipped_sum(torch.cat([real, r]), torch.cat([fake, f])) - base for r, f in candidates]
    move = max(moves, key=lambda m: float(m.norm()))
    direction = move / move.norm()
    # One step at rate 1 (every row in the batch): the plan's noise multiplier reaches ε after that step.
    plan = plan_dp_sgd(
        epochs=1, batch_size=DP_SGD_ROWS, rows_estimate=DP_SGD_ROWS, epsilon=CLAIMED_EPSILON, delta=DELTA
    )
    std = plan.noise_multiplier * plan.max_grad_norm
    centre = {False: float(base @ direction), True: float((base + move) @ direction)}

    def batch(with_canary: bool, n: int, rng: np.random.Generator) -> np.ndarray:
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        scores = []
        for start in range(0, n, 5_000):
            size = min(5_000, n - start)
            reference = torch.zeros(size, len(direction), dtype=torch.float64)
            noise = _generate_noise(std=std, reference=reference, generator=generator, secure_mode=True)
            scores.append((noise @ direction).numpy() + centre[with_canary])
        return np.concatenate(scores)

    def trial(with_canary: bool, rng: np.random.Generator) -> float:
        return float(batch(with_canary, 1, rng)[0])

    trial.batch = batch  # type: ignore[attr-defined]
    return trial, float(move.norm())


def dp_sgd_step() -> Mechanism:
    """The discriminator's DP-SGD step; broken: real and fake rows clipped separately (the old step)."""
    correct, moved = _dp_sgd_trial(joint=True)
    broken, moved_broken = _dp_sgd_trial(joint=False)
    return Mechanism(
        correct=correct,
        broken=broken,
        epsilon=CLAIMED_EPSILON,
        delta=DELTA,
        broken_label=f"real and fake rows clipped separately (the canary moves the sum by {moved_broken:.2f} C)",
        description=f"one DP-SGD step of a {DP_SGD_WIDTH}-{DP_SGD_HIDDEN}-{DP_SGD_HIDDEN}-1 discriminator on "
        f"{DP_SGD_ROWS} (real, fake) pairs through `discriminator_backward`, `plan_dp_sgd` and Opacus' secure-mode "
        f"noise; canary = the worst of {CANARY_SEARCH + 4} candidate pairs (moves the clipped sum by {moved:.2f} C); "
        "score = the noisy sum along that move",
        trials=1_000_000,
    )


# name → factory.
MECHANISMS: dict[str, Callable[[], Mechanism]] = {
    "gaussian_sum": gaussian_sum,
    "opendp_histogram": opendp_histogram,
    "dp_gaussian_copula": dp_gaussian_copula,
    "dp_sgd_step": dp_sgd_step,
}


def _row(result: AuditResult, seconds: float) -> dict:
    row = result.as_dict()
    row["seconds"] = round(seconds, 2)
    return row


def run(names: list[str], trials: int, seed: int) -> dict:
    results = {}
    for offset, name in enumerate(names):
        mechanism = MECHANISMS[name]()
        n = mechanism.trials or trials
        entry = {"description": mechanism.description, "broken_variant": mechanism.broken_label}
        for side, trial in (("correct", mechanism.correct), ("broken", mechanism.broken)):
            started = time.perf_counter()
            result = audit(trial, n, mechanism.delta, claimed_epsilon=mechanism.epsilon, seed=seed + 10 * offset)
            entry[side] = _row(result, time.perf_counter() - started)
            print(
                f"{name:<20} {side:<8} claimed ε={mechanism.epsilon:.3f} δ={mechanism.delta:g} trials/side={n} "
                f"eps_lb={result.eps_lb:.3f} ({result.confidence:.0%})"
                f"{'  VIOLATION' if result.violates_claim else ''}",
                flush=True,
            )
        entry["claim_holds"] = not entry["correct"]["violates_claim"]
        entry["audit_has_power"] = bool(entry["broken"]["violates_claim"])
        results[name] = entry
    return results


def _markdown(result: dict) -> str:
    lines = [
        "# Empirical privacy audit",
        "",
        "A distinguishing game per mechanism: D versus D plus one worst-case canary row, the trials per side "
        "below, threshold chosen on a 20 % calibration share of the trials and rates counted on the other 80 %, "
        "Clopper–Pearson intervals; eps_lb is the ε lower bound those runs prove at "
        f"{result['confidence']:.0%} confidence. The claim holds if eps_lb ≤ claimed ε; the audit has power "
        "if the deliberately broken variant's eps_lb exceeds it. Generated by `benchmarks/privacy_audit.py`.",
        "",
        "| mechanism | variant | claimed ε | δ | trials per side | eps_lb (95 %) | TPR interval | FPR interval | "
        "verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["mechanisms"].items():
        for side in ("correct", "broken"):
            row = entry[side]
            variant = "correct" if side == "correct" else f"broken: {entry['broken_variant']}"
            if side == "correct":
                verdict = "claim holds" if not row["violates_claim"] else "**CLAIM VIOLATED**"
            else:
                verdict = "caught" if row["violates_claim"] else "**not caught: no power**"
            tpr, fpr = row["tpr_interval"], row["fpr_interval"]
            lines.append(
                f"| {name} | {variant} | {row['claimed_epsilon']:.3f} | {row['delta']:g} | {row['trials_per_side']:,} "
                f"| {row['eps_lb']:.3f} | [{tpr[0]:.2e}, {tpr[1]:.2e}] | [{fpr[0]:.2e}, {fpr[1]:.2e}] | {verdict} |"
            )
    lines += ["", "Mechanisms:", ""]
    for name, entry in result["mechanisms"].items():
        lines.append(f"- **{name}**: {entry['description']}.")
    lines += [
        "",
        'TPR and FPR are the rates of the chosen test (guess "canary" above, or below, the threshold); when '
        "both are near 1 the bound comes from the complementary pair, TNR = 1 − FPR against FNR = 1 − TPR.",
        "",
        "A bound at or below the claim is consistent with the claim, not a proof of it: the game tests one canary "
        "and one family of threshold tests. The intervals are two-sided at 97.5 % each, so the four one-sided "
        "limits behind eps_lb hold together at 95 %.",
        "",
        f"Run {result['finished']} on {result['machine']['platform']} ({result['machine']['cpus']} CPUs), "
        f"seed {result['seed']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS, help="trials per side (default %(default)s)")
    parser.add_argument("--only", action="append", choices=sorted(MECHANISMS), help="audit only NAME (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    names = args.only or list(MECHANISMS)
    mechanisms = run(names, args.trials, args.seed)
    result = {
        "benchmark": "privacy_audit",
        "confidence": 0.95,
        "default_trials_per_side": args.trials,
        "seed": args.seed,
        "mechanisms": mechanisms,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "privacy_audit.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "privacy_audit.md").write_text(_markdown(result))
    failures = [n for n, e in mechanisms.items() if not (e["claim_holds"] and e["audit_has_power"])]
    if failures:
        print(f"audit failed for: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
