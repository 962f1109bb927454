"""collect_chunks: the plan, not the fan-in, decides which chunks make the export.

A resumed run once delivered only some of its finished chunk steps' outputs to the fan-in, and the
export came out with half its rows. Here one group's output is withheld on purpose: the chunk set
must come out the same as with every output, down to the export's bytes, and a chunk that is on
disk in no complete form must fail the step by its index.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from synth_pipelines.core.payloads import ChunkSet, TrainedModel, WrittenChunk
from synth_pipelines.core.request import parse_request
from synth_pipelines.defs.generation.assets import _generation_key, collect_chunks
from synth_pipelines.generation.export import chunk_path, chunk_plan, export_chunks, write_chunk
from synth_pipelines.resources import WorkAreaResource
from synth_pipelines.training.synthesizers import chunk_seed
from synth_pipelines_tests.conftest import small_request

KINDS = {"n": "int", "level": "string", "x": "float"}


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"n": rng.integers(0, 100, rows), "level": rng.choice(["a", "b", "c"], rows), "x": rng.normal(size=rows)}
    )


@pytest.fixture
def planned(tmp_path: Path):
    """2,500 rows in chunks of 1,000: the request, its model file, and its three chunks where the plan puts them."""
    request = parse_request(small_request())
    model = tmp_path / "model.pkl"
    model.write_bytes(b"a fitted model stands in here: only its bytes name the chunk folder")
    work_area = WorkAreaResource(root=str(tmp_path / "work"))
    key = _generation_key(str(model), request.seed, request.chunk_rows, request.condition_list)
    folder = work_area.folder(request.request_id, "chunks", key)
    written = []
    for index, rows in enumerate(chunk_plan(request.rows, request.chunk_rows)):
        path = chunk_path(folder, index)
        write_chunk(_frame(rows, index), KINDS, path)
        written.append(WrittenChunk(index, rows, str(path), chunk_seed(request.seed, index)))
    trained = TrainedModel(model_path=str(model), training_record={}, kinds=KINDS)
    return request, trained, work_area, written


def _collect(request, trained, work_area, groups) -> tuple[ChunkSet, dict]:
    context = dg.build_op_context(resources={"work_area": work_area})
    chunk_set = collect_chunks(context, groups, request, trained)
    return chunk_set, context.get_output_metadata("result")


def test_a_group_missing_from_the_fan_in_is_taken_from_disk_and_the_export_is_the_same(planned, tmp_path) -> None:
    request, trained, work_area, written = planned
    assert len(written) == 3
    every, every_meta = _collect(request, trained, work_area, [[written[0]], [written[1]], [written[2]]])
    short, short_meta = _collect(request, trained, work_area, [[written[0]], [written[2]]])
    assert every.rows == short.rows == request.rows
    assert [c.path for c in short.chunks] == [c.path for c in every.chunks]
    assert (every_meta["chunks_found_on_disk"], short_meta["chunks_found_on_disk"]) == (0, 1)
    exports = [
        export_chunks([Path(c.path) for c in chunk_set.chunks], KINDS, tmp_path / f"{name}.parquet", "parquet", "zstd")
        for name, chunk_set in (("every", every), ("short", short))
    ]
    assert exports[0].rows == exports[1].rows == request.rows
    assert exports[0].sha256 == exports[1].sha256


def test_a_chunk_neither_reported_nor_complete_on_disk_fails_the_step_by_its_index(planned) -> None:
    request, trained, work_area, written = planned
    short_file = Path(written[1].path)
    write_chunk(_frame(999, 1), KINDS, short_file)  # a chunk with one row too few is not finished
    with pytest.raises(dg.Failure, match="chunk 1 was reported by no chunk step"):
        _collect(request, trained, work_area, [[written[0]], [written[2]]])
    short_file.unlink()
    with pytest.raises(dg.Failure, match="chunk 1 was reported by no chunk step"):
        _collect(request, trained, work_area, [[written[0]], [written[2]]])
