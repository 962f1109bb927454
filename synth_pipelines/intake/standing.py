"""Standing requests: a request with a cron `schedule` runs again each time its cron fires.

Each run is a new request `<request_id>-<YYYYmmddtHHMM>` with its own seed, derived from the
fire time, so a tick evaluated twice makes the same run (the same id, the same run key).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from croniter import croniter

from synth_pipelines.core.request import SynthesisRequest

TICK = timedelta(minutes=1)


def is_valid_cron(cron: str | None) -> bool:
    return bool(cron) and croniter.is_valid(cron)


def fired_between(cron: str, start: datetime, end: datetime) -> datetime | None:
    """The last time `cron` fired in (start, end], or None (`start` and `end` timezone-aware)."""
    fired = None
    moments = croniter(cron, start)
    while (moment := moments.get_next(datetime)) <= end:
        fired = moment
    return fired


def due_standing_request(
    request: SynthesisRequest, now: datetime, since: datetime | None = None
) -> SynthesisRequest | None:
    """The run of `request` due for its cron's last fire in (since, now] (default: the minute before `now`), or None.

    After a gap (the daemon was down) that is one run, for the latest fire, not one per missed fire.
    """
    assert request.schedule is not None
    fired = fired_between(request.schedule, since if since is not None else now - TICK, now)
    return scheduled_request(request, fired) if fired is not None else None


def scheduled_request(request: SynthesisRequest, fired_at: datetime) -> SynthesisRequest:
    """One run of a standing request: its own request_id (and partition) and seed, from the fire time."""
    stamp = fired_at.strftime("%Y%m%dt%H%M")
    return request.model_copy(
        update={
            "request_id": f"{request.request_id[:48]}-{stamp}",
            "schedule": None,
            "seed": (request.seed + int(fired_at.timestamp())) % 2**32,
        }
    )
