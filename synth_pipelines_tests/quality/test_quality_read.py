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


def test_a_large_parquet_export_is_read_as_the_rows_the_plan_needs(tmp_path: Path, synthetic: pd.DataFrame) -> None:
    from synth_pipelines.quality.report import read_for_plan
    from synth_pipelines.quality.sampling import plan_sampling

    tiled = pd.concat([synthetic] * 19, ignore_index=True)
    tiled["row"] = range(len(tiled))  # which row of the file each read row is
    path = tmp_path / "large.parquet"
    tiled.to_parquet(path)
    needed = plan_sampling(len(tiled), 2500).rows_needed()
    assert needed < len(tiled)
    frame, total = read_for_plan(path, 2500, seed=1)
    assert total == len(tiled) and len(frame) == needed
    assert frame["row"].is_unique and frame["row"].between(0, len(tiled) - 1).all()
    # A uniform draw: both ends of the file are represented, and the seed fixes it.
    assert frame["row"].min() < len(tiled) * 0.01 and frame["row"].max() > len(tiled) * 0.99
    again, _ = read_for_plan(path, 2500, seed=1)
    pd.testing.assert_frame_equal(frame, again)
    whole, total = read_for_plan(path, 2500, seed=1, whole=True)
    assert len(whole) == total == len(tiled)
