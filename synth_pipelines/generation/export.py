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
from typing import IO, Any, BinaryIO, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from synth_pipelines.core.files import atomic_open, atomic_path

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


def chunk_conditions(
    conditions: list[tuple[dict[str, Any], int]], sizes: list[int]
) -> list[list[tuple[dict[str, Any], int]]]:
    """Each chunk's share of the conditions: the conditions' rows laid end to end, cut at the chunk sizes.

    Row r of the export belongs to the condition whose block holds it, so every condition gets exactly
    its rows, in the request's order, and the split depends on nothing but the counts.
    """
    if sum(rows for _, rows in conditions) != sum(sizes):
        raise ValueError("the conditions' rows must add up to the rows of the chunks")
    out: list[list[tuple[dict[str, Any], int]]] = []
    pending = [(values, rows) for values, rows in conditions]
    k = 0
    for size in sizes:
        chunk: list[tuple[dict[str, Any], int]] = []
        while size:
            values, rows = pending[k]
            take = min(size, rows)
            chunk.append((values, take))
            size -= take
            if take == rows:
                k += 1
            else:
                pending[k] = (values, rows - take)
        out.append(chunk)
    return out


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


def kinds_of(frame: pd.DataFrame) -> dict[str, str]:
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
    with atomic_path(path) as tmp:
        pq.write_table(to_arrow(frame, kinds), tmp, compression="snappy")


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
        # Nullable integers stay integers ("63", empty when missing), never floats ("63.0").
        frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
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
    schema = arrow_schema(kinds)
    rows = 0

    def counted() -> Iterator[pa.Table]:
        nonlocal rows
        for table in tables:
            rows += table.num_rows
            yield table

    with atomic_open(out_path) as raw:
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

        with zstandard.ZstdCompressor(level=3).stream_writer(cast(IO[bytes], sink), closefd=False) as zipped:
            for block in _csv_lines(tables):
                zipped.write(block)
    else:
        raise ValueError(f"compression {compression!r} is not allowed for csv; allowed: none, gzip, zstd")


PREVIEW_ROWS = 20


def head_rows(path: Path, n: int = PREVIEW_ROWS) -> pd.DataFrame:
    """The first `n` rows of an export (.parquet, .csv, .csv.gz, .csv.zst), reading no more of it than needed.

    CSV cells come back as the text written (only an empty cell is missing), Parquet values as typed.
    """
    name = Path(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        batches = pq.ParquetFile(path).iter_batches(batch_size=max(n, 1))
        first = next(batches, None)
        return first.to_pandas().head(n) if first is not None else pd.DataFrame()
    compression = "zstd" if name.endswith((".zst", ".zstd")) else "infer"
    return pd.read_csv(path, compression=compression, nrows=n, dtype=str, keep_default_na=False, na_values=[""])


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-style Markdown table of `frame`: one line per row, `|` escaped, missing values empty."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *rows])


def preview_markdown(path: Path, n: int = PREVIEW_ROWS) -> str:
    """The first `n` rows of an export as a Markdown table: synthetic rows only, never an input row."""
    return markdown_table(head_rows(path, n))
