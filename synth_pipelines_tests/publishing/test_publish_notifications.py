"""Notification records per request outcome, and webhook delivery with retries to a real local HTTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_pipelines.publishing import NotificationStore, PublishError, post_webhook
from synth_pipelines_tests.servers import free_port, webhook_server


def test_failure_and_success_records(tmp_path: Path) -> None:
    store = NotificationStore(tmp_path / "requests")
    failure = store.add("req-1", "failure", requester="alice", reason="bucket 'x' does not exist", run_id="r1")
    success = store.add("req-2", "success", requester="bob", manifest_location="s3://b/bob/req-2/manifest.json")
    assert (failure.outcome, failure.reason, failure.manifest_location) == (
        "failure",
        "bucket 'x' does not exist",
        None,
    )
    assert (success.outcome, success.manifest_location) == ("success", "s3://b/bob/req-2/manifest.json")
    # a second store object on the same root sees the same records (the CLI and sensors share them)
    reopened = NotificationStore(tmp_path / "requests")
    assert [n.request_id for n in reopened.list()] == ["req-1", "req-2"]
    assert [n.request_id for n in reopened.list(requester="alice")] == ["req-1"]
    # a sensor evaluated twice for the same run does not notify twice
    assert store.add("req-1", "failure", requester="alice", reason="again", run_id="r1") == failure
    assert len(store.list(request_id="req-1")) == 1


def test_records_need_what_the_requester_must_be_told(tmp_path: Path) -> None:
    store = NotificationStore(tmp_path)
    with pytest.raises(ValueError, match="needs a reason"):
        store.add("req-1", "failure")
    with pytest.raises(ValueError, match="needs manifest_location"):
        store.add("req-1", "success")
    with pytest.raises(ValueError, match="outcome 'done': allowed success, failure"):
        store.add("req-1", "done", reason="x")


def test_webhook_is_retried_after_a_500(tmp_path: Path) -> None:
    slept: list[float] = []
    with webhook_server([500, 200]) as hook:
        record = NotificationStore(tmp_path).notify(
            "req-9",
            "success",
            requester="carol",
            manifest_location="/artifacts/req-9/manifest.json",
            webhook_url=hook.url,
            delays=(0.01, 0.02),
            sleep=slept.append,
        )
    assert len(hook.received) == 2 and slept == [0.01]
    assert hook.received[-1]["json"]["manifest_location"] == "/artifacts/req-9/manifest.json"
    assert hook.received[-1]["json"]["outcome"] == "success"
    assert hook.received[-1]["headers"]["Content-Type"] == "application/json"
    assert record.webhook_status == "delivered (HTTP 200)"


def test_webhook_client_error_is_not_retried_and_is_recorded(tmp_path: Path) -> None:
    slept: list[float] = []
    with webhook_server([404]) as hook:
        record = NotificationStore(tmp_path).notify(
            "req-3", "failure", reason="quality below threshold", webhook_url=hook.url, sleep=slept.append
        )
    assert len(hook.received) == 1 and slept == []
    assert record.webhook_status.startswith("failed: POST notification to webhook") and "404" in record.webhook_status
    assert NotificationStore(tmp_path).list()[0].reason == "quality below threshold"


def test_webhook_down_for_good_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    slept: list[float] = []
    with pytest.raises(PublishError, match=f"webhook {url} failed after 3 attempts"):
        post_webhook(url, {"x": 1}, delays=(0.01, 0.01), sleep=slept.append)
    assert slept == [0.01, 0.01]
