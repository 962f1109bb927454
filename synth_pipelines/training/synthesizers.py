"""Generative models behind one small interface: fit once, then sample any chunk by its seed.

A fitted model is a `FittedModel`: `sample(num_rows, seed)` is a pure function of its
arguments (the same seed gives the same rows, whatever was sampled before), and
`training_record` says how it was made. Models are stored with cloudpickle and must not
carry training rows. Differentially private models live in `synth_pipelines.privacy`
and are reached through `fit_model` by name.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import cloudpickle
import numpy as np
import pandas as pd

from synth_pipelines.core.files import atomic_open
from synth_pipelines.core.request import NON_DP_SYNTHESIZERS, PrivacySpec, SynthesizerSpec
from synth_pipelines.core.table_schema import TABLE
from synth_pipelines.training.device import device_name, resolve_device


class FittedModel(Protocol):
    name: str
    training_record: dict[str, Any]

    def sample(self, num_rows: int, seed: int) -> pd.DataFrame: ...


# (values, rows): `rows` rows that each have `values` (column → value), in the chunk's order.
Conditions = list[tuple[dict[str, Any], int]]
# Sampling a condition by rejection: tries per batch (SDV's default), then rounds with a new seed.
CONDITION_TRIES = 100
CONDITION_ROUNDS = 4


class ConditionNotMet(ValueError):
    """The model made fewer rows with a condition's values than asked, after every try."""


def sample_chunk(
    model: FittedModel, num_rows: int, seed: int, first_row: int, conditions: Conditions | None = None
) -> pd.DataFrame:
    """One chunk's rows. A model that numbers rows across chunks (schema_only's primary keys) is told where
    the chunk starts; every other model's rows depend on (rows, seed) alone.

    With `conditions`, the chunk is their blocks in order, each of exactly its rows with its fixed values:
    an SDV-backed model samples them conditionally; schema_only, whose columns are independent, draws
    and fixes them. A model that cannot condition (the DP models) is refused by name.
    """
    if conditions is not None:
        if sum(rows for _, rows in conditions) != num_rows:
            raise ValueError(f"the chunk's conditions add up to {sum(r for _, r in conditions)} rows, not {num_rows}")
        if getattr(model, "numbers_rows", False):  # schema_only: every column is drawn on its own
            frame = model.sample(num_rows, seed, first_row=first_row)  # type: ignore[call-arg]
            return fix_values(frame, conditions)
        if not getattr(model, "conditional", False):
            raise ValueError(f"synthesizer {model.name!r} cannot generate with conditions")
        return model.sample(num_rows, seed, conditions=conditions)  # type: ignore[call-arg]
    if getattr(model, "numbers_rows", False):
        return model.sample(num_rows, seed, first_row=first_row)  # type: ignore[call-arg]
    return model.sample(num_rows, seed)


def fix_values(frame: pd.DataFrame, conditions: Conditions) -> pd.DataFrame:
    """Each condition's block of rows (in order) given exactly its values."""
    start = 0
    for values, rows in conditions:
        for column, value in values.items():
            if frame[column].dtype.kind in "biuf" and isinstance(value, str):
                frame[column] = frame[column].astype(object)
            frame.iloc[start : start + rows, frame.columns.get_loc(column)] = value
        start += rows
    return frame


def condition_seed(seed: int, index: int, attempt: int = 0) -> int:
    """The seed of one condition's block in a chunk (and of a retry round): a function of its arguments."""
    return int(np.random.SeedSequence([seed, 0xC0D, index, attempt]).generate_state(1)[0])


def chunk_seed(request_seed: int, chunk_index: int) -> int:
    """The seed of one chunk: a function of (request seed, chunk index) and nothing else."""
    return int(np.random.SeedSequence([request_seed, chunk_index]).generate_state(1)[0])


PPF_KNOTS = 16_385  # knots of a tabulated inverse CDF; Z_LIMIT: beyond it Φ(z) rounds to 0 or 1
Z_LIMIT = 8.5


class TabulatedMarginals:
    """A Gaussian copula's marginals as inverse-CDF tables over the normal scores.

    SDV turns each normal score z into a value with `ppf(Φ(z))`; for its default beta
    marginals scipy finds that root by iteration, which is most of the sampling time.
    The map z → ppf(Φ(z)) is smooth and monotone, so it is tabulated once at PPF_KNOTS
    evenly spaced z in [-Z_LIMIT, Z_LIMIT] and read back with linear interpolation. The
    normal scores are drawn exactly as SDV draws them, from the same random state, so the
    rows differ from SDV's only by the interpolation error (`benchmarks/scale.py` counts the
    values that move and by how much; on Adult a few in 10,000, by one rounding step).
    """

    def __init__(self, copula: Any, knots: int = PPF_KNOTS):
        from scipy import stats

        self.z = np.linspace(-Z_LIMIT, Z_LIMIT, knots)
        scores = stats.norm.cdf(self.z)
        self.columns = list(copula.columns)
        self.values = np.stack([np.asarray(u.percent_point(scores), dtype="float64") for u in copula.univariates])

    def sampler(self, copula: Any):
        """A drop-in for `copula.sample` that reads the tables instead of calling ppf."""
        from copulas.utils import set_random_state

        def sample(num_rows: int = 1, conditions: Any = None) -> pd.DataFrame:
            copula.check_fit()
            # Conditioned: the other columns' normal scores come from the conditional normal, as in SDV.
            with set_random_state(copula.random_state, copula.set_random_state):
                normal = copula._get_normal_samples(num_rows, conditions)
            given = dict(conditions) if conditions is not None else {}
            return pd.DataFrame(
                {
                    name: np.full(num_rows, given[name])
                    if name in given
                    else np.interp(normal[name].to_numpy(), self.z, self.values[i])
                    for i, name in enumerate(self.columns)
                }
            )

        return sample


class SDVModel:
    """An SDV single-table synthesizer, sampled deterministically per seed.

    Conditions go through SDV's `sample_from_conditions`: a gaussian_copula conditions its normal
    scores on the fixed values; CTGAN, TVAE and CopulaGAN sample and keep the matching rows
    (rejection), `CONDITION_TRIES` batches per round and up to `CONDITION_ROUNDS` rounds, each from its
    own seed, until the condition has all its rows.
    """

    # `table`: a gaussian_copula samples through its tabulated inverse CDFs; `exact`: SDV's own ppf.
    copula_sampling = "table"
    conditional = True

    def __init__(self, name: str, synthesizer: Any, training_record: dict[str, Any]):
        self.name = name
        self.synthesizer = synthesizer
        self.training_record = training_record
        self.marginals: TabulatedMarginals | None = None
        # SDV leaves the copula out when no column needs modelling (keys only): nothing to tabulate.
        if name == "gaussian_copula" and getattr(synthesizer._model, "univariates", None):
            self.marginals = TabulatedMarginals(synthesizer._model)

    def sample(self, num_rows: int, seed: int, conditions: Conditions | None = None) -> pd.DataFrame:
        if conditions is None:
            return self._sampled(seed, lambda synth: synth.sample(num_rows))
        blocks = [self._condition(values, rows, seed, i) for i, (values, rows) in enumerate(conditions)]
        return fix_values(pd.concat(blocks, ignore_index=True), conditions)

    def _condition(self, values: dict[str, Any], rows: int, seed: int, index: int) -> pd.DataFrame:
        """Exactly `rows` rows with `values`, from (seed, index) alone."""
        import warnings

        from sdv.sampling import Condition

        found: list[pd.DataFrame] = []
        missing = rows
        for attempt in range(CONDITION_ROUNDS):
            condition = Condition(column_values=values, num_rows=missing)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SDV warns of a short count; it is counted here
                try:
                    block = self._sampled(
                        condition_seed(seed, index, attempt),
                        lambda synth, c=condition: synth.sample_from_conditions(
                            [c], max_tries_per_batch=CONDITION_TRIES
                        ),
                    )
                except ValueError:  # SDV found no row at all in this round
                    block = pd.DataFrame()
            found.append(block.head(missing))
            missing -= len(found[-1])
            if missing == 0:
                return pd.concat(found, ignore_index=True)
        raise ConditionNotMet(
            f"conditions.{index}: the {self.name} model made {rows - missing:,} of the {rows:,} rows asked for "
            f"with these values after {CONDITION_ROUNDS} rounds of {CONDITION_TRIES} tries: they are too rare under "
            "the model (ask for fewer rows, other values, or gaussian_copula, which conditions without rejection)"
        )

    def _sampled(self, seed: int, draw: Any) -> pd.DataFrame:
        synth = self.synthesizer
        # Reset every random stream SDV and RDT keep, then seed each from `seed`, so a chunk
        # never depends on which chunks this process sampled before it.
        synth.reset_sampling()
        transformers = synth._data_processor._hyper_transformer.field_transformers
        for offset, transformer in enumerate(t for t in transformers.values() if t is not None):
            transformer.random_states["reverse_transform"] = np.random.RandomState((seed + 1 + offset) % 2**32)
        synth._set_random_state(seed)
        marginals = getattr(self, "marginals", None)
        if marginals is None or self.copula_sampling == "exact":
            return draw(synth)[TABLE].reset_index(drop=True)
        copula = synth._model
        copula.sample = marginals.sampler(copula)  # an instance attribute shadows the method...
        try:
            return draw(synth)[TABLE].reset_index(drop=True)
        finally:
            del copula.sample  # ...until it is deleted: the pickled synthesizer stays SDV's own


# SDV encodes these sdtypes with (Ordered)UniformEncoder: each level becomes an interval of [0, 1]
# as wide as its frequency, with values drawn uniformly inside it.
UNIFORM_ENCODED_SDTYPES = ("categorical", "boolean", "ordinal")


def uniform_encoded(metadata: Any) -> dict[str, str]:
    """column → "uniform" for every column SDV encodes to a uniform variable.

    Their marginal is U(0, 1) by construction, so the copula's default beta fit can only
    approximate it (the level frequencies drift) and costs a maximum-likelihood fit over every
    training row per column; "uniform" is exact and fitted from the minimum and maximum.
    """
    columns = next(iter(metadata.to_dict()["tables"].values()))["columns"]
    return {name: "uniform" for name, meta in columns.items() if meta.get("sdtype") in UNIFORM_ENCODED_SDTYPES}


def _build_sdv(spec: SynthesizerSpec, metadata: Any, device: str) -> Any:
    from sdv.single_table import (
        CopulaGANSynthesizer,
        CTGANSynthesizer,
        GaussianCopulaSynthesizer,
        TVAESynthesizer,
    )

    if spec.name == "gaussian_copula":
        return GaussianCopulaSynthesizer(
            metadata,
            enforce_min_max_values=True,
            enforce_rounding=True,
            numerical_distributions=uniform_encoded(metadata),
        )
    neural = {"epochs": spec.epochs, "batch_size": spec.batch_size, "enable_gpu": device == "cuda"}
    if spec.name == "ctgan":
        return CTGANSynthesizer(metadata, **neural)
    if spec.name == "tvae":
        return TVAESynthesizer(metadata, **neural)
    if spec.name == "copulagan":
        return CopulaGANSynthesizer(metadata, **neural)
    raise ValueError(f"synthesizer {spec.name!r} is not allowed; allowed: {', '.join(NON_DP_SYNTHESIZERS)}")


def _forget_training_rows(synthesizer: Any) -> None:
    """CTGAN-family models keep the whole training table in their conditional sampler; drop it.

    Sampling only needs the category frequencies the sampler keeps beside it.
    """
    model = getattr(synthesizer, "_model", None)
    sampler = getattr(model, "_data_sampler", None)
    if sampler is not None and hasattr(sampler, "_data"):
        sampler._data = None
        sampler._rid_by_cat_cols = None


def _loss_curve(synthesizer: Any) -> list[dict[str, float]]:
    losses = getattr(getattr(synthesizer, "_model", None), "loss_values", None)
    if losses is None or len(losses) == 0:
        return []
    frame = pd.DataFrame(losses).groupby("Epoch").mean(numeric_only=True).reset_index()
    return [{k: float(v) for k, v in row.items()} for row in frame.to_dict("records")]


def fit_model(
    data: pd.DataFrame,
    metadata: Any,
    spec: SynthesizerSpec,
    privacy: PrivacySpec | None = None,
    device: str = "cpu",
    seed: int = 0,
    schema: Any = None,
    target: str | None = None,
) -> FittedModel:
    """Fit the synthesizer the request names on `data`.

    SDV models take an SDV Metadata; DP models take the request's public `schema` and
    nothing detected from the rows; schema_only takes the schema alone (`data` is not read).
    """
    if spec.is_schema_only:
        from synth_pipelines.training.schema_only import SchemaOnlyModel

        if schema is None:
            raise ValueError("synthesizer 'schema_only' needs the request's schema")
        return SchemaOnlyModel(schema)
    device = resolve_device(device)
    if spec.is_dp:
        from synth_pipelines.training.dp import fit_dp_model

        return fit_dp_model(data, schema, spec, privacy, device=device, seed=seed, target=target)
    if spec.name == "argn":
        from synth_pipelines.training.argn import fit_argn

        columns = next(iter(metadata.to_dict()["tables"].values()))["columns"]
        sdtypes = {name: meta.get("sdtype") for name, meta in columns.items()}
        return fit_argn(data, sdtypes, spec.epochs, spec.batch_size, device, seed, spec.max_train_seconds)
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    synthesizer = _build_sdv(spec, metadata, device)
    started = time.perf_counter()
    synthesizer.fit({TABLE: data})
    seconds = time.perf_counter() - started
    _forget_training_rows(synthesizer)
    neural = spec.name != "gaussian_copula"
    record = {
        "synthesizer": spec.name,
        "epochs": spec.epochs if neural else None,
        "batch_size": spec.batch_size if neural else None,
        "train_seconds": round(seconds, 3),
        "training_rows": len(data),
        "device": device,
        "device_name": device_name(device),
        "loss_curve": _loss_curve(synthesizer),
        "privacy": None,
    }
    return SDVModel(spec.name, synthesizer, record)


def save_model(model: FittedModel, path: Path) -> None:
    with atomic_open(path) as handle:
        cloudpickle.dump(model, handle)


def load_model(path: Path, copula_sampling: str = "table") -> FittedModel:
    """The stored model; `copula_sampling` = `exact` makes a gaussian_copula sample with SDV's own ppf."""
    if copula_sampling not in ("table", "exact"):
        raise ValueError(f"copula_sampling {copula_sampling!r} is not allowed; allowed: table, exact")
    with path.open("rb") as handle:
        model = cloudpickle.load(handle)
    if isinstance(model, SDVModel):
        model.copula_sampling = copula_sampling
    elif hasattr(model, "set_copula_sampling"):  # a TreatedModel wraps an SDVModel
        model.set_copula_sampling(copula_sampling)
    return model
