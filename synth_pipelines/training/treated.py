"""A non-DP model that follows the profile's column treatment, on a bounded training sample.

`fit_treated` fits the SDV synthesizer on the columns it should see (modelled ones, plus the
generated ones, which SDV makes up from their sdtype: ids from their pattern, text and PII-like
sdtypes through Faker, each with its missing share) and keeps, beside it:
- the `kept` columns: a constant (or no value) and its missing share, repeated at sampling time;
- the `generated_id` columns other than the primary key (SDV passes a non-key id to its model
  as data): drawn from the column's pattern of character classes, or as integers of its usual
  digit count, with its missing share; the key stays SDV's (unique within a chunk);
- for neural synthesizers, the rare levels of a categorical with more than `NEURAL_MAX_LEVELS`
  levels, grouped into one token for the fit (a one-hot of thousands of levels costs rows ×
  levels of memory) and drawn back from their own frequencies at sampling time.
`dropped` columns never reach the model or the output.

Training sample: a synthesizer whose fit gains nothing from more rows is fitted on at most
`FIT_ROWS_CAP[name]` rows drawn with the request's seed (`benchmarks/corpus.py` measures the
quality against the cap on the 336k-row flights table); the training record and the manifest state it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.core.request import SynthesizerSpec
from synth_pipelines.training.device import device_name
from synth_pipelines.training.synthesizers import Conditions, FittedModel, condition_seed, fit_model, fix_values

# Rows a fit sees at most, per synthesizer (None: every row). gaussian_copula: marginals and one
# correlation matrix, settled long before this (see benchmarks/results/corpus.md, training cap).
FIT_ROWS_CAP: dict[str, int | None] = {
    "gaussian_copula": 50_000,
    "copulagan": 50_000,
    "ctgan": 50_000,
    "tvae": 50_000,
    "argn": 50_000,
}
NEURAL_MAX_LEVELS = 200
RARE = "__rare_level__"
NEURAL = ("ctgan", "tvae", "copulagan", "argn")


@dataclass
class KeptColumn:
    value: Any  # the one value (None for an all-null column)
    missing_rate: float


@dataclass
class GeneratedId:
    pattern: str | None  # a class pattern (treatment.character_pattern); None: an integer id
    digits: int  # the integer ids' usual number of digits (a count, not a value)
    missing_rate: float

    def draw(self, rng: np.random.Generator, rows: int) -> pd.Series:
        if self.pattern is None:
            values = pd.Series(rng.integers(10 ** (self.digits - 1), 10**self.digits, size=rows), dtype=object)
        else:
            values = pd.Series(_from_pattern(self.pattern, rng, rows), dtype=object)
        return values.where(rng.random(rows) >= self.missing_rate, None)


_ALPHABETS = {
    "[A-Z]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "[a-z]": "abcdefghijklmnopqrstuvwxyz",
    "[0-9]": "0123456789",
    "[A-Za-z]": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
}
_TOKEN = re.compile(r"(\[A-Z\]|\[a-z\]|\[0-9\]|\[A-Za-z\]|\\.|.)(?:\{(\d+)\})?")


def _from_pattern(pattern: str, rng: np.random.Generator, rows: int) -> np.ndarray:
    """`rows` strings matching a class pattern, each character drawn uniformly from its class."""
    parts = []
    for token, count in _TOKEN.findall(pattern):
        n = int(count) if count else 1
        alphabet = np.array(list(_ALPHABETS.get(token, token[-1])))
        parts.append(alphabet[rng.integers(0, len(alphabet), size=(rows, n))])
    if not parts:
        return np.full(rows, "", dtype=object)
    chars = np.concatenate(parts, axis=1)
    return np.array(["".join(row) for row in chars], dtype=object)


@dataclass
class RareLevels:
    levels: list[Any]
    probabilities: np.ndarray


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**32, 0x7EA7, *stream])


@dataclass
class TreatedModel:
    """`sample(num_rows, seed)` is a pure function of its arguments, like every FittedModel.

    With conditions, the SDV model is conditioned on the values of the columns it models (a rare
    level as the token it was fitted with); a kept or generated column is independent of the others
    in this model, so its fixed value is simply set. Every fixed value is exact in the output.
    """

    conditional = True
    name: str
    inner: FittedModel | None
    order: list[str]
    kept: dict[str, KeptColumn] = field(default_factory=dict)
    rare: dict[str, RareLevels] = field(default_factory=dict)
    ids: dict[str, GeneratedId] = field(default_factory=dict)
    training_record: dict[str, Any] = field(default_factory=dict)

    def sample(self, num_rows: int, seed: int, conditions: Conditions | None = None) -> pd.DataFrame:
        if self.inner is None:
            frame = pd.DataFrame(index=range(num_rows))
        elif conditions is None:
            frame = self.inner.sample(num_rows, seed)
        else:
            frame = self._conditioned(seed, conditions)
        for i, (name, levels) in enumerate(self.rare.items()):
            drawn = frame[name] == RARE
            if drawn.any():
                picks = _rng(seed, 1, i).choice(len(levels.levels), size=int(drawn.sum()), p=levels.probabilities)
                values = np.array(levels.levels, dtype=object)[picks]
                frame[name] = frame[name].astype(object)
                frame.loc[drawn, name] = values
        for i, (name, kept) in enumerate(self.kept.items()):
            missing = _rng(seed, 2, i).random(num_rows) < kept.missing_rate
            column = pd.Series([kept.value] * num_rows, dtype=object)
            frame[name] = column.where(~missing, None)
        for i, (name, generated) in enumerate(getattr(self, "ids", {}).items()):
            frame[name] = generated.draw(_rng(seed, 3, i), num_rows)
        if conditions is not None:
            frame = fix_values(frame, conditions)
        return frame[self.order].reset_index(drop=True)

    def _conditioned(self, seed: int, conditions: Conditions) -> pd.DataFrame:
        """The inner model's rows, block by block: conditioned on the columns it models, else unconditioned."""
        blocks = []
        for i, (values, rows) in enumerate(conditions):
            inner_values = {
                column: RARE if column in self.rare and value in self.rare[column].levels else value
                for column, value in values.items()
                if column not in self.kept and column not in self.ids
            }
            block_seed = condition_seed(seed, i)
            if inner_values:
                blocks.append(self.inner.sample(rows, block_seed, conditions=[(inner_values, rows)]))  # type: ignore[union-attr, call-arg]
            else:
                blocks.append(self.inner.sample(rows, block_seed))  # type: ignore[union-attr]
        return pd.concat(blocks, ignore_index=True)

    def set_copula_sampling(self, mode: str) -> None:
        if self.inner is not None and hasattr(self.inner, "copula_sampling"):
            self.inner.copula_sampling = mode


def _kept(series: pd.Series) -> KeptColumn:
    present = series.dropna()
    value = present.iloc[0] if len(present) else None
    if isinstance(value, np.generic):
        value = value.item()
    return KeptColumn(value=value, missing_rate=float(series.isna().mean()) if len(series) else 0.0)


def _generated_id(series: pd.Series, pattern: str | None) -> GeneratedId:
    present = series.dropna()
    digits = 1
    if pattern is None and len(present):
        numbers = pd.to_numeric(present, errors="coerce").dropna().abs()
        if len(numbers):
            digits = int(np.clip(np.median(np.floor(np.log10(np.maximum(numbers, 1))) + 1), 1, 18))
    missing = float(series.isna().mean()) if len(series) else 0.0
    return GeneratedId(pattern=pattern, digits=digits, missing_rate=missing)


def _group_rare(frame: pd.DataFrame, columns: list[str], max_levels: int) -> tuple[pd.DataFrame, dict[str, RareLevels]]:
    rare: dict[str, RareLevels] = {}
    out = frame
    for name in columns:
        counts = frame[name].value_counts(dropna=True)
        if len(counts) <= max_levels:
            continue
        tail = counts.iloc[max_levels - 1 :]
        rare[name] = RareLevels(levels=list(tail.index), probabilities=(tail / tail.sum()).to_numpy(dtype=float))
        if out is frame:
            out = frame.copy()
        column = out[name].astype(object)
        out[name] = column.where(~column.isin(set(tail.index)), RARE)
    return out, rare


def training_sample(frame: pd.DataFrame, name: str, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """At most FIT_ROWS_CAP[name] rows, drawn with `seed`; and the record of what was drawn."""
    cap = FIT_ROWS_CAP.get(name)
    available = len(frame)
    record: dict[str, Any] = {"rows_available": available, "rows_used": available, "cap": cap}
    if cap is None or available <= cap:
        record["sampled"] = False
        return frame, record
    order = np.sort(np.random.default_rng([seed % 2**32, 0x5A3]).choice(available, size=cap, replace=False))
    record.update({"rows_used": cap, "sampled": True, "how": f"{cap:,} of {available:,} rows drawn with the seed"})
    return frame.iloc[order].reset_index(drop=True), record


def fit_treated(
    train: pd.DataFrame,
    table_metadata: dict[str, Any],
    treatments: dict[str, str],
    spec: SynthesizerSpec,
    device: str = "cpu",
    seed: int = 0,
) -> TreatedModel:
    """Fit `spec` on the columns the treatment gives the model; `table_metadata` is the profile's SDV table dict."""
    from synth_pipelines.data.profiling import metadata_from_dict

    order = [c for c in train.columns if treatments.get(c, "modelled") != "dropped"]
    kept = {c: _kept(train[c]) for c in order if treatments.get(c) == "kept"}
    key = table_metadata.get("primary_key")
    ids = {
        c: _generated_id(train[c], table_metadata["columns"][c].get("regex_format"))
        for c in order
        if treatments.get(c) == "generated_id" and c != key
    }
    model_columns = [c for c in order if c not in kept and c not in ids]
    sample, sample_record = training_sample(train[model_columns], spec.name, seed)
    rare: dict[str, RareLevels] = {}
    columns_meta = {c: table_metadata["columns"][c] for c in model_columns}
    if spec.name in NEURAL:
        categorical = [c for c in model_columns if columns_meta[c].get("sdtype") in ("categorical", "ordinal")]
        sample, rare = _group_rare(sample, categorical, NEURAL_MAX_LEVELS)
        for c in rare:
            columns_meta[c] = {"sdtype": "categorical"}
    inner = None
    record: dict[str, Any] = {
        "synthesizer": spec.name,
        "epochs": None,
        "batch_size": None,
        "train_seconds": 0.0,
        "training_rows": 0,
        "device": device,
        "device_name": device_name(device),
        "loss_curve": [],
        "privacy": None,
    }
    if model_columns:
        meta: dict[str, Any] = {"columns": columns_meta}
        if table_metadata.get("primary_key") in columns_meta:
            meta["primary_key"] = table_metadata["primary_key"]
        inner = fit_model(sample, metadata_from_dict(meta), spec, device=device, seed=seed)
        record = dict(inner.training_record)
    record["training_sample"] = sample_record
    record["columns_by_treatment"] = {
        t: sum(1 for c in train.columns if treatments.get(c, "modelled") == t)
        for t in sorted(set(treatments.values()) | {"modelled"})
    }
    if rare:
        record["rare_levels_grouped"] = {
            "columns": len(rare),
            "max_levels": NEURAL_MAX_LEVELS,
            "note": "levels beyond the most frequent are one token in the fit, drawn back by frequency",
        }
    return TreatedModel(spec.name, inner, order, kept, rare, ids, record)
