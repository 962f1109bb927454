"""Retry with exponential backoff for transient failures; permanent ones fail at once.

Every remote call in publishing (S3, the IPFS RPC API, webhooks) goes through
`RetryPolicy.call`, so one set of delays (SYNTH_PUBLISH_RETRY_DELAYS, default 5, 10,
20 s) governs them all. Clients' own retry loops are switched off (botocore is built
with one attempt) so the delays configured here are the delays that happen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import requests
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_DELAYS: tuple[float, ...] = (5.0, 10.0, 20.0)

# S3 error codes that mean "try again later" even though they are not 5xx.
_TRANSIENT_S3_CODES = {"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestTimeTooSkewed"}


class PublishError(RuntimeError):
    """A publication step failed; the message names the endpoint, bucket or file."""


class IntegrityError(PublishError):
    """What a store holds differs from what was sent (hash or CID mismatch)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Delays between attempts: len(delays) + 1 attempts in all."""

    delays: tuple[float, ...] = DEFAULT_DELAYS
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def call(self, action: Callable[[], T], what: str) -> T:
        """Run `action`; retry it after each delay while it fails transiently.

        `what` names the operation and its endpoint for the error message, e.g.
        "upload s3://bucket/key to http://host:9000".
        """
        attempts = len(self.delays) + 1
        for attempt in range(1, attempts + 1):
            try:
                return action()
            except Exception as error:  # noqa: BLE001 - classified right below
                if not is_transient(error):
                    raise PublishError(f"{what} failed permanently (not retried): {describe(error)}") from error
                if attempt == attempts:
                    raise PublishError(
                        f"{what} failed after {attempts} attempts (delays {list(self.delays)} s): {describe(error)}"
                    ) from error
                delay = self.delays[attempt - 1]
                log.warning("%s: attempt %d/%d failed (%s); retrying in %s s", what, attempt, attempts, error, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")


def parse_delays(text: str, variable: str = "SYNTH_PUBLISH_RETRY_DELAYS") -> tuple[float, ...]:
    """'5,10,20' -> (5.0, 10.0, 20.0); an empty string means no retries."""
    if not text.strip():
        return ()
    try:
        delays = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{variable}={text!r}: expected comma-separated seconds such as '5,10,20'") from None
    if any(delay < 0 or delay > 3600 for delay in delays):
        raise ValueError(f"{variable}={text!r}: each delay must be between 0 and 3600 seconds")
    return delays


def is_transient(error: BaseException) -> bool:
    """Connection refused/closed, timeouts, 5xx and throttling are worth retrying; nothing else."""
    if isinstance(error, IntegrityError):
        return True  # a corrupted transfer is re-sent, not accepted
    if isinstance(error, (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)):
        return True
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or code in _TRANSIENT_S3_CODES
    if isinstance(error, BotoCoreError):
        # e.g. NoCredentialsError, ParamValidationError: retrying changes nothing
        return False
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code >= 500 or error.response.status_code == 429
    return isinstance(error, (ConnectionError, TimeoutError))


def describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return f"HTTP {status} {info.get('Code', '')}: {info.get('Message', '')}".strip()
    if isinstance(error, requests.HTTPError) and error.response is not None:
        body = error.response.text[:300].strip()
        return f"HTTP {error.response.status_code} from {error.response.url}: {body}"
    return f"{type(error).__name__}: {error}"
