"""`make ui`'s `dagster dev` for real: the asset graph over GraphQL, and the daemon's sensor running a request."""

import json
import os

import pytest
import requests

from synth_pipelines.intake.requests import LocalRequestStore
from synth_pipelines.publishing import NotificationStore
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import dagster_dev, graphql, make_dagster_home, wait_for

pytestmark = pytest.mark.integration

NINE_ASSETS = {
    "synthesis_request",
    "raw_dataset",
    "dataset_profile",
    "validated_dataset",
    "trained_model",
    "synthetic_chunks",
    "synthetic_export",
    "quality_report",
    "published_artifact",
}
CHECK = """query Check {
  assetCheckExecutions(assetKey: {path: ["quality_report"]}, checkName: "min_overall", limit: 20) {
    runId status evaluation { success description } } }"""
SUMMARY = """query Summary {
  assetOrError(assetKey: {path: ["quality_report"]}) { ... on Asset {
    assetMaterializations(limit: 20) {
      partition metadataEntries { label ... on MarkdownMetadataEntry { mdStr } } } } } }"""
RUNS = """query Runs { runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""


def test_ui_graph_and_daemon_sensor_run_a_dropped_request(synth_env, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home"))}
    store = LocalRequestStore(synth_env.request_root)
    with dagster_dev(env, tmp_path / "dagster-dev.log") as url:
        nodes = graphql(url, "{ assetNodes { assetKey { path } } }")["assetNodes"]
        assert {"/".join(n["assetKey"]["path"]) for n in nodes} == NINE_ASSETS

        (store.root / "incoming" / "daemon.json").write_text(json.dumps(small_request(request_id="daemon")))
        blocked = small_request(request_id="blocked", requester="carol@example.org", quality={"min_overall": 0.999})
        (store.root / "incoming" / "blocked.json").write_text(json.dumps(blocked))
        (store.root / "incoming" / "malformed.json").write_text('{"request_id": "oops",')
        standing = small_request(request_id="every-minute", schedule="* * * * *", rows=500)
        (store.root / "incoming" / "standing.json").write_text(json.dumps(standing))

        def finished():
            runs = graphql(url, RUNS)["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            scheduled = [r for r in done if {"key": "synth/standing_request", "value": "every-minute"} in r["tags"]]
            return done if len(done) - len(scheduled) == 2 and scheduled else None

        runs = wait_for(finished, 600, "the sensor's two runs and one scheduled run to finish", interval=3)
        (store.root / "standing" / "every-minute.json").unlink()  # no more ticks for it
        notes = NotificationStore(store.root)
        wait_for(lambda: len(notes.list()) >= 3, 120, "the notifications", interval=2)

        # What the quality_report asset shows in the UI: its Markdown summary and its checks.
        materializations = graphql(url, SUMMARY)["assetOrError"]["assetMaterializations"]
        materialization = next(m for m in materializations if m["partition"] == "daemon")
        summary = {e["label"]: e.get("mdStr") for e in materialization["metadataEntries"]}["summary"]
        assert "overall" in summary.lower()
        # Check results carry no partition of their own: find each one's partition through its run.
        partition_of = {
            r["runId"]: {t["key"]: t["value"] for t in r["tags"]}.get("dagster/partition")
            for r in graphql(url, RUNS)["runsOrError"]["results"]
        }
        checks = {
            partition_of.get(c["runId"]): c["evaluation"]
            for c in graphql(url, CHECK)["assetCheckExecutions"]
            if c["evaluation"]
        }
        assert checks["blocked"]["success"] is False and "min_overall" in checks["blocked"]["description"]
        assert checks["daemon"]["success"] is True
    log = (tmp_path / "dagster-dev.log").read_text()
    by_partition = {}
    for run in runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        by_partition[tags["dagster/partition"]] = (run["status"], tags)
    assert by_partition["daemon"][0] == "SUCCESS", log[-4000:]
    scheduled = [key for key in by_partition if key.startswith("every-minute-")]
    assert scheduled and all(by_partition[key][0] == "SUCCESS" for key in scheduled), log[-4000:]
    assert json.loads((synth_env.artifact_root / scheduled[0] / "manifest.json").read_text())["rows"] == 500
    assert by_partition["blocked"][0] == "FAILURE"
    assert by_partition["daemon"][1]["synth/requester"] == "tester@example.org"

    success, failure = notes.list(request_id="daemon")[0], notes.list(request_id="blocked")[0]
    assert success.outcome == "success" and success.manifest_location.endswith("daemon/manifest.json")
    assert failure.outcome == "failure" and failure.requester == "carol@example.org"
    assert "min_overall" in failure.reason
    assert not (synth_env.artifact_root / "blocked" / "manifest.json").exists()
    manifest = json.loads((synth_env.artifact_root / "daemon" / "manifest.json").read_text())
    assert manifest["rows"] == 2500
    rejected = store.rejected_errors()
    assert [e["file"] for e in rejected] == ["malformed.json"]
    assert rejected[0]["errors"][0]["field"] == "request"


FORM = """query Form($selector: PipelineSelector!) { runConfigSchemaOrError(selector: $selector) {
  __typename ... on RunConfigSchema { rootDefaultYaml } ... on PythonError { message } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } }
  ... on RunConfigValidationInvalid { errors { message } } ... on PythonError { message } } }"""
RESULT = """query Result { assetOrError(assetKey: {path: ["published_artifact"]}) { ... on Asset {
  assetMaterializations(limit: 5) {
    partition runId metadataEntries { label ... on MarkdownMetadataEntry { mdStr } } } } } }"""


def test_a_request_launched_from_the_form_runs_once_and_shows_its_result(synth_env, tmp_path):
    """The launchpad's path, over the webserver's GraphQL: the form, its refusals, the run, the result."""
    from synth_pipelines.graphql_client import repository_selector

    env = {**os.environ, "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home"))}
    request = small_request(request_id="from-the-form", quality={"min_overall": 0.3})
    with dagster_dev(env, tmp_path / "dagster-dev.log") as url:
        repository = repository_selector(url, "submit_request")
        selector = {**repository, "jobName": "submit_request"}
        form = graphql(url, FORM, {"selector": {**repository, "pipelineName": "submit_request"}})
        form = form["runConfigSchemaOrError"]
        assert form["__typename"] == "RunConfigSchema"
        prefilled = form["rootDefaultYaml"]  # what the launchpad starts from
        assert "chunk_rows: 10000" in prefilled and "gaussian_copula" in prefilled
        assert not [word for word in ("resources", "ops", "ledger", "root") if f"{word}:" in prefilled]

        def launch(config):
            # The webserver answers a launch that raised with HTTP 500 and the PythonError in `data`.
            params = {"params": {"selector": selector, "runConfigData": config}}
            answer = requests.post(f"{url}/graphql", json={"query": LAUNCH, "variables": params}, timeout=60)
            return answer.json()["data"]["launchRun"]

        typed = launch({**request, "rows": "many"})  # Dagster's config check
        assert typed["__typename"] == "RunConfigValidationInvalid" and "rows" in typed["errors"][0]["message"]
        ranged = launch({**request, "rows": 0})  # the request's own check, in the form's config mapping
        assert ranged["__typename"] == "PythonError" and "request refused: rows:" in ranged["message"]
        assert graphql(url, RUNS)["runsOrError"]["results"] == []  # refused: no run exists

        assert launch(request)["__typename"] == "LaunchRunSuccess"

        def both_done():
            runs = graphql(url, RUNS)["runsOrError"]["results"]
            done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
            return runs if len(done) == 2 else None

        runs = wait_for(both_done, 600, "the submit run and the request's run to finish", interval=3)
        assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
        partitions = [{t["key"]: t["value"] for t in r["tags"]}.get("dagster/partition") for r in runs]
        assert len(partitions) == 2 and set(partitions) == {"from-the-form", None}  # once, via the intake sensor
        materialization = graphql(url, RESULT)["assetOrError"]["assetMaterializations"][0]
        assert materialization["partition"] == "from-the-form"
        summary = {e["label"]: e.get("mdStr") for e in materialization["metadataEntries"]}["summary"]
        assert "overall" in summary and "min_overall" in summary and "no DP" in summary
