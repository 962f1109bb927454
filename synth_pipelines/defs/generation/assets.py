"""synthetic_chunks and synthetic_export: sample chunks in parallel steps, then stream them into one file.

Each chunk is its own step (a dynamic output), so the executor runs chunks in parallel and
a failed chunk is retried alone; a chunk's rows depend only on (request seed, chunk index).
"""

from functools import lru_cache
from pathlib import Path

import dagster as dg

from synth_pipelines.export import SUFFIX, chunk_path, chunk_plan, export_chunks, write_chunk
from synth_pipelines.resources import WorkAreaResource
from synth_pipelines.synthesizers import FittedModel, chunk_seed, load_model

from ..intake.assets import request_from
from ..partitions import requests_partitions

CHUNK_RETRY = dg.RetryPolicy(max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL)


@lru_cache(maxsize=4)
def _cached_model(path: str, mtime_ns: int) -> FittedModel:
    # A worker that runs several chunks of one request loads the model once.
    return load_model(Path(path))


def model_at(path: str) -> FittedModel:
    return _cached_model(path, Path(path).stat().st_mtime_ns)


@dg.op(out=dg.DynamicOut(dict))
def plan_chunks(context: dg.OpExecutionContext, synthesis_request: dict, trained_model: dict, work_area: WorkAreaResource):
    """Fan out: one dynamic output per chunk, carrying everything the chunk step needs."""
    request = request_from(synthesis_request)
    folder = work_area.folder(request.request_id, "chunks")
    kinds = trained_model["column_types"]
    sizes = chunk_plan(request.rows, request.chunk_rows)
    context.log.info(f"{len(sizes)} chunks of up to {request.chunk_rows:,} rows for {request.rows:,} rows")
    for index, rows in enumerate(sizes):
        yield dg.DynamicOutput(
            {
                "index": index,
                "chunks": len(sizes),
                "rows": rows,
                "seed": chunk_seed(request.seed, index),
                "model_path": trained_model["model_path"],
                "path": str(chunk_path(folder, index)),
                "kinds": kinds,
            },
            mapping_key=f"chunk_{index:05d}",
        )


def make_chunk(spec: dict) -> dict:
    """Sample one chunk and write it; the same spec always writes the same rows."""
    frame = model_at(spec["model_path"]).sample(spec["rows"], spec["seed"])
    write_chunk(frame, spec["kinds"], Path(spec["path"]))
    return {"index": spec["index"], "rows": len(frame), "path": spec["path"], "seed": spec["seed"], "kinds": spec["kinds"]}


@dg.op(retry_policy=CHUNK_RETRY)
def generate_chunk(context: dg.OpExecutionContext, spec: dict) -> dict:
    done = make_chunk(spec)
    context.log.info(f"chunk {spec['index'] + 1}/{spec['chunks']}: {done['rows']:,} rows written")
    return done


@dg.op
def collect_chunks(context: dg.OpExecutionContext, chunks: list[dict]) -> dict:
    ordered = sorted(chunks, key=lambda c: c["index"])
    rows = sum(c["rows"] for c in ordered)
    context.add_output_metadata({"chunks": len(ordered), "dagster/row_count": rows})
    return {"chunks": ordered, "rows": rows, "column_types": ordered[0]["kinds"]}


@dg.graph_asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"parquet"})
def synthetic_chunks(synthesis_request: dict, trained_model: dict) -> dict:
    """N chunks of at most chunk_rows rows, each sampled in its own step from its own seed."""
    specs = plan_chunks(synthesis_request, trained_model)
    return collect_chunks(specs.map(generate_chunk).collect())


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"parquet", "csv"})
def synthetic_export(
    synthesis_request: dict, synthetic_chunks: dict, work_area: WorkAreaResource
) -> dg.Output[dict]:
    """One CSV or Parquet file streamed from the chunks, with its SHA-256 and row count."""
    request = request_from(synthesis_request)
    chunk_files = [Path(c["path"]) for c in synthetic_chunks["chunks"]]
    kinds = synthetic_chunks["column_types"]
    fmt, compression = request.output.format, request.output.compression
    out = work_area.folder(request.request_id, "export") / f"{request.request_id}{SUFFIX[(fmt, compression)]}"
    result = export_chunks(chunk_files, kinds, out, fmt, compression)
    if result.rows != request.rows:
        raise dg.Failure(f"export has {result.rows:,} rows but {request.rows:,} were asked for")
    payload = {
        "path": str(result.path),
        "sha256": result.sha256,
        "bytes": result.bytes,
        "rows": result.rows,
        "format": fmt,
        "compression": compression,
        "schema": result.schema,
    }
    return dg.Output(
        payload,
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "sha256": result.sha256,
            "bytes": result.bytes,
            "dagster/row_count": result.rows,
            "format": f"{fmt}/{compression}",
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in result.schema]),
        },
    )
