"""raw_dataset, dataset_profile, validated_dataset: load, describe and validate the input table.

The rows move between steps as Parquet files in the private work area, never as asset
values: nothing of them is pickled into the instance's storage. What the UI shows is kinds
and counts; for a DP request not even counts (the kinds are the request's own schema).
"""

import dagster as dg
import pandas as pd

from synth_pipelines.core.payloads import DatasetSnapshot, ValidatedDataset
from synth_pipelines.core.request import RequestError, SynthesisRequest
from synth_pipelines.core.uris import is_s3_uri
from synth_pipelines.data.loading import load_dataset, resolve_local_dataset
from synth_pipelines.data.profiling import DatasetProfile, profile_dataset
from synth_pipelines.data.splitting import split_holdout
from synth_pipelines.data.treatment import declared_plan, normalise, treatment_markdown
from synth_pipelines.data.validation import load_suite, validate_dataset
from synth_pipelines.intake.requests import expectation_suite_path
from synth_pipelines.privacy.domain import domain_from_schema
from synth_pipelines.publishing import sha256_file
from synth_pipelines.resources import ArtifactStoreResource, DataSourceResource, WorkAreaResource

from ..failures import refused
from ..partitions import requests_partitions


def write_snapshot(frame: pd.DataFrame, path) -> None:
    """Parquet in the work area; object columns pyarrow cannot type (mixed values) are kept as text."""
    try:
        frame.to_parquet(path, index=False)
    except (TypeError, ValueError, ArithmeticError):
        mixed = {
            c: frame[c].map(lambda v: v if pd.isna(v) else str(v)) for c in frame.columns if frame[c].dtype == object
        }
        frame.assign(**mixed).to_parquet(path, index=False)


def schema_profile(request: SynthesisRequest) -> DatasetProfile:
    """A DP or schema_only request's profile: the declared schema's kinds, nothing read from rows."""
    schema = request.schema
    assert schema is not None  # the request contract refuses a DP request without one
    treatments = {t.name: t for t in declared_plan(schema.columns)}
    columns = [
        {
            "name": name,
            "dtype": "declared",
            "sdtype": meta.get("sdtype"),
            "missing_rate": None,
            "cardinality": None,
            "pii": meta.get("pii", False)
            or meta.get("sdtype") not in ("numerical", "datetime", "categorical", "ordinal", "boolean", "id"),
            "treatment": treatments[name].treatment,
            "reason": treatments[name].reason,
        }
        for name, meta in schema.columns.items()
    ]
    return DatasetProfile(rows=None, columns=columns, metadata=schema.metadata["tables"][schema.table])


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"pandas"})
def raw_dataset(
    context: dg.AssetExecutionContext,
    synthesis_request: SynthesisRequest,
    data_source: DataSourceResource,
    artifact_store: ArtifactStoreResource,
    work_area: WorkAreaResource,
) -> dg.Output[DatasetSnapshot]:
    """A snapshot of the input table in the private work area (a Parquet file), and its fingerprint."""
    request = synthesis_request
    if request.dataset is None:  # schema_only: there is no table, and nothing is read or written
        return dg.Output(DatasetSnapshot.none(), metadata={"source": "none: a schema_only request reads no data"})
    uri = request.dataset.uri
    try:
        if is_s3_uri(uri):
            from synth_pipelines.publishing import open_dataset_uri

            path = open_dataset_uri(uri, artifact_store.publish_config())
        else:
            path = resolve_local_dataset(uri, data_source.root)
        frame = load_dataset(path, request.dataset, as_text=request.privacy is not None)
    except RequestError as exc:
        raise refused("dataset", exc) from None
    except (RuntimeError, ValueError) as exc:  # PublishError / a malformed s3:// URI from the S3 reader
        raise dg.Failure(f"dataset.uri {uri!r} could not be fetched: {exc}") from None
    snapshot = work_area.folder(request.request_id, "data") / "raw.parquet"
    write_snapshot(frame, snapshot)
    payload = DatasetSnapshot(
        path=str(snapshot),
        source=uri,
        format=request.dataset.format,
        dataset_id=request.dataset_id,
        # The file's SHA-256 is a function of every row: for a DP request it stays in the work area.
        fingerprint=sha256_file(path),
    )
    metadata: dict = {"source": uri, "format": request.dataset.format, "dataset_id": request.dataset_id}
    if request.privacy is None:
        metadata.update(
            {
                "dagster/row_count": len(frame),
                "columns": len(frame.columns),
                "bytes": path.stat().st_size,
                "dataset_fingerprint": payload.fingerprint,
            }
        )
    return dg.Output(payload, metadata=metadata)


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"sdv"})
def dataset_profile(synthesis_request: SynthesisRequest, raw_dataset: DatasetSnapshot) -> dg.Output[DatasetProfile]:
    """Column kinds and counts; for a DP request the declared schema's kinds alone."""
    request = synthesis_request
    from_schema = request.privacy is not None or request.schema_only
    if from_schema:
        profile = schema_profile(request)
    else:
        schema = request.schema
        sdtypes = {n: m["sdtype"] for n, m in schema.columns.items() if m.get("sdtype")} if schema else None
        profile = profile_dataset(pd.read_parquet(raw_dataset.path), sdtypes)
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("name", "string"),
            dg.TableColumn("dtype", "string"),
            dg.TableColumn("sdtype", "string"),
            dg.TableColumn("missing_rate", "float"),
            dg.TableColumn("cardinality", "int"),
            dg.TableColumn("pii", "bool"),
            dg.TableColumn("treatment", "string"),
            dg.TableColumn("reason", "string"),
        ]
    )
    records = [dg.TableRecord({k: v for k, v in c.items() if v is not None}) for c in profile.columns]
    metadata = {
        "profile": dg.MetadataValue.table(records=records, schema=schema),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(c["name"], c["dtype"], description=c["sdtype"]) for c in profile.columns]
        ),
        "pii_columns": ", ".join(profile.pii_columns) or "none",
        "column_treatment": dg.MetadataValue.md(treatment_markdown(profile.columns)),
        "kinds_from": "the request's schema (nothing read from rows)" if from_schema else "the data",
    }
    if profile.rows is not None:
        metadata["dagster/row_count"] = profile.rows
    return dg.Output(profile, metadata=metadata)


@dg.asset(
    partitions_def=requests_partitions,
    group_name="synthesis",
    kinds={"great_expectations"},
    check_specs=[
        dg.AssetCheckSpec(
            "expectation_suite",
            asset="validated_dataset",
            blocking=True,
            description="The owner's contract: the request's schema, the columns it names and its GX suite file",
        ),
        dg.AssetCheckSpec(
            "inferred_expectations",
            asset="validated_dataset",
            blocking=False,
            description="Checks inferred from the data's own profile: warnings, never blocking",
        ),
    ],
)
def validated_dataset(
    context: dg.AssetExecutionContext,
    synthesis_request: SynthesisRequest,
    raw_dataset: DatasetSnapshot,
    dataset_profile: DatasetProfile,
    work_area: WorkAreaResource,
    data_source: DataSourceResource,
):
    """Data that passed its suite, split into training rows and a holdout the model never sees."""
    request = synthesis_request
    if request.schema_only:
        nothing = ValidatedDataset(train_path=None, holdout_path=None, dataset_id=None, dataset_fingerprint=None)
        yield dg.Output(nothing, metadata={"holdout": "none: a schema_only request has no rows"})
        yield dg.AssetCheckResult(
            check_name="expectation_suite",
            passed=True,
            description="schema_only: no data to validate; the schema passed SDV's validators when the request did",
        )
        yield dg.AssetCheckResult(
            check_name="inferred_expectations", passed=True, description="schema_only: no rows, nothing inferred"
        )
        return
    frame = pd.read_parquet(raw_dataset.path)
    private = request.privacy is not None
    profile = dataset_profile
    if not private:
        frame = normalise(frame).frame  # the same row-local clean-up the profile saw
    try:
        suite_path = expectation_suite_path(request, data_source.root)
        suite = load_suite(suite_path) if suite_path is not None else None
    except RequestError as exc:
        raise dg.Failure(f"validation refused: {exc}", metadata=exc.to_dict()) from None
    if private and suite is None:
        # Whether a check passes is a function of the rows; for a DP request nothing about them may
        # reach the UI or decide what runs unless the owner asked for it (a suite file). The DP fit
        # clips and folds every value into the declared domain instead.
        outcome_description = "DP request: values are coerced into the declared schema; no check reads the rows"
        evaluated = 0
        inferred = "DP request: no check is inferred from the rows"
    else:
        outcome = validate_dataset(frame, None if private else profile, request, suite)
        inferred = outcome.warning_message() if not private else "DP request: no check is inferred from the rows"
        if not private:
            yield dg.AssetCheckResult(
                check_name="inferred_expectations",
                passed=not outcome.warnings,
                severity=dg.AssetCheckSeverity.WARN,
                description=inferred,
                metadata={"not_met": len(outcome.warnings), "evaluated": outcome.inferred},
            )
        if not outcome.success:
            message = outcome.failure_message(counts=not private)
            metadata = {"failed": len(outcome.failures), "evaluated": outcome.evaluated}
            if private:
                message += "\n(DP request: this gate read the rows at the owner's request; it is outside ε)"
            yield dg.AssetCheckResult(
                check_name="expectation_suite", passed=False, description=message, metadata=metadata
            )
            if private:
                yield dg.AssetCheckResult(check_name="inferred_expectations", passed=True, description=inferred)
            raise dg.Failure(f"validation failed for {request.request_id!r}: {message}")
        outcome_description = f"all {outcome.evaluated} declared expectations met"
        evaluated = outcome.evaluated
    if not private:
        frame = frame.drop(columns=profile.columns_with("dropped"))
    domain = domain_from_schema(request.schema) if private else None
    train, holdout = split_holdout(frame, seed=request.seed, domain=domain)
    del frame
    folder = work_area.folder(request.request_id, "data")
    train_path, holdout_path = folder / "train.parquet", folder / "holdout.parquet"
    write_snapshot(train, train_path)
    write_snapshot(holdout, holdout_path)
    payload = ValidatedDataset(
        train_path=str(train_path),
        holdout_path=str(holdout_path),
        dataset_id=raw_dataset.dataset_id,
        dataset_fingerprint=raw_dataset.fingerprint,
        # The counts are statistics of the real rows: a DP request's payload does not carry them.
        train_rows=None if private else len(train),
        holdout_rows=None if private else len(holdout),
    )
    metadata = {"holdout": "each row on its own keyed coin, 20%" + (" (secret key)" if private else "")}
    if not private:
        metadata.update({"train_rows": len(train), "holdout_rows": len(holdout), "dagster/row_count": len(train)})
    yield dg.Output(payload, metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="expectation_suite", passed=True, description=outcome_description, metadata={"evaluated": evaluated}
    )
    if private:
        yield dg.AssetCheckResult(check_name="inferred_expectations", passed=True, description=inferred)
