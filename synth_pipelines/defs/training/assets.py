"""trained_model: fit the synthesizer the request names; the artifact keeps no training rows."""

import dagster as dg
import pandas as pd

from synth_pipelines.executors import TRAINING_OP_TAGS
from synth_pipelines.export import column_types
from synth_pipelines.privacy import check_budget, resolve_delta
from synth_pipelines.profiling import metadata_from_dict
from synth_pipelines.request import RequestError
from synth_pipelines.resources import ComputeResource, PrivacyLedgerResource, WorkAreaResource
from synth_pipelines.synthesizers import fit_model, save_model

from ..intake.assets import request_from
from ..partitions import requests_partitions


def reserve_budget(request, validated_dataset: dict, n_rows: int, resource: PrivacyLedgerResource) -> list[dict]:
    """Refuse an impossible or over-cap budget before any mechanism touches the data, then record the spend.

    The spend is recorded before training: a run that dies half way may already have
    released noisy statistics, so the ledger charges the whole requested ε up front.
    """
    fingerprint = validated_dataset.get("dataset_fingerprint")
    if not fingerprint:
        raise dg.Failure("the dataset has no fingerprint: the privacy ledger cannot charge it")
    ledger = resource.ledger()
    try:
        check_budget(request.privacy, n_rows, resource.max_epsilon)
        ledger.check_cap(fingerprint, request.privacy.epsilon, resource.dataset_epsilon_cap, request.request_id)
    except RequestError as exc:
        raise dg.Failure(f"privacy budget refused: {exc}", metadata=exc.to_dict()) from None
    delta, _ = resolve_delta(request.privacy, n_rows)
    ledger.record_spend(
        request.request_id, fingerprint, request.requester, request.privacy.epsilon, delta, request.synthesizer.name
    )
    return ledger.entries(fingerprint)


def ledger_markdown(entries: list[dict]) -> str:
    lines = ["| request | requester | ε | δ | mechanism | when |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {e['request_id']} | {e['requester']} | {e['epsilon']:g} | {e['delta']:.3g} | {e['mechanism']} "
        f"| {e['created_at']} |"
        for e in entries
    ]
    lines.append(f"\n**spent on this dataset: ε = {sum(e['epsilon'] for e in entries):g}**")
    return "\n".join(lines)


@dg.asset(
    partitions_def=requests_partitions,
    group_name="synthesis",
    kinds={"pytorch", "sdv"},
    # One training step at a time holds the GPU; the pool's limit is set on the instance.
    pool="gpu",
    # Celery sends the step to the `gpu` queue; k8s asks for a GPU node. Each reads only its own tag.
    op_tags=TRAINING_OP_TAGS,
)
def trained_model(
    context: dg.AssetExecutionContext,
    synthesis_request: dict,
    dataset_profile: dict,
    validated_dataset: dict,
    work_area: WorkAreaResource,
    compute: ComputeResource,
    privacy_ledger: PrivacyLedgerResource,
) -> dg.Output[dict]:
    """The fitted synthesizer (stored in the private work area) and its training record."""
    request = request_from(synthesis_request)
    device, _ = compute.resolve()
    train = pd.read_parquet(validated_dataset["train_path"])
    ledger_entries = reserve_budget(request, validated_dataset, len(train), privacy_ledger) if request.privacy else None
    metadata = metadata_from_dict(dataset_profile["metadata"])
    context.log.info(f"fitting {request.synthesizer.name} on {len(train):,} rows on {device}")
    model = fit_model(train, metadata, request.synthesizer, request.privacy, device=device, seed=request.seed)
    path = work_area.folder(request.request_id, "model") / "model.pkl"
    save_model(model, path)
    record = model.training_record
    metadata_out: dict = {
        "synthesizer": record["synthesizer"],
        "train_seconds": record["train_seconds"],
        "training_rows": record["training_rows"],
        "device": record["device"],
        "device_name": record["device_name"],
        "model_bytes": path.stat().st_size,
    }
    if record.get("epochs") is not None:
        metadata_out["epochs"] = record["epochs"]
        metadata_out["batch_size"] = record["batch_size"]
    if record.get("loss_curve"):
        metadata_out["final_loss"] = dg.MetadataValue.json(record["loss_curve"][-1])
        metadata_out["loss_curve"] = dg.MetadataValue.json(record["loss_curve"])
    if record.get("privacy"):
        metadata_out["privacy"] = dg.MetadataValue.json(record["privacy"])
        metadata_out["epsilon_total"] = record["privacy"]["epsilon_total"]
        metadata_out["privacy_ledger"] = dg.MetadataValue.md(ledger_markdown(ledger_entries or []))
    output = {"model_path": str(path), "training_record": record, "column_types": column_types(train)}
    return dg.Output(output, metadata=metadata_out)
