"""What one asset hands the next: a typed value per edge of the graph, one name per concept.

| asset | payload | produced by |
|---|---|---|
| synthesis_request | `core.request.SynthesisRequest` | intake |
| raw_dataset | `DatasetSnapshot` | data |
| dataset_profile | `data.profiling.DatasetProfile` | data |
| validated_dataset | `ValidatedDataset` | data |
| trained_model | `TrainedModel` | training |
| synthetic_chunks (steps) | `ChunkGroup` of `ChunkSpec`s in, `WrittenChunk`s out, `ChunkSet` | generation |
| synthetic_export | `SyntheticExport` | generation |
| quality_report | `QualityOutcome` | quality |
| published_artifact | `PublishedArtifact` | publishing |

Rows never travel in a payload: a payload names files in the request's private work area
and says what they hold (kinds, counts, hashes). `kinds` is always the export's column
kinds, column name → one of int, float, bool, datetime, string (`generation.export.kinds_of`).
The values are pickled by the work-area IO manager; every field is plain data so a payload
written by one process reads in another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Kinds = dict[str, str]


@dataclass(frozen=True)
class DatasetSnapshot:
    """raw_dataset: the input table copied into the work area (a Parquet file), and the source file's SHA-256.

    Every field is None for a schema_only request, which reads no table. The fingerprint is a function of
    every row: for a DP request it stays in the work area and the owner's records.
    """

    path: str | None
    source: str | None
    format: str | None
    dataset_id: str | None
    fingerprint: str | None

    @classmethod
    def none(cls) -> DatasetSnapshot:
        return cls(path=None, source=None, format=None, dataset_id=None, fingerprint=None)


@dataclass(frozen=True)
class ValidatedDataset:
    """validated_dataset: the rows that passed the owner's contract, as a training file and a holdout file.

    The row counts are None for a DP request (they are statistics of the real rows) and for schema_only.
    """

    train_path: str | None
    holdout_path: str | None
    dataset_id: str | None
    dataset_fingerprint: str | None
    train_rows: int | None = None
    holdout_rows: int | None = None


@dataclass(frozen=True)
class TrainedModel:
    """trained_model: where the fitted model is stored, how it was made, and the kinds of the columns it writes.

    `training_record` is the model's own record (synthesizer, device, seconds, epochs, the DP accounting);
    the loss curve is kept apart, in the owner's work area.
    """

    model_path: str
    training_record: dict[str, Any]
    kinds: Kinds


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk to sample: its rows depend only on (request seed, index), so it can be made again alone."""

    index: int
    rows: int
    seed: int
    first_row: int
    path: str
    conditions: list[tuple[dict[str, Any], int]] | None = None


@dataclass(frozen=True)
class ChunkGroup:
    """What one generate_chunks step makes: its chunks and everything needed to make them."""

    chunks: list[ChunkSpec]
    total_chunks: int
    model_path: str
    kinds: Kinds
    copula_sampling: str = "table"


@dataclass(frozen=True)
class WrittenChunk:
    """A chunk on disk; `reused` when a retried step found it already written."""

    index: int
    rows: int
    path: str
    seed: int
    reused: bool = False


@dataclass(frozen=True)
class ChunkSet:
    """synthetic_chunks: every chunk, in order, with the total rows and the kinds to write them with."""

    chunks: list[WrittenChunk]
    rows: int
    kinds: Kinds


@dataclass(frozen=True)
class SyntheticExport:
    """synthetic_export: the one merged file, its SHA-256, size, row count, format and column schema."""

    path: str
    sha256: str
    bytes: int
    rows: int
    format: str
    compression: str
    schema: list[tuple[str, str]]


@dataclass(frozen=True)
class QualityOutcome:
    """quality_report: private scores (owner only), public scores (the manifest's), report files and verdicts.

    `files` names every report file; `public_files` those that may be published. `checks` holds one verdict
    per threshold the request set; `publish_gate` is the DP manifest's statement that the gate read real rows.
    """

    scores: dict[str, Any]
    public_scores: dict[str, Any]
    differentially_private: bool
    files: dict[str, str]
    public_files: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)
    publish_gate: dict[str, Any] | None = None


@dataclass(frozen=True)
class PublishedArtifact:
    """published_artifact: the manifest as published (with where each target put the files) and its local path."""

    manifest: dict[str, Any]
    manifest_path: str
