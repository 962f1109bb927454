"""`auto`: the synthesizer a request gets when it names none, and the reason the manifest gives.

The pick reads only what the run may use at that point: whether the request is DP (the request),
whether it fixes values (`conditions`), the time budget (`synthesizer.max_train_seconds`), and for a
non-DP request the modelled table's shape (rows the fit will see, modelled columns). A DP request's
pick reads nothing of the data, so it spends nothing.

| request | pick | because (benchmarks/results/) |
|---|---|---|
| DP | dp_mst | our best DP fidelity (`fidelity_dp.md`: five tables, ε 1-10; TSTR above dpmm's MST in 14 of 15) |
| conditions | gaussian_copula | it fixes values without rejection; argn draws columns in a fixed order |
| budget below argn's estimate | gaussian_copula | fits in seconds at any size |
| otherwise | argn | our best fidelity without DP (`fidelity_non_dp.md`: 0.976 against gaussian_copula's 0.813) |
"""

from __future__ import annotations

from dataclasses import dataclass

from synth_pipelines.core.request import SynthesisRequest, SynthesizerSpec

# argn's fit on Adult (32,561 rows x 15 columns) took 22.6 s on 2 cores (fidelity_non_dp.md): about
# 4.6e-5 s per cell; the estimate doubles it for other tables' longer early stopping and a loaded machine.
ARGN_SECONDS_PER_CELL = 1e-4
# What each pick trains for when the request did not set `epochs`: argn stops early well before its
# ceiling; dp_mst's mirror descent: on Adult at ε = 10, 3,000 iterations gave SDMetrics 0.964-0.965 where
# 1,000 gave 0.959 in the same session, in about the same fit seconds (README, dp_mst).
DEFAULT_EPOCHS = {"argn": 100, "dp_mst": 3000}


@dataclass(frozen=True)
class Pick:
    spec: SynthesizerSpec
    why: str

    def record(self) -> dict[str, str]:
        return {"picked": self.spec.name, "why": self.why}


def argn_seconds_estimate(rows: int, columns: int) -> float:
    return ARGN_SECONDS_PER_CELL * rows * columns


def pick(request: SynthesisRequest, rows: int | None = None, columns: int | None = None) -> Pick:
    """The synthesizer for an `auto` request; `rows` and `columns` (the modelled table's) only without DP."""
    spec = request.synthesizer
    if not spec.is_auto:
        return Pick(spec, "named by the request")
    if request.privacy is not None:
        return _as(spec, "dp_mst", "DP requested: dp_mst has our best DP fidelity (fidelity_dp.md)")
    if request.conditions is not None:
        return _as(spec, "gaussian_copula", "conditions fix values: gaussian_copula conditions without rejection")
    if spec.max_train_seconds is not None and rows is not None and columns is not None:
        estimate = argn_seconds_estimate(rows, columns)
        if estimate > spec.max_train_seconds:
            return _as(
                spec,
                "gaussian_copula",
                f"argn's estimated {estimate:,.0f} s for {rows:,} rows x {columns} columns exceeds "
                f"max_train_seconds {spec.max_train_seconds:,.0f}: gaussian_copula fits in seconds",
            )
    budget = "" if spec.max_train_seconds is None else f", its fit stopped at {spec.max_train_seconds:,.0f} s"
    return _as(spec, "argn", f"no DP and no conditions: argn has our best fidelity (fidelity_non_dp.md){budget}")


def _as(spec: SynthesizerSpec, name: str, why: str) -> Pick:
    update: dict[str, object] = {"name": name}
    if "epochs" not in spec.model_fields_set and name in DEFAULT_EPOCHS:
        update["epochs"] = DEFAULT_EPOCHS[name]
    if name != "argn":
        update["max_train_seconds"] = None
    return Pick(SynthesizerSpec.model_validate({**spec.model_dump(), **update}), why)
