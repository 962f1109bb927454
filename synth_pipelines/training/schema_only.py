"""Schema-only generation: every column drawn from the request's public schema; no data is read.

SDV's open release ships the DayZ *format* (`DayZSynthesizer.create_parameters` writes it,
`validate_parameters` checks it) but not the generator, which is Enterprise-only. This is
that generator, for one table:

- categorical: uniform over `category_values`; boolean: True or False with equal odds;
- numerical: uniform within `[min_value, max_value]` on the grid `num_decimal_digits` sets
  (integers when it is 0 or the column is an integer type);
- datetime: uniform within `[start_timestamp, end_timestamp]`, whole days when the
  `datetime_format` has no time of day, else whole seconds;
- missing values: exactly `round(missing_values_proportion × rows)` of each chunk's rows;
- ids: the table's primary key counts through the strings its `regex_format` matches (in
  SDV's own order, `rdt`'s `strings_from_regex`), so keys are unique across chunks; other
  ids are random strings matching their `regex_format`;
- PII-like sdtypes (email, name, phone_number, ...): Faker, as the DP models' generated columns.

The structure (kinds, bounds, categories, dtypes) is `privacy.domain.domain_from_schema`'s,
the one reading of a schema the DP models use too. Each column has its own random stream
from (seed, column position), so a chunk is a pure function of (schema, rows, seed, first row).
"""

from __future__ import annotations

import itertools
import math
import re
import string
from dataclasses import dataclass

# The regular-expression parser Python's `re` uses (rdt reads regexes with it too); Python >= 3.11.
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.core.request import TableSchema
from synth_pipelines.privacy.domain import (
    FOLDED,
    CategoricalColumn,
    GeneratedColumn,
    NumericColumn,
    PrivateSchema,
    domain_from_schema,
)
from synth_pipelines.training.dp import generated_values

SYNTHESIZER = "schema_only"
NO_DATA_NOTE = (
    "schema_only: every value is drawn from the request's public schema; no real row was read, so nothing about "
    "anyone's data is released (ε = 0)"
)
# Open-ended regex repeats (`+`, `*`) draw at most this many extra characters, as rdt caps them.
MAX_EXTRA_REPEAT = 16
TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%f", "%p", "%X", "%c", "%T", "%R")
DAY_NS = 86_400 * 10**9
SECOND_NS = 10**9
_PRINTABLE = [c for c in string.printable if c not in "\t\n\r\x0b\x0c"]
_CLASSES = {
    sre_parse.CATEGORY_DIGIT: string.digits,
    sre_parse.CATEGORY_NOT_DIGIT: "".join(c for c in _PRINTABLE if not c.isdigit()),
    sre_parse.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_parse.CATEGORY_NOT_WORD: "".join(c for c in _PRINTABLE if not (c.isalnum() or c == "_")),
    sre_parse.CATEGORY_SPACE: " ",
    sre_parse.CATEGORY_NOT_SPACE: "".join(c for c in _PRINTABLE if c != " "),
}


class SchemaError(ValueError):
    """The schema declares something this generator cannot make; the message names the column."""


def _alphabet(items: list[tuple[Any, Any]]) -> list[str]:
    """The characters one `[...]` class (or `\\d`, `\\w`, ...) allows, in a fixed order."""
    chars: set[str] = set()
    negate = False
    for op, arg in items:
        if op is sre_parse.NEGATE:
            negate = True
        elif op is sre_parse.LITERAL:
            chars.add(chr(arg))
        elif op is sre_parse.RANGE:
            chars.update(chr(code) for code in range(arg[0], arg[1] + 1))
        elif op is sre_parse.CATEGORY:
            chars.update(_CLASSES[arg])
        else:
            raise SchemaError(f"regex class item {op} is not supported")
    allowed = [c for c in _PRINTABLE if c not in chars] if negate else sorted(chars)
    if not allowed:
        raise SchemaError("a regex class matches no printable character")
    return allowed


def _choose(alphabet: list[str] | str, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(list(alphabet), dtype=object)[rng.integers(0, len(alphabet), size=n)]


def _draw(pattern: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    for op, arg in pattern:
        out = out + _draw_item(op, arg, n, rng)
    return out


def _draw_item(op: Any, arg: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    if op is sre_parse.LITERAL:
        return np.full(n, chr(arg), dtype=object)
    if op is sre_parse.ANY:
        return _choose(_PRINTABLE, n, rng)
    if op is sre_parse.IN:
        return _choose(_alphabet(arg), n, rng)
    if op is sre_parse.CATEGORY:
        return _choose(_CLASSES[arg], n, rng)
    if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT):
        low, high, sub = arg
        high = low + MAX_EXTRA_REPEAT if high is sre_parse.MAXREPEAT else high
        counts = rng.integers(low, high + 1, size=n)
        out = np.full(n, "", dtype=object)
        for i in range(high):
            piece = _draw(sub, n, rng)
            out = out + (piece if i < low else np.where(i < counts, piece, ""))
        return out
    if op is sre_parse.SUBPATTERN:
        return _draw(arg[-1], n, rng)
    if op is sre_parse.BRANCH:
        options = np.stack([_draw(branch, n, rng) for branch in arg[1]])
        return options[rng.integers(0, len(options), size=n), np.arange(n)]
    if op is sre_parse.AT:  # ^ and $: nothing to write
        return np.full(n, "", dtype=object)
    raise SchemaError(f"regex element {op} is not supported")


def strings_matching(regex: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` random strings that each fully match `regex`."""
    return _draw(sre_parse.parse(regex), n, rng)


def key_strings(regex: str | None, first_row: int, n: int) -> list[str]:
    """Rows first_row … first_row+n-1 of a primary key: unique across every chunk of a request."""
    if regex is None:
        return [f"{row:016d}" for row in range(first_row, first_row + n)]
    from rdt.transformers.utils import strings_from_regex

    values, size = strings_from_regex(regex)
    if first_row + n > size:
        raise SchemaError(f"regex_format {regex!r} matches only {int(size):,} strings, fewer than the rows asked for")
    return list(itertools.islice(values, first_row, first_row + n))


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is drawn: its domain spec plus the schema's missing share and rounding."""

    spec: NumericColumn | CategoricalColumn | GeneratedColumn
    missing: float
    decimals: int | None = None
    datetime_unit_ns: int | None = None
    datetime_bounds_ns: tuple[int, int] | None = None
    primary_key: bool = False

    @property
    def name(self) -> str:
        return self.spec.name


def _timestamp_ns(value: str, datetime_format: str | None) -> int:
    return int(pd.Timestamp(pd.to_datetime(value, format=datetime_format)).value)


def plan_columns(schema: TableSchema, domain: PrivateSchema) -> list[ColumnPlan]:
    """One plan per schema column, in the schema's order."""
    specs = {spec.name: spec for spec in [*domain.columns, *domain.generated]}
    table = schema.metadata["tables"][schema.table]
    keys = {table.get("primary_key")} - {None}
    plans = []
    for name, meta in schema.columns.items():
        params = schema.column_parameters(name)
        spec = specs[name]
        missing = float(params.get("missing_values_proportion", 0.0))
        decimals = params.get("num_decimal_digits")
        unit = bounds = None
        if isinstance(spec, NumericColumn) and spec.kind == "datetime":
            fmt = meta.get("datetime_format")
            unit = SECOND_NS if fmt is None or any(d in fmt for d in TIME_DIRECTIVES) else DAY_NS
            bounds = (_timestamp_ns(params["start_timestamp"], fmt), _timestamp_ns(params["end_timestamp"], fmt))
        if isinstance(spec, GeneratedColumn) and spec.regex:
            try:
                strings_matching(spec.regex, 1, np.random.default_rng(0))
            except (SchemaError, KeyError, re.error) as exc:
                raise SchemaError(f"column {name!r}: regex_format {spec.regex!r} cannot be generated: {exc}") from None
        plans.append(ColumnPlan(spec, missing, decimals, unit, bounds, primary_key=name in keys))
    return plans


def _numbers(plan: ColumnPlan, spec: NumericColumn, n: int, rng: np.random.Generator) -> pd.Series:
    if spec.kind == "datetime":
        assert plan.datetime_bounds_ns is not None and plan.datetime_unit_ns is not None
        (low, high), unit = plan.datetime_bounds_ns, plan.datetime_unit_ns
        steps = rng.integers(-(-low // unit), high // unit + 1, size=n)
        return pd.Series(pd.to_datetime(steps * unit, unit="ns"))
    if spec.kind == "int":
        return pd.Series(rng.integers(math.ceil(spec.low), math.floor(spec.high) + 1, size=n), dtype="Int64")
    if plan.decimals is None:
        return pd.Series(rng.uniform(spec.low, spec.high, size=n))
    scale = 10**plan.decimals
    grid = rng.integers(math.ceil(spec.low * scale - 1e-9), math.floor(spec.high * scale + 1e-9) + 1, size=n)
    return pd.Series(grid / scale)


def _categories(spec: CategoricalColumn, n: int, rng: np.random.Generator) -> pd.Series:
    if spec.kind == "boolean":
        return pd.Series(rng.random(n) < 0.5, dtype="boolean")
    return pd.Series(_choose([c for c in spec.categories if c != FOLDED], n, rng), dtype=object)


def _generated(plan: ColumnPlan, spec: GeneratedColumn, n: int, rng: np.random.Generator, first_row: int):
    if plan.primary_key:
        return pd.Series(key_strings(spec.regex, first_row, n), dtype=object)
    if spec.regex:
        return pd.Series(strings_matching(spec.regex, n, rng), dtype=object)
    return generated_values(spec, n, rng)


def draw_column(plan: ColumnPlan, n: int, seed: int, position: int, first_row: int = 0) -> pd.Series:
    """One column of one chunk: values from (seed, position), then exactly round(share × n) missing."""
    rng = np.random.default_rng([seed, position])
    spec = plan.spec
    if isinstance(spec, NumericColumn):
        values = _numbers(plan, spec, n, rng)
    elif isinstance(spec, CategoricalColumn):
        values = _categories(spec, n, rng)
    else:
        values = _generated(plan, spec, n, rng, first_row)
    missing = math.floor(plan.missing * n + 0.5)
    if missing:
        rows = np.random.default_rng([seed, position, 1]).choice(n, size=missing, replace=False)
        values = values.copy()
        values.iloc[rows] = None
    return values.reset_index(drop=True)


class SchemaOnlyModel:
    """A `FittedModel` that needs no fit: `sample` draws every column from the schema."""

    name = SYNTHESIZER
    numbers_rows = True  # the pipeline passes each chunk's first row (training.synthesizers.sample_chunk)

    def __init__(self, schema: TableSchema):
        self.schema: PrivateSchema = domain_from_schema(schema)  # kinds, bounds, categories, dtypes
        self.plans = plan_columns(schema, self.schema)
        self.training_record: dict[str, Any] = {
            "synthesizer": SYNTHESIZER,
            "epochs": None,
            "batch_size": None,
            "train_seconds": 0.0,
            "training_rows": 0,
            "device": "cpu",
            "device_name": "none (nothing is trained)",
            "loss_curve": [],
            "privacy": {
                "epsilon_total": 0.0,
                "epsilon_by_stage": {},
                "delta": 0.0,
                "real_data_read": False,
                "mechanisms": [],
                "generated_columns": [plan.name for plan in self.plans],
                "note": NO_DATA_NOTE,
            },
        }

    def sample(self, num_rows: int, seed: int, first_row: int = 0) -> pd.DataFrame:
        """`num_rows` rows from `seed`; `first_row` (the rows of earlier chunks) numbers the primary key."""
        columns = {
            plan.name: draw_column(plan, num_rows, seed, position, first_row)
            for position, plan in enumerate(self.plans)
        }
        return pd.DataFrame(columns)
