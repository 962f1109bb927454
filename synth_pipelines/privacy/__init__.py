"""Differentially private synthesis, end to end: budget rules, private preprocessing, DP models, the ledger.

`fit_dp_model` is the one entry point the pipeline calls. The budget (ε, δ) is split into
two stages, preprocessing (bounds, category lists, marginals) and training (the copula's
correlation, or DP-SGD), which compose by basic composition: the reported ε and δ are the
sums of what each stage spent, and neither sum exceeds what the request asked for.

The mechanisms' noise is drawn from a secret seed, never from the request's `seed`: a
request is public, and noise an attacker can regenerate protects nothing. So fitting is
not reproducible; sampling a fitted model is (same seed, same rows).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.privacy.budget import (
    check_budget,
    default_delta,
    gaussian_sigma,
    resolve_delta,
    zcdp_epsilon,
    zcdp_rho,
)
from synth_pipelines.privacy.ledger import PrivacyLedger, fingerprint_file
from synth_pipelines.privacy.schema import NUMERIC_SDTYPES, PrivateSchema, _sdtypes, fit_private_schema
from synth_pipelines.request import PrivacySpec, RequestError, SynthesizerSpec

__all__ = [
    "PrivacyLedger",
    "check_budget",
    "default_delta",
    "fingerprint_file",
    "fit_dp_model",
    "resolve_delta",
]

# Share of ε spent on preprocessing; the rest trains. The copula's "training" is one
# correlation release, which needs little; DP-SGD needs most of the budget.
PREPROCESSING_SHARE = {"dp_gaussian_copula": 0.5, "dp_ctgan": 0.2, "dp_tvae": 0.2}


def _check_public_knowledge(data: pd.DataFrame, metadata: Any, privacy: PrivacySpec) -> None:
    kinds = _sdtypes(metadata, data)
    problems = []
    for column in privacy.bounds:
        if column not in data.columns:
            problems.append((f"privacy.bounds.{column}", f"column {column!r} is not in the dataset"))
        elif kinds[column] not in NUMERIC_SDTYPES:
            problems.append(
                (f"privacy.bounds.{column}", f"column {column!r} is {kinds[column]}; bounds are for numeric columns")
            )
    for column, values in privacy.categories.items():
        if column not in data.columns:
            problems.append((f"privacy.categories.{column}", f"column {column!r} is not in the dataset"))
        elif kinds[column] in NUMERIC_SDTYPES:
            problems.append(
                (f"privacy.categories.{column}", f"column {column!r} is numeric; categories are for categorical ones")
            )
        elif not values:
            problems.append((f"privacy.categories.{column}", "must list at least one category"))
    if problems:
        raise RequestError(problems)


def _preprocess(
    data: pd.DataFrame, metadata: Any, privacy: PrivacySpec, epsilon: float, delta: float, rng: np.random.Generator
) -> tuple[PrivateSchema, float, float]:
    """Spend at most (epsilon, delta) on the private schema; return it with what it really spent."""
    kinds = _sdtypes(metadata, data)
    needs_threshold = any(
        kinds[c] not in NUMERIC_SDTYPES and kinds[c] != "boolean" and c not in privacy.categories for c in data.columns
    )
    threshold_delta = delta / 2 if needs_threshold else 0.0
    conversion_delta = delta - threshold_delta
    rho = zcdp_rho(epsilon, conversion_delta)
    schema = fit_private_schema(data, metadata, privacy.bounds, privacy.categories, rho, threshold_delta, rng)
    return schema, zcdp_epsilon(schema.rho_spent, conversion_delta), conversion_delta + schema.threshold_delta


def fit_dp_model(
    data: pd.DataFrame,
    metadata: Any,
    spec: SynthesizerSpec,
    privacy: PrivacySpec | None,
    device: str = "cpu",
    seed: int = 0,
) -> Any:
    """Fit a DP synthesizer within `privacy`'s budget; the model's record says what was spent, by stage."""
    if privacy is None:
        raise RequestError(
            [("privacy", f"synthesizer {spec.name!r} is differentially private and needs a privacy block")]
        )
    if spec.name not in PREPROCESSING_SHARE:
        raise RequestError(
            [("synthesizer.name", f"{spec.name!r} is not a DP synthesizer; allowed: {', '.join(PREPROCESSING_SHARE)}")]
        )
    check_budget(privacy, len(data), max_epsilon=float("inf"))
    _check_public_knowledge(data, metadata, privacy)
    delta, delta_was_default = resolve_delta(privacy, len(data))
    noise_rng = np.random.default_rng(secrets.randbits(128))
    epsilon_pre = privacy.epsilon * PREPROCESSING_SHARE[spec.name]
    epsilon_train = privacy.epsilon - epsilon_pre

    started = time.perf_counter()
    schema, spent_pre, delta_pre = _preprocess(data, metadata, privacy, epsilon_pre, delta / 2, noise_rng)
    from synth_pipelines.synthesizers import device_name

    if spec.name == "dp_gaussian_copula":
        from synth_pipelines.privacy.copula import DPGaussianCopula, normal_scores, private_correlation

        delta_train = delta / 2
        rho = zcdp_rho(epsilon_train, delta_train)
        # The scores' within-bin jitter is data-independent randomness, so it may come from the seed.
        scores = normal_scores(schema, data, np.random.default_rng(seed))
        correlation = private_correlation(scores, rho, noise_rng)
        spent_train = zcdp_epsilon(rho, delta_train)
        training = {
            "accountant": "zCDP (Gaussian mechanisms), converted by RDP; stages by basic composition",
            "mechanism": "Gaussian histograms (marginals) + Gaussian mechanism on the clipped score covariance",
            "noise_multiplier": gaussian_sigma(rho),
            "sampling_rate": 1.0,
            "steps": 1,
        }
        model: Any = DPGaussianCopula(schema, correlation, {})
        epochs = batch_size = None
        loss_curve: list[dict[str, float]] = []
    else:
        from synth_pipelines.privacy.neural import train_dp_neural

        model, spent_train, delta_train, training, loss_curve = train_dp_neural(
            data, schema, spec, epsilon_train, delta / 2, device, seed, noise_rng
        )
        epochs, batch_size = spec.epochs, spec.batch_size
    seconds = time.perf_counter() - started
    model.training_record = {
        "synthesizer": spec.name,
        "epochs": epochs,
        "batch_size": batch_size,
        "train_seconds": round(seconds, 3),
        "training_rows": len(data),
        "device": device,
        "device_name": device_name(device),
        "loss_curve": loss_curve,
        "privacy": {
            "epsilon_total": spent_pre + spent_train,
            "epsilon_by_stage": {"preprocessing": spent_pre, "training": spent_train},
            "epsilon_requested": privacy.epsilon,
            "delta": delta,
            "delta_spent": delta_pre + delta_train,
            "delta_was_default": delta_was_default,
            "preprocessing_mechanisms": schema.mechanisms,
            **training,
        },
    }
    return model
