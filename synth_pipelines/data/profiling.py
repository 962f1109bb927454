"""Profile a table as kinds and counts: per-column dtype, sdtype, missing rate, cardinality, PII flag and treatment.

The profile is shown in the UI, which every viewer sees, so it holds no value taken
from a row: no min/max, no category list, no sample. The SDV metadata it keeps is stripped
to the keys that describe a column's kind (`KIND_KEYS`); SDV's detector also writes the
observed range and category values (`range_min`, `range_values`, ...), which are dropped here.
Each column's treatment (modelled, kept, generated, dropped; `data.treatment`) is decided here,
on the normalised table, with the request's declared sdtypes over the detected ones; the
metadata holds the sdtypes the model is fitted with, and an id's pattern only when it is made
of character classes (`treatment.is_class_pattern`), never a literal letter or digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synth_pipelines.core.table_schema import TABLE
from synth_pipelines.data.treatment import ColumnTreatment, is_class_pattern, normalise, plan_treatments

# Column names that usually hold direct identifiers; flagged for a person to look at.
PII_NAME = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|e_?mail|phone|mobile|ssn|social_security|passport|address|street|"
    r"zip|postcode|postal|ip_?address|iban|account|credit_?card|dob|birth)($|_)",
    re.I,
)
PII_SDTYPES = {"email", "phone_number", "ssn", "name", "first_name", "last_name", "address", "ipv4_address", "iban"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

# Column metadata keys that say what kind a column is and cannot carry a row's value. Anything
# else SDV writes (range_min/range_max/range_values, regex_format, order, ...) may hold one.
KIND_KEYS = ("sdtype", "datetime_format", "computer_representation", "pii")
# Table-level keys that name columns only.
TABLE_KEYS = ("primary_key",)
# The keys of one profile column; nothing else is kept or shown.
COLUMN_KEYS = ("name", "dtype", "sdtype", "missing_rate", "cardinality", "pii", "treatment", "reason")


def _kinds(meta: dict[str, Any]) -> dict[str, Any]:
    kept = {key: meta[key] for key in KIND_KEYS if key in meta}
    if is_class_pattern(meta.get("regex_format")):
        kept["regex_format"] = meta["regex_format"]
    return kept


def kinds_only(table: dict[str, Any]) -> dict[str, Any]:
    """An SDV single-table metadata dict reduced to column kinds (whitelist, so a new SDV key cannot leak)."""
    columns = {str(name): _kinds(meta) for name, meta in table.get("columns", {}).items()}
    result: dict[str, Any] = {"columns": columns}
    for key in TABLE_KEYS:
        if table.get(key) is not None and table[key] in columns:
            result[key] = table[key]
    return result


@dataclass
class DatasetProfile:
    rows: int | None  # None when the profile is a schema's (nothing read from rows)
    columns: list[dict[str, Any]]  # one dict per column with exactly COLUMN_KEYS
    metadata: dict[str, Any]  # SDV single-table metadata dict of kinds only ({"columns": {...}, ...})

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": self.columns, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DatasetProfile:
        """Also reads profiles written before values were dropped: their extra keys are left out."""
        return cls(
            rows=payload["rows"],
            columns=[{key: c[key] for key in COLUMN_KEYS if key in c} for c in payload["columns"]],
            metadata=kinds_only(payload["metadata"]),
        )

    @property
    def pii_columns(self) -> list[str]:
        return [c["name"] for c in self.columns if c["pii"]]

    @property
    def sdtypes(self) -> dict[str, str]:
        return {c["name"]: c["sdtype"] for c in self.columns}

    @property
    def treatments(self) -> dict[str, str]:
        """column → treatment; a profile written before treatments existed models every column."""
        return {c["name"]: c.get("treatment", "modelled") for c in self.columns}

    def columns_with(self, *treatments: str) -> list[str]:
        return [name for name, t in self.treatments.items() if t in treatments]


def detect_metadata(frame: pd.DataFrame) -> Any:
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({TABLE: frame})


def table_metadata(metadata: Any) -> dict[str, Any]:
    return metadata.to_dict()["tables"][TABLE]


def metadata_from_dict(table: dict[str, Any]) -> Any:
    from sdv.metadata import Metadata

    return Metadata.load_from_dict({"tables": {TABLE: table}})


def model_metadata(profile_metadata: dict[str, Any], schema: Any = None) -> dict[str, Any]:
    """The table metadata a non-DP model is fitted with: the profile's, with each column the request's
    `schema` declares taken whole from it (its datetime format, representation, regex) and its key."""
    columns = {name: dict(meta) for name, meta in profile_metadata["columns"].items()}
    result = {**profile_metadata, "columns": columns}
    if schema is None:
        return result
    declared = schema.metadata["tables"][schema.table]
    for name, meta in schema.columns.items():
        if name in columns:
            columns[name] = dict(meta)
    if declared.get("primary_key") in columns:
        result["primary_key"] = declared["primary_key"]
    return result


def _pii(name: str, sdtype: str, series: pd.Series) -> bool:
    if sdtype in PII_SDTYPES or PII_NAME.search(name):
        return True
    if series.dtype == object:
        sample = series.dropna().astype(str).head(200)
        return len(sample) > 0 and sample.map(lambda v: bool(EMAIL.match(v))).mean() > 0.5
    return False


def _model_metadata(detected: dict[str, Any], plan: list[ColumnTreatment]) -> dict[str, Any]:
    """The SDV metadata the model is fitted with: each column's kind after its treatment."""
    columns: dict[str, Any] = {}
    for t in plan:
        meta = dict(detected["columns"][t.name])
        if t.sdtype != meta.get("sdtype"):
            meta = {"sdtype": t.sdtype}
        if t.treatment == "generated_id" and t.pattern:
            meta["regex_format"] = t.pattern
        columns[t.name] = meta
    result: dict[str, Any] = {"columns": columns}
    key = detected.get("primary_key")
    by_name = {t.name: t for t in plan}
    if key in by_name and by_name[key].treatment == "generated_id" and not by_name[key].missing_rate:
        result["primary_key"] = key
    return result


def profile_dataset(frame: pd.DataFrame, declared: dict[str, str] | None = None) -> DatasetProfile:
    """Kinds, counts and treatment of `frame`'s columns; no value of any row is kept.

    `declared` (column → sdtype, from the request's schema) overrides the detected kinds.
    """
    normalised = normalise(frame)
    clean = normalised.frame
    detected = table_metadata(detect_metadata(clean))
    plan = plan_treatments(clean, {n: m["sdtype"] for n, m in detected["columns"].items()}, declared)
    metadata = kinds_only(_model_metadata(detected, plan))
    columns = []
    for treatment in plan:
        name = treatment.name
        series = clean[name]
        sdtype = metadata["columns"][name]["sdtype"]
        note = normalised.notes.get(name)
        columns.append(
            {
                "name": name,
                "dtype": str(series.dtype),
                "sdtype": sdtype,
                "missing_rate": round(float(series.isna().mean()), 6),
                "cardinality": int(series.nunique(dropna=True)),
                "pii": bool(_pii(name, sdtype, series)),
                "treatment": treatment.treatment,
                "reason": f"{note}; {treatment.reason}" if note else treatment.reason,
            }
        )
    return DatasetProfile(rows=len(frame), columns=columns, metadata=metadata)
