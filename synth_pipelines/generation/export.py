"""Chunks and the streaming export: one file from many chunks, hashed while written, flat in memory.

Chunks are Parquet files in the private work area, one per (request seed, chunk index).
The export reads them one at a time, coerces each to the schema of the training data
(integers stay integers even when a chunk has nulls, strings stay strings), and appends
it: a Parquet row group per chunk, or CSV text through gzip/zstd. Every byte passes a
SHA-256 on its way to disk, so the hash costs no second read.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SUFFIX = {
    ("csv", "none"): ".csv",
    ("csv", "gzip"): ".csv.gz",
    ("csv", "zstd"): ".csv.zst",
    ("parquet", "none"): ".parquet",
    ("parquet", "snappy"): ".parquet",
    ("parquet", "gzip"): ".parquet",
    ("parquet", "zstd"): ".parquet",
}


def chunk_plan(rows: int, chunk_rows: int) -> list[int]:
    """Rows in each chunk: ceil(rows / chunk_rows) chunks, all full but the last."""
    sizes = [chunk_rows] * (rows // chunk_rows)
    if rows % chunk_rows:
        sizes.append(rows % chunk_rows)
    return sizes


def group_chunks(n_chunks: int, steps: int) -> list[list[int]]:
    """Split chunk indices into at most `steps` contiguous groups of near-equal size."""
    steps = max(1, min(steps, n_chunks))
    base, extra = divmod(n_chunks, steps)
    groups, start = [], 0
    for step in range(steps):
        size = base + (1 if step < extra else 0)
        groups.append(list(range(start, start + size)))
        start += size
    return groups


def chunk_is_complete(path: Path, rows: int) -> bool:
    """A chunk file is written by rename, so one that exists with the right row count is finished."""
    try:
        return pq.read_metadata(path).num_rows == rows
    except (OSError, pa.ArrowInvalid):
        return False


def chunk_path(folder: Path, index: int) -> Path:
    return folder / f"chunk-{index:05d}.parquet"


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    """The logical type of each column of the training data, which every chunk is coerced to."""
    kinds = {}
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kinds[str(name)] = "bool"
        elif pd.api.types.is_integer_dtype(dtype):
            kinds[str(name)] = "int"
        elif pd.api.types.is_float_dtype(dtype):
            kinds[str(name)] = "float"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[str(name)] = "datetime"
        else:
            kinds[str(name)] = "string"
    return kinds


ARROW_TYPES = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "datetime": pa.timestamp("us"),
    "string": pa.string(),
}


def arrow_schema(kinds: dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in kinds.items()])


def coerce(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Give a sampled chunk the training data's column types (nullable where a chunk has nulls)."""
    out = {}
    for name, kind in kinds.items():
        series = frame[name]
        if kind == "int":
            out[name] = pd.to_numeric(series, errors="coerce").round().astype("Int64")
        elif kind == "float":
            out[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif kind == "bool":
            out[name] = series.astype("boolean")
        elif kind == "datetime":
            out[name] = pd.to_datetime(series, errors="coerce").astype("datetime64[us]")
        else:
            out[name] = series.astype("string")
    return pd.DataFrame(out)


def to_arrow(frame: pd.DataFrame, kinds: dict[str, str]) -> pa.Table:
    return pa.Table.from_pandas(coerce(frame, kinds), schema=arrow_schema(kinds), preserve_index=False)


def write_chunk(frame: pd.DataFrame, kinds: dict[str, str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(to_arrow(frame, kinds), tmp, compression="snappy")
    tmp.replace(path)


def read_chunk(path: Path) -> pa.Table:
    return pq.read_table(path)


class HashingWriter:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.bytes += len(view)
        return self.raw.write(view)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True


@dataclass
class ExportResult:
    path: Path
    sha256: str
    bytes: int
    rows: int
    schema: list[tuple[str, str]]


def _csv_lines(tables: Iterable[pa.Table]) -> Iterator[bytes]:
    header = True
    for table in tables:
        frame = table.to_pandas()
        yield frame.to_csv(index=False, header=header, lineterminator="\n").encode()
        header = False


def export_chunks(
    chunk_files: list[Path], kinds: dict[str, str], out_path: Path, fmt: str, compression: str
) -> ExportResult:
    """Merge chunk files, in order, into one CSV or Parquet file; hash it while writing."""
    schema = arrow_schema(kinds)
    return export_tables((read_chunk(path).cast(schema) for path in chunk_files), kinds, out_path, fmt, compression)


def export_tables(
    tables: Iterable[pa.Table], kinds: dict[str, str], out_path: Path, fmt: str, compression: str
) -> ExportResult:
    """Write Arrow tables of the export's schema, in order, into one CSV or Parquet file; hash it while writing.

    A Parquet row group per table; the file appears under its name only once complete.
    """
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    schema = arrow_schema(kinds)
    rows = 0

    def counted() -> Iterator[pa.Table]:
        nonlocal rows
        for table in tables:
            rows += table.num_rows
            yield table

    with tmp.open("wb") as raw:
        sink = HashingWriter(raw)
        if fmt == "parquet":
            codec = None if compression == "none" else compression
            with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression=codec) as writer:
                for table in counted():
                    writer.write_table(table, row_group_size=max(table.num_rows, 1))
        elif fmt == "csv":
            _write_csv(sink, counted(), compression)
        else:
            raise ValueError(f"output format {fmt!r} is not allowed; allowed: csv, parquet")
    tmp.replace(out_path)
    return ExportResult(out_path, sink.digest.hexdigest(), sink.bytes, rows, [(f.name, str(f.type)) for f in schema])


def _write_csv(sink: HashingWriter, tables: Iterable[pa.Table], compression: str) -> None:
    if compression == "none":
        for block in _csv_lines(tables):
            sink.write(block)
    elif compression == "gzip":
        # mtime=0 and no file name in the header: the same rows give the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=6) as zipped:
            for block in _csv_lines(tables):
                zipped.write(block)
    elif compression == "zstd":
        import zstandard

        with zstandard.ZstdCompressor(level=3).stream_writer(sink, closefd=False) as zipped:
            for block in _csv_lines(tables):
                zipped.write(block)
    else:
        raise ValueError(f"compression {compression!r} is not allowed for csv; allowed: none, gzip, zstd")
