"""standing_requests_schedule and the retention job: requests that recur, and artifacts that expire.

Each standing request carries its own cron string. One schedule ticks every minute and
starts a run for every standing request whose cron fired since the previous tick, as a
new partition `<request_id>-<YYYYmmddtHHMM>`; the run key is that partition, so a tick
evaluated twice starts one run.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from synth_pipelines.core.request import parse_request
from synth_pipelines.intake.standing import due_standing_request, is_valid_cron
from synth_pipelines.publishing.retention import find_expired, remove
from synth_pipelines.resources import ArtifactStoreResource, RequestStoreResource, WorkAreaResource

from ..jobs import synthesize_job
from ..partitions import requests_partitions


@dg.schedule(
    cron_schedule="* * * * *",
    job=synthesize_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def standing_requests_schedule(context: dg.ScheduleEvaluationContext, request_store: RequestStoreResource):
    now = context.scheduled_execution_time or datetime.now(UTC)
    store = request_store.store()
    run_requests = []
    for request_id in store.standing():
        raw = store.read_standing(request_id)
        request = parse_request(raw) if raw else None
        if request is None or not is_valid_cron(request.schedule):
            context.log.warning(f"standing request {request_id!r} has no valid schedule; skipped")
            continue
        run = due_standing_request(request, now)
        if run is None:
            continue
        store.put_accepted(run)
        context.instance.add_dynamic_partitions(requests_partitions.name, [run.request_id])
        run_requests.append(
            dg.RunRequest(
                run_key=run.request_id,
                partition_key=run.request_id,
                tags={"synth/requester": run.requester, "synth/standing_request": request_id},
            )
        )
    if not run_requests:
        return dg.SkipReason(f"no standing request is due at {now.isoformat()}")
    return run_requests


@dg.op
def remove_expired_artifacts(
    context: dg.OpExecutionContext, work_area: WorkAreaResource, artifact_store: ArtifactStoreResource
) -> dg.Output[list]:
    """Remove artifacts, work files and partitions older than the retention days, except manifests marked keep."""
    from pathlib import Path

    max_age = timedelta(days=artifact_store.retention_days)
    expired = find_expired(Path(artifact_store.root), Path(work_area.root), max_age, datetime.now(UTC))
    for item in expired:
        remove(item)
        if context.instance.has_dynamic_partition(requests_partitions.name, item.request_id):
            context.instance.delete_dynamic_partition(requests_partitions.name, item.request_id)
        context.log.info(f"removed {item.request_id} ({item.age_days} days old)")
    removed = [item.request_id for item in expired]
    return dg.Output(removed, metadata={"removed": len(removed), "requests": ", ".join(removed) or "none"})


@dg.job(description="Remove expired artifacts and partitions (never those whose manifest says keep)")
def retention_job():
    remove_expired_artifacts()


retention_schedule = dg.ScheduleDefinition(
    job=retention_job,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
