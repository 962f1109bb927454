"""Every export format the pipeline writes reads back to the same table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.quality.report import read_synthetic


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("s.csv", lambda f, p: f.to_csv(p, index=False)),
        ("s.csv.gz", lambda f, p: f.to_csv(p, index=False, compression="gzip")),
        ("s.csv.zst", lambda f, p: f.to_csv(p, index=False, compression="zstd")),
        ("s.parquet", lambda f, p: f.to_parquet(p, compression=None)),
        ("s-snappy.parquet", lambda f, p: f.to_parquet(p, compression="snappy")),
        ("s-gzip.parquet", lambda f, p: f.to_parquet(p, compression="gzip")),
        ("s-zstd.parquet", lambda f, p: f.to_parquet(p, compression="zstd")),
    ],
)
def test_reads_every_export_format(tmp_path: Path, real_train: pd.DataFrame, name: str, write) -> None:
    frame = real_train.head(300).reset_index(drop=True)
    path = tmp_path / name
    write(frame, path)
    pd.testing.assert_frame_equal(read_synthetic(path), frame)


def test_sampling_on_read_and_unknown_suffix(tmp_path: Path, real_train: pd.DataFrame) -> None:
    path = tmp_path / "s.csv"
    real_train.head(300).to_csv(path, index=False)
    assert len(read_synthetic(path, max_rows=100)) == 100
    bad = tmp_path / "s.xlsx"
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="s.xlsx"):
        read_synthetic(bad)
