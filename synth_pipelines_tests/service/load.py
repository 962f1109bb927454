"""A load on the running service (issue 18 item 1): many requests dropped into incoming/ at once.

`make_load` builds the files (valid ones from six requesters, one of them flooding the queue,
exact duplicates, request ids reused with other content, requests under someone else's prefix,
standing requests and twelve kinds of invalid file); `run_load` moves them all into the store's
incoming/ in one go, watches the service until intake has settled, stops every run it started,
and returns what happened to each file and the figures (requests per minute through intake,
queue depth, tick durations, runs in progress per requester). Used by service/test_load.py and
benchmarks/service_load.py.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth_pipelines.settings import Settings
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import graphql, wait_for

FLOOD = "flood@example.org"  # drops the first 10% of the load: the per-requester limit must hold it back
OTHERS = ("ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org")
PREFIXED = "zoe@example.org"  # drops under incoming/zoe@example.org/ (sorts after the top-level names)
STANDING_CRON = "0 0 1 1 *"  # once a year: filed as standing, no run during the load
IN_PROGRESS = ("STARTING", "STARTED", "CANCELING")
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")

# Invalid files, each with the field its rejection must name.
INVALID: tuple[tuple[str, Any, str], ...] = (
    ("not JSON", b"{ this is not json", "request"),
    ("empty file", b"", "request"),
    ("a JSON list", b"[1, 2, 3]", "request"),
    ("zero rows", {"rows": 0}, "rows"),
    ("unknown synthesizer", {"synthesizer": {"name": "gpt_table"}}, "synthesizer.name"),
    ("missing dataset file", {"dataset": {"uri": "no_such_table.csv"}}, "dataset.uri"),
    ("unknown field", {"colour": "blue"}, "colour"),
    (
        "negative epsilon",
        {"synthesizer": {"name": "dp_gaussian_copula"}, "privacy": {"epsilon": -1}},
        "privacy.epsilon",
    ),
    ("output format", {"output": {"format": "xlsx"}}, "output.format"),
    ("request id with a slash", {"request_id": "a/b"}, "request_id"),
    ("bad cron", {"schedule": "every day"}, "schedule"),
)
OVERSIZE = ("over 1 MiB", "request")  # a few only: each is a megabyte


@dataclass(frozen=True)
class Drop:
    name: str  # path under incoming/
    data: bytes
    kind: str  # valid | standing | duplicate | conflict | foreign | invalid: <what>
    request_id: str | None  # the id a valid, standing, duplicate or conflicting file names
    field: str | None = None  # for a rejected file: the field its reason must name


def _request(tag: str, i: int, requester: str, **overrides: Any) -> dict[str, Any]:
    return small_request(request_id=f"{tag}-{i:04d}", requester=requester, rows=1000 + i, seed=i, **overrides)


def make_load(n: int, tag: str) -> list[Drop]:
    """`n` files (n ≥ 100): valid 20% (10% from the flooding requester, 6% from four others, 4% under a
    requester's own prefix), 5% standing, 3% under someone else's prefix, 10% exact duplicates, 5%
    reused ids, the rest (57%) invalid. Names sort so that originals come before their copies.

    Each valid request becomes a run that the queue starts (a real 600-row run), so the valid share
    sets what the load costs; the bad shares cost intake only."""

    def share(fraction: float) -> int:
        return max(1, int(n * fraction))

    drops: list[Drop] = []
    valid: list[dict[str, Any]] = []
    i = 0
    for k in range(share(0.10)):
        request = _request(tag, i, FLOOD)
        drops.append(Drop(f"{tag}-a-flood-{k:04d}.json", json.dumps(request).encode(), "valid", request["request_id"]))
        valid.append(request)
        i += 1
    for k in range(share(0.06)):
        request = _request(tag, i, OTHERS[k % len(OTHERS)])
        drops.append(Drop(f"{tag}-b-other-{k:04d}.json", json.dumps(request).encode(), "valid", request["request_id"]))
        valid.append(request)
        i += 1
    for k in range(share(0.05)):
        request = _request(tag, i, OTHERS[k % len(OTHERS)], schedule=STANDING_CRON)
        drops.append(
            Drop(f"{tag}-c-standing-{k:04d}.json", json.dumps(request).encode(), "standing", request["request_id"])
        )
        i += 1
    top_level = list(valid)  # copies are of these: their originals sort (and are taken) first
    for k in range(share(0.04)):
        request = _request(tag, i, PREFIXED)
        name = f"{PREFIXED}/{tag}-p-own-{k:04d}.json"
        drops.append(Drop(name, json.dumps(request).encode(), "valid", request["request_id"]))
        valid.append(request)
        i += 1
    for k in range(share(0.03)):
        request = _request(tag, i, "mallory@example.org")
        name = f"{PREFIXED}/{tag}-q-foreign-{k:04d}.json"
        drops.append(Drop(name, json.dumps(request).encode(), "foreign", request["request_id"], field="requester"))
        i += 1
    for k in range(share(0.10)):
        original = top_level[(k * 7) % len(top_level)]
        name = f"{tag}-y-duplicate-{k:04d}.json"
        drops.append(Drop(name, json.dumps(original).encode(), "duplicate", original["request_id"], field="request_id"))
    for k in range(share(0.05)):
        original = dict(top_level[(k * 11 + 3) % len(top_level)])
        original["rows"] = original["rows"] + 1
        name = f"{tag}-y-conflict-{k:04d}.json"
        drops.append(Drop(name, json.dumps(original).encode(), "conflict", original["request_id"], field="request_id"))
    k = 0
    while len(drops) < n:
        if k < 3:
            what, field = OVERSIZE
            data = json.dumps({**_request(tag, i, FLOOD), "padding": "x" * (1024 * 1024)}).encode()
        else:
            what, body, field = INVALID[k % len(INVALID)]
            data = body if isinstance(body, bytes) else json.dumps({**_request(tag, i, FLOOD), **body}).encode()
        drops.append(Drop(f"{tag}-x-invalid-{k:04d}.json", data, f"invalid: {what}", None, field=field))
        i += 1
        k += 1
    return drops


# --- watching the service ---------------------------------------------------------------------------


def _run_counts(pg) -> Counter:
    return Counter(dict(pg.query("SELECT status, count(*) FROM runs GROUP BY status")))


def _in_progress_by_requester(pg) -> Counter:
    rows = pg.query(
        "SELECT t.value, count(*) FROM runs r JOIN run_tags t ON r.run_id = t.run_id "
        "WHERE t.key = 'synth/requester' AND r.status IN %s GROUP BY t.value",
        (IN_PROGRESS,),
    )
    return Counter(dict(rows))


def _remaining(incoming: Path) -> int:
    return sum(1 for p in incoming.rglob("*") if p.is_file())


TICKS = """
query($selector: SensorSelector!, $after: Float) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 1000, afterTimestamp: $after) {
      status timestamp endTimestamp runIds error { message } } } }
  }
}
"""


def intake_ticks(url: str, after: float) -> list[dict[str, Any]]:
    selector = {
        "repositoryLocationName": "synth_pipelines",
        "repositoryName": "__repository__",
        "sensorName": "request_intake_sensor",
    }
    data = graphql(url, TICKS, {"selector": selector, "after": after})["sensorOrError"]
    assert data["__typename"] == "Sensor", data
    return sorted(data["sensorState"]["ticks"], key=lambda t: t["timestamp"])


TERMINATE = """
mutation($ids: [String!]!, $policy: TerminateRunPolicy) {
  terminateRuns(runIds: $ids, terminatePolicy: $policy) { __typename }
}
"""


def stop_all_runs(service) -> float:
    """Cancel every run not ended (and terminate those in progress); wait until none is left; the seconds it took.

    MARK_AS_CANCELED_IMMEDIATELY, not SAFE_TERMINATE: a run whose worker died with a killed daemon has
    nobody left to confirm its termination.
    """
    started = time.monotonic()

    def settled() -> bool:
        ids = [r[0] for r in service.pg.query("SELECT run_id FROM runs WHERE status NOT IN %s", (TERMINAL,))]
        for at in range(0, len(ids), 200):
            graphql(service.url, TERMINATE, {"ids": ids[at : at + 200], "policy": "MARK_AS_CANCELED_IMMEDIATELY"})
        left = service.pg.query("SELECT count(*) FROM runs WHERE status NOT IN %s", (TERMINAL,))[0][0]
        return left == 0

    wait_for(settled, 300, "every run of the load to stop", interval=3)
    return time.monotonic() - started


def _stage(drops: list[Drop], folder: Path) -> None:
    for d in drops:
        path = folder / d.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(d.data)


def run_load(
    service, n: int, tag: str, sample_s: float = 1.0, on_sample: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Drop `n` requests at once; watch until intake settles; stop the runs; say what happened.

    `on_sample(sample)` is called after each sample (a test breaks something there)."""
    drops = make_load(n, tag)
    store_root = Settings.from_env(service.env).request_root
    incoming = store_root / "incoming"
    expected_runs = {d.request_id for d in drops if d.kind == "valid"}
    runs_before = sum(_run_counts(service.pg).values())
    incoming.mkdir(parents=True, exist_ok=True)  # (the sensor makes it on its first tick)
    # Staged beside incoming/ (the same file system), then renamed in: the load arrives at once.
    staging = Path(tempfile.mkdtemp(prefix=".load-", dir=store_root))
    _stage(drops, staging)
    dropped_at = time.time()
    t0 = time.monotonic()
    for d in drops:
        (incoming / d.name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / d.name, incoming / d.name)
    shutil.rmtree(staging)
    samples: list[dict[str, Any]] = []
    intake_done_s = runs_done_s = None

    def settled() -> bool:
        nonlocal intake_done_s, runs_done_s
        counts = _run_counts(service.pg)
        by_requester = _in_progress_by_requester(service.pg)
        left = _remaining(incoming)
        now = time.monotonic() - t0
        samples.append(
            {
                "t": round(now, 2),
                "incoming": left,
                "runs": sum(counts.values()) - runs_before,
                "queued": counts.get("QUEUED", 0),
                "in_progress": sum(counts.get(s, 0) for s in IN_PROGRESS),
                "in_progress_by_requester": dict(by_requester),
            }
        )
        if on_sample is not None:
            on_sample(samples[-1])
        if left == 0 and intake_done_s is None:
            intake_done_s = now
        if samples[-1]["runs"] >= len(expected_runs) and runs_done_s is None:
            runs_done_s = now
        return intake_done_s is not None and runs_done_s is not None

    wait_for(lambda: settled() or time.sleep(sample_s), 600, f"intake of {n} requests")
    # Two more intake ticks after the last run appeared: a request run twice would show up here.
    last_tick = max(t["timestamp"] for t in intake_ticks(service.url, dropped_at))
    wait_for(
        lambda: (
            sum(1 for t in intake_ticks(service.url, last_tick) if t["timestamp"] > last_tick) >= 2 or time.sleep(2)
        ),
        120,
        "two more intake ticks",
    )
    settled()
    ticks = [t for t in intake_ticks(service.url, dropped_at)]
    stop_s = stop_all_runs(service)
    return {
        "tag": tag,
        "files": n,
        "drops": drops,
        "samples": samples,
        "ticks": ticks,
        "intake_seconds": intake_done_s,
        "runs_seconds": runs_done_s,
        "stop_seconds": stop_s,
        "store_root": store_root,
        "dropped_at": dropped_at,
    }


# --- what happened to each file -----------------------------------------------------------------------


def outcomes(service, result: dict[str, Any]) -> dict[str, Any]:
    """Per file: accepted (one run), standing, or rejected (one reason); and the runs per request id."""
    root: Path = result["store_root"]
    tag = result["tag"]
    accepted = {p.stem for p in (root / "accepted").glob(f"{tag}-*.json")}
    standing = {p.stem for p in (root / "standing").glob(f"{tag}-*.json")}
    errors = [
        json.loads(p.read_text())
        for p in [*(root / "rejected").glob("*.error.json"), *(root / "rejected").glob("*/*.error.json")]
    ]
    errors = [e for e in errors if e["file"].rsplit("/", 1)[-1].startswith(f"{tag}-")]
    rejections = Counter(e["file"] for e in errors)
    # A request's runs, not counting run_retries' re-executions of a run whose worker died (they carry
    # dagster/parent_run_id): a second run without it would be the request run twice.
    by_request = """
        SELECT t.value, count(*) FROM run_tags t
        WHERE t.key = 'dagster/partition' AND t.value LIKE %s AND {} EXISTS (
            SELECT 1 FROM run_tags p WHERE p.run_id = t.run_id AND p.key = 'dagster/parent_run_id')
        GROUP BY t.value"""
    runs = Counter(dict(service.pg.query(by_request.format("NOT"), (f"{tag}-%",))))
    retries = Counter(dict(service.pg.query(by_request.format(""), (f"{tag}-%",))))
    return {
        "accepted": accepted,
        "standing": standing,
        "errors": errors,
        "rejections": rejections,
        "runs": runs,
        "retries": retries,
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers a README row quotes."""
    ticks = result["ticks"]
    durations = [t["endTimestamp"] - t["timestamp"] for t in ticks if t["endTimestamp"]]
    samples = result["samples"]
    per_requester = [max(s["in_progress_by_requester"].values(), default=0) for s in samples]
    return {
        "files": result["files"],
        "intake_seconds": round(result["intake_seconds"], 1),
        "requests_per_minute": round(result["files"] / result["intake_seconds"] * 60, 1),
        "runs_created_seconds": round(result["runs_seconds"], 1),
        "max_queue_depth": max(s["queued"] for s in samples),
        "max_in_progress": max(s["in_progress"] for s in samples),
        "max_in_progress_one_requester": max(per_requester),
        "flood_in_progress_max": max(s["in_progress_by_requester"].get(FLOOD, 0) for s in samples),
        "ticks": len(ticks),
        "tick_seconds_median": round(statistics.median(durations), 2) if durations else None,
        "tick_seconds_max": round(max(durations), 2) if durations else None,
        "failed_ticks": sum(1 for t in ticks if t["status"] == "FAILURE"),
        "samples": len(samples),
    }
