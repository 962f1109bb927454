"""raw_dataset, dataset_profile, validated_dataset: load, describe and validate the input table."""

import dagster as dg
import pandas as pd

from synth_pipelines.datasets import is_s3_uri, load_dataset, resolve_local_dataset
from synth_pipelines.profiling import DatasetProfile, profile_dataset
from synth_pipelines.publishing import sha256_file
from synth_pipelines.request import RequestError
from synth_pipelines.resources import ArtifactStoreResource, DataSourceResource, WorkAreaResource
from synth_pipelines.splitting import split_holdout
from synth_pipelines.validation import validate_dataset

from ..intake.assets import request_from
from ..partitions import requests_partitions


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"pandas"})
def raw_dataset(
    context: dg.AssetExecutionContext,
    synthesis_request: dict,
    data_source: DataSourceResource,
    artifact_store: ArtifactStoreResource,
) -> dg.Output[pd.DataFrame]:
    """The input table as loaded, with its fingerprint (the SHA-256 of the file)."""
    request = request_from(synthesis_request)
    uri = request.dataset.uri
    try:
        if is_s3_uri(uri):
            from synth_pipelines.publishing import open_dataset_uri

            path = open_dataset_uri(uri, artifact_store.publish_config())
        else:
            path = resolve_local_dataset(uri, data_source.root)
        frame = load_dataset(path, request.dataset)
    except RequestError as exc:
        raise dg.Failure(f"dataset refused: {exc}", metadata=exc.to_dict()) from None
    except (RuntimeError, ValueError) as exc:  # PublishError / a malformed s3:// URI from the S3 reader
        raise dg.Failure(f"dataset.uri {uri!r} could not be fetched: {exc}") from None
    fingerprint = sha256_file(path)
    frame.attrs["dataset_fingerprint"] = fingerprint  # travels with the frame to the ledger
    return dg.Output(
        frame,
        metadata={
            "dagster/row_count": len(frame),
            "columns": len(frame.columns),
            "source": uri,
            "format": request.dataset.format,
            "bytes": path.stat().st_size,
            "dataset_fingerprint": fingerprint,
            "preview": dg.MetadataValue.md(frame.head(5).to_markdown(index=False)),
        },
    )


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"sdv"})
def dataset_profile(raw_dataset: pd.DataFrame) -> dg.Output[dict]:
    """Column types, SDV metadata, missing rates, cardinalities, ranges and PII flags."""
    profile = profile_dataset(raw_dataset)
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("name", "string"),
            dg.TableColumn("dtype", "string"),
            dg.TableColumn("sdtype", "string"),
            dg.TableColumn("missing_rate", "float"),
            dg.TableColumn("cardinality", "int"),
            dg.TableColumn("min", "string"),
            dg.TableColumn("max", "string"),
            dg.TableColumn("pii", "bool"),
        ]
    )
    records = [
        dg.TableRecord(
            {**c, "min": "" if c["min"] is None else str(c["min"]), "max": "" if c["max"] is None else str(c["max"])}
        )
        for c in profile.columns
    ]
    return dg.Output(
        profile.to_dict(),
        metadata={
            "profile": dg.MetadataValue.table(records=records, schema=schema),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(c["name"], c["dtype"], description=c["sdtype"]) for c in profile.columns]
            ),
            "sdv_metadata": dg.MetadataValue.json(profile.metadata),
            "pii_columns": ", ".join(profile.pii_columns) or "none",
            "dagster/row_count": profile.rows,
        },
    )


@dg.asset(
    partitions_def=requests_partitions,
    group_name="synthesis",
    kinds={"great_expectations"},
    check_specs=[
        dg.AssetCheckSpec(
            "expectation_suite",
            asset="validated_dataset",
            blocking=True,
            description="The Great Expectations suite built from the profile and the request",
        )
    ],
)
def validated_dataset(
    context: dg.AssetExecutionContext,
    synthesis_request: dict,
    raw_dataset: pd.DataFrame,
    dataset_profile: dict,
    work_area: WorkAreaResource,
):
    """Data that passed its suite, split into training rows and a holdout the model never sees."""
    request = request_from(synthesis_request)
    outcome = validate_dataset(raw_dataset, DatasetProfile.from_dict(dataset_profile), request)
    if not outcome.success:
        message = outcome.failure_message()
        yield dg.AssetCheckResult(
            check_name="expectation_suite",
            passed=False,
            description=message,
            metadata={"failed": len(outcome.failures), "evaluated": outcome.evaluated},
        )
        raise dg.Failure(f"validation failed for {request.request_id!r}: {message}")
    train, holdout = split_holdout(raw_dataset, seed=request.seed)
    folder = work_area.folder(request.request_id, "data")
    train_path, holdout_path = folder / "train.parquet", folder / "holdout.parquet"
    train.to_parquet(train_path, index=False)
    holdout.to_parquet(holdout_path, index=False)
    yield dg.Output(
        {
            "train_path": str(train_path),
            "holdout_path": str(holdout_path),
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "dataset_fingerprint": raw_dataset.attrs.get("dataset_fingerprint"),
        },
        metadata={"train_rows": len(train), "holdout_rows": len(holdout), "dagster/row_count": len(train)},
    )
    yield dg.AssetCheckResult(
        check_name="expectation_suite",
        passed=True,
        description=f"all {outcome.evaluated} expectations passed",
        metadata={"evaluated": outcome.evaluated},
    )
