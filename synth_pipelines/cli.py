"""`synth-pipelines`: validate, run and describe synthesis requests from the command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from synth_pipelines.core.request import RequestError, SynthesisRequest, request_json_schema
from synth_pipelines.intake.requests import validate_request_bytes
from synth_pipelines.settings import REPO_ROOT, Settings

if TYPE_CHECKING:
    from synth_pipelines.publishing.summary import CheckOutcome

EXIT_REFUSED = 2


def _read_request(path: str, settings: Settings) -> SynthesisRequest:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RequestError([("request", f"cannot read {path}: {exc.strerror}")]) from None
    return validate_request_bytes(raw, settings.data_root)


def _caller(settings: Settings):
    """The caller's identity from SYNTH_USER, SYNTH_ROLE (default requester) and SYNTH_SIGNATURE; None if unset.

    Where this process has SYNTH_IDENTITY_SECRET, the signature is checked (RequestError naming it).
    """
    from synth_pipelines.intake.identity import ROLE_TAG, SIGNATURE_TAG, USER_TAG, Identity, verified_identity

    user = os.environ.get("SYNTH_USER", "").strip()
    if not user:
        return None
    tags = {
        USER_TAG: user,
        ROLE_TAG: os.environ.get("SYNTH_ROLE", "").strip() or "requester",
        SIGNATURE_TAG: os.environ.get("SYNTH_SIGNATURE", "").strip(),
    }
    return verified_identity(tags, settings.identity_secret) or Identity(tags[USER_TAG], tags[ROLE_TAG])


def _caller_tags(identity) -> dict[str, str]:
    """The caller's identity as run tags, its signature as given (the server checks it)."""
    from synth_pipelines.intake.identity import ROLE_TAG, SIGNATURE_TAG, USER_TAG

    if identity is None:
        return {}
    return {USER_TAG: identity.user, ROLE_TAG: identity.role, SIGNATURE_TAG: os.environ.get("SYNTH_SIGNATURE", "")}


def _only_own(requester: str | None, caller, what: str) -> None:
    """With a caller identity, a requester sees only their own records: naming another one is refused."""
    if caller is not None and requester is not None and requester != caller.user:
        raise RequestError(
            [("requester", f"{what} of {requester!r} are not yours to see; you are {caller.user!r} (SYNTH_USER)")]
        )


def _whose(asked: str | None, what: str) -> tuple[Settings, str | None]:
    """The settings, and whose records to list: the caller's own with SYNTH_USER, else `asked` (None: all)."""
    settings = Settings.from_env()
    caller = _caller(settings)
    _only_own(asked, caller, what)
    return settings, caller.user if caller is not None else asked


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


def cmd_templates(args: argparse.Namespace) -> int:
    """List the shipped schemas a request may name with `"template": NAME`."""
    from synth_pipelines.core.templates import describe_templates

    templates = describe_templates()
    if args.json:
        print(json.dumps(templates, indent=2))
        return 0
    width = max(len(t["name"]) for t in templates)
    for t in templates:
        print(f"{t['name']:<{width}}  {t['columns']:>3} columns  {t['description']}")
    return 0


def _published_export(request_id: str, settings: Settings) -> Path:
    """The local copy of a published export, found through its manifest; RequestError saying why not."""
    import re

    from synth_pipelines.publishing import read_manifest

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", request_id):
        raise RequestError([("request_id", f"{request_id!r} is not a request id (1-63 of a-z 0-9 . _ -)")])
    manifest_path = settings.artifact_root / request_id / "manifest.json"
    if not manifest_path.is_file():
        raise RequestError(
            [("request_id", f"no manifest for {request_id!r} under {settings.artifact_root} (SYNTH_ARTIFACT_ROOT)")]
        )
    manifest = read_manifest(manifest_path)
    _only_own(manifest.get("requester"), _caller(settings), "the artifacts")
    export = Path(manifest["export_uri"])
    if not export.is_file():
        raise RequestError([("request_id", f"the manifest of {request_id!r} names {export}, which is gone")])
    return export


def cmd_preview(args: argparse.Namespace) -> int:
    """Print the first rows of a published export as a Markdown table (synthetic rows only)."""
    from synth_pipelines.generation.export import head_rows, markdown_table

    try:
        export = _published_export(args.request_id, Settings.from_env())
    except RequestError as exc:
        return _print_refusal(exc)
    rows = head_rows(export, args.rows)
    print(f"{args.request_id}: the first {len(rows)} rows of {export}", file=sys.stderr)
    print(markdown_table(rows))
    return 0


def _rows(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: 1..10000")
    return value


def _instance():
    from dagster import DagsterInstance

    if not os.environ.get("DAGSTER_HOME"):
        # The instance `make` installs: SQLite under var/dagster_home, telemetry off.
        home = REPO_ROOT / "var" / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            shutil.copy(REPO_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


# Dagster logs each step's start and end at DEBUG, beside a flood of input/output bookkeeping;
# the CLI shows these events and everything at INFO or above (the run's own context.log.info).
PROGRESS_EVENTS = frozenset(
    {"RUN_START", "RUN_SUCCESS", "RUN_FAILURE", "STEP_START", "STEP_SUCCESS", "STEP_UP_FOR_RETRY", "STEP_RESTARTED"}
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _ProgressFilter(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= self.level:
            return True
        event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
        return event is not None and event.event_type_value in PROGRESS_EVENTS


class _ProgressFormatter(logging.Formatter):
    """`HH:MM:SS step: message`; the level only when it is a warning or worse."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        where = meta.get("step_key") or meta.get("job_name") or record.name
        message = meta.get("orig_message") or record.getMessage()
        level = f"{record.levelname} " if record.levelno >= logging.WARNING else ""
        text = f"{self.formatTime(record, '%H:%M:%S')} {level}{where}: {message}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _progress_logger_def():
    import dagster as dg

    @dg.logger(
        {"log_level": dg.Field(str, default_value="INFO", description="INFO: progress; DEBUG: every event")},
        description="Run progress on stderr: step starts and ends, and messages at log_level or above",
    )
    def progress(init_context: dg.InitLoggerContext) -> logging.Logger:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_ProgressFilter(logging.getLevelName(init_context.logger_config["log_level"])))
        handler.setFormatter(_ProgressFormatter())
        log = logging.Logger("synth_pipelines.run", level=logging.DEBUG)  # the handler's filter decides
        log.addHandler(handler)
        return log

    return progress


def _with_progress(job):
    """The job with the CLI's console logger in place of Dagster's default one."""
    return job.with_logger_defs({"console": _progress_logger_def()})


def synthesize_job_def():
    """The `synthesize` job, rebuilt by name in step processes (dagster.reconstructable needs a module function)."""
    from synth_pipelines.definitions import defs

    return _with_progress(defs().resolve_job_def("synthesize"))


@dataclass(frozen=True)
class RunOutcome:
    """How one run of a request ended: its run id, the manifest (on success) or the error, and its checks."""

    success: bool
    run_id: str
    manifest: Path | None
    error: str | None
    checks: tuple[CheckOutcome, ...]


def _check_outcomes(events, request: SynthesisRequest) -> tuple[CheckOutcome, ...]:
    from synth_pipelines.publishing.summary import CheckOutcome
    from synth_pipelines.quality import THRESHOLDS

    outcomes = []
    for event in events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        check = event.asset_check_evaluation_data
        asset = check.asset_key.to_user_string()
        unset = check.check_name in THRESHOLDS and getattr(request.quality, check.check_name) is None
        outcomes.append(CheckOutcome(asset, check.check_name, bool(check.passed), set_by_request=not unset))
    return tuple(outcomes)


def execute_request(
    request: SynthesisRequest,
    settings: Settings,
    instance=None,
    workers: int = 0,
    s3=None,
    log_level: str = "INFO",
) -> RunOutcome:
    """Materialize the whole graph for one request and say how it ended.

    workers = 0 runs every step in this process, with resources built from `settings`;
    workers >= 1 uses the multiprocess executor with that many parallel steps (the instance
    must then be persistent), whose step processes rebuild the code location from the
    environment, as a deployed run does. `s3` (a resources.S3Resource) replaces S3 as the
    environment configures it. The
    executor is built once per process, so the first worker count a process asks for is the
    one it keeps: run one multi-worker request per process, as the CLI does. Progress goes to
    stderr at `log_level` (INFO: step starts and ends and the run's own messages).
    """
    import dagster as dg

    from synth_pipelines.defs.partitions import requests_partitions

    instance = instance or _instance()
    instance.add_dynamic_partitions(requests_partitions.name, [request.request_id])
    # The request travels in run config; the run itself files it under accepted/. Writing it
    # there first would let the intake sensor take it for a request it accepted but never ran.
    run_config = {
        "ops": {"synthesis_request": {"config": {"request_json": request.canonical_json()}}},
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }
    tags = {"synth/requester": request.requester, "synth/source": "cli"}
    if settings.identity_secret:
        # This process holds the deploy's secret: it signs the run as the request's own (cmd_run checked the caller).
        from synth_pipelines.intake.identity import Identity, signed_tags

        tags.update(signed_tags(Identity(request.requester, "requester"), settings.identity_secret))
    if workers:
        os.environ["SYNTH_MAX_CONCURRENT"] = str(workers)
        result = dg.execute_job(
            dg.reconstructable(synthesize_job_def),
            instance=instance,
            run_config=run_config,
            tags={**tags, "dagster/partition": request.request_id},
            raise_on_error=False,
        )
    else:
        from synth_pipelines.definitions import build_defs

        # In this process the job gets resources built from `settings` itself (tests pass theirs).
        job = _with_progress(build_defs(settings, s3).resolve_job_def("synthesize"))
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            partition_key=request.request_id,
            tags=tags,
            raise_on_error=False,
        )
    events = result.all_events
    checks = _check_outcomes(events, request)
    manifest = settings.artifact_root / request.request_id / "manifest.json"
    if result.success and manifest.is_file():
        return RunOutcome(True, result.run_id, manifest, None, checks)
    errors = [
        f"{event.step_key}: {_step_error(event.event_specific_data.error)}"
        for event in events
        if event.is_step_failure and event.event_specific_data and event.event_specific_data.error
    ]
    error = "; ".join(errors) or "the run did not publish a manifest"
    return RunOutcome(False, result.run_id, None, error, checks)


def run_request(request: SynthesisRequest, settings: Settings, instance=None, workers: int = 0, s3=None):
    """`execute_request`, as (success, manifest path, error)."""
    outcome = execute_request(request, settings, instance, workers, s3)
    return outcome.success, outcome.manifest, outcome.error


def _notify(request: SynthesisRequest, outcome: RunOutcome, settings: Settings) -> None:
    """Record how a CLI run ended where the run-status sensors record the daemon's runs (no daemon sees it).

    A daemon watching the same instance records the same run too: the store keeps one record per
    (request, run, outcome).
    """
    from synth_pipelines.publishing import NotificationStore

    fields = {"manifest_location": str(outcome.manifest)} if outcome.success else {"reason": outcome.error}
    NotificationStore(settings.request_root).notify(
        request.request_id,
        "success" if outcome.success else "failure",
        requester=request.requester,
        run_id=outcome.run_id,
        webhook_url=request.webhook_url,
        delays=settings.publish_config().retry_delays,
        **fields,
    )


def _step_error(error) -> str:
    from synth_pipelines.defs.failures import step_error_text

    return step_error_text(error)


def cmd_run(args: argparse.Namespace) -> int:
    from synth_pipelines.publishing import read_manifest
    from synth_pipelines.publishing.summary import checks_text, summary_lines

    settings = Settings.from_env()
    try:
        request = _read_request(args.request, settings)
        from synth_pipelines.intake.identity import check_may_file

        check_may_file(request.requester, _caller(settings))
    except RequestError as exc:
        return _print_refusal(exc)
    os.environ.setdefault("TQDM_DISABLE", "1")  # SDMetrics' progress bars: not progress a person reads
    outcome = execute_request(request, settings, workers=args.workers, log_level=args.log_level)
    _notify(request, outcome, settings)
    if not outcome.success:
        print(f"== {request.request_id}: failed (run {outcome.run_id}) ==", file=sys.stderr)
        print(f"  checks  {checks_text(outcome.checks)}", file=sys.stderr)
        print(f"run failed: {outcome.error}", file=sys.stderr)
        return 1
    assert outcome.manifest is not None
    manifest = read_manifest(outcome.manifest)
    *block, last = summary_lines(manifest, outcome.checks, str(outcome.manifest))
    print("\n".join(block), file=sys.stderr)
    # The block's last line is "manifest <path>": its label on stderr, the path alone on stdout, so a
    # terminal shows one line and a script reads the manifest path from stdout's last line.
    print(last.removesuffix(str(outcome.manifest)), end="", file=sys.stderr, flush=True)
    print(outcome.manifest)
    return 0


def cmd_artifacts(args: argparse.Namespace) -> int:
    """List published artifacts (their manifests under SYNTH_ARTIFACT_ROOT): the caller's own when SYNTH_USER is set."""
    from synth_pipelines.publishing import read_manifest

    try:
        settings, requester = _whose(args.requester, "the artifacts")
    except RequestError as exc:
        return _print_refusal(exc)
    rows = []
    for path in sorted(settings.artifact_root.glob("*/manifest.json")):
        manifest = read_manifest(path)
        if requester is None or manifest.get("requester") == requester:
            rows.append(
                {k: manifest.get(k) for k in ("request_id", "requester", "created_at", "rows")}
                | {"manifest": str(path)}
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['created_at']}  {r['request_id']}  {r['requester'] or '-'}  {r['rows']} rows  {r['manifest']}")
    return 0


def cmd_notifications(args: argparse.Namespace) -> int:
    from synth_pipelines.publishing import NotificationStore

    try:
        settings, requester = _whose(args.requester, "the notifications")
    except RequestError as exc:
        return _print_refusal(exc)
    records = NotificationStore(settings.request_root).list(requester=requester, request_id=args.request_id)
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
        identity = _caller_tags(_caller(settings))
    except RequestError as exc:
        return _print_refusal(exc)
    try:
        result = submit(request, args.url, wait=args.wait, timeout=args.timeout, poll=args.poll, identity=identity)
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
    run = sub.add_parser("run", help="run a request in-process; ends with a summary and the manifest path (stdout)")
    run.add_argument("request")
    run.add_argument(
        "--workers", type=int, default=0, help="parallel step processes (default 0: every step in this process)"
    )
    run.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="INFO",
        help="INFO (default): step starts and ends and the run's messages; DEBUG: every Dagster event",
    )
    run.set_defaults(func=cmd_run)
    notes = sub.add_parser(
        "notifications", help="list how requests ended (success with manifest, or failure); yours only with SYNTH_USER"
    )
    notes.add_argument("--requester")
    notes.add_argument("--request-id")
    notes.add_argument("--json", action="store_true")
    notes.set_defaults(func=cmd_notifications)
    artifacts = sub.add_parser("artifacts", help="list published artifacts (yours only when SYNTH_USER is set)")
    artifacts.add_argument("--requester")
    artifacts.add_argument("--json", action="store_true")
    artifacts.set_defaults(func=cmd_artifacts)
    schema = sub.add_parser("schema", help="print the request JSON Schema")
    schema.set_defaults(func=cmd_schema)
    draft = sub.add_parser(
        "draft-schema",
        help="print a table's SDV metadata and DayZ parameters as a draft `schema` (edit its values first)",
    )
    draft.add_argument("dataset", help="a CSV, Parquet or JSON-lines file")
    draft.add_argument("--format", choices=["csv", "parquet", "jsonl"], help="inferred from the suffix when omitted")
    draft.set_defaults(func=cmd_draft_schema)
    templates = sub.add_parser("templates", help="list the shipped schemas a request may name as `template`")
    templates.add_argument("--json", action="store_true")
    templates.set_defaults(func=cmd_templates)
    preview = sub.add_parser("preview", help="print the first rows of a published export (a Markdown table)")
    preview.add_argument("request_id")
    preview.add_argument("-n", "--rows", type=_rows, default=20, help="how many rows (default 20, at most 10,000)")
    preview.set_defaults(func=cmd_preview)
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
