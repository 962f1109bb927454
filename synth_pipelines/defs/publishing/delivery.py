"""deliver_notifications: the job that posts the notification outbox to webhooks, outside every sensor.

`notification_delivery_sensor` only counts due outbox entries (a SQLite query) and asks for a
`deliver_notifications` run when some are due and no delivery run is queued or running; the
run's op posts each due entry once (`NotificationStore.deliver_due`), with the request store's
webhook timeout, and leaves failures in the outbox for their next attempt after the retry
delays (SYNTH_PUBLISH_RETRY_DELAYS). A hanging endpoint holds up this run, never a sensor tick.
Delivery runs go to the front of the run queue (`dagster/priority`): behind a queue of synthesis
runs they wait for the next free slot, not for the queue.
"""

import dagster as dg

from synth_pipelines.publishing import NotificationStore
from synth_pipelines.resources import ArtifactStoreResource, RequestStoreResource

DELIVERY_PRIORITY = 100  # the queued run coordinator launches higher priorities first (default 0)
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.op
def deliver_webhooks(
    context: dg.OpExecutionContext, request_store: RequestStoreResource, artifact_store: ArtifactStoreResource
) -> dg.Output[dict]:
    """POST every due outbox entry once; record delivered, retrying (with its next time) or failed."""
    store = NotificationStore(request_store.notifications_root())
    report = store.deliver_due(
        delays=artifact_store.publish_config().retry_delays, timeout_seconds=request_store.webhook_timeout_seconds
    )
    counts = {"delivered": len(report.delivered), "retrying": len(report.retrying), "failed": len(report.failed)}
    context.log.info(f"webhook deliveries: {counts}")
    return dg.Output(counts, metadata=counts)


@dg.job(description="Post due webhook notifications from the outbox (each once, with an Idempotency-Key)")
def deliver_notifications():
    deliver_webhooks()


@dg.sensor(job=deliver_notifications, minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def notification_delivery_sensor(context: dg.SensorEvaluationContext, request_store: RequestStoreResource):
    """A delivery run when outbox entries are due and none is in flight; this tick itself posts nothing."""
    due = NotificationStore(request_store.notifications_root()).due()
    if not due:
        return dg.SkipReason("no webhook notification is due")
    in_flight = context.instance.get_runs(dg.RunsFilter(job_name=deliver_notifications.name, statuses=ACTIVE), limit=1)
    if in_flight:
        return dg.SkipReason(f"{due} due; delivery run {in_flight[0].run_id} is in flight")
    return dg.RunRequest(tags={"synth/due": str(due), "dagster/priority": str(DELIVERY_PRIORITY)})
