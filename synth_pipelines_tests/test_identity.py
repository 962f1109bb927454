"""Who may do what: with SYNTH_IDENTITY_SECRET set, every filing and run needs the proxy's signed identity.

Each refusal is tried for real: the UI's form (submit_request), the GraphQL path (a synthesize
run whose config carries the request), a re-run of someone else's accepted partition, a file
dropped under another requester's prefix, a viewer, a forged signature; and the CLI showing a
requester only their own notifications and artifacts.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from dagster import DagsterInstance

from synth_pipelines import cli
from synth_pipelines.core.request import parse_request
from synth_pipelines.defs.intake.assets import synthesis_request
from synth_pipelines.defs.intake.submit import submit_request
from synth_pipelines.defs.partitions import requests_partitions
from synth_pipelines.graphql_client import _repository_selector
from synth_pipelines.intake.identity import Identity, signed_tags, verified_identity
from synth_pipelines.intake.requests import LocalRequestStore, process_incoming
from synth_pipelines.publishing import NotificationStore
from synth_pipelines.resources import build_resources
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.test_intake import evaluate
from synth_pipelines_tests.test_submit import form

SECRET = "test-identity-secret"
ALICE = "tester@example.org"  # small_request's requester
ALICE_TAGS = signed_tags(Identity(ALICE, "requester"), SECRET)


@pytest.fixture
def guarded(settings):
    """The deploy with identities on."""
    return replace(settings, identity_secret=SECRET)


def failure_of(result) -> str:
    assert not result.success
    return next(e for e in result.all_events if e.is_step_failure).event_specific_data.error.message


REFUSALS = [
    ({}, "synth/signature: is missing"),
    ({**ALICE_TAGS, "synth/signature": "0" * 64}, "synth/signature: does not match synth/user and synth/role"),
    ({**ALICE_TAGS, "synth/user": "mallory@example.org"}, "synth/signature: does not match"),  # a name swapped in
    (signed_tags(Identity(ALICE, "viewer"), SECRET), "synth/role: 'tester@example.org' has role 'viewer'"),
    (signed_tags(Identity(ALICE, "requester"), "another-deploy"), "synth/signature: does not match"),
    (
        signed_tags(Identity("mallory@example.org", "requester"), SECRET),
        "requester: 'tester@example.org' is not the authenticated user 'mallory@example.org'",
    ),
]


def file_form(settings, instance, config, tags):
    """submit_request as the UI launches it, with the run's tags."""
    job = dg.Definitions(jobs=[submit_request], resources=build_resources(settings)).resolve_job_def("submit_request")
    return job.execute_in_process(run_config=config, instance=instance, tags=tags, raise_on_error=False)


@pytest.mark.parametrize(("tags", "refusal"), REFUSALS)
def test_the_form_refuses_a_filing_without_the_requesters_own_signed_identity(guarded, tags, refusal):
    result = file_form(guarded, DagsterInstance.ephemeral(), form(), tags)
    assert refusal in failure_of(result)
    assert LocalRequestStore(guarded.request_root).incoming() == []


def test_a_signed_filing_lands_under_its_prefix_and_its_run_is_signed_by_the_code_location(guarded):
    instance = DagsterInstance.ephemeral()
    assert file_form(guarded, instance, form(), ALICE_TAGS).success
    store = LocalRequestStore(guarded.request_root)
    assert store.incoming() == [f"{ALICE}/from-the-form.json"]
    (run,) = evaluate(guarded, instance).run_requests
    assert verified_identity(run.tags, SECRET) == Identity(ALICE, "requester")
    # Without the secret (the embedded demo) nothing is asked for.
    open_deploy = replace(guarded, identity_secret="")
    assert file_form(open_deploy, DagsterInstance.ephemeral(), small_request(request_id="open"), {}).success


def run_synthesis_request(settings, tags, request=None, request_id="svc-id"):
    """The first step of a synthesize run as GraphQL launches it (the request in run config), or without config."""
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(requests_partitions.name, [request_id])
    resources = build_resources(settings)
    config = {"request_json": json.dumps(request)} if request is not None else {}
    return dg.materialize(
        [synthesis_request],
        partition_key=request_id,
        instance=instance,
        tags=tags,
        run_config={"ops": {"synthesis_request": {"config": config}}},
        resources={k: resources[k] for k in ("io_manager", "request_store", "data_source")},
        raise_on_error=False,
    )


@pytest.mark.parametrize(("tags", "refusal"), REFUSALS)
def test_a_graphql_launch_without_the_requesters_own_signed_identity_is_refused(guarded, tags, refusal):
    result = run_synthesis_request(guarded, tags, small_request(request_id="svc-id"))
    assert refusal in failure_of(result)
    assert LocalRequestStore(guarded.request_root).accepted() == []


def test_nobody_reruns_or_overwrites_someone_elses_accepted_request(guarded):
    assert run_synthesis_request(guarded, ALICE_TAGS, small_request(request_id="svc-id")).success
    mallory = signed_tags(Identity("mallory@example.org", "requester"), SECRET)
    # Re-running alice's partition (spending her dataset's budget) from the store's copy:
    rerun = failure_of(run_synthesis_request(guarded, mallory))
    assert "requester: 'tester@example.org' is not the authenticated user 'mallory@example.org'" in rerun
    # Launching her request_id again in mallory's own name:
    taken = run_synthesis_request(guarded, mallory, small_request(request_id="svc-id", requester="mallory@example.org"))
    assert "requester: 'mallory@example.org' differs from the requester of the accepted request" in failure_of(taken)
    stored = parse_request(LocalRequestStore(guarded.request_root).read_accepted("svc-id"))
    assert stored.requester == ALICE
    assert run_synthesis_request(guarded, ALICE_TAGS).success  # her own re-run is fine


def test_a_file_dropped_under_another_requesters_prefix_is_rejected_with_the_reason(guarded):
    store = LocalRequestStore(guarded.request_root)
    (store.root / "incoming" / ALICE).mkdir()
    (store.root / "incoming" / ALICE / "mine.json").write_text(json.dumps(small_request(request_id="mine")))
    (store.root / "incoming" / ALICE / "theirs.json").write_text(
        json.dumps(small_request(request_id="theirs", requester="bob@example.org"))
    )
    result = process_incoming(store, guarded.data_root)
    assert [r.request_id for r in result.accepted] == ["mine"]
    ((name, problems),) = result.rejected
    assert name == f"{ALICE}/theirs.json" and problems[0]["field"] == "requester"
    assert f"not the owner of the prefix incoming/{ALICE}/" in problems[0]["message"]
    assert store.incoming() == [] and store.accepted() == ["mine"]
    rejected = sorted(p.name for p in (store.root / "rejected" / ALICE).iterdir())
    assert len(rejected) == 2 and rejected[0].endswith("-theirs.json")  # kept in alice's prefix, beside its reason
    assert store.rejected_errors()[0]["file"] == f"{ALICE}/theirs.json"


@contextmanager
def proxy_answering(headers: dict[str, str]):
    """A loopback stand-in for the proxy in front of the webserver: answers the repositories query, adds headers."""
    body = {
        "data": {
            "repositoriesOrError": {
                "__typename": "RepositoryConnection",
                "nodes": [{"name": "__repository__", "location": {"name": "synth"}, "jobs": [{"name": "synthesize"}]}],
            }
        }
    }

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            data = json.dumps(body).encode()
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_graphql_client_carries_the_identity_the_proxy_returned():
    headers = {"X-Synth-User": ALICE, "X-Synth-Role": "requester", "X-Synth-Signature": ALICE_TAGS["synth/signature"]}
    with proxy_answering(headers) as url:
        selector, identity = _repository_selector(url)
    assert selector == {"repositoryLocationName": "synth", "repositoryName": "__repository__"}
    assert identity == ALICE_TAGS and verified_identity(identity, SECRET) == Identity(ALICE, "requester")
    with proxy_answering({}) as url:
        assert _repository_selector(url)[1] == {}


def test_the_cli_shows_a_requester_only_their_own_notifications_and_artifacts(synth_env, monkeypatch, capsys):
    settings = synth_env
    notes = NotificationStore(settings.request_root)
    for requester, request_id in ((ALICE, "hers"), ("bob@example.org", "his")):
        notes.add(request_id, "failure", requester=requester, reason="quality below threshold", run_id="r")
        manifest = settings.artifact_root / request_id / "manifest.json"
        manifest.parent.mkdir(parents=True)
        manifest.write_text(
            json.dumps({"request_id": request_id, "requester": requester, "rows": 10, "created_at": "t"})
        )

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("notifications", "--json")
    assert code == 0 and {r["request_id"] for r in json.loads(out)} == {"hers", "his"}  # no identity: the operator
    monkeypatch.setenv("SYNTH_USER", ALICE)
    monkeypatch.setenv("SYNTH_SIGNATURE", ALICE_TAGS["synth/signature"])
    code, out, _ = run("notifications", "--json")
    assert code == 0 and [r["request_id"] for r in json.loads(out)] == ["hers"]
    code, out, _ = run("artifacts", "--json")
    assert code == 0 and [r["request_id"] for r in json.loads(out)] == ["hers"]
    code, _, err = run("notifications", "--requester", "bob@example.org")
    assert code == cli.EXIT_REFUSED and "refused: requester: the notifications of 'bob@example.org'" in err
    code, _, err = run("preview", "his")
    assert code == cli.EXIT_REFUSED and "the artifacts of 'bob@example.org' are not yours" in err
    # Where the CLI holds the deploy's secret it checks the signature too.
    monkeypatch.setenv("SYNTH_IDENTITY_SECRET", SECRET)
    monkeypatch.setenv("SYNTH_SIGNATURE", "f" * 64)
    code, _, err = run("artifacts")
    assert code == cli.EXIT_REFUSED and "refused: synth/signature: does not match" in err


@pytest.mark.parametrize(
    ("user", "role", "refusal"),
    [
        ("mallory@example.org", "requester", "refused: requester: 'tester@example.org' is not the authenticated user"),
        (ALICE, "viewer", "refused: synth/role: 'tester@example.org' has role 'viewer', which may not launch runs"),
    ],
)
def test_the_cli_runs_nothing_for_a_viewer_or_in_someone_elses_name(
    synth_env, monkeypatch, tmp_path, capsys, user, role, refusal
):
    request = tmp_path / "r.json"
    request.write_text(json.dumps(small_request(request_id="cli-id")))
    monkeypatch.setenv("SYNTH_USER", user)
    monkeypatch.setenv("SYNTH_ROLE", role)
    assert cli.main(["run", str(request)]) == cli.EXIT_REFUSED
    assert refusal in capsys.readouterr().err
    assert not (synth_env.artifact_root / "cli-id").exists()
