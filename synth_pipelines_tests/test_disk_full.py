"""The work area's disk fills up during a run: a real, small tmpfs, not a simulated error.

What must hold: the run fails naming the full disk; nothing is published (no manifest, no export in
the artifact store); what is left in the work area is whole chunks only; and once there is space
again the same request runs and publishes the bytes an undisturbed run publishes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from synth_pipelines.cli import execute_request
from synth_pipelines.core.request import parse_request
from synth_pipelines.generation.export import chunk_is_complete
from synth_pipelines_tests.conftest import small_request

# 60 chunks of 10,000 rows: about 9 MB of Parquet, more than the disk holds once the model is on it.
BIG = {"rows": 600_000, "chunk_rows": 10_000}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "work"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"a full disk needs a small tmpfs, and mount was refused here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_work_area_fails_cleanly_and_the_request_runs_once_space_is_back(settings, small_disk):
    on_small_disk = dataclasses.replace(settings, work_root=small_disk)
    request = parse_request(small_request(request_id="disk-full", **BIG))
    failed = execute_request(request, on_small_disk, instance=DagsterInstance.ephemeral())

    assert not failed.success
    assert "No space left on device" in (failed.error or ""), failed.error
    assert "generate_chunks" in (failed.error or "")
    published = settings.artifact_root / "disk-full"
    assert not (published / "manifest.json").exists()
    assert not any(published.glob("disk-full.*")), "a partial export reached the artifact store"
    # Chunks are written to a temporary name and renamed: the disk holds whole chunks and nothing else.
    chunks = sorted(small_disk.rglob("chunk-*.parquet"))
    assert chunks, "no chunk was finished before the disk filled"
    assert all(chunk_is_complete(path, BIG["chunk_rows"]) for path in chunks)
    strays = [p for p in small_disk.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert not strays, f"temporary files left behind: {strays}"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = execute_request(request, on_small_disk, instance=DagsterInstance.ephemeral())
    assert again.success, again.error
    manifest = json.loads(again.manifest.read_text())
    assert manifest["rows"] == BIG["rows"]

    reference = execute_request(
        parse_request(small_request(request_id="disk-ref", **BIG)), settings, instance=DagsterInstance.ephemeral()
    )
    assert reference.success, reference.error
    assert manifest["sha256"] == json.loads(reference.manifest.read_text())["sha256"]
