"""Validate a table with a Great Expectations 1.x suite built from its profile and the request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synth_pipelines.profiling import DatasetProfile
from synth_pipelines.request import SynthesisRequest

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


@dataclass
class ValidationOutcome:
    success: bool
    evaluated: int
    failures: list[dict[str, Any]]

    def failure_message(self) -> str:
        lines = [f"{len(self.failures)} of {self.evaluated} expectations failed:"]
        for failure in self.failures:
            lines.append(f"- {failure['expectation']}({failure['kwargs']}): {failure['observed']}")
        return "\n".join(lines)


def required_columns(request: SynthesisRequest) -> list[str]:
    """Columns the request itself names: they must exist in the data."""
    named: list[str] = []
    if request.privacy is not None:
        named += list(request.privacy.bounds) + list(request.privacy.categories)
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
    if request.privacy is not None:
        for name in request.privacy.bounds:
            if name in {c["name"] for c in profile.columns}:
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
    result = batch.validate(suite)
    failures = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id",)}
        observed = item.result.get("observed_value", item.result.get("unexpected_percent"))
        if item.exception_info and item.exception_info.get("raised_exception"):
            observed = item.exception_info.get("exception_message")
        failures.append({"expectation": config.type, "kwargs": kwargs, "observed": observed})
    return ValidationOutcome(success=bool(result.success), evaluated=len(result.results), failures=failures)
