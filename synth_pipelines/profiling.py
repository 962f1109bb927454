"""Profile a table: SDV metadata, per-column types, missing rates, cardinalities, ranges and PII flags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from synth_pipelines.synthesizers import TABLE

# Column names that usually hold direct identifiers; flagged for a person to look at.
PII_NAME = re.compile(
    r"(^|_)(name|first_?name|last_?name|surname|e_?mail|phone|mobile|ssn|social_security|passport|address|street|"
    r"zip|postcode|postal|ip_?address|iban|account|credit_?card|dob|birth)($|_)",
    re.I,
)
PII_SDTYPES = {"email", "phone_number", "ssn", "name", "first_name", "last_name", "address", "ipv4_address", "iban"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class DatasetProfile:
    rows: int
    columns: list[dict[str, Any]]
    metadata: dict[str, Any]  # SDV single-table metadata dict ({"columns": {...}, ...})

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": self.columns, "metadata": self.metadata}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> DatasetProfile:
        return cls(rows=payload["rows"], columns=payload["columns"], metadata=payload["metadata"])

    @property
    def pii_columns(self) -> list[str]:
        return [c["name"] for c in self.columns if c["pii"]]


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


def _jsonable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def profile_dataset(frame: pd.DataFrame) -> DatasetProfile:
    metadata = table_metadata(detect_metadata(frame))
    columns = []
    for name in frame.columns:
        series = frame[name]
        sdtype = metadata["columns"][name]["sdtype"]
        numeric = pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
        columns.append(
            {
                "name": name,
                "dtype": str(series.dtype),
                "sdtype": sdtype,
                "missing_rate": round(float(series.isna().mean()), 6),
                "cardinality": int(series.nunique(dropna=True)),
                "min": _jsonable(series.min()) if numeric and series.notna().any() else None,
                "max": _jsonable(series.max()) if numeric and series.notna().any() else None,
                "pii": bool(_pii(name, sdtype, series)),
            }
        )
    return DatasetProfile(rows=len(frame), columns=columns, metadata=metadata)
