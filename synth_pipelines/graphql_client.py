"""Launch and watch synthesis runs on a running Dagster webserver over its GraphQL API.

`submit()` does what the UI does, from a script or another machine:

1. finds the repository that holds the `synthesize` job (`repositoriesOrError`);
2. refuses the request if its `request_id` already has a run (see *Deduplication*);
3. registers the request's dynamic partition in `synthesis_requests` (the
   `addDynamicPartition` mutation; a partition that already exists is fine);
4. launches `synthesize` for that partition with `DagsterGraphQLClient.submit_job_execution`,
   tagged `dagster/partition=<request_id>`, `synth/requester=<requester>`,
   `synth/source=graphql`, with the request itself in the run config
   (`ops.synthesis_request.config.request_json`), so the server needs no copy of the file;
5. with `wait`, polls the run until SUCCESS, FAILURE or CANCELED and returns the manifest
   location (the `manifest` metadata of the run's `published_artifact` materialization) or
   the failing steps' error messages. A failed run tagged `dagster/will_retry=true` (the
   instance's run_retries) is followed into its retry, and the retry's outcome is returned.

Deduplication: a request whose `request_id` (= partition key) already has a `synthesize` run
that is queued, starting, started, canceling or succeeded is refused, and the refusal names
that run's id. Runs from every source count (the intake sensor, the UI, this client). A
request whose earlier runs all failed or were canceled may be submitted again: a new run is
launched for the same partition. The check and the launch are two calls, so two clients
submitting the same request in the same instant can both pass it; the intake sensor (run
keys) is the path for exactly-once delivery, this client for interactive launches.

Identity: behind the deploy's proxy (deploy/README.md) the launch carries the caller's signed
identity as the run tags `synth/user`, `synth/role`, `synth/signature`: given by the caller
(`identity=`, the CLI's SYNTH_USER, SYNTH_ROLE, SYNTH_SIGNATURE), or else the X-Synth-User,
X-Synth-Role and X-Synth-Signature headers the proxy returned on the first call. The code
location checks them (intake/identity.py); the client only carries them.

`run_status(run_id, url)` returns a run's status, times, tags and (once finished) its manifest
or failure. Every error names the URL and what went wrong; this module holds no Dagster
definitions and can be used from any process that can reach the webserver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from synth_pipelines.core.request import SynthesisRequest

JOB_NAME = "synthesize"
PARTITIONS_DEF_NAME = "synthesis_requests"
MANIFEST_ASSET = "published_artifact"
WILL_RETRY_TAG = "dagster/will_retry"

TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")
# A run in any of these states blocks a new submission of the same request_id.
BLOCKING = ("QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "CANCELING", "SUCCESS")


class SubmitError(RuntimeError):
    """The webserver could not be reached, or answered with an error; the message names the URL."""


@dataclass(frozen=True)
class SubmitResult:
    """What became of a submission.

    status: REFUSED (a run of this request_id exists: `run_id` is that run), LAUNCHED (not
    waited for), or the run's final status SUCCESS / FAILURE / CANCELED, or TIMEOUT (still
    running when `timeout` ran out: `message` says its last status).
    """

    status: str
    request_id: str
    run_id: str | None = None
    manifest: str | None = None
    error: str | None = None
    message: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        return self.status == "REFUSED"

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


# ---------------------------------------------------------------------------------------------
# GraphQL documents (docs/graphql.md shows the same ones for other languages)

REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
    ... on PythonError { message }
  }
}
"""

ACTIVE_RUNS = """
query RunsForPartition($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 10) {
    __typename
    ... on Runs { results { runId status creationTime } }
    ... on PythonError { message }
    ... on InvalidPipelineRunsFilterError { message }
  }
}
"""

ADD_PARTITION = """
mutation AddPartition($repositorySelector: RepositorySelector!, $partitionsDefName: String!, $partitionKey: String!) {
  addDynamicPartition(
    repositorySelector: $repositorySelector, partitionsDefName: $partitionsDefName, partitionKey: $partitionKey
  ) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionsDefName partitionKey }
    ... on DuplicateDynamicPartitionError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status jobName creationTime startTime endTime
      tags { key value }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($runId: ID!, $afterCursor: String) {
  logsForRun(runId: $runId, afterCursor: $afterCursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message timestamp stepKey }
        ... on ErrorEvent { error { message className cause { message } } }
        ... on MaterializationEvent {
          assetKey { path }
          partition
          metadataEntries { label ... on PathMetadataEntry { path } ... on TextMetadataEntry { text } }
        }
      }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""


# ---------------------------------------------------------------------------------------------
# transport


def _base(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/graphql"):
        url = url[: -len("/graphql")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubmitError(f"{url!r} is not a webserver URL; expected http(s)://host:port")
    return url


def _post(url: str, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    return _post_response(url, query, variables, timeout)[0]


def _post_response(
    url: str, query: str, variables: dict | None = None, timeout: float = 30.0
) -> tuple[dict, requests.structures.CaseInsensitiveDict]:
    """The answer's data, and the response headers (where the deploy's proxy returns the signed identity)."""
    base = _base(url)
    try:
        response = requests.post(
            f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
    except requests.ConnectionError as exc:
        raise SubmitError(f"cannot reach the Dagster webserver at {base}: {_reason(exc)}") from None
    except requests.Timeout:
        raise SubmitError(f"the Dagster webserver at {base} did not answer within {timeout:.0f}s") from None
    if response.status_code != 200:
        raise SubmitError(
            f"the Dagster webserver at {base} answered HTTP {response.status_code}: {response.text[:300]}"
        )
    try:
        payload = response.json()
    except ValueError:
        raise SubmitError(f"{base}/graphql did not answer JSON (is it a Dagster webserver?)") from None
    if payload.get("errors"):
        messages = "; ".join(str(e.get("message", e)) for e in payload["errors"])
        raise SubmitError(f"GraphQL error from {base}: {messages}")
    return payload["data"], response.headers


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text[:200]


def _client(url: str, timeout: float):
    from dagster_graphql import DagsterGraphQLClient

    parts = urlsplit(_base(url))
    return DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        timeout=int(max(timeout, 1)),
        path_prefix=parts.path.rstrip("/"),
    )


# ---------------------------------------------------------------------------------------------
# building blocks


def repository_selector(url: str, job_name: str = JOB_NAME) -> dict[str, str]:
    """The repositorySelector of the (one) repository that holds `job_name`."""
    return _repository_selector(url, job_name)[0]


def _repository_selector(url: str, job_name: str = JOB_NAME) -> tuple[dict[str, str], dict[str, str]]:
    """The repositorySelector, and the signed identity tags the proxy returned with it ({} behind none)."""
    from synth_pipelines.intake.identity import tags_from_headers

    data, headers = _post_response(url, REPOSITORIES)
    identity = tags_from_headers(headers)
    result = data["repositoriesOrError"]
    if result["__typename"] != "RepositoryConnection":
        raise SubmitError(f"cannot list repositories at {_base(url)}: {result.get('message')}")
    found = [
        {"repositoryLocationName": node["location"]["name"], "repositoryName": node["name"]}
        for node in result["nodes"]
        if any(job["name"] == job_name for job in node["jobs"])
    ]
    if not found:
        raise SubmitError(
            f"no job {job_name!r} at {_base(url)}: is the synth_pipelines code location loaded "
            "(see Deployment in the UI)?"
        )
    if len(found) > 1:
        raise SubmitError(f"more than one repository at {_base(url)} has a job {job_name!r}: {found}")
    return found[0], identity


def blocking_runs(url: str, request_id: str) -> list[dict]:
    """Runs of `synthesize` for this partition that block a new submission, newest first."""
    run_filter = {
        "pipelineName": JOB_NAME,
        "tags": [{"key": "dagster/partition", "value": request_id}],
        "statuses": list(BLOCKING),
    }
    result = _post(url, ACTIVE_RUNS, {"filter": run_filter})["runsOrError"]
    if result["__typename"] != "Runs":
        raise SubmitError(f"cannot list runs at {_base(url)}: {result.get('message')}")
    return result["results"]


def add_partition(url: str, selector: dict[str, str], request_id: str) -> bool:
    """Register the partition; True if it was new, False if it already existed."""
    variables = {
        "repositorySelector": selector,
        "partitionsDefName": PARTITIONS_DEF_NAME,
        "partitionKey": request_id,
    }
    result = _post(url, ADD_PARTITION, variables)["addDynamicPartition"]
    kind = result["__typename"]
    if kind == "AddDynamicPartitionSuccess":
        return True
    if kind == "DuplicateDynamicPartitionError":
        return False
    raise SubmitError(
        f"cannot add partition {request_id!r} to {PARTITIONS_DEF_NAME} at {_base(url)}: {kind}: {result.get('message')}"
    )


def launch(
    url: str,
    request: SynthesisRequest,
    selector: dict[str, str],
    timeout: float = 60.0,
    identity: dict[str, str] | None = None,
) -> str:
    """Launch `synthesize` for the request's partition, tagged with the signed `identity`; return the run id."""
    from dagster_graphql import DagsterGraphQLClientError

    tags = {
        **(identity or {}),
        "dagster/partition": request.request_id,
        "synth/requester": request.requester or "unknown",
        "synth/source": "graphql",
    }
    run_config = {"ops": {"synthesis_request": {"config": {"request_json": request.canonical_json()}}}}
    try:
        return _client(url, timeout).submit_job_execution(
            JOB_NAME,
            repository_location_name=selector["repositoryLocationName"],
            repository_name=selector["repositoryName"],
            run_config=run_config,
            tags=tags,
        )
    except DagsterGraphQLClientError as exc:
        cause = exc.__cause__
        if isinstance(cause, requests.ConnectionError):
            raise SubmitError(f"cannot reach the Dagster webserver at {_base(url)}: {_reason(cause)}") from None
        detail = f"{exc.args[0]}: {exc.args[1]}" if len(exc.args) > 1 else str(exc)
        raise SubmitError(f"launching {JOB_NAME} at {_base(url)} failed: {detail[:2000]}") from None


def run_events(url: str, run_id: str) -> list[dict]:
    """Every event of the run, oldest first (paged through logsForRun)."""
    events: list[dict] = []
    cursor = None
    while True:
        result = _post(url, RUN_EVENTS, {"runId": run_id, "afterCursor": cursor}, timeout=60)["logsForRun"]
        if result["__typename"] != "EventConnection":
            raise SubmitError(f"cannot read the events of run {run_id} at {_base(url)}: {result.get('message')}")
        events.extend(result["events"])
        cursor = result["cursor"]
        if not result["hasMore"] or not result["events"]:
            return events


def outcome(events: list[dict]) -> tuple[str | None, str | None]:
    """(manifest location, error message) from a finished run's events."""
    manifest = None
    for event in events:
        if event["__typename"] == "MaterializationEvent" and event["assetKey"]["path"] == [MANIFEST_ASSET]:
            for entry in event.get("metadataEntries") or []:
                if entry["label"] == "manifest":
                    manifest = entry.get("path") or entry.get("text") or manifest
    failures = []
    for event in events:
        if event["__typename"] == "ExecutionStepFailureEvent":
            failures.append(f"{event.get('stepKey')}: {_error_text(event)}")
    if not failures:
        failures = [_error_text(e) for e in events if e["__typename"] == "RunFailureEvent"]
    return manifest, ("; ".join(f for f in failures if f) or None)


def _error_text(event: dict) -> str:
    error = event.get("error") or {}
    text = (error.get("message") or event.get("message") or "").strip()
    cause = (error.get("cause") or {}).get("message")
    if cause and cause.strip() not in text:
        text = f"{text} (caused by: {cause.strip()})"
    return text


def _retry_of(url: str, run_id: str) -> str | None:
    """The run the daemon launched to retry `run_id`, if it exists yet."""
    result = _post(url, ACTIVE_RUNS, {"filter": {"tags": [{"key": "dagster/parent_run_id", "value": run_id}]}})
    runs = result["runsOrError"].get("results") or []
    return runs[0]["runId"] if runs else None


def _run(url: str, run_id: str) -> dict:
    result = _post(url, RUN, {"runId": run_id})["runOrError"]
    if result["__typename"] != "Run":
        raise SubmitError(f"no run {run_id!r} at {_base(url)}: {result.get('message')}")
    return result


# ---------------------------------------------------------------------------------------------
# the two entry points


def run_status(run_id: str, url: str) -> dict[str, Any]:
    """A run's state: status, job, partition, requester, times, and when finished its manifest or error."""
    run = _run(url, run_id)
    tags = {t["key"]: t["value"] for t in run["tags"]}
    status: dict[str, Any] = {
        "run_id": run["runId"],
        "status": run["status"],
        "job": run["jobName"],
        "partition": tags.get("dagster/partition"),
        "requester": tags.get("synth/requester"),
        "source": tags.get("synth/source"),
        "created": run["creationTime"],
        "started": run["startTime"],
        "ended": run["endTime"],
        "manifest": None,
        "error": None,
    }
    if run["status"] in TERMINAL:
        status["manifest"], status["error"] = outcome(run_events(url, run_id))
    return status


def submit(
    request: SynthesisRequest,
    url: str,
    wait: bool = False,
    timeout: float = 1800.0,
    poll: float = 2.0,
    identity: dict[str, str] | None = None,
) -> SubmitResult:
    """Register the request's partition and launch `synthesize` for it (see the module docstring).

    `identity`: the signed identity tags to launch with; None or empty: those the proxy returned.
    Raises SubmitError when the webserver cannot be reached or refuses the launch; a duplicate
    request is not an error but a REFUSED result naming the run that blocks it.
    """
    selector, from_proxy = _repository_selector(url)
    existing = blocking_runs(url, request.request_id)
    if existing:
        run = existing[0]
        return SubmitResult(
            status="REFUSED",
            request_id=request.request_id,
            run_id=run["runId"],
            message=(
                f"request {request.request_id!r} already has run {run['runId']} ({run['status']}) at "
                f"{_base(url)}; a request runs once unless its runs failed or were canceled "
                "(use a new request_id for a new dataset)"
            ),
        )
    add_partition(url, selector, request.request_id)
    run_id = launch(url, request, selector, identity=identity or from_proxy)
    if not wait:
        return SubmitResult(
            status="LAUNCHED", request_id=request.request_id, run_id=run_id, message=f"launched run {run_id}"
        )
    deadline = time.monotonic() + timeout
    status = "QUEUED"
    while True:
        run = _run(url, run_id)
        status = run["status"]
        if status == "FAILURE" and {t["key"]: t["value"] for t in run["tags"]}.get(WILL_RETRY_TAG) == "true":
            # The daemon re-executes runs that died (run_retries): follow the retry once it exists.
            retry = _retry_of(url, run_id)
            if retry:
                run_id = retry
                continue
        elif status in TERMINAL:
            break
        if time.monotonic() >= deadline:
            return SubmitResult(
                status="TIMEOUT",
                request_id=request.request_id,
                run_id=run_id,
                message=f"run {run_id} is still {status} after {timeout:.0f}s; "
                f"`synth-pipelines status {run_id} --url {_base(url)}` follows it",
            )
        time.sleep(poll)
    manifest, error = outcome(run_events(url, run_id))
    if status == "SUCCESS" and not manifest:
        error = f"run {run_id} succeeded but no {MANIFEST_ASSET} materialization carries a manifest"
        status = "FAILURE"
    return SubmitResult(
        status=status,
        request_id=request.request_id,
        run_id=run_id,
        manifest=manifest if status == "SUCCESS" else None,
        error=None if status == "SUCCESS" else (error or f"run {run_id} ended {status}"),
        message=f"run {run_id} ended {status}",
    )
