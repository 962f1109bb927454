"""`synth-pipelines`: validate, run and describe synthesis requests from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from synth_pipelines.core.request import RequestError, SynthesisRequest, request_json_schema
from synth_pipelines.intake.requests import validate_request_bytes
from synth_pipelines.settings import REPO_ROOT, Settings

EXIT_REFUSED = 2


def _read_request(path: str, settings: Settings) -> SynthesisRequest:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RequestError([("request", f"cannot read {path}: {exc.strerror}")]) from None
    return validate_request_bytes(raw, settings.data_root)


def _print_refusal(exc: RequestError) -> int:
    print(json.dumps(exc.to_dict(), indent=2), file=sys.stderr)
    for field, message in exc.problems:
        print(f"refused: {field}: {message}", file=sys.stderr)
    return EXIT_REFUSED


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        request = _read_request(args.request, Settings.from_env())
    except RequestError as exc:
        return _print_refusal(exc)
    print(
        f"ok: {request.request_id}: {request.rows:,} rows with {request.synthesizer.name} in {request.n_chunks} chunks"
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(request_json_schema(), indent=2))
    return 0


def cmd_draft_schema(args: argparse.Namespace) -> int:
    """Print SDV metadata + DayZ parameters detected from a table: a draft the owner edits before a DP request."""
    from synth_pipelines.core.request import DatasetSpec
    from synth_pipelines.core.table_schema import draft_schema
    from synth_pipelines.data.loading import load_dataset

    try:
        frame = load_dataset(Path(args.dataset), DatasetSpec(uri=args.dataset, format=args.format))
    except (RequestError, ValueError, OSError) as exc:
        print(f"refused: dataset: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(draft_schema(frame), indent=2, default=str))
    print(
        "draft-schema: these bounds, category lists and missing shares are your table's own values. For a DP "
        "request they are published with the request: replace them by what is publicly known before you submit.",
        file=sys.stderr,
    )
    return 0


def _instance():
    from dagster import DagsterInstance

    if not os.environ.get("DAGSTER_HOME"):
        home = REPO_ROOT / "var" / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def synthesize_job_def():
    """The `synthesize` job, rebuilt by name in step processes (dagster.reconstructable needs a module function)."""
    from synth_pipelines.definitions import defs

    return defs().resolve_job_def("synthesize")


def _error_text(error) -> str:
    """A step's error and, when Dagster wrapped it ("Error occurred while executing op ..."), its cause."""
    text = error.message.strip()
    cause = getattr(error, "cause", None)
    if cause is not None and cause.message.strip() not in text:
        text += f" caused by {cause.message.strip()}"
    return text


def run_request(request: SynthesisRequest, settings: Settings, instance=None, workers: int = 0, s3=None):
    """Materialize the whole graph for one request; return (success, manifest path, error).

    workers = 0 runs every step in this process, with resources built from `settings`;
    workers >= 1 uses the multiprocess executor with that many parallel steps (the instance
    must then be persistent), whose step processes rebuild the code location from the
    environment, as a deployed run does. `s3` (a resources.S3Resource) replaces S3 as the
    environment configures it. The
    executor is built once per process, so the first worker count a process asks for is the
    one it keeps: run one multi-worker request per process, as the CLI does.
    """
    import dagster as dg

    from synth_pipelines.defs.partitions import requests_partitions

    instance = instance or _instance()
    instance.add_dynamic_partitions(requests_partitions.name, [request.request_id])
    # The request travels in run config; the run itself files it under accepted/. Writing it
    # there first would let the intake sensor take it for a request it accepted but never ran.
    run_config = {"ops": {"synthesis_request": {"config": {"request_json": request.canonical_json()}}}}
    tags = {"synth/requester": request.requester, "synth/source": "cli"}
    if workers:
        os.environ["SYNTH_MAX_CONCURRENT"] = str(workers)
        result = dg.execute_job(
            dg.reconstructable(synthesize_job_def),
            instance=instance,
            run_config=run_config,
            tags={**tags, "dagster/partition": request.request_id},
            raise_on_error=False,
        )
        events = result.all_events
    else:
        from synth_pipelines.definitions import build_defs

        # In this process the job gets resources built from `settings` itself (tests pass theirs).
        result = (
            build_defs(settings, s3)
            .resolve_job_def("synthesize")
            .execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=request.request_id,
                tags=tags,
                raise_on_error=False,
            )
        )
        events = result.all_events
    manifest = settings.artifact_root / request.request_id / "manifest.json"
    if result.success and manifest.is_file():
        return True, manifest, None
    errors = [
        f"{event.step_key}: {_error_text(event.event_specific_data.error)}"
        for event in events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]
    return False, None, "; ".join(errors) or "the run did not publish a manifest"


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        request = _read_request(args.request, settings)
    except RequestError as exc:
        return _print_refusal(exc)
    ok, manifest, error = run_request(request, settings, workers=args.workers)
    if not ok:
        print(f"run failed: {error}", file=sys.stderr)
        return 1
    print(manifest)
    return 0


def cmd_notifications(args: argparse.Namespace) -> int:
    from synth_pipelines.publishing import NotificationStore

    records = NotificationStore(Settings.from_env().request_root).list(
        requester=args.requester, request_id=args.request_id
    )
    if args.json:
        print(json.dumps([r.payload() for r in records], indent=2))
        return 0
    for r in records:
        where = r.manifest_location if r.outcome == "success" else r.reason
        print(f"{r.created_at}  {r.request_id}  {r.requester or '-'}  {r.outcome}  {where}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from synth_pipelines.core.request import parse_request
    from synth_pipelines.graphql_client import SubmitError, submit

    settings = Settings.from_env()
    try:
        if args.skip_data_check:
            # The contract only: the dataset is checked where the run executes.
            request = parse_request(Path(args.request).read_bytes())
        else:
            request = _read_request(args.request, settings)
    except RequestError as exc:
        return _print_refusal(exc)
    except OSError as exc:
        return _print_refusal(RequestError([("request", f"cannot read {args.request}: {exc.strerror}")]))
    try:
        result = submit(request, args.url, wait=args.wait, timeout=args.timeout, poll=args.poll)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.refused:
        print(f"refused: {result.message}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"run {result.run_id}: {result.status}", file=sys.stderr if args.wait else sys.stdout)
    if result.status == "LAUNCHED":
        return 0
    if result.succeeded:
        print(result.manifest)
        return 0
    print(f"run {result.run_id} {result.status}: {result.error or result.message}", file=sys.stderr)
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    from synth_pipelines.graphql_client import SubmitError, run_status

    try:
        status = run_status(args.run_id, args.url)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    for key in ("run_id", "job", "partition", "requester", "source", "manifest", "error"):
        if status.get(key):
            print(f"{key}: {status[key]}")
    print(status["status"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth-pipelines", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a request file; exit 0, or 2 with the errors")
    validate.add_argument("request")
    validate.set_defaults(func=cmd_validate)
    run = sub.add_parser("run", help="run a request in-process; prints the manifest path last")
    run.add_argument("request")
    run.add_argument(
        "--workers", type=int, default=0, help="parallel step processes (default 0: every step in this process)"
    )
    run.set_defaults(func=cmd_run)
    notes = sub.add_parser("notifications", help="list how requests ended (success with manifest, or failure)")
    notes.add_argument("--requester")
    notes.add_argument("--request-id")
    notes.add_argument("--json", action="store_true")
    notes.set_defaults(func=cmd_notifications)
    schema = sub.add_parser("schema", help="print the request JSON Schema")
    schema.set_defaults(func=cmd_schema)
    draft = sub.add_parser(
        "draft-schema",
        help="print a table's SDV metadata and DayZ parameters as a draft `schema` (edit its values first)",
    )
    draft.add_argument("dataset", help="a CSV, Parquet or JSON-lines file")
    draft.add_argument("--format", choices=["csv", "parquet", "jsonl"], help="inferred from the suffix when omitted")
    draft.set_defaults(func=cmd_draft_schema)
    submit = sub.add_parser(
        "submit",
        help="launch a request on a Dagster webserver over GraphQL; with --wait prints the manifest location last",
    )
    submit.add_argument("request")
    submit.add_argument("--url", required=True, help="the webserver, e.g. http://host:3000")
    submit.add_argument("--wait", action="store_true", help="wait for the run to end (exit 0 success, 1 failure)")
    submit.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait with --wait (default 3600)")
    submit.add_argument("--poll", type=float, default=2.0, help="seconds between status polls (default 2)")
    submit.add_argument(
        "--skip-data-check",
        action="store_true",
        help="check the request contract only, not that the dataset exists under this machine's SYNTH_DATA_ROOT",
    )
    submit.set_defaults(func=cmd_submit)
    status = sub.add_parser("status", help="print a run's state (the status last) from a Dagster webserver")
    status.add_argument("run_id")
    status.add_argument("--url", required=True, help="the webserver, e.g. http://host:3000")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
