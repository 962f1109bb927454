"""A request's conditions checked against the table they will be generated from.

`core.request` checks conditions against the declared schema, when there is one. This module
checks them against the training rows and the profile's column treatment, before any fit: the
column is generated (not dropped, not an id or free text), the value is one the column holds
(a level seen in the data; a number within the data's range, whole where the column is). The
messages name the field and the rule, and never a value of the data: only the owner's own value
and what their schema declared are ever repeated.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from synth_pipelines.core.request import CONDITION_SDTYPES

CONDITIONED_TREATMENTS = ("modelled", "kept")


def data_condition_problems(
    conditions: list[tuple[dict[str, Any], int]],
    train: pd.DataFrame,
    table_metadata: dict[str, Any],
    treatments: dict[str, str],
) -> list[tuple[str, str]]:
    """(field, why) for each condition value the training rows cannot back; [] when all can."""
    problems: list[tuple[str, str]] = []
    columns = table_metadata.get("columns", {})
    key = table_metadata.get("primary_key")
    generated = [c for c in train.columns if treatments.get(c, "modelled") in CONDITIONED_TREATMENTS and c != key]
    for i, (values, _) in enumerate(conditions):
        for column, value in values.items():
            field = f"conditions.{i}.values.{column}"
            treatment = treatments.get(column, "modelled")
            if column not in train.columns:
                problems.append((field, f"is not a column of the dataset; allowed: {', '.join(generated)}"))
                continue
            sdtype = columns.get(column, {}).get("sdtype")
            if column == key or treatment not in CONDITIONED_TREATMENTS or sdtype not in CONDITION_SDTYPES:
                what = "the primary key" if column == key else f"treated as {treatment} ({sdtype})"
                problems.append(
                    (
                        field,
                        f"is {what}: a condition fixes a modelled {', '.join(CONDITION_SDTYPES)} column; "
                        f"allowed: {', '.join(generated)}",
                    )
                )
                continue
            problem = _value_problem(value, train[column], sdtype)
            if problem:
                problems.append((field, problem))
    return problems


def _value_problem(value: Any, series: pd.Series, sdtype: str) -> str | None:
    present = series.dropna()
    if sdtype == "numerical":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number; the column is numerical"
        if len(present) == 0 or not present.min() <= value <= present.max():
            return f"{value!r} is outside the range of the column in the data (declare bounds in `schema` to see them)"
        if pd.api.types.is_integer_dtype(series.dtype) and float(value) != int(value):
            return f"{value!r} is not a whole number; the column holds whole numbers"
        return None
    if not any(_same(value, level) for level in present.unique()):
        return (
            f"{value!r} is not a value of this column in the data (its values are not shown: declare them as "
            "category_values in `schema` to see them named)"
        )
    return None


def _same(value: Any, level: Any) -> bool:
    """The request's JSON value and one level of the data are the same value (True is not 1)."""
    if hasattr(level, "item"):
        level = level.item()
    if isinstance(value, bool) or isinstance(level, bool):
        return isinstance(value, bool) and isinstance(level, bool) and value == level
    return (
        type(value) is type(level)
        and value == level
        or (isinstance(value, int | float) and isinstance(level, int | float) and value == level)
    )
