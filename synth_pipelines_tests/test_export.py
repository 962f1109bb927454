"""Chunk plans, chunk seeds and the streaming export: hashes, compression and column types."""

import gzip
import hashlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from synth_pipelines.generation.export import SUFFIX, chunk_plan, export_chunks, kinds_of, write_chunk
from synth_pipelines.training.synthesizers import chunk_seed


def test_chunk_plan_covers_every_row():
    assert chunk_plan(1, 10_000) == [1]
    assert chunk_plan(25_000, 10_000) == [10_000, 10_000, 5_000]
    assert chunk_plan(1_000_000, 10_000) == [10_000] * 100
    assert sum(chunk_plan(999_999, 7)) == 999_999


def test_chunk_seeds_depend_on_seed_and_index_only():
    assert chunk_seed(7, 3) == chunk_seed(7, 3)
    assert len({chunk_seed(7, i) for i in range(1000)}) == 1000
    assert chunk_seed(7, 0) != chunk_seed(8, 0)


def typed_frame(rows: int, offset: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(offset)
    frame = pd.DataFrame(
        {
            "count": rng.integers(0, 100, rows),
            "score": rng.normal(size=rows),
            "flag": rng.integers(0, 2, rows).astype(bool),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10_000, rows), unit="min"),
            "label": rng.choice(["a", "b", "c"], rows),
        }
    )
    frame = frame.astype({"count": "float64"})  # a sampled chunk with nulls comes back as floats
    frame.loc[frame.index % 5 == 0, "count"] = np.nan
    frame.loc[frame.index % 7 == 0, "label"] = None
    frame.loc[frame.index % 11 == 0, "when"] = pd.NaT
    return frame


KINDS = {"count": "int", "score": "float", "flag": "bool", "when": "datetime", "label": "string"}


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [
        ("parquet", "none"),
        ("parquet", "snappy"),
        ("parquet", "zstd"),
        ("parquet", "gzip"),
        ("csv", "none"),
        ("csv", "gzip"),
        ("csv", "zstd"),
    ],
)
def test_export_hashes_and_round_trips_types(tmp_path, fmt, compression):
    chunks = []
    for index, rows in enumerate([40, 40, 13]):
        path = tmp_path / "chunks" / f"chunk-{index}.parquet"
        write_chunk(typed_frame(rows, index), KINDS, path)
        chunks.append(path)
    out = tmp_path / f"export{SUFFIX[(fmt, compression)]}"
    result = export_chunks(chunks, KINDS, out, fmt, compression)
    assert result.rows == 93
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.bytes == out.stat().st_size
    again = export_chunks(chunks, KINDS, tmp_path / "again" / out.name, fmt, compression)
    assert again.sha256 == result.sha256

    if fmt == "parquet":
        schema = pq.read_schema(out)
        assert [str(schema.field(n).type) for n in KINDS] == ["int64", "double", "bool", "timestamp[us]", "string"]
        back = pd.read_parquet(out, dtype_backend="numpy_nullable")
        assert str(back["count"].dtype) == "Int64"
        assert str(back["flag"].dtype) == "boolean"
        assert pd.api.types.is_datetime64_any_dtype(back["when"])
    else:
        back = pd.read_csv(out, parse_dates=["when"])
        # The integer column is written as integers (no "12.0"), empty where missing.
        text = pd.read_csv(out, dtype=str, keep_default_na=False)["count"]
        assert text.str.fullmatch(r"-?\d*").all(), text[~text.str.fullmatch(r"-?\d*")].head()
        assert pd.api.types.is_datetime64_any_dtype(back["when"])
    expected = pd.concat([typed_frame(n, i) for i, n in enumerate([40, 40, 13])], ignore_index=True)
    assert back["count"].isna().sum() == expected["count"].isna().sum()
    assert back["label"].isna().sum() == expected["label"].isna().sum()
    assert back["when"].isna().sum() == expected["when"].isna().sum()
    assert set(back["label"].dropna()) <= {"a", "b", "c"}


def test_gzip_csv_is_reproducible_bytes(tmp_path):
    path = tmp_path / "c.parquet"
    write_chunk(typed_frame(10), KINDS, path)
    first = export_chunks([path], KINDS, tmp_path / "a.csv.gz", "csv", "gzip")
    second = export_chunks([path], KINDS, tmp_path / "b.csv.gz", "csv", "gzip")
    assert first.sha256 == second.sha256
    assert gzip.decompress((tmp_path / "a.csv.gz").read_bytes()).startswith(b"count,score,flag,when,label\n")


def test_column_types_of_training_data():
    frame = pd.DataFrame({"i": [1], "f": [1.5], "b": [True], "t": [pd.Timestamp("2024-01-01")], "s": ["x"]})
    assert kinds_of(frame) == {"i": "int", "f": "float", "b": "bool", "t": "datetime", "s": "string"}
