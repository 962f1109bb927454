"""standing_requests_sensor and the retention job: requests that recur, and artifacts that expire.

Each standing request carries its own cron string. A sensor, not a schedule: a schedule that
ticks every minute shows a scheduled run of `synthesize` every minute on the UI's timeline
whether or not any standing request exists, while a sensor shows nothing until it starts a
run. Each evaluation starts a run for every standing request whose cron fired since the
previous evaluation (the cursor), as a new partition `<request_id>-<YYYYmmddtHHMM>`; the run
key is that partition, so a window evaluated twice starts one run. After a gap (the daemon
was down) a request runs once, for its latest fire, looking back at most a day.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from synth_pipelines.core.request import parse_request
from synth_pipelines.intake.standing import due_standing_request, is_valid_cron
from synth_pipelines.publishing.retention import find_expired, remove
from synth_pipelines.resources import ArtifactStoreResource, RequestStoreResource, WorkAreaResource

from ..jobs import synthesize_job
from ..partitions import requests_partitions

LOOK_BACK = timedelta(days=1)


def _since(cursor: str | None, now: datetime) -> datetime:
    """The start of this evaluation's window: the previous evaluation, at most a day ago."""
    since = datetime.fromisoformat(cursor) if cursor else now - timedelta(minutes=1)
    return max(since, now - LOOK_BACK)


@dg.sensor(job=synthesize_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def standing_requests_sensor(context: dg.SensorEvaluationContext, request_store: RequestStoreResource):
    """Start a run of each standing request whose cron fired since the last evaluation."""
    now = datetime.now(UTC)
    since = _since(context.cursor, now)
    store = request_store.store()
    run_requests = []
    for request_id in store.standing():
        raw = store.read_standing(request_id)
        request = parse_request(raw) if raw else None
        if request is None or not is_valid_cron(request.schedule):
            context.log.warning(f"standing request {request_id!r} has no valid schedule; skipped")
            continue
        run = due_standing_request(request, now, since)
        if run is None:
            continue
        store.put_accepted(run)
        context.instance.add_dynamic_partitions(requests_partitions.name, [run.request_id])
        run_requests.append(
            dg.RunRequest(
                run_key=run.request_id,
                partition_key=run.request_id,
                tags={
                    "synth/requester": run.requester,
                    "synth/standing_request": request_id,
                    **request_store.identity_tags(run.requester),
                },
            )
        )
    cursor = now.isoformat()
    if not run_requests:
        return dg.SensorResult(skip_reason=f"no standing request is due at {now.isoformat()}", cursor=cursor)
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)


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
