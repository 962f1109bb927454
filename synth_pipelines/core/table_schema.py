"""The request's table `schema`: SDV Metadata plus DayZ V1 parameters, checked with SDV's own validator.

One format, three uses: the public domain of a DP request (kinds, bounds, categories and
missing shares come from here, never from rows), the declared part of the validation
contract, and the whole input of a schema-only request. `check_schema` runs SDV's
`Metadata.load_from_dict(...).validate()` and `DayZSynthesizer.validate_parameters`;
`dp_domain_problems` adds what a DP request needs on top (a bound for every number, a
list for every category). `draft_schema` writes a starting point from a table: its values
are the table's own, so the owner must replace them by public knowledge before a DP request.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd


class SchemaView(Protocol):
    """What the checks read of a request's `schema` (core.request.TableSchema is one)."""

    @property
    def table(self) -> str: ...
    @property
    def columns(self) -> dict[str, dict[str, Any]]: ...
    def column_parameters(self, column: str) -> dict[str, Any]: ...


# sdtypes the DP models learn from rows; every other sdtype (id, email, name, phone, ...) is
# generated without looking at the data.
TABLE = "data"  # SDV 2.0 fits and samples dicts of tables; ours have one table.

MODELLED_SDTYPES = ("numerical", "datetime", "categorical", "ordinal", "boolean")

DP_SCHEMA_HELP = (
    "a differentially private request needs a public `schema` = "
    '{"metadata": <SDV Metadata dict>, "parameters": <SDV DayZ V1 parameters>}: sdtypes, min_value/max_value '
    "for numbers, start_timestamp/end_timestamp for datetimes, category_values for categories, "
    "missing_values_proportion. Nothing structural is read from the rows of a DP request. "
    "`synth-pipelines draft-schema DATA.csv` writes a draft from your table; its bounds and category lists are "
    "the table's own values, so replace them by what is publicly known (e.g. age 0..120, the official category "
    "list) before you submit"
)


def _prefix(table: str, column: str | None = None) -> str:
    base = f"schema.parameters.tables.{table}"
    return f"{base}.columns.{column}" if column is not None else base


def check_schema(metadata: dict[str, Any], parameters: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for each problem SDV's validators find; [] when the schema is valid."""
    from sdv.metadata import Metadata
    from sdv.single_table import DayZSynthesizer

    tables = metadata.get("tables") if isinstance(metadata, dict) else None
    if not isinstance(tables, dict) or len(tables) != 1:
        return [("schema.metadata", 'must be an SDV Metadata dict with exactly one table: {"tables": {NAME: {...}}}')]
    try:
        loaded = Metadata.load_from_dict(metadata)
        loaded.validate()
    except Exception as exc:  # SDV raises its own error types with readable messages
        return [("schema.metadata", f"is not valid SDV metadata: {exc}")]
    try:
        DayZSynthesizer.validate_parameters(loaded, parameters)
    except Exception as exc:
        return [("schema.parameters", f"are not valid DayZ V1 parameters: {exc}")]
    return []


def dp_domain_problems(schema: SchemaView, purpose: str = "a DP request") -> list[tuple[str, str]]:
    """What the schema of `purpose` lacks: the domain of every modelled column must be declared.

    A DP request (the public domain its model is fitted on) and a schema_only request (the
    whole input) both need it.
    """
    problems: list[tuple[str, str]] = []
    for column, meta in schema.columns.items():
        sdtype = meta.get("sdtype")
        params = schema.column_parameters(column)
        where = _prefix(schema.table, column)
        if sdtype == "numerical":
            for key in ("min_value", "max_value"):
                if key not in params:
                    problems.append((f"{where}.{key}", f"is required for numerical column {column!r} of {purpose}"))
            if "min_value" in params and "max_value" in params and not params["min_value"] < params["max_value"]:
                problems.append((f"{where}.max_value", f"must be greater than min_value for {purpose}"))
        elif sdtype == "datetime":
            for key in ("start_timestamp", "end_timestamp"):
                if key not in params:
                    problems.append((f"{where}.{key}", f"is required for datetime column {column!r} of {purpose}"))
        elif sdtype in ("categorical", "ordinal"):
            if not params.get("category_values"):
                problems.append(
                    (
                        f"{where}.category_values",
                        f"is required (a non-empty list) for column {column!r} of {purpose}",
                    )
                )
    return problems


def draft_schema(frame: pd.DataFrame, table: str = "data") -> dict[str, Any]:
    """SDV metadata and DayZ parameters detected from `frame`: a draft for the owner to edit (holds real values)."""
    from sdv.metadata import Metadata
    from sdv.single_table import DayZSynthesizer

    metadata = Metadata.detect_from_dataframes({table: frame})
    parameters = DayZSynthesizer.create_parameters(frame, metadata)
    return {"metadata": metadata.to_dict(), "parameters": parameters}
