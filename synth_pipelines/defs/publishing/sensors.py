"""Tell the requester how their run ended: a notification record, and an outbox entry for their webhook.

The sensors only record (one SQLite transaction); they never talk to the webhook, so a slow or
dead endpoint cannot hold a tick past Dagster's sensor timeout. The `deliver_notifications`
job (delivery.py) posts the outbox.
"""

import dagster as dg

from synth_pipelines.core.request import parse_request
from synth_pipelines.publishing import NotificationStore
from synth_pipelines.resources import ArtifactStoreResource, RequestStoreResource

from ..failures import step_error_text
from ..jobs import synthesize_job


def _request_of(run: dg.DagsterRun, request_store: RequestStoreResource):
    request_id = run.tags.get("dagster/partition")
    raw = request_store.store().read_accepted(request_id) if request_id else None
    return request_id, (parse_request(raw) if raw else None)


def _notify(request_store, run, outcome, **fields):
    request_id, request = _request_of(run, request_store)
    if request_id is None:
        return None
    store = NotificationStore(request_store.notifications_root())
    return store.add(
        request_id,
        outcome,
        requester=request.requester if request else run.tags.get("synth/requester"),
        run_id=run.run_id,
        webhook_url=request.webhook_url if request else None,
        **fields,
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[synthesize_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
)
def notify_on_success(
    context: dg.RunStatusSensorContext, request_store: RequestStoreResource, artifact_store: ArtifactStoreResource
):
    request_id = context.dagster_run.tags.get("dagster/partition")
    manifest = f"{artifact_store.root}/{request_id}/manifest.json"
    record = _notify(request_store, context.dagster_run, "success", manifest_location=manifest)
    if record:
        context.log.info(f"notified {record.requester} of success: {manifest}")


WILL_RETRY_TAG = "dagster/will_retry"
# Engine events that say why a run ended without a step failure (its process died).
CRASH_WORDS = ("terminated by signal", "unexpectedly exited", "worker process")


def _crash(context: dg.RunFailureSensorContext) -> str | None:
    """How the run's process died, when an engine event (Dagster's code server, dead_run_workers) says so."""
    if any(word in (context.failure_event.message or "") for word in CRASH_WORDS):
        return context.failure_event.message
    records = context.instance.get_records_for_run(
        context.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, ascending=False, limit=50
    ).records
    for record in records:
        message = record.event_log_entry.message or ""
        if any(word in message for word in CRASH_WORDS):
            return message
    return None


@dg.run_failure_sensor(
    monitored_jobs=[synthesize_job], default_status=dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=5
)
def notify_on_failure(
    context: dg.RunFailureSensorContext, request_store: RequestStoreResource, artifact_store: ArtifactStoreResource
):
    reasons = [
        f"{event.step_key}: {step_error_text(event.event_specific_data.error)}"
        for event in context.get_step_failure_events()
        if event.event_specific_data and event.event_specific_data.error
    ]
    reason = "; ".join(reasons) or _crash(context) or (context.failure_event.message or "the run failed")
    if context.instance.get_run_by_id(context.dagster_run.run_id).tags.get(WILL_RETRY_TAG) == "true":
        reason += "; run_retries re-executes the run from its failure (a success notification follows if it succeeds)"
    record = _notify(request_store, context.dagster_run, "failure", reason=reason)
    if record:
        context.log.info(f"notified {record.requester} of failure: {reason[:200]}")
