"""Validation as the owner's data contract, with Great Expectations 1.x.

Two suites, two weights:
- **declared** (blocking): what the owner said. The request's `schema` (declared columns exist;
  a numerical column holds numbers within its declared `min_value`/`max_value`; a categorical
  one only its declared `category_values`; a datetime one stays within its declared timestamps;
  a declared `missing_values_proportion` of 0 means no nulls; a declared primary key is unique
  and present), the columns the request names (`quality.target_column`, `sensitive_columns`),
  and the expectations of an optional GX suite file (`validation.expectation_suite`). A table
  also needs at least one row. A failure stops the run and names the column, what was declared
  (and where) and what was found.
- **inferred** (warnings): checks built from the data's own profile (a detected number holds
  numbers, a modelled column is not almost all missing). The data can only disagree with its own
  profile in ways that are not errors, so these never block; they are shown on the asset.

What is found is a count, never a value: GX is asked for counts only (no partial list of
unexpected values is computed), and exception text, which may quote a cell, is dropped. For a DP
request the rows decide nothing the UI sees unless the owner asked: only the suite file's
expectations run, and a failure says which declaration was not met, without counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from synth_pipelines.core.request import RequestError, SynthesisRequest
from synth_pipelines.data.profiling import DatasetProfile

MAX_MISSING_RATE = 0.95
NUMERIC_TYPES = [
    "int",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "float",
    "float16",
    "float32",
    "float64",
    "Float32",
    "Float64",
]


# Counts GX reports that say how many rows failed, never which values.
COUNT_KEYS = ("element_count", "missing_count", "unexpected_count")
# Ask GX for counts only: no partial list of unexpected values is even computed.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}
# A declared list longer than this is shown by its length.
SHOWN_LIST = 8
SUITE_FIELD = "validation.expectation_suite"
SOURCE_KEY = "synth_pipelines_source"  # in each declared expectation's meta: where it was declared


@dataclass
class Declared:
    """One expectation and where it came from (shown with a failure)."""

    expectation: Any
    source: str


@dataclass
class ValidationOutcome:
    success: bool  # every declared (blocking) expectation met
    evaluated: int  # declared expectations evaluated
    # {"expectation", "column", "limit": declared kwargs, "source", "counts": {COUNT_KEYS...}, "error": bool}
    failures: list[dict[str, Any]]
    warnings: list[dict[str, Any]] = field(default_factory=list)  # failed inferred expectations (non-blocking)
    inferred: int = 0  # inferred expectations evaluated

    def failure_message(self, counts: bool = True) -> str:
        lines = [f"{len(self.failures)} of {self.evaluated} declared expectations failed:"]
        lines += [_line(f, counts) for f in self.failures]
        return "\n".join(lines)

    def warning_message(self) -> str:
        if not self.warnings:
            return f"all {self.inferred} inferred expectations met"
        lines = [f"{len(self.warnings)} of {self.inferred} inferred expectations not met (warnings, not blocking):"]
        return "\n".join(lines + [_line(w, True) for w in self.warnings])


def _line(failure: dict[str, Any], counts: bool) -> str:
    column = f" on column {failure['column']!r}" if failure.get("column") is not None else ""
    declared = ", ".join(f"{k}={_limit(v)}" for k, v in failure["limit"].items()) or "no limit"
    if failure.get("error"):
        found = "could not be evaluated"
    elif counts:
        found = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in failure["counts"].items()) or "not met"
    else:
        found = "not met (DP request: no count is shown)"
    source = f" ({failure['source']})" if failure.get("source") else ""
    return f"- {failure['expectation']}{column}: declared {declared}{source}; found {found}"


def _limit(value: Any) -> str:
    if value == NUMERIC_TYPES:
        return "numeric dtypes"
    if isinstance(value, list | tuple | set) and len(value) > SHOWN_LIST:
        return f"[{len(value)} values]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # GX stores declared bounds as floats; show them as declared
    return str(value)


def _failure(item: Any, source: str) -> dict[str, Any]:
    """Only what the suite declared plus counts: the declared kwargs come from the request and the owner."""
    config = item.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    counts = {k: int(item.result[k]) for k in COUNT_KEYS if isinstance(item.result.get(k), int | float)}
    raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "limit": kwargs,
        "source": source,
        "counts": counts,
        "error": raised,
    }


def required_columns(request: SynthesisRequest) -> list[str]:
    """Columns the request itself names: they must exist in the data."""
    named: list[str] = []
    schema = getattr(request, "schema", None)
    if schema is not None:
        named += list(schema.columns)
    if request.quality.target_column:
        named.append(request.quality.target_column)
    named += request.quality.sensitive_columns
    return sorted(set(named))


def load_suite(path: Path) -> list[Any]:
    """The expectations of a GX suite JSON file (`{"name", "expectations": [{"type", "kwargs"}]}`).

    A file GX cannot read, or an expectation it does not know, is refused naming the field and the
    expectation's position (GX itself would log and skip a broken expectation).
    """
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError([(SUITE_FIELD, f"{Path(path).name} is not a readable JSON file: {exc}")]) from None
    items = payload.get("expectations") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise RequestError(
            [(SUITE_FIELD, 'must be a GX suite: {"name": ..., "expectations": [{"type": ..., "kwargs": {...}}]}')]
        )
    expectations = []
    for i, item in enumerate(items):
        where = f"{SUITE_FIELD}.expectations.{i}"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise RequestError([(where, 'must be an object with a "type" and "kwargs"')])
        try:
            config = ExpectationConfiguration(type=item["type"], kwargs=dict(item.get("kwargs") or {}))
            expectations.append(config.to_domain_obj())
        except Exception as exc:  # GX raises several types for an unknown type or bad kwargs
            message = str(getattr(exc, "message", exc)).splitlines()[0][:300]
            raise RequestError([(where, f"{item['type']!r} is not a valid GX expectation: {message}")]) from None
    return expectations


def _schema_expectations(request: SynthesisRequest, frame: pd.DataFrame) -> list[Declared]:
    import great_expectations as gx

    schema = request.schema
    if schema is None:
        return []
    out: list[Declared] = []
    source = "the request's schema"
    for name, meta in schema.columns.items():
        if name not in frame.columns:
            continue
        sdtype = meta.get("sdtype")
        params = schema.column_parameters(name)
        if sdtype == "numerical":
            numeric = gx.expectations.ExpectColumnValuesToBeInTypeList(column=name, type_list=NUMERIC_TYPES)
            out.append(Declared(numeric, source))
            bounds = {k: params[k] for k in ("min_value", "max_value") if params.get(k) is not None}
            if bounds:
                out.append(Declared(gx.expectations.ExpectColumnValuesToBeBetween(column=name, **bounds), source))
        elif sdtype in ("categorical", "ordinal") and params.get("category_values"):
            values = list(params["category_values"])
            out.append(Declared(gx.expectations.ExpectColumnValuesToBeInSet(column=name, value_set=values), source))
        elif sdtype == "datetime" and pd.api.types.is_datetime64_any_dtype(frame[name]):
            bounds = {
                gx_key: pd.Timestamp(params[key]).to_pydatetime()
                for key, gx_key in (("start_timestamp", "min_value"), ("end_timestamp", "max_value"))
                if params.get(key) is not None
            }
            if bounds:
                out.append(Declared(gx.expectations.ExpectColumnValuesToBeBetween(column=name, **bounds), source))
        if params.get("missing_values_proportion") == 0:
            out.append(Declared(gx.expectations.ExpectColumnValuesToNotBeNull(column=name), source))
    key = schema.metadata["tables"][schema.table].get("primary_key")
    if isinstance(key, str) and key in frame.columns:
        out.append(Declared(gx.expectations.ExpectColumnValuesToBeUnique(column=key), "the schema's primary_key"))
        out.append(Declared(gx.expectations.ExpectColumnValuesToNotBeNull(column=key), "the schema's primary_key"))
    return out


def declared_expectations(
    request: SynthesisRequest, frame: pd.DataFrame, suite: list[Any] | None = None
) -> list[Declared]:
    """The blocking contract: what the request and the owner's suite declare (see the module docstring)."""
    import great_expectations as gx

    if request.privacy is not None:
        return [Declared(e, "the owner's expectation suite") for e in suite or []]
    declared = [Declared(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1), "a table needs rows")]
    for name in required_columns(request):
        declared.append(Declared(gx.expectations.ExpectColumnToExist(column=name), "named in the request"))
    declared += _schema_expectations(request, frame)
    declared += [Declared(e, "the owner's expectation suite") for e in suite or []]
    return declared


def inferred_expectations(profile: DatasetProfile) -> list[Any]:
    """Checks the data's own profile suggests: warnings only."""
    import great_expectations as gx

    expectations: list[Any] = []
    for column in profile.columns:
        if column.get("treatment", "modelled") != "modelled":
            continue
        name = column["name"]
        expectations.append(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=name, mostly=round(1 - MAX_MISSING_RATE, 6))
        )
        if column["sdtype"] == "numerical":
            expectations.append(gx.expectations.ExpectColumnValuesToBeInTypeList(column=name, type_list=NUMERIC_TYPES))
    return expectations


def _run(frame: pd.DataFrame, name: str, expectations: list[Any]) -> list[Any]:
    """GX results of `expectations` on `frame`, in order (an ephemeral context: nothing written to disk)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    if not expectations:
        return []
    context = gx.get_context(mode="ephemeral")
    # No progress bars: a run's output is its steps and its summary, not a redrawn bar per suite.
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name="synth_pipelines")
    asset = source.add_dataframe_asset(name=name)
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for expectation in expectations:
        suite.add_expectation(expectation)
    return list(batch.validate(suite, result_format=RESULT_FORMAT).results)


def validate_dataset(
    frame: pd.DataFrame, profile: DatasetProfile | None, request: SynthesisRequest, suite: list[Any] | None = None
) -> ValidationOutcome:
    """The declared suite (blocking) and, without a privacy block, the inferred one (warnings)."""
    declared = declared_expectations(request, frame, suite)
    expectations = []
    for item in declared:
        expectation = item.expectation.copy()
        expectation.meta = {**(expectation.meta or {}), SOURCE_KEY: item.source}
        expectations.append(expectation)
    results = _run(frame, request.request_id, expectations)
    failures = [_failure(r, (r.expectation_config.meta or {}).get(SOURCE_KEY, "")) for r in results if not r.success]
    warnings: list[dict[str, Any]] = []
    inferred = 0
    if request.privacy is None and profile is not None:
        checks = inferred_expectations(profile)
        inferred_results = _run(frame, f"{request.request_id}_inferred", checks)
        inferred = len(inferred_results)
        warnings = [_failure(r, "inferred from the data") for r in inferred_results if not r.success]
    return ValidationOutcome(
        success=not failures, evaluated=len(results), failures=failures, warnings=warnings, inferred=inferred
    )
