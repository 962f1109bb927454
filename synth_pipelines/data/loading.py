"""Find and load the input table: paths confined to the data root, size and shape limits, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synth_pipelines.core.request import DatasetSpec, RequestError

MAX_INPUT_BYTES = 2 * 1024**3
MAX_INPUT_ROWS = 5_000_000
MAX_INPUT_COLUMNS = 1_000


def resolve_local_dataset(uri: str, data_root: Path) -> Path:
    """The file a local dataset URI names, refusing anything outside `data_root` or missing."""
    if "\x00" in uri:
        raise RequestError([("dataset.uri", f"{uri!r} contains a NUL byte")])
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    root = data_root.resolve()
    candidate = Path(uri)
    path = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not path.is_relative_to(root):
        raise RequestError(
            [("dataset.uri", f"{uri!r} points outside the data root; allowed: paths under {root} (SYNTH_DATA_ROOT)")]
        )
    if not path.is_file():
        raise RequestError([("dataset.uri", f"{uri!r} does not exist under the data root {root}")])
    size = path.stat().st_size
    if size > MAX_INPUT_BYTES:
        raise RequestError([("dataset.uri", f"{uri!r} is {size:,} bytes; allowed: at most {MAX_INPUT_BYTES:,}")])
    return path


def read_table(path: Path, fmt: str, as_text: bool = False) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON-lines file; a broken file is refused with the reason.

    `as_text` (DP requests) infers no column type: CSV cells stay text and JSON values keep
    their own types, so how one row's value is read never depends on the other rows (pandas'
    inference turns a 0/1 column into floats when one row is empty, and every row would move).
    """
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, skipinitialspace=True, na_values=["?"], dtype=str if as_text else None)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "jsonl":
            frame = (
                pd.read_json(path, lines=True, dtype=False, convert_dates=False)
                if as_text
                else pd.read_json(path, lines=True)
            )
        else:
            raise RequestError([("dataset.format", f"{fmt!r} is not allowed; allowed: csv, parquet, jsonl")])
    except RequestError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file
        raise RequestError([("dataset.uri", f"{path.name} could not be read as {fmt}: {exc}")]) from None
    return frame


def check_shape(frame: pd.DataFrame, spec: DatasetSpec) -> None:
    problems = []
    if len(frame) == 0 or len(frame.columns) == 0:
        problems.append(("dataset.uri", f"{spec.uri!r} has no rows or no columns; allowed: at least 1 row and column"))
    if len(frame) > MAX_INPUT_ROWS:
        problems.append(("dataset.uri", f"{spec.uri!r} has {len(frame):,} rows; allowed: at most {MAX_INPUT_ROWS:,}"))
    if len(frame.columns) > MAX_INPUT_COLUMNS:
        problems.append(
            ("dataset.uri", f"{spec.uri!r} has {len(frame.columns)} columns; allowed: at most {MAX_INPUT_COLUMNS}")
        )
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        problems.append(("dataset.uri", f"{spec.uri!r} repeats column names {duplicated}; allowed: unique names"))
    if problems:
        raise RequestError(problems)


def _csv_header(path: Path) -> list[str]:
    # pandas renames a repeated header ("a", "a.1"); read the header as written to refuse it instead.
    import csv

    with path.open(newline="", errors="replace") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def load_dataset(path: Path, spec: DatasetSpec, as_text: bool = False) -> pd.DataFrame:
    frame = read_table(path, spec.format or "csv", as_text=as_text)
    if spec.format == "csv":
        header = _csv_header(path)
        if len(header) == len(frame.columns):
            frame.columns = header
    frame.columns = [str(c) for c in frame.columns]
    check_shape(frame, spec)
    return frame
