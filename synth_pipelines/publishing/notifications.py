"""Notifications: one record per request outcome for the requester, plus an optional webhook POST.

Records live in a SQLite file (`<root>/notifications.sqlite3`) so the CLI and the
The sensors read and write the same place with transactions, and a sensor that
fires twice for the same run does not notify twice (unique request_id + run_id +
outcome). Webhook delivery goes through the same RetryPolicy as uploads: connection
errors, timeouts, 429 and 5xx are retried; other 4xx fail at once.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from synth_pipelines.publishing.retry import DEFAULT_DELAYS, PublishError, RetryPolicy

OUTCOMES = ("success", "failure")
DB_NAME = "notifications.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    requester TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    manifest_location TEXT,
    reason TEXT,
    run_id TEXT,
    webhook_url TEXT,
    webhook_status TEXT,
    UNIQUE (request_id, run_id, outcome)
);
CREATE INDEX IF NOT EXISTS notifications_requester ON notifications (requester, id);
"""


@dataclass(frozen=True)
class Notification:
    id: int
    created_at: str
    request_id: str
    requester: str | None
    outcome: str
    manifest_location: str | None
    reason: str | None
    run_id: str | None
    webhook_url: str | None
    webhook_status: str | None  # None: no webhook; "delivered (HTTP 200)" or "failed: …"

    def payload(self) -> dict[str, Any]:
        """The JSON body posted to the requester's webhook."""
        body = asdict(self)
        del body["webhook_status"], body["webhook_url"]
        return body


class NotificationStore:
    """Notification records under `root` (a folder; created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.row_factory = sqlite3.Row
        connection.executescript(_SCHEMA)
        return connection

    def add(
        self,
        request_id: str,
        outcome: str,
        *,
        requester: str | None = None,
        manifest_location: str | None = None,
        reason: str | None = None,
        run_id: str | None = None,
        webhook_url: str | None = None,
    ) -> Notification:
        """Record an outcome; the same (request_id, run_id, outcome) again returns the first record."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: allowed {', '.join(OUTCOMES)}")
        if outcome == "success" and not manifest_location:
            raise ValueError("a success notification needs manifest_location (where the manifest is)")
        if outcome == "failure" and not (reason and reason.strip()):
            raise ValueError("a failure notification needs a reason")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO notifications (created_at, request_id, requester, outcome, manifest_location,"
                " reason, run_id, webhook_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (created, request_id, requester, outcome, manifest_location, reason, run_id, webhook_url),
            )
            if cursor.rowcount:
                row = db.execute("SELECT * FROM notifications WHERE id = ?", (cursor.lastrowid,)).fetchone()
            else:
                row = db.execute(
                    "SELECT * FROM notifications WHERE request_id = ? AND run_id IS ? AND outcome = ?",
                    (request_id, run_id, outcome),
                ).fetchone()
        return Notification(**dict(row))

    def list(self, requester: str | None = None, request_id: str | None = None) -> list[Notification]:
        """Records, oldest first, optionally only one requester's or one request's."""
        clauses, args = [], []
        if requester is not None:
            clauses.append("requester = ?")
            args.append(requester)
        if request_id is not None:
            clauses.append("request_id = ?")
            args.append(request_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT * FROM notifications {where} ORDER BY id", args).fetchall()
        return [Notification(**dict(row)) for row in rows]

    def get(self, notification_id: int) -> Notification:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM notifications WHERE id = ?", (notification_id,)).fetchone()
        if row is None:
            raise KeyError(f"no notification with id {notification_id} in {self.path}")
        return Notification(**dict(row))

    def set_webhook_status(self, notification_id: int, status: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("UPDATE notifications SET webhook_status = ? WHERE id = ?", (status, notification_id))

    def notify(
        self,
        request_id: str,
        outcome: str,
        *,
        delays: Sequence[float] = DEFAULT_DELAYS,
        timeout_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        **fields: Any,
    ) -> Notification:
        """`add` the record, then POST it to its webhook_url (if any) and record how that went.

        A webhook that never accepts does not raise: the record stays, with the failure
        in webhook_status, because the outcome itself is not in doubt.
        """
        record = self.add(request_id, outcome, **fields)
        if not record.webhook_url or record.webhook_status is not None:
            return record  # no webhook, or a repeat of an already-delivered notification
        try:
            status = post_webhook(record.webhook_url, record.payload(), delays, timeout_seconds, sleep)
            text = f"delivered (HTTP {status})"
        except PublishError as error:
            text = f"failed: {error}"
        self.set_webhook_status(record.id, text)
        return self.get(record.id)


def post_webhook(
    url: str,
    payload: dict[str, Any],
    delays: Sequence[float] = DEFAULT_DELAYS,
    timeout_seconds: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST `payload` as JSON to `url`, retrying transient failures; returns the HTTP status."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook url {url!r}: must start with http:// or https://")
    body = json.dumps(payload, sort_keys=True)

    def post() -> int:
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout_seconds)
        response.raise_for_status()
        return response.status_code

    return RetryPolicy(tuple(delays), sleep).call(post, f"POST notification to webhook {url}")
