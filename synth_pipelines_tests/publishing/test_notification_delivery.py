"""Webhook delivery outside sensors: the run-status sensor records an outbox entry, a job posts it.

Against a real HTTP server on loopback: a delivered entry is posted exactly once however often
(or however concurrently) delivery runs, every POST carries the entry's Idempotency-Key, and an
endpoint that never answers times out inside the delivery job and is tried again later, while the
sensor tick that recorded the outcome never touched it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import dagster as dg
from dagster import DagsterInstance

from synth_pipelines.core.request import parse_request
from synth_pipelines.defs.publishing.delivery import deliver_notifications, notification_delivery_sensor
from synth_pipelines.defs.publishing.sensors import notify_on_success
from synth_pipelines.intake.requests import LocalRequestStore
from synth_pipelines.publishing import NotificationStore
from synth_pipelines.publishing.notifications import IDEMPOTENCY_HEADER, idempotency_key
from synth_pipelines.resources import RequestStoreResource, build_resources
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.servers import webhook_server

LATER = 3600.0  # the retry delay in these tests: a retry is due only when the test moves the clock


def resources_for(settings, webhook_timeout: float = 10.0) -> dict:
    settings = replace(settings, publish=replace(settings.publish_config(), retry_delays=(LATER, LATER)))
    resources = build_resources(settings)
    store = resources["request_store"]
    resources["request_store"] = RequestStoreResource(
        root=store.root, s3=store.s3, webhook_timeout_seconds=webhook_timeout
    )
    return resources


@dg.op
def nothing() -> None:
    pass


@dg.job
def finished_run():
    nothing()


def sensor_tick(settings, resources, request_id: str, url: str) -> tuple[dg.DagsterRun, float]:
    """A run of `request_id` that succeeded, seen by notify_on_success; returns the run and the tick's seconds."""
    LocalRequestStore(settings.request_root).put_accepted(
        parse_request(small_request(request_id=request_id, webhook_url=url))
    )
    instance = DagsterInstance.ephemeral()
    result = finished_run.execute_in_process(instance=instance, tags={"dagster/partition": request_id})
    event = next(e for e in result.all_events if e.event_type_value == "PIPELINE_SUCCESS")
    with dg.build_run_status_sensor_context(
        sensor_name="notify_on_success",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"request_store": resources["request_store"], "artifact_store": resources["artifact_store"]},
    ) as context:
        started = time.monotonic()
        notify_on_success(context)
        return result.dagster_run, time.monotonic() - started


def deliver(resources, instance=None) -> dict:
    result = deliver_notifications.execute_in_process(
        instance=instance or DagsterInstance.ephemeral(),
        resources={"request_store": resources["request_store"], "artifact_store": resources["artifact_store"]},
    )
    assert result.success
    return result.output_for_node("deliver_webhooks")


def test_a_hanging_endpoint_times_out_in_the_delivery_job_and_is_retried_later(settings):
    resources = resources_for(settings, webhook_timeout=0.5)
    with webhook_server([0, 200]) as hook:
        run, tick_seconds = sensor_tick(settings, resources, "hangs", hook.url)
        # The tick recorded the outcome and its delivery, and posted nothing.
        assert hook.received == []
        store = NotificationStore(settings.request_root)
        (entry,) = store.outbox()
        key = idempotency_key("hangs", run.run_id, "success")
        assert (entry.idempotency_key, entry.state, entry.attempts) == (key, "pending", 0)
        assert store.list()[0].webhook_status == "pending"

        assert deliver(resources) == {"delivered": 0, "retrying": 1, "failed": 0}  # the POST timed out
        assert len(hook.received) == 1
        (entry,) = store.outbox()
        assert entry.state == "pending" and entry.attempts == 1 and "ReadTimeout" in entry.last_error
        assert entry.next_attempt_at > time.time() + LATER / 2
        assert deliver(resources) == {"delivered": 0, "retrying": 0, "failed": 0}  # not due yet: not posted
        assert len(hook.received) == 1

        # Later (the retry delay passed): the endpoint answers and the same key is delivered.
        report = store.deliver_due(delays=(LATER,), timeout_seconds=5, now=lambda: time.time() + LATER + 1)
        assert report.delivered == [key]
    assert [r["headers"][IDEMPOTENCY_HEADER] for r in hook.received] == [key, key]
    assert hook.received[-1]["json"]["request_id"] == "hangs" and hook.received[-1]["json"]["outcome"] == "success"
    assert store.list()[0].webhook_status == "delivered (HTTP 200)"
    print(f"sensor tick with a hanging endpoint: {tick_seconds:.3f} s")


def test_a_delivered_notification_is_posted_exactly_once_however_often_delivery_runs(settings):
    resources = resources_for(settings)
    with webhook_server([200]) as hook:
        run, _ = sensor_tick(settings, resources, "once", hook.url)
        # Two deliverers at the same instant, then the job twice more.
        store = NotificationStore(settings.request_root)
        barrier = threading.Barrier(2)
        reports = []

        def deliverer() -> None:
            barrier.wait()
            reports.append(store.deliver_due(timeout_seconds=5))

        threads = [threading.Thread(target=deliverer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(len(r.delivered) for r in reports) == [0, 1]
        assert deliver(resources)["delivered"] == 0
        assert deliver(resources)["delivered"] == 0
        # The sensor firing again for the same run records nothing new.
        sensor_tick(settings, resources, "once", hook.url)
    assert len(hook.received) == 1
    assert hook.received[0]["headers"][IDEMPOTENCY_HEADER] == idempotency_key("once", run.run_id, "success")
    (entry,) = [e for e in store.outbox() if e.state == "delivered"]
    assert entry.attempts == 1 and entry.delivered_at


def test_an_endpoint_that_keeps_failing_is_given_up_after_the_retry_delays(settings):
    with webhook_server([503]) as hook:
        store = NotificationStore(settings.request_root)
        store.add("down", "failure", reason="quality below threshold", run_id="r1", webhook_url=hook.url)
        clock = [time.time()]
        for _ in range(5):
            store.deliver_due(delays=(10, 20), timeout_seconds=5, now=lambda: clock[0])
            clock[0] += 100
    assert len(hook.received) == 3  # the first attempt and one per delay, then no more
    (entry,) = store.outbox()
    assert entry.state == "failed" and entry.attempts == 3
    status = store.list()[0].webhook_status
    assert (
        status.startswith(f"failed: POST notification to webhook {hook.url} failed after 3 attempts")
        and "503" in status
    )


def test_the_delivery_sensor_asks_for_a_run_only_when_something_is_due_and_none_is_in_flight(settings):
    resources = resources_for(settings)
    instance = DagsterInstance.ephemeral()

    def tick():
        with dg.build_sensor_context(
            instance=instance, resources={"request_store": resources["request_store"]}
        ) as context:
            return notification_delivery_sensor(context)

    assert isinstance(tick(), dg.SkipReason)
    with webhook_server([200]) as hook:
        NotificationStore(settings.request_root).add(
            "due", "success", manifest_location="/a/due/manifest.json", run_id="r1", webhook_url=hook.url
        )
        request = tick()
        assert isinstance(request, dg.RunRequest) and int(request.tags["dagster/priority"]) > 0  # ahead of the queue
        assert hook.received == []  # the tick posts nothing
        in_flight = instance.create_run_for_job(deliver_notifications)
        skipped = tick()
        assert isinstance(skipped, dg.SkipReason) and in_flight.run_id in skipped.skip_message
        instance.report_run_canceled(in_flight)
        assert deliver(resources, instance)["delivered"] == 1
        assert isinstance(tick(), dg.SkipReason)
    assert len(hook.received) == 1
