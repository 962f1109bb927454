"""request_intake_sensor: requests dropped into the store's incoming/ become partitions and runs."""

import json

import dagster as dg

from synth_pipelines.core.request import parse_request
from synth_pipelines.intake.requests import process_incoming
from synth_pipelines.resources import DataSourceResource, RequestStoreResource

from ..jobs import synthesize_job
from ..partitions import requests_partitions

MAX_CURSOR_IDS = 10_000


def run_key(request) -> str:
    import hashlib

    return f"{request.request_id}:{hashlib.sha256(request.canonical_json().encode()).hexdigest()[:16]}"


def run_request_for(request, identity_tags: dict[str, str] | None = None) -> dg.RunRequest:
    """The run of an accepted request; `identity_tags` sign its requester (intake checked the prefix)."""
    return dg.RunRequest(
        partition_key=request.request_id,
        run_key=run_key(request),
        tags={
            "synth/requester": request.requester,
            "synth/synthesizer": request.synthesizer.name,
            **(identity_tags or {}),
        },
    )


@dg.sensor(job=synthesize_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def request_intake_sensor(
    context: dg.SensorEvaluationContext, request_store: RequestStoreResource, data_source: DataSourceResource
) -> dg.SensorResult:
    """Validate incoming requests; accept (partition + run) or reject (with the reason) each one.

    The cursor lists the accepted requests already turned into run requests. An accepted
    request missing from it (the daemon died between moving the file and submitting the
    run) is requested again; its run key stops it from running twice.
    """
    store = request_store.store()
    emitted = set(json.loads(context.cursor)) if context.cursor else set()
    intake = process_incoming(store, data_source.root, limit=request_store.intake_batch)
    for name, problems in intake.rejected:
        context.log.warning(f"rejected {name}: {problems}")
    requests = list(intake.accepted)
    accepted_ids = {r.request_id for r in requests}
    recovered = set()
    for request_id in store.accepted():
        if request_id in emitted or request_id in accepted_ids:
            continue
        recovered.add(request_id)
        # Filed by a run launched elsewhere (CLI, UI, GraphQL, a schedule): it has its run.
        if context.instance.get_runs(dg.RunsFilter(tags={"dagster/partition": request_id}), limit=1):
            continue
        raw = store.read_accepted(request_id)
        if raw is not None:
            requests.append(parse_request(raw))
    new_ids = sorted({r.request_id for r in requests})
    cursor_ids = sorted(emitted | set(new_ids) | recovered)[-MAX_CURSOR_IDS:]
    if not requests:
        reason = "no new requests" if not intake.rejected else f"rejected {len(intake.rejected)} request(s)"
        return dg.SensorResult(skip_reason=reason, cursor=json.dumps(cursor_ids))
    return dg.SensorResult(
        run_requests=[run_request_for(r, request_store.identity_tags(r.requester)) for r in requests],
        dynamic_partitions_requests=[requests_partitions.build_add_request(new_ids)] if new_ids else [],
        cursor=json.dumps(cursor_ids),
    )
