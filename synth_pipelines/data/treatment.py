"""Column treatment: what happens to each input column, decided once and readable by a person.

Every column gets exactly one treatment:

| treatment | what the output holds |
|---|---|
| `modelled` | values the synthesizer learns, with the column's missing share |
| `kept` | a column with one value (a constant) or none (all null): not modelled, repeated with its missing share |
| `generated_id` | made-up ids from the column's character pattern (letters and digits as classes), not modelled |
| `generated_text` | placeholder text (Faker) for free text, with its missing share; never modelled as categories |
| `generated_fake` | Faker values for a PII-like sdtype (name, address, ...) of a text column, with its missing share |
| `dropped` | nothing: the column is left out, and the reason says why |

The rules read kinds and counts only, and every reason is made of counts: a profile and its
reasons reach the UI, which never shows a real value. The request's `schema` overrides the rule
for any column it lists (its SDV sdtype decides the treatment). A DP request's treatment comes
from its schema alone (`declared_plan`): nothing is decided from its rows.

`normalise` is the one row-local clean-up every non-DP table goes through before it is profiled
and again before it is validated and split (each cell on its own, so the two agree): strings are
trimmed and blank ones read as missing, object columns of mixed Python types become text, numbers
stored as text (every non-missing cell a number or a missing marker such as ".") become numbers,
dates stored as text (every cell in the format of the first, which names a year) become datetimes,
tz-aware datetimes become UTC.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synth_pipelines.core.table_schema import MODELLED_SDTYPES

TREATMENTS = ("modelled", "kept", "generated_id", "generated_text", "generated_fake", "dropped")

# Cells that mean "missing" when a column otherwise holds numbers (compared trimmed, lower-case).
MISSING_MARKERS = frozenset({"", ".", "-", "--", "?", "na", "n/a", "nan", "null", "none", "missing"})
# Free text: at least this many distinct values, and long or multi-word values.
TEXT_MIN_LEVELS = 50
TEXT_MIN_MEAN_CHARS = 40
TEXT_MIN_UNIQUE_SHARE = 0.5
TEXT_MIN_MULTIWORD_SHARE = 0.3
# An id-like text column: nearly every value distinct, single tokens.
ID_MIN_UNIQUE_SHARE = 0.95
ID_MIN_LEVELS = 20
# A PII-like sdtype (city, state, ...) with few levels, each in many rows, is a category.
PII_CATEGORY_MAX_LEVELS = 60
PII_CATEGORY_MIN_ROWS_PER_LEVEL = 20
# Rows read to find a column's id pattern or text shape (a sample bounds the time on long tables).
SHAPE_SAMPLE_ROWS = 5_000


@dataclass
class ColumnTreatment:
    name: str
    treatment: str  # one of TREATMENTS
    sdtype: str  # the sdtype the model (or generator) uses
    reason: str  # counts and kinds only
    missing_rate: float | None = None
    pattern: str | None = None  # generated_id: a regex of character classes (no literal letter or digit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Normalised:
    frame: pd.DataFrame
    notes: dict[str, str]  # column → what normalise changed (counts only)
    numeric_text: list[str]  # columns converted from numbers-as-text


def _is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def _numbers_as_text(values: pd.Series) -> tuple[pd.Series, int] | None:
    """`values` (trimmed text, no nulls) as numbers when every cell is one or a missing marker; else None."""
    if values.empty:
        return None
    numbers = pd.to_numeric(values, errors="coerce")
    failed = numbers.isna()
    if not (~failed).any() or not values[failed].str.lower().isin(MISSING_MARKERS).all():
        return None
    digits = values[~failed]
    # A leading zero ("02134") or a leading "+" says code, not quantity: left as text.
    if digits.str.match(r"^[+]|^0\d").any():
        return None
    return numbers, int(failed.sum())


def _normalise_text(series: pd.Series) -> tuple[pd.Series, list[str], bool]:
    notes: list[str] = []
    present = series.notna()
    values = series[present]
    kinds = {type(v) for v in values}
    if kinds - {str}:
        if str in kinds:
            notes.append(f"mixed value types ({len(kinds)} Python types) read as text")
            values = values.map(str)
        else:
            return series, notes, False  # e.g. an object column of bools or numbers: pandas types it below
    trimmed = values.str.strip()
    changed = int((trimmed != values).sum())
    blank = trimmed == ""
    if blank.any():
        notes.append(f"{int(blank.sum())} blank cells read as missing")
    if changed - int(blank.sum()) > 0:
        notes.append(f"{changed - int(blank.sum())} cells trimmed of surrounding spaces")
    trimmed = trimmed[~blank]
    numeric = _numbers_as_text(trimmed)
    out = pd.Series(np.nan, index=series.index, dtype=object)
    if numeric is not None:
        numbers, markers = numeric
        marked = f"; {markers} missing-marker cells read as missing" if markers else ""
        notes.append("numbers stored as text" + marked)
        out = pd.Series(np.nan, index=series.index, dtype="float64")
        out[numbers.index] = numbers.astype("float64")
        if np.all(np.mod(out.dropna(), 1) == 0):
            out = out.astype("Int64") if out.isna().any() else out.astype("int64")
        return out, notes, True
    dates = _dates_as_text(trimmed)
    if dates is not None:
        stamps, fmt = dates
        notes.append(f"dates stored as text (format {fmt}) read as datetimes")
        out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
        out[stamps.index] = stamps
        return out, notes, False
    out[trimmed.index] = trimmed
    return out, notes, False


def _dates_as_text(values: pd.Series) -> tuple[pd.Series, str] | None:
    """`values` (trimmed text, no nulls) as datetimes when every cell parses in the format of the first, with a year."""
    if values.empty:
        return None
    import warnings

    from pandas.tseries.api import guess_datetime_format

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt = guess_datetime_format(values.iloc[0])
        if not fmt or not ({"%Y", "%y"} & set(re.findall(r"%[A-Za-z]", fmt))):
            return None
        stamps = pd.to_datetime(values, format=fmt, errors="coerce")
    if stamps.isna().any():
        return None
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]"), fmt


def normalise(frame: pd.DataFrame) -> Normalised:
    """The row-local clean-up described in the module docstring; `frame` is not changed."""
    columns: dict[str, pd.Series] = {}
    notes: dict[str, str] = {}
    numeric_text: list[str] = []
    for name in frame.columns:
        series = frame[name]
        column_notes: list[str] = []
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
            column_notes.append("time zone converted to UTC")
        elif _is_text_column(series):
            series, column_notes, converted = _normalise_text(series)
            if converted:
                numeric_text.append(str(name))
            elif series.notna().any() and {type(v) for v in series.dropna()} <= {bool, np.bool_}:
                series = series.astype("boolean")
        columns[str(name)] = series
        if column_notes:
            notes[str(name)] = "; ".join(column_notes)
    return Normalised(pd.DataFrame(columns, index=frame.index), notes, numeric_text)


def character_pattern(value: str) -> str:
    """A regex of `value`'s shape: runs of upper/lower letters and digits as classes, other characters literal."""
    parts: list[tuple[str, int]] = []
    for char in value:
        if char.isascii() and char.isupper():
            cls = "[A-Z]"
        elif char.isascii() and char.islower():
            cls = "[a-z]"
        elif char.isascii() and char.isdigit():
            cls = "[0-9]"
        elif char.isalnum():
            cls = "[A-Za-z]"  # a non-ASCII letter or digit: its class, never the character itself
        else:
            cls = re.escape(char)
        if parts and parts[-1][0] == cls:
            parts[-1] = (cls, parts[-1][1] + 1)
        else:
            parts.append((cls, 1))
    return "".join(cls if n == 1 else f"{cls}{{{n}}}" for cls, n in parts)


_CLASS_PATTERN = re.compile(r"^(?:(?:\[A-Z\]|\[a-z\]|\[0-9\]|\[A-Za-z\]|\\.|[^A-Za-z0-9\\\[\]{}])(?:\{\d+\})?)+$")


def is_class_pattern(pattern: Any) -> bool:
    """True when `pattern` is one `character_pattern` writes: classes and punctuation, no letter or digit."""
    return isinstance(pattern, str) and bool(_CLASS_PATTERN.match(pattern))


def id_pattern(values: pd.Series) -> str | None:
    """The most common character pattern among (a sample of) a text column's values; None for numbers."""
    sample = values.dropna()
    if sample.empty or not _is_text_column(sample):
        return None
    sample = sample.head(SHAPE_SAMPLE_ROWS).astype(str)
    pattern, _ = Counter(character_pattern(v) for v in sample).most_common(1)[0]
    return pattern


def _text_shape(values: pd.Series) -> tuple[float, float]:
    """(mean characters, share of multi-word values) of a sample of the non-null values."""
    sample = values.dropna().head(SHAPE_SAMPLE_ROWS).astype(str)
    if sample.empty:
        return 0.0, 0.0
    return float(sample.str.len().mean()), float(sample.str.contains(r"\s", regex=True).mean())


def _looks_like_datetime(values: pd.Series) -> bool:
    sample = values.dropna().head(500).astype(str)
    if sample.empty:
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _declared(name: str, sdtype: str, missing: float | None) -> ColumnTreatment:
    reason = f"declared sdtype {sdtype!r} in the request's schema"
    if sdtype in MODELLED_SDTYPES:
        return ColumnTreatment(name, "modelled", sdtype, reason, missing)
    if sdtype == "id":
        return ColumnTreatment(name, "generated_id", "id", reason, missing)
    if sdtype == "text":
        return ColumnTreatment(name, "generated_text", "text", reason, missing)
    return ColumnTreatment(name, "generated_fake", sdtype, reason, missing)


def _is_scalar_column(series: pd.Series) -> bool:
    if series.dtype != object:
        return True
    sample = series.dropna().head(SHAPE_SAMPLE_ROWS)
    return not sample.map(lambda v: isinstance(v, list | dict | tuple | set | bytes | np.ndarray)).any()


def _dtype_sdtype(series: pd.Series) -> str | None:
    """The modelled sdtype that keeps a column of booleans, dates or numbers in its type; None for others."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numerical"
    return None


def treat_column(name: str, series: pd.Series, detected: str, declared: str | None = None) -> ColumnTreatment:
    """One column's treatment from its kinds and counts (and the request's declared sdtype, which wins)."""
    rows = len(series)
    missing = float(series.isna().mean()) if rows else 0.0
    present = rows - int(series.isna().sum())
    share = f"{missing:.1%} missing"
    if declared is not None:
        treatment = _declared(name, declared, missing)
        if treatment.treatment == "generated_id":
            treatment.pattern = id_pattern(series)
        return treatment
    if not _is_scalar_column(series):
        return ColumnTreatment(name, "dropped", detected, "holds lists or objects, not single values", missing)
    if isinstance(series.dtype, pd.api.types.DatetimeTZDtype) or pd.api.types.is_timedelta64_dtype(series.dtype):
        return ColumnTreatment(name, "dropped", detected, f"dtype {series.dtype} is not supported", missing)
    if present == 0:
        return ColumnTreatment(name, "kept", "categorical", "every value missing: kept as an all-null column", 1.0)
    levels = int(series.nunique(dropna=True))
    if levels == 1:
        return ColumnTreatment(name, "kept", detected, f"one value in every non-null row: repeated; {share}", missing)
    text = _is_text_column(series)
    unique_share = levels / present
    if text:
        mean_chars, multiword = _text_shape(series)
        if levels >= TEXT_MIN_LEVELS and (
            mean_chars >= TEXT_MIN_MEAN_CHARS
            or (unique_share >= TEXT_MIN_UNIQUE_SHARE and multiword >= TEXT_MIN_MULTIWORD_SHARE)
        ):
            return ColumnTreatment(
                name,
                "generated_text",
                "text",
                f"free text ({levels:,} distinct of {present:,} values, {mean_chars:.0f} characters on average): "
                f"placeholder text, not modelled as categories; {share}",
                missing,
            )
    if detected == "id" or (text and levels >= ID_MIN_LEVELS and unique_share >= ID_MIN_UNIQUE_SHARE):
        return ColumnTreatment(
            name,
            "generated_id",
            "id",
            f"id-like ({levels:,} distinct of {present:,} values): generated from its character pattern; {share}",
            missing,
            pattern=id_pattern(series),
        )
    kind = _dtype_sdtype(series)
    if detected not in MODELLED_SDTYPES and kind is not None:
        # A PII-like sdtype read from the name of a column of numbers, dates or booleans: Faker's
        # strings would not fit the column's type, and the export would turn every one into a null.
        return ColumnTreatment(
            name,
            "modelled",
            kind,
            f"detected as {detected!r} but holds {series.dtype} values: modelled; {share}",
            missing,
        )
    if detected not in MODELLED_SDTYPES:
        if levels <= PII_CATEGORY_MAX_LEVELS and present / levels >= PII_CATEGORY_MIN_ROWS_PER_LEVEL:
            return ColumnTreatment(
                name,
                "modelled",
                "categorical",
                f"detected as {detected!r} but {levels} levels each in {present // levels:,} rows on average: "
                f"modelled as categorical; {share}",
                missing,
            )
        if text and _looks_like_datetime(series):
            return ColumnTreatment(
                name, "modelled", "datetime", f"detected as {detected!r} but holds dates: modelled; {share}", missing
            )
        return ColumnTreatment(
            name,
            "generated_fake",
            detected,
            f"PII-like sdtype {detected!r} ({levels:,} distinct values): made up by Faker, not modelled; {share}",
            missing,
        )
    return ColumnTreatment(name, "modelled", detected, share, missing)


def plan_treatments(
    frame: pd.DataFrame, detected: dict[str, str], declared: dict[str, str] | None = None
) -> list[ColumnTreatment]:
    """Each column's treatment; `detected` and `declared` map column → sdtype (SDV's and the request's)."""
    declared = declared or {}
    return [treat_column(str(c), frame[c], detected[str(c)], declared.get(str(c))) for c in frame.columns]


def declared_plan(columns: dict[str, dict[str, Any]]) -> list[ColumnTreatment]:
    """A DP request's treatment: its schema's sdtypes alone, no count (nothing read from rows)."""
    plan = []
    for name, meta in columns.items():
        treatment = _declared(name, str(meta.get("sdtype")), None)
        treatment.reason = f"declared sdtype {treatment.sdtype!r}; DP: nothing decided from the rows"
        plan.append(treatment)
    return plan


def treatment_markdown(plan: list[dict[str, Any]]) -> str:
    """The per-column treatment as a Markdown table (kinds and counts only)."""
    lines = ["| column | treatment | sdtype | reason |", "|---|---|---|---|"]
    for entry in plan:
        reason = str(entry.get("reason") or "").replace("|", "\\|")
        name = str(entry["name"]).replace("|", "\\|")
        lines.append(f"| `{name}` | {entry['treatment']} | {entry['sdtype']} | {reason} |")
    counts = Counter(entry["treatment"] for entry in plan)
    lines += ["", "; ".join(f"{t}: {counts[t]}" for t in TREATMENTS if counts[t])]
    return "\n".join(lines)
