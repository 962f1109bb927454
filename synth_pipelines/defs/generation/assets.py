"""synthetic_chunks and synthetic_export: sample chunks in parallel steps, then stream them into one file.

A chunk's rows depend only on (request seed, chunk index), so any chunk can be made again
alone. Chunks are grouped into at most SYNTH_CHUNK_STEPS steps (default: one per worker,
SYNTH_MAX_CONCURRENT or the CPU count): a step per chunk would pay a process start, a
model load and event-log writes 100 times for a million rows, which costs more than the
sampling, and a second round of steps pays the start again. Each step runs its native
libraries on one thread: the parallelism is across steps, and BLAS threads spinning in two
steps at once on two cores made each chunk 1.7× slower (`benchmarks/chunk_costs.py`). A step that fails is
retried with exponential backoff and skips the chunks it already wrote, so only the
failed chunks are made again; re-execution from failure skips finished steps.
"""

import hashlib
import json
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import dagster as dg

from synth_pipelines.core.payloads import (
    ChunkGroup,
    ChunkSet,
    ChunkSpec,
    Kinds,
    SyntheticExport,
    TrainedModel,
    WrittenChunk,
)
from synth_pipelines.core.request import SynthesisRequest
from synth_pipelines.generation.export import (
    SUFFIX,
    chunk_conditions,
    chunk_is_complete,
    chunk_path,
    chunk_plan,
    export_chunks,
    group_chunks,
    preview_markdown,
    write_chunk,
)
from synth_pipelines.resources import ComputeResource, WorkAreaResource
from synth_pipelines.training.synthesizers import FittedModel, chunk_seed, load_model, sample_chunk

from ..partitions import requests_partitions

CHUNK_RETRY = dg.RetryPolicy(max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def one_thread():
    """Native thread pools (OpenBLAS, OpenMP, torch) at one thread for the length of a chunk step."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=4)
def _cached_model(path: str, mtime_ns: int, copula_sampling: str) -> FittedModel:
    # A worker process that runs several steps of one request loads the model once.
    return load_model(Path(path), copula_sampling=copula_sampling)


def model_at(path: str, copula_sampling: str = "table") -> FittedModel:
    return _cached_model(path, Path(path).stat().st_mtime_ns, copula_sampling)


def _generation_key(model_path: str, seed: int, chunk_rows: int, conditions: list | None = None) -> str:
    """Chunks made by another model, seed or conditions must never be reused: they live in their own folder."""
    digest = hashlib.sha256(f"{seed}:{chunk_rows}:".encode())
    if conditions is not None:
        digest.update(json.dumps(conditions, sort_keys=True).encode())
    with open(model_path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


@dg.op(out=dg.DynamicOut(ChunkGroup))
def plan_chunks(
    context: dg.OpExecutionContext,
    synthesis_request: SynthesisRequest,
    trained_model: TrainedModel,
    work_area: WorkAreaResource,
    compute: ComputeResource,
):
    """Fan out: one dynamic output per group of chunks, carrying everything its step needs."""
    request = synthesis_request
    conditions = request.condition_list
    key = _generation_key(trained_model.model_path, request.seed, request.chunk_rows, conditions)
    folder = work_area.folder(request.request_id, "chunks", key)
    sizes = chunk_plan(request.rows, request.chunk_rows)
    by_chunk = chunk_conditions(conditions, sizes) if conditions is not None else None
    groups = group_chunks(len(sizes), compute.chunk_steps)
    context.log.info(
        f"{len(sizes)} chunks of up to {request.chunk_rows:,} rows ({request.rows:,} rows) in {len(groups)} steps"
    )
    for group in groups:
        yield dg.DynamicOutput(
            ChunkGroup(
                chunks=[
                    ChunkSpec(
                        index=i,
                        rows=sizes[i],
                        seed=chunk_seed(request.seed, i),
                        first_row=i * request.chunk_rows,
                        path=str(chunk_path(folder, i)),
                        conditions=None if by_chunk is None else list(by_chunk[i]),
                    )
                    for i in group
                ],
                total_chunks=len(sizes),
                model_path=trained_model.model_path,
                kinds=trained_model.kinds,
                copula_sampling=compute.copula_sampling,
            ),
            mapping_key=f"chunks_{group[0]:05d}_{group[-1]:05d}",
        )


def make_chunk(chunk: ChunkSpec, model_path: str, kinds: Kinds, copula_sampling: str = "table") -> WrittenChunk:
    """Sample one chunk and write it; the same chunk spec always writes the same rows."""
    frame = sample_chunk(
        model_at(model_path, copula_sampling), chunk.rows, chunk.seed, chunk.first_row, chunk.conditions
    )
    write_chunk(frame, kinds, Path(chunk.path))
    return WrittenChunk(index=chunk.index, rows=len(frame), path=chunk.path, seed=chunk.seed)


@dg.op(retry_policy=CHUNK_RETRY)
def generate_chunks(context: dg.OpExecutionContext, group: ChunkGroup) -> list[WrittenChunk]:
    """Make each chunk of the group that is not on disk yet; log progress chunk by chunk."""
    done: list[WrittenChunk] = []
    made = 0
    step_rows = sum(c.rows for c in group.chunks)
    with one_thread():
        for chunk in group.chunks:
            if chunk_is_complete(Path(chunk.path), chunk.rows):
                done.append(WrittenChunk(chunk.index, chunk.rows, chunk.path, chunk.seed, reused=True))
                status = "already written"
            else:
                done.append(make_chunk(chunk, group.model_path, group.kinds, group.copula_sampling))
                made += 1
                status = "written"
            rows_done = sum(c.rows for c in done)
            context.log.info(
                f"chunk {chunk.index + 1}/{group.total_chunks} {status}: {rows_done:,}/{step_rows:,} rows of this step"
            )
    context.add_output_metadata({"chunks_made": made, "chunks_reused": len(done) - made, "rows": step_rows})
    return done


@dg.op
def collect_chunks(
    context: dg.OpExecutionContext,
    groups: list[list[WrittenChunk]],
    synthesis_request: SynthesisRequest,
    trained_model: TrainedModel,
    work_area: WorkAreaResource,
) -> ChunkSet:
    """Every planned chunk, in order: as its step reported it, or else found complete on disk.

    The plan, not the fan-in, says which chunks make the export. A run resumed from failure loads the
    outputs of the chunk steps its parent finished; where such an output does not arrive (seen once, on
    a loaded machine, when one step had finished before its run worker was killed), the chunk file that
    step wrote is still on disk, checked complete by its row count. A chunk in neither place fails the step.
    """
    request = synthesis_request
    key = _generation_key(trained_model.model_path, request.seed, request.chunk_rows, request.condition_list)
    folder = work_area.folder(request.request_id, "chunks", key)
    reported = {c.index: c for group in groups for c in group}
    ordered, recovered = [], 0
    for index, size in enumerate(chunk_plan(request.rows, request.chunk_rows)):
        chunk = reported.get(index)
        if chunk is None:
            path = chunk_path(folder, index)
            if not chunk_is_complete(path, size):
                raise dg.Failure(f"chunk {index} was reported by no chunk step and is not complete at {path}")
            chunk = WrittenChunk(index, size, str(path), chunk_seed(request.seed, index), reused=True)
            recovered += 1
        ordered.append(chunk)
    rows = sum(c.rows for c in ordered)
    context.log.info(f"collected {len(groups)} chunk steps: {len(reported)} chunks reported, {recovered} found on disk")
    if recovered:
        context.log.warning(f"{recovered} chunks were not reported by a chunk step of this run; found complete on disk")
    context.add_output_metadata({"chunks": len(ordered), "chunks_found_on_disk": recovered, "dagster/row_count": rows})
    return ChunkSet(chunks=ordered, rows=rows, kinds=trained_model.kinds)


@dg.graph_asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"parquet"})
def synthetic_chunks(synthesis_request: SynthesisRequest, trained_model: TrainedModel) -> ChunkSet:
    """ceil(rows / chunk_rows) chunks, each sampled from its own seed, in parallel steps."""
    groups = plan_chunks(synthesis_request, trained_model)
    return collect_chunks(groups.map(generate_chunks).collect(), synthesis_request, trained_model)


def peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"parquet", "csv"})
def synthetic_export(
    synthesis_request: SynthesisRequest, synthetic_chunks: ChunkSet, work_area: WorkAreaResource
) -> dg.Output[SyntheticExport]:
    """One CSV or Parquet file streamed from the chunks, with its SHA-256, row count and first synthetic rows."""
    import psutil

    rss_before = psutil.Process().memory_info().rss
    request = synthesis_request
    chunk_files = [Path(c.path) for c in synthetic_chunks.chunks]
    fmt, compression = request.output.format, request.output.compression
    out = work_area.folder(request.request_id, "export") / f"{request.request_id}{SUFFIX[(fmt, compression)]}"
    result = export_chunks(chunk_files, synthetic_chunks.kinds, out, fmt, compression)
    if result.rows != request.rows:
        raise dg.Failure(f"export has {result.rows:,} rows but {request.rows:,} were asked for")
    payload = SyntheticExport(
        path=str(result.path),
        sha256=result.sha256,
        bytes=result.bytes,
        rows=result.rows,
        format=fmt,
        compression=compression,
        schema=result.schema,
    )
    metadata = {
        "path": dg.MetadataValue.path(str(result.path)),
        "sha256": result.sha256,
        "bytes": result.bytes,
        "dagster/row_count": result.rows,
        "format": f"{fmt}/{compression}",
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in result.schema]),
        # Rows of the export itself: synthetic (for a DP request post-processing, covered by ε), never an input row.
        "preview": dg.MetadataValue.md(preview_markdown(result.path)),
    }
    if request.privacy is None:  # in one process the peak includes training, which grows with the real rows
        metadata.update({"rss_before_bytes": rss_before, "peak_rss_bytes": peak_rss_bytes()})
    return dg.Output(payload, metadata=metadata)
