"""The quality report of a schema_only request: is every value inside the domain its schema declares?

A schema_only request has no real rows, so nothing is compared with data. What can be
checked is the contract the schema states, column by column:

- validity: the share of non-missing values inside the declared domain (a listed category;
  a number within [min_value, max_value] with at most num_decimal_digits decimals; a
  timestamp within [start_timestamp, end_timestamp]; a boolean; a string matching an id's
  regex_format). Columns with no declared domain (PII-like sdtypes, ids without a regex) are
  not scored;
- missing share: the observed share of missing values within `MISSING_TOLERANCE` of the
  declared `missing_values_proportion` (0 when not declared);
- structure: the export has exactly the schema's columns, in its order, and the primary
  key (if any) is unique.

`diagnostic` is the mean of data validity, data structure and the share of columns whose
missing share conforms, in [0, 1] like SDMetrics' diagnostic score (data validity and
structure); the request's `quality.min_diagnostic` gates publishing on it. Everything here is
public: it is computed from synthetic rows and the public request only.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.core.request import QualitySpec, TableSchema
from synth_pipelines.quality.report import QualityReportResult, _fmt, _inside, _json_ready, _table, threshold_checks

MISSING_TOLERANCE = 0.02
NOT_COMPUTED = "a schema_only request has no real rows to compare with"


def read_export_as_written(path: Path) -> pd.DataFrame:
    """An export as its bytes say: CSV cells as text (only an empty cell is missing), Parquet as typed."""
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    compression = "zstd" if name.endswith((".zst", ".zstd")) else "infer"
    return pd.read_csv(path, compression=compression, dtype=str, keep_default_na=False, na_values=[""])


def _iso_bounds(params: dict[str, Any], datetime_format: str | None) -> dict[str, Any]:
    """The timestamps of a datetime column read with the schema's own format, as ISO strings."""
    out = dict(params)
    for key in ("start_timestamp", "end_timestamp"):
        if key in out:
            out[key] = pd.to_datetime(out[key], format=datetime_format).isoformat()
    return out


def value_validity(series: pd.Series, meta: dict[str, Any], params: dict[str, Any]) -> pd.Series | None:
    """Per non-missing value: inside the declared domain? None when the schema declares none for the column."""
    sdtype = meta.get("sdtype")
    values = series.dropna()
    if sdtype == "boolean":
        return values.map(lambda v: v is True or v is False or str(v) in ("True", "False")).astype(bool)
    if sdtype == "id":
        regex = meta.get("regex_format")
        if regex is None:
            return None
        pattern = re.compile(regex)
        return values.map(lambda v: pattern.fullmatch(str(v)) is not None).astype(bool)
    if sdtype == "datetime":
        params = _iso_bounds(params, meta.get("datetime_format"))
    inside = _inside(values, sdtype, params)
    if inside is None or sdtype != "numerical" or params.get("num_decimal_digits") is None:
        return inside
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    rounded = np.round(numbers, int(params["num_decimal_digits"]))
    return inside & pd.Series(np.isclose(numbers, rounded, rtol=1e-12, atol=0.0), index=values.index)


def _column_scores(frame: pd.DataFrame, schema: TableSchema) -> dict[str, dict[str, Any]]:
    columns: dict[str, dict[str, Any]] = {}
    for name, meta in schema.columns.items():
        if name not in frame.columns:
            continue
        params = schema.column_parameters(name)
        valid = value_validity(frame[name], meta, params)
        missing = float(frame[name].isna().mean()) if len(frame) else 0.0
        declared = float(params.get("missing_values_proportion", 0.0))
        columns[name] = {
            "sdtype": meta.get("sdtype"),
            "validity": None if valid is None or len(valid) == 0 else float(valid.mean()),
            "missing_share": missing,
            "declared_missing_share": declared,
            "missing_within_tolerance": abs(missing - declared) <= MISSING_TOLERANCE,
        }
    return columns


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def schema_validity(frame: pd.DataFrame, schema: TableSchema) -> dict[str, Any]:
    """The scores of a schema_only export (see the module docstring)."""
    columns = _column_scores(frame, schema)
    expected = list(schema.columns)
    key = schema.metadata["tables"][schema.table].get("primary_key")
    key_unique = None if key is None or key not in frame.columns else bool(frame[key].dropna().is_unique)
    structure = [float(list(frame.columns) == expected)] + ([float(key_unique)] if key_unique is not None else [])
    validity = _mean([c["validity"] for c in columns.values() if c["validity"] is not None])
    conformity = _mean([float(c["missing_within_tolerance"]) for c in columns.values()])
    parts = [p for p in (validity, _mean(structure), conformity) if p is not None]
    return {
        "computed_on": "the synthetic rows and the request's schema only: a schema_only request has no real data",
        "synthetic_rows": len(frame),
        "diagnostic": _mean(parts),
        "data_validity": validity,
        "data_structure": _mean(structure),
        "missing_share_conformity": conformity,
        "missing_tolerance": MISSING_TOLERANCE,
        "primary_key_unique": key_unique,
        "columns_missing": [c for c in expected if c not in frame.columns],
        "columns_not_in_schema": [str(c) for c in frame.columns if c not in schema.columns],
        "columns": columns,
        "skipped": {name: NOT_COMPUTED for name in ("overall", "mia_auc", "tstr", "dcr_baseline_protection")},
    }


_KEY_SCORES = (
    ("diagnostic", "Diagnostic (validity, structure, missing shares)"),
    ("data_validity", "Data validity (share of values inside the declared domain)"),
    ("data_structure", "Data structure (the schema's columns; a unique primary key)"),
    ("missing_share_conformity", f"Columns whose missing share is within {MISSING_TOLERANCE} of the declared"),
)


def _column_rows(scores: dict[str, Any]) -> list[list[str]]:
    return [
        [
            name,
            str(c["sdtype"]),
            _fmt(c["validity"]) if c["validity"] is not None else "no domain declared",
            f"{c['missing_share']:.4f} ({c['declared_missing_share']:.4f})",
        ]
        for name, c in scores["columns"].items()
    ]


COLUMN_HEADERS = ["column", "sdtype", "share inside the domain", "missing share (declared)"]


def render_validity_markdown(scores: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = ["Schema-only data: checked against the request's schema; no real data exists to compare with.", ""]
    lines += ["| score | value |", "|---|---|"]
    lines += [f"| {label} | {_fmt(scores.get(key))} |" for key, label in _KEY_SCORES]
    lines += ["", "| " + " | ".join(COLUMN_HEADERS) + " |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _column_rows(scores)]
    if checks:
        lines += ["", "| threshold | limit | value | result |", "|---|---|---|---|"]
        for c in checks:
            verdict = "pass" if c["passed"] else "FAIL: " + c["message"]
            lines.append(f"| {c['threshold']} | {c['limit']} | {_fmt(c['value'])} | {verdict} |")
    return "\n".join(lines)


def render_validity_html(scores: dict[str, Any]) -> str:
    key_rows = [[label, _fmt(scores.get(key))] for key, label in _KEY_SCORES]
    body = (
        "<h1>Schema-only data: validity against the schema</h1>"
        f"<p>{scores['synthetic_rows']:,} synthetic rows; no real data exists to compare with.</p>"
        f"{_table(['score', 'value'], key_rows)}<h2>Columns</h2>{_table(COLUMN_HEADERS, _column_rows(scores))}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>Schema-only validity report</title>"
        f"</head><body>{body}</body></html>\n"
    )


def build_schema_only_report(
    synthetic: Path, schema: TableSchema, spec: QualitySpec, out_dir: Path
) -> QualityReportResult:
    """Score a schema_only export against its schema; every file written here is public."""
    started = time.perf_counter()
    scores = schema_validity(read_export_as_written(Path(synthetic)), schema)
    scores["seconds"] = {"total": time.perf_counter() - started}
    scores = _json_ready(scores)
    checks = threshold_checks(scores, spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "scores": out_dir / "quality_scores.json",
        "public_scores": out_dir / "public_scores.json",
        "report": out_dir / "quality_report.html",
    }
    files["scores"].write_text(json.dumps(scores, indent=2))
    files["public_scores"].write_text(json.dumps(scores, indent=2))
    files["report"].write_text(render_validity_html(scores), encoding="utf-8")
    return QualityReportResult(
        scores=scores,
        markdown=render_validity_markdown(scores, checks),
        files=files,
        public_files=["public_scores", "report"],
        public_scores=scores,
    )
