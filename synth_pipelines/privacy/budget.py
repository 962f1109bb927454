"""Privacy budget rules: which (ε, δ) a request may ask for, and how a total is split and converted.

Stages compose by basic composition: the reported ε and δ are the sums over every
mechanism that touched the data. Inside one stage, Gaussian mechanisms are composed in
zero-concentrated DP (ρ adds up) and converted to (ε, δ) once, with the RDP conversion
that Opacus uses, so a stage's ε is never larger than the ε it was given.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from synth_pipelines.core.request import PrivacySpec, RequestError

# Orders for the RDP → (ε, δ) conversion; the same grid Opacus uses, extended upwards.
RDP_ORDERS = np.concatenate([np.linspace(1.01, 8, 140), np.arange(8, 64, 0.5), np.arange(64, 1025, 8)])


# δ when the request gives none and its schema declares no num_rows: below 1/n for any table we accept.
FALLBACK_DELTA = 1e-7
# The largest δ a request may name when its schema declares no num_rows to compare it with.
MAX_UNDECLARED_DELTA = 1e-5


def default_delta(declared_rows: int | None) -> float:
    """δ = 1/N^1.1 for the schema's declared num_rows N (public), else FALLBACK_DELTA; never from the rows."""
    if declared_rows is None:
        return FALLBACK_DELTA
    return min(FALLBACK_DELTA * 10, 1.0 / float(max(declared_rows, 2)) ** 1.1)


def resolve_delta(privacy: PrivacySpec, declared_rows: int | None) -> tuple[float, bool]:
    """The δ to use and whether it was the default; refuses δ ≥ 1/N against the declared N only.

    Comparing δ with the real n would make the refusal itself a function of the rows.
    """
    if privacy.delta is None:
        return default_delta(declared_rows), True
    if declared_rows is None and privacy.delta > MAX_UNDECLARED_DELTA:
        raise RequestError(
            [
                (
                    "privacy.delta",
                    f"delta {privacy.delta:g} is not allowed without a declared num_rows in the schema: it must be "
                    f"<= {MAX_UNDECLARED_DELTA:g} (or declare num_rows N and give delta < 1/N)",
                )
            ]
        )
    if declared_rows is not None and privacy.delta >= 1.0 / declared_rows:
        raise RequestError(
            [
                (
                    "privacy.delta",
                    f"delta {privacy.delta:g} is not allowed for the schema's declared num_rows {declared_rows}: "
                    f"it must be > 0 and < 1/num_rows = {1.0 / declared_rows:.3g} (omit it for the default "
                    f"{default_delta(declared_rows):.3g})",
                )
            ]
        )
    return float(privacy.delta), False


def check_budget(privacy: PrivacySpec | None, declared_rows: int | None, max_epsilon: float) -> None:
    """Refuse a budget this deployment will not spend: ε outside (0, max_epsilon] or δ ≥ 1/N (declared)."""
    if privacy is None:
        return
    problems: list[tuple[str, str]] = []
    epsilon = privacy.epsilon
    if not (math.isfinite(epsilon) and 0 < epsilon <= max_epsilon):
        problems.append(
            (
                "privacy.epsilon",
                f"epsilon {epsilon:g} is not allowed: it must be > 0 and <= {max_epsilon:g} (SYNTH_MAX_EPSILON)",
            )
        )
    try:
        resolve_delta(privacy, declared_rows)
    except RequestError as exc:
        problems.extend(exc.problems)
    if problems:
        raise RequestError(problems)


def zcdp_epsilon(rho: float, delta: float) -> float:
    """(ε, δ) of a ρ-zCDP mechanism: ρ-zCDP is (α, ρα)-RDP at every order α."""
    if rho <= 0:
        return 0.0
    from opacus.accountants.analysis.rdp import get_privacy_spent

    with warnings.catch_warnings():
        # The bisection in `zcdp_rho` visits tiny ρ whose best order is off the grid; the
        # bound it returns there is still valid, only loose.
        warnings.simplefilter("ignore", UserWarning)
        epsilon, _ = get_privacy_spent(orders=RDP_ORDERS, rdp=rho * RDP_ORDERS, delta=delta)
    return float(epsilon)


@functools.lru_cache(maxsize=256)  # public inputs only; the audit fits thousands of times
def zcdp_rho(epsilon: float, delta: float) -> float:
    """The largest ρ whose (ε, δ) conversion stays within `epsilon` (bisection; monotone in ρ)."""
    low, high = 0.0, max(epsilon, 1.0)
    while zcdp_epsilon(high, delta) < epsilon:
        high *= 2
    for _ in range(80):
        middle = (low + high) / 2
        if zcdp_epsilon(middle, delta) <= epsilon:
            low = middle
        else:
            high = middle
    return low


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    """Noise scale of a Gaussian mechanism with L2 sensitivity `sensitivity` that costs ρ."""
    return sensitivity / math.sqrt(2.0 * rho)
