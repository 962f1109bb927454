"""Notifications: one record per request outcome for the requester, and an outbox of webhook deliveries.

Records live in a SQLite file (`<root>/notifications.sqlite3`) that the CLI and the
sensors share, with transactions; a sensor that fires twice for the same run does not
notify twice (unique request_id + run_id + outcome).

Webhooks go through an outbox: recording an outcome (`add`, what the sensors do) also
writes, in the same transaction, one `outbox` entry holding the payload and its
idempotency key, a stable hash of (request id, run id, event). Nothing is posted then.
`deliver_due` (the `deliver_notifications` job, and the CLI after its own run) claims
due entries under a lease, POSTs each once with an `Idempotency-Key` header and a
timeout, and records the result: delivered entries are never posted again; a transient
failure (connection error, timeout, 429, 5xx) is retried after the next of the retry
delays (SYNTH_PUBLISH_RETRY_DELAYS); a permanent one (other 4xx), or the last attempt,
marks the entry failed. A deliverer that dies between the POST and recording it leaves
the entry claimed until its lease ends; it is then posted again with the same key, so a
receiver that honours `Idempotency-Key` sees it once.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from synth_pipelines.publishing.retry import DEFAULT_DELAYS, RetryPolicy, describe, is_transient

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
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY,
    notification_id INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
"""

IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(request_id: str, run_id: str | None, event: str) -> str:
    """The same key for the same (request, run, event), whoever records or posts it."""
    return hashlib.sha256(f"{request_id}\n{run_id or ''}\n{event}".encode()).hexdigest()


@dataclass(frozen=True)
class OutboxEntry:
    idempotency_key: str
    notification_id: int
    request_id: str
    event: str
    url: str
    payload: str
    state: str  # pending, delivered or failed
    attempts: int
    next_attempt_at: float
    claimed_until: float
    last_error: str | None
    delivered_at: str | None


@dataclass
class DeliveryReport:
    """What one `deliver_due` pass did, by idempotency key."""

    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


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
        """Record an outcome (and its webhook delivery in the outbox); the same (request_id, run_id, outcome)
        again returns the first record. Posts nothing: see `deliver_due`."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: allowed {', '.join(OUTCOMES)}")
        if outcome == "success" and not manifest_location:
            raise ValueError("a success notification needs manifest_location (where the manifest is)")
        if outcome == "failure" and not (reason and reason.strip()):
            raise ValueError("a failure notification needs a reason")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        status = "pending" if webhook_url else None
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO notifications (created_at, request_id, requester, outcome, manifest_location,"
                " reason, run_id, webhook_url, webhook_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (created, request_id, requester, outcome, manifest_location, reason, run_id, webhook_url, status),
            )
            if cursor.rowcount:
                row = db.execute("SELECT * FROM notifications WHERE id = ?", (cursor.lastrowid,)).fetchone()
                if webhook_url:
                    # The delivery is recorded with the outcome, in the same transaction: never one without the other.
                    record = Notification(**dict(row))
                    db.execute(
                        "INSERT OR IGNORE INTO outbox (idempotency_key, notification_id, request_id, event, url,"
                        " payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            idempotency_key(request_id, run_id, outcome),
                            record.id,
                            request_id,
                            outcome,
                            webhook_url,
                            json.dumps(record.payload(), sort_keys=True),
                            time.time(),
                        ),
                    )
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

    def outbox(self, state: str | None = None) -> builtins.list[OutboxEntry]:
        with closing(self._connect()) as db:
            if state is None:
                rows = db.execute("SELECT * FROM outbox ORDER BY notification_id").fetchall()
            else:
                rows = db.execute("SELECT * FROM outbox WHERE state = ? ORDER BY notification_id", (state,)).fetchall()
        return [OutboxEntry(**dict(row)) for row in rows]

    def due(self, now: float | None = None) -> int:
        """How many outbox entries are waiting to be posted now (cheap: what the delivery sensor asks)."""
        now = time.time() if now is None else now
        with closing(self._connect()) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? AND claimed_until <= ?",
                (now, now),
            ).fetchone()
        return count

    def _claim(self, now: float, lease: float, limit: int, key: str | None) -> builtins.list[OutboxEntry]:
        """Take due entries for one deliverer: a second deliverer running at the same time skips them."""
        connection = self._connect()
        connection.isolation_level = None
        with closing(connection) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? AND claimed_until <= ?"
                    " AND (? IS NULL OR idempotency_key = ?) ORDER BY next_attempt_at LIMIT ?",
                    (now, now, key, key, limit),
                ).fetchall()
                db.executemany(
                    "UPDATE outbox SET claimed_until = ? WHERE idempotency_key = ?",
                    [(now + lease, row["idempotency_key"]) for row in rows],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [OutboxEntry(**dict(row)) for row in rows]

    def _settle(self, entry: OutboxEntry, **values: Any) -> None:
        status = values.pop("webhook_status")
        columns = ", ".join(f"{name} = ?" for name in values)
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                f"UPDATE outbox SET {columns}, claimed_until = 0 WHERE idempotency_key = ? AND state = 'pending'",
                [*values.values(), entry.idempotency_key],
            )
            if cursor.rowcount:
                db.execute("UPDATE notifications SET webhook_status = ? WHERE id = ?", (status, entry.notification_id))

    def deliver_due(
        self,
        *,
        delays: Sequence[float] = DEFAULT_DELAYS,
        timeout_seconds: float = 10.0,
        now: Callable[[], float] = time.time,
        limit: int = 100,
        key: str | None = None,
    ) -> DeliveryReport:
        """POST each due outbox entry once (or only `key`'s) and record how it went; never raises for an endpoint.

        An entry is attempted len(delays) + 1 times in all, the next attempt `delays[i]` seconds after
        the i-th failure; between attempts it waits in the outbox, not in this call.
        """
        report = DeliveryReport()
        lease = 2 * timeout_seconds + 60  # longer than one POST can take
        for entry in self._claim(now(), lease, limit, key):
            attempt = entry.attempts + 1
            try:
                status = _post_once(entry.url, entry.payload, entry.idempotency_key, timeout_seconds)
            except Exception as error:  # noqa: BLE001 - classified right below; the outbox keeps it
                what = f"POST notification to webhook {entry.url}"
                if is_transient(error) and attempt <= len(delays):
                    wait = delays[attempt - 1]
                    text = f"retrying: attempt {attempt} failed ({describe(error)}); next in {wait:g} s"
                    self._settle(
                        entry, attempts=attempt, next_attempt_at=now() + wait, last_error=text, webhook_status=text
                    )
                    report.retrying.append(entry.idempotency_key)
                    continue
                how = f"after {attempt} attempts" if is_transient(error) else "permanently (not retried)"
                text = f"failed: {what} failed {how}: {describe(error)}"
                self._settle(entry, attempts=attempt, state="failed", last_error=text, webhook_status=text)
                report.failed.append(entry.idempotency_key)
                continue
            self._settle(
                entry,
                attempts=attempt,
                state="delivered",
                delivered_at=datetime.now(UTC).isoformat(timespec="seconds"),
                webhook_status=f"delivered (HTTP {status})",
            )
            report.delivered.append(entry.idempotency_key)
        return report

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
        """`add` the record, then deliver its webhook now, waiting out the retry delays (the CLI's path: no daemon).

        A webhook that never accepts does not raise: the record stays, with the failure in webhook_status.
        A delivery job that takes the same entry meanwhile skips it (the claim), and a delivered entry is
        never posted again.
        """
        record = self.add(request_id, outcome, **fields)
        if not record.webhook_url:
            return record
        key = idempotency_key(request_id, record.run_id, outcome)
        waited = 0.0  # what `sleep` waited: the entry is due again after it, whatever `sleep` is

        def clock() -> float:
            return time.time() + waited

        for delay in (*delays, None):
            report = self.deliver_due(delays=delays, timeout_seconds=timeout_seconds, now=clock, key=key)
            if not report.retrying or delay is None:
                break
            sleep(delay)
            waited += delay
        return self.get(record.id)


def _post_once(url: str, body: str, key: str, timeout_seconds: float) -> int:
    response = requests.post(
        url,
        data=body,
        headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: key},
        timeout=timeout_seconds,
    )
    response.raise_for_status()
    return response.status_code


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
    key = hashlib.sha256(body.encode()).hexdigest()  # every attempt of this POST carries the same key
    return RetryPolicy(tuple(delays), sleep).call(
        lambda: _post_once(url, body, key, timeout_seconds), f"POST notification to webhook {url}"
    )
