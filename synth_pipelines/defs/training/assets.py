"""trained_model: fit the synthesizer the request names; the artifact keeps no training rows."""

import json

import dagster as dg
import pandas as pd

from synth_pipelines.core.payloads import TrainedModel, ValidatedDataset
from synth_pipelines.core.request import RequestError, SynthesisRequest
from synth_pipelines.data.profiling import DatasetProfile, model_metadata
from synth_pipelines.executors import TRAINING_OP_TAGS
from synth_pipelines.generation.export import kinds_of
from synth_pipelines.privacy.ledger import charge_training, entries_markdown
from synth_pipelines.resources import ComputeResource, PrivacyLedgerResource, WorkAreaResource
from synth_pipelines.training.auto import pick
from synth_pipelines.training.conditions import data_condition_problems
from synth_pipelines.training.synthesizers import fit_model, save_model
from synth_pipelines.training.treated import FIT_ROWS_CAP, fit_treated

from ..failures import refused
from ..partitions import requests_partitions


def reserve_budget(
    context: dg.AssetExecutionContext, request: SynthesisRequest, resource: PrivacyLedgerResource
) -> list[dict]:
    """This attempt's charge (docs/privacy.md: every attempt spends); a refusal fails the step."""
    try:
        return charge_training(
            resource.ledger(),
            request,
            f"{context.run.run_id}:trained_model:{context.retry_number}",
            max_epsilon=resource.max_epsilon,
            cap=resource.dataset_epsilon_cap,
        )
    except RequestError as exc:
        raise refused("privacy budget", exc) from None


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
    synthesis_request: SynthesisRequest,
    dataset_profile: DatasetProfile,
    validated_dataset: ValidatedDataset,
    work_area: WorkAreaResource,
    compute: ComputeResource,
    privacy_ledger: PrivacyLedgerResource,
) -> dg.Output[TrainedModel]:
    """The fitted synthesizer (stored in the private work area) and its training record."""
    # `auto` becomes a named synthesizer here, before the budget is charged (the ledger names the mechanism).
    modelled = len(dataset_profile.columns_with("modelled"))
    cap = FIT_ROWS_CAP["argn"] or 0
    rows = None if validated_dataset.train_rows is None else min(validated_dataset.train_rows, cap)
    choice = pick(synthesis_request, rows, modelled)
    request = synthesis_request.model_copy(update={"synthesizer": choice.spec})
    device, _ = compute.resolve()
    # A schema_only request has no rows: its model is the schema.
    train = pd.DataFrame() if request.schema_only else pd.read_parquet(validated_dataset.train_path)
    private = request.privacy is not None
    ledger_entries = reserve_budget(context, request, privacy_ledger) if private else None
    context.log.info(f"fitting {request.synthesizer.name} on {device}")
    if private or request.schema_only:
        model = fit_model(
            train,
            None,
            request.synthesizer,
            request.privacy,
            device=device,
            seed=request.seed,
            schema=request.schema,
            target=request.quality.target_column,  # public: dp_mst joins it to every clique
        )
    else:
        table_metadata = model_metadata(dataset_profile.metadata, request.schema)
        treatments = dataset_profile.treatments
        if request.condition_list is not None:
            problems = data_condition_problems(request.condition_list, train, table_metadata, treatments)
            if problems:
                raise refused("conditions", RequestError(problems))
        model = fit_treated(
            train,
            table_metadata,
            treatments,
            request.synthesizer,
            device=device,
            seed=request.seed,
        )
    # A DP or schema_only model's output types are the schema's; any other follows the training data's dtypes.
    kinds = model.schema.kinds() if private or request.schema_only else kinds_of(train[model.order])
    del train
    path = work_area.folder(request.request_id, "model") / "model.pkl"
    save_model(model, path)
    record = dict(model.training_record)
    if synthesis_request.synthesizer.is_auto:
        record["auto"] = choice.record()
    # Loss values are statistics of real rows that no mechanism noised: the owner's alone.
    loss_curve = record.pop("loss_curve", None) or []
    (work_area.folder(request.request_id, "model") / "loss_curve.json").write_text(json.dumps(loss_curve))
    metadata_out: dict = {
        "synthesizer": record["synthesizer"],
        **({"picked_because": record["auto"]["why"]} if "auto" in record else {}),
        "device": record["device"],
        "device_name": record["device_name"],
    }
    if not private:  # a DP fit's duration and size grow with the rows it saw
        metadata_out["train_seconds"] = record["train_seconds"]
        metadata_out["training_rows"] = record["training_rows"]
        sample = record.get("training_sample") or {}
        if sample.get("sampled"):
            metadata_out["training_sample"] = sample["how"]
        metadata_out["model_bytes"] = path.stat().st_size
        if loss_curve:
            metadata_out["final_loss"] = dg.MetadataValue.json(loss_curve[-1])
    if record.get("epochs") is not None:
        metadata_out["epochs"] = record["epochs"]
        metadata_out["batch_size"] = record["batch_size"]
    if record.get("privacy"):
        metadata_out["privacy"] = dg.MetadataValue.json(record["privacy"])
        metadata_out["epsilon_total"] = record["privacy"]["epsilon_total"]
        metadata_out["privacy_ledger"] = dg.MetadataValue.md(entries_markdown(ledger_entries or []))
    return dg.Output(TrainedModel(model_path=str(path), training_record=record, kinds=kinds), metadata=metadata_out)
