"""Profile a table as kinds and counts: per-column dtype, sdtype, missing rate, cardinality and PII flag.

The profile is shown in the UI, which every viewer sees, so it holds no value taken
from a row: no min/max, no category list, no sample. The SDV metadata it keeps is stripped
to the keys that describe a column's kind (`KIND_KEYS`); SDV's detector also writes the
observed range and category values (`range_min`, `range_values`, ...), which are dropped here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synth_pipelines.core.table_schema import TABLE

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
COLUMN_KEYS = ("name", "dtype", "sdtype", "missing_rate", "cardinality", "pii")


def kinds_only(table: dict[str, Any]) -> dict[str, Any]:
    """An SDV single-table metadata dict reduced to column kinds (whitelist, so a new SDV key cannot leak)."""
    columns = {
        str(name): {key: meta[key] for key in KIND_KEYS if key in meta}
        for name, meta in table.get("columns", {}).items()
    }
    result: dict[str, Any] = {"columns": columns}
    for key in TABLE_KEYS:
        if table.get(key) is not None and table[key] in columns:
            result[key] = table[key]
    return result


@dataclass
class DatasetProfile:
    rows: int
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


def detect_metadata(frame: pd.DataFrame) -> Any:
    from sdv.metadata import Metadata

    return Metadata.detect_from_dataframes({TABLE: frame})


def table_metadata(metadata: Any) -> dict[str, Any]:
    return metadata.to_dict()["tables"][TABLE]


def metadata_from_dict(table: dict[str, Any]) -> Any:
    from sdv.metadata import Metadata

    return Metadata.load_from_dict({"tables": {TABLE: table}})


def _pii(name: str, sdtype: str, series: pd.Series) -> bool:
    if sdtype in PII_SDTYPES or PII_NAME.search(name):
        return True
    if series.dtype == object:
        sample = series.dropna().astype(str).head(200)
        return len(sample) > 0 and sample.map(lambda v: bool(EMAIL.match(v))).mean() > 0.5
    return False


def profile_dataset(frame: pd.DataFrame) -> DatasetProfile:
    """Kinds and counts of `frame`'s columns; no value of any row is kept."""
    detected = table_metadata(detect_metadata(frame))
    metadata = kinds_only(detected)
    columns = []
    for name in frame.columns:
        series = frame[name]
        sdtype = metadata["columns"][name]["sdtype"]
        columns.append(
            {
                "name": name,
                "dtype": str(series.dtype),
                "sdtype": sdtype,
                "missing_rate": round(float(series.isna().mean()), 6),
                "cardinality": int(series.nunique(dropna=True)),
                "pii": bool(_pii(name, sdtype, series)),
            }
        )
    return DatasetProfile(rows=len(frame), columns=columns, metadata=metadata)
