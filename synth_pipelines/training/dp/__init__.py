"""Differentially private synthesis, end to end: budget rules, the public domain, DP models, the ledger.

`fit_dp_model` is the one entry point the pipeline calls. The threat model is
docs/privacy.md: neighbours add or remove one row; the request (its `schema` included) and
the code are public. Every structural decision comes from the schema; the rows reach only
three kinds of mechanism, each charged:

- marginals: one OpenDP discrete-Gaussian histogram per modelled column (zCDP);
- dp_gaussian_copula: one OpenDP Gaussian release of the clipped score covariance (zCDP);
  marginals and correlation compose in zCDP and are converted to (ε, δ) once;
- dp_mst: MST's noisy 1-way and tree-selected 2-way histograms and its noisy-max tree
  selection (`training/dp/mst.py`), all zCDP, converted to (ε, δ) once;
- dp_tvae / dp_ctgan: DP-SGD (`privacy/neural.py`, RDP accountant), composed with the
  marginals' (ε, δ) by basic composition.

The noise, the rows' within-slot jitter key and the Poisson sampling all come from the
`secrets` module, never from the request's `seed`: a request is public, and noise an
attacker can regenerate protects nothing. So fitting is not reproducible; sampling a
fitted model is (same seed, same rows). DP-SGD's sampling rate and step count come from a
DP estimate of n (post-processing of the marginals), and nothing recorded holds the real n.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synth_pipelines.core.request import PrivacySpec, RequestError, SynthesizerSpec
from synth_pipelines.privacy.budget import (
    check_budget,
    default_delta,
    resolve_delta,
    zcdp_epsilon,
    zcdp_rho,
)
from synth_pipelines.privacy.domain import GeneratedColumn, PrivateSchema, domain_from_schema, release_marginals
from synth_pipelines.privacy.ledger import PrivacyLedger

if TYPE_CHECKING:
    from synth_pipelines.core.request import TableSchema

__all__ = [
    "PrivacyLedger",
    "check_budget",
    "default_delta",
    "fit_dp_model",
    "resolve_delta",
]

# Share of ε spent on the marginals; the rest trains. The copula's "training" is one
# correlation release, which needs little; DP-SGD needs most of the budget.
PREPROCESSING_SHARE = {"dp_gaussian_copula": 0.5, "dp_ctgan": 0.2, "dp_tvae": 0.2, "dp_mst": 1 / 3}
# OpenDP rounds each mechanism's ρ up (conservatively); calibrating a hair below the target
# keeps the reported total at or below the request's ε after that rounding.
CALIBRATION_MARGIN = 1 - 1e-9


def generated_values(column: GeneratedColumn, num_rows: int, rng: np.random.Generator) -> pd.Series:
    """Values for a column no model learns (ids, PII-like sdtypes): made up, never taken from a row."""
    if column.sdtype == "id":
        return pd.Series([f"{v:016x}" for v in rng.integers(0, 2**63, size=num_rows)], dtype=object)
    from faker import Faker

    # Uniform over Faker's word lists: its frequency weighting recomputes cumulative weights on
    # every call (about 400 µs an e-mail address against 50 µs), and the names stay realistic.
    fake = Faker(use_weighting=False)
    fake.seed_instance(int(rng.integers(0, 2**31)))
    provider = getattr(fake, column.sdtype, None)
    if callable(provider):
        return pd.Series([str(provider()) for _ in range(num_rows)], dtype=object)
    return pd.Series([fake.pystr(min_chars=8, max_chars=12) for _ in range(num_rows)], dtype=object)


class WithGeneratedColumns:
    """A DP model plus the schema's generated columns, in the schema's column order."""

    def __init__(self, model: Any, schema: PrivateSchema):
        self.model = model
        self.name = model.name
        self.schema = schema
        self.training_record: dict[str, Any] = {}

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame:
        frame = self.model.sample(num_rows, seed).reset_index(drop=True)
        rng = np.random.default_rng([seed, 1])
        for column in self.schema.generated:
            frame[column.name] = generated_values(column, num_rows, rng)
        return frame[self.schema.output_order]


def fit_dp_model(
    data: pd.DataFrame,
    schema: TableSchema | None,
    spec: SynthesizerSpec,
    privacy: PrivacySpec | None,
    device: str = "cpu",
    seed: int = 0,
    private: bool = True,
    target: str | None = None,
) -> Any:
    """Fit a DP synthesizer within `privacy`'s budget on the schema's public domain.

    `target` (the request's `quality.target_column`, public) shapes dp_mst's cliques; the other DP
    synthesizers do not use it.

    `private=False` fits the same model with no noise and no clipping (the like-for-like
    baseline of the privacy benchmark and the broken variant of the audit); it is never
    reachable from a request.
    """
    if privacy is None:
        raise RequestError(
            [("privacy", f"synthesizer {spec.name!r} is differentially private and needs a privacy block")]
        )
    if schema is None:
        from synth_pipelines.core.table_schema import DP_SCHEMA_HELP

        raise RequestError([("schema", DP_SCHEMA_HELP)])
    if spec.name not in PREPROCESSING_SHARE:
        raise RequestError(
            [("synthesizer.name", f"{spec.name!r} is not a DP synthesizer; allowed: {', '.join(PREPROCESSING_SHARE)}")]
        )
    check_budget(privacy, schema.num_rows, max_epsilon=float("inf"))
    delta, delta_was_default = resolve_delta(privacy, schema.num_rows)
    domain = domain_from_schema(schema)
    missing = [name for name in domain.output_order if name not in data.columns]
    if missing:  # column names are public (they are in the schema)
        raise RequestError([("schema", f"declares columns the dataset does not have: {', '.join(missing)}")])
    # Output columns in the schema's order: a JSON-lines "header" is the order keys first appear
    # in, which one row can change.
    data = data[domain.order]
    epsilon_pre = privacy.epsilon * PREPROCESSING_SHARE[spec.name]
    epsilon_train = privacy.epsilon - epsilon_pre
    from synth_pipelines.training.device import device_name

    started = time.perf_counter()
    if spec.name == "dp_gaussian_copula":
        from synth_pipelines.privacy.domain import row_jitter
        from synth_pipelines.training.dp.copula import DPGaussianCopula, normal_scores, private_correlation

        # Marginals and correlation are both zCDP: one ρ for the whole fit, one conversion.
        rho = zcdp_rho(privacy.epsilon, delta) * CALIBRATION_MARGIN
        rho_pre = rho * PREPROCESSING_SHARE[spec.name]
        release_marginals(domain, data, rho_pre if private else 1e12)
        jitter = row_jitter(domain, data, secrets.token_urlsafe(12))
        scores = normal_scores(domain, data, jitter)
        correlation, rho_train = private_correlation(scores, (rho - rho_pre) if private else 1e12)
        spent_pre = zcdp_epsilon(domain.rho_spent, delta)
        spent_total = zcdp_epsilon(domain.rho_spent + rho_train, delta)
        spent_train = spent_total - spent_pre
        delta_spent = delta
        training = {
            "accountant": "zCDP (OpenDP Gaussian mechanisms), converted to (ε, δ) once by RDP",
            "mechanism": "OpenDP discrete Gaussian histograms (marginals) + OpenDP Gaussian mechanism on the "
            "clipped score covariance",
            "rho": domain.rho_spent + rho_train,
            "sampling_rate": 1.0,
            "steps": 1,
        }
        model: Any = DPGaussianCopula(domain, correlation, {})
        epochs = batch_size = None
        loss_curve: list[dict[str, float]] = []
    elif spec.name == "dp_mst":
        from synth_pipelines.training.dp.mst import fit_mst

        rho = zcdp_rho(privacy.epsilon, delta) * CALIBRATION_MARGIN
        model, rho_by_stage = fit_mst(domain, data, rho, iterations=spec.epochs, private=private, target=target)
        spent_pre = zcdp_epsilon(rho_by_stage["one_way"], delta)
        spent_total = zcdp_epsilon(sum(rho_by_stage.values()), delta)
        spent_train = spent_total - spent_pre
        delta_spent = delta
        training = {
            "accountant": "zCDP (OpenDP discrete Gaussian histograms and noisy max), converted to (ε, δ) once by RDP",
            "mechanism": "MST: OpenDP discrete Gaussian 1-way histograms, a wide numeric column's on its fine bins "
            "(preprocessing; coarse bins cut from that release), OpenDP noisy max spanning "
            f"tree selection + discrete Gaussian {'target × edge 3-way' if model.target else '2-way'} histograms "
            "(training), mbi mirror descent",
            "rho": sum(rho_by_stage.values()),
            "rho_by_stage": rho_by_stage,
            "estimation_iterations": spec.epochs,
            "tree": [list(edge) for edge in model.edges],
            "target": model.target,  # public: the request's target_column, when it is joined to every clique
        }
        epochs, batch_size = spec.epochs, None
        loss_curve = []
    else:
        from synth_pipelines.training.dp.neural import train_dp_neural

        delta_pre = delta / 2
        rho_pre = zcdp_rho(epsilon_pre, delta_pre) * CALIBRATION_MARGIN
        release_marginals(domain, data, rho_pre if private else 1e12)
        spent_pre = zcdp_epsilon(domain.rho_spent, delta_pre)
        noise_rng = np.random.default_rng(secrets.randbits(128))
        assert domain.rows_estimate is not None  # release_marginals sets it
        model, spent_train, delta_train, training, loss_curve = train_dp_neural(
            data, domain, spec, epsilon_train, delta / 2, device, seed, noise_rng, domain.rows_estimate, private
        )
        spent_total = spent_pre + spent_train
        delta_spent = delta_pre + delta_train
        epochs, batch_size = spec.epochs, spec.batch_size
    if private and spent_total > privacy.epsilon:
        raise RuntimeError(f"the fit spent ε={spent_total:.6f}, over the request's {privacy.epsilon:g}")
    seconds = time.perf_counter() - started
    wrapped = WithGeneratedColumns(model, domain)
    wrapped.training_record = {
        "synthesizer": spec.name,
        "epochs": epochs,
        "batch_size": batch_size,
        "train_seconds": round(seconds, 3),
        "device": device,
        "device_name": device_name(device),
        # Private: the owner's record only (the pipeline keeps it out of run metadata).
        "loss_curve": loss_curve,
        "privacy": {
            "epsilon_total": spent_total,
            "epsilon_by_stage": {"preprocessing": spent_pre, "training": spent_train},
            "epsilon_requested": privacy.epsilon,
            "delta": delta,
            "delta_spent": delta_spent,
            "delta_was_default": delta_was_default,
            "preprocessing_mechanisms": domain.mechanisms,
            "generated_columns": [c.name for c in domain.generated],
            **training,
        },
    }
    return wrapped
