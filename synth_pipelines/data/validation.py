"""Validate a table with a Great Expectations 1.x suite built from its profile and the request.

Failures are reported as the column, the expectation, its declared limit and counts. GX's
results also carry observed values (`partial_unexpected_list`, `observed_value`, exception
text that may quote a cell); none of that leaves this module, because the message becomes
run metadata and a run's error, which every UI viewer sees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synth_pipelines.core.request import SynthesisRequest
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


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    # {"expectation", "column", "limit": declared kwargs, "counts": {COUNT_KEYS...}, "error": bool}
    failures: list[dict[str, Any]]

    def failure_message(self) -> str:
        lines = [f"{len(self.failures)} of {self.evaluated} expectations failed:"]
        for failure in self.failures:
            column = f" on column {failure['column']!r}" if failure.get("column") is not None else ""
            limit = ", ".join(f"{k}={_limit(v)}" for k, v in failure["limit"].items())
            counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in failure["counts"].items())
            outcome = "could not be evaluated" if failure.get("error") else (counts or "failed")
            lines.append(f"- {failure['expectation']}{column} ({limit or 'no limit'}): {outcome}")
        return "\n".join(lines)


def _limit(value: Any) -> str:
    return "numeric dtypes" if value == NUMERIC_TYPES else str(value)


def _failure(item: Any) -> dict[str, Any]:
    """Only what the suite declared plus counts: the declared kwargs come from the request and the profile."""
    config = item.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    counts = {k: int(item.result[k]) for k in COUNT_KEYS if isinstance(item.result.get(k), int | float)}
    raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "limit": kwargs,
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


def build_expectations(profile: DatasetProfile, request: SynthesisRequest) -> list[Any]:
    import great_expectations as gx

    expectations: list[Any] = [gx.expectations.ExpectTableRowCountToBeBetween(min_value=1)]
    for name in required_columns(request):
        expectations.append(gx.expectations.ExpectColumnToExist(column=name))
    for column in profile.columns:
        name = column["name"]
        expectations.append(gx.expectations.ExpectColumnToExist(column=name))
        expectations.append(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=name, mostly=round(1 - MAX_MISSING_RATE, 6))
        )
        if column["sdtype"] == "numerical":
            expectations.append(gx.expectations.ExpectColumnValuesToBeInTypeList(column=name, type_list=NUMERIC_TYPES))
    schema = getattr(request, "schema", None)
    if schema is not None:
        present = {c["name"] for c in profile.columns}
        for name, meta in schema.columns.items():
            if meta.get("sdtype") == "numerical" and name in present:
                expectations.append(
                    gx.expectations.ExpectColumnValuesToBeInTypeList(column=name, type_list=NUMERIC_TYPES)
                )
    return expectations


def validate_dataset(frame: pd.DataFrame, profile: DatasetProfile, request: SynthesisRequest) -> ValidationOutcome:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name="synth_pipelines")
    asset = source.add_dataframe_asset(name=request.request_id)
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=f"{request.request_id}_suite")
    for expectation in build_expectations(profile, request):
        suite.add_expectation(expectation)
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    failures = [_failure(item) for item in result.results if not item.success]
    return ValidationOutcome(success=bool(result.success), evaluated=len(result.results), failures=failures)
