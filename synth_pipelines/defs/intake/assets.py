"""synthesis_request: the validated request of this partition, from run config or the request store."""

import dagster as dg

from synth_pipelines.core.request import RequestError, SynthesisRequest, parse_request
from synth_pipelines.intake.identity import check_may_file, verified_identity
from synth_pipelines.intake.requests import check_request_context
from synth_pipelines.resources import DataSourceResource, RequestStoreResource

from ..automation.run_workers import tag_run_worker
from ..failures import refused
from ..partitions import requests_partitions


class RequestConfig(dg.Config):
    """Launching from the UI or GraphQL may carry the request itself; else the store's accepted copy is used."""

    request_json: str = ""


@dg.asset(partitions_def=requests_partitions, group_name="synthesis", kinds={"json"})
def synthesis_request(
    context: dg.AssetExecutionContext,
    config: RequestConfig,
    request_store: RequestStoreResource,
    data_source: DataSourceResource,
) -> dg.Output[SynthesisRequest]:
    """The request contract for this partition, validated again at run time."""
    tag_run_worker(context)
    key = context.partition_key
    store = request_store.store()
    raw = config.request_json or store.read_accepted(key)
    if raw is None:
        raise dg.Failure(
            f"no request {key!r}: drop a request file into {store.root / 'incoming'}, "
            "or launch with run config ops.synthesis_request.config.request_json"
        )
    try:
        request = parse_request(raw)
        if request.request_id != key:
            raise RequestError([("request_id", f"{request.request_id!r} does not match the partition {key!r}")])
        # Who runs it: with SYNTH_IDENTITY_SECRET set, the run's signed identity must be the requester's.
        check_may_file(request.requester, verified_identity(context.run.tags, request_store.identity_secret))
        filed = parse_request(store.read_accepted(key) or raw) if config.request_json else request
        if filed.requester != request.requester:
            problem = f"{request.requester!r} differs from the requester of the accepted request {key!r}"
            raise RequestError([("requester", f"{problem}; choose a new request_id")])
        check_request_context(request, data_source.root)
    except RequestError as exc:
        raise refused(f"request {key!r}", exc) from None
    if config.request_json:
        store.put_accepted(request)
    return dg.Output(
        request,
        metadata={
            "request": dg.MetadataValue.json(request.model_dump(mode="json", by_alias=True)),
            "requester": request.requester,
            "synthesizer": request.synthesizer.name,
            "rows": request.rows,
            "chunks": request.n_chunks,
            "output": f"{request.output.format}/{request.output.compression}",
            "dp": request.privacy is not None,
        },
    )
