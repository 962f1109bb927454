"""A data owner's path through the Dagster UI, in Debian's Chromium driven by Playwright, against `dagster dev`.

It fills in the `submit_request` launchpad (the request's own typed fields, scaffolded), launches
it, waits for the intake sensor's run of the request, and from that run's page opens the result in
one click: the quality and privacy summary, headed by a link that downloads the export from the
deploy's web server (SYNTH_PUBLIC_BASE_URL over the artifact root). It also opens
synthetic_export's preview. Each step leaves a screenshot in test-artifacts/browser/;
docs/ui/ holds copies of three of them for the README.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import dagster_dev, graphql, make_dagster_home, wait_for
from synth_pipelines_tests.servers import artifact_web_server
from synth_pipelines_tests.test_dagster_dev import RUNS

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "test-artifacts" / "browser"
REQUEST_ID = "ui-request"
# What the owner types into the scaffolded form: the three required fields, the dataset, small chunks.
FILLED = {
    "request_id: ''": f"request_id: {REQUEST_ID}",
    "requester: ''": "requester: owner@example.org",
    "rows: 0": "rows: 2500",
    "chunk_rows: 10000": "chunk_rows: 1000\ndataset:\n  uri: adult_small.csv",
}

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    """A missing browser fails these tests (not a skip, not the whole suite's collection): `make test` installs it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (scripts/install_system_deps.sh)")


def test_a_data_owner_launches_a_request_from_the_form_and_opens_its_result(synth_env, tmp_path):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with artifact_web_server(synth_env.artifact_root) as base_url:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home")),
            "SYNTH_PUBLIC_BASE_URL": base_url,
        }
        with dagster_dev(env, tmp_path / "dagster-dev.log") as url:
            drop_a_request_that_breaks_its_contract(synth_env)  # runs beside the UI's; checked at the end
            with playwright.sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM),
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
                page.set_default_timeout(60_000)
                try:
                    drive_the_ui(page, url, base_url, synth_env, tmp_path)
                except Exception:
                    page.screenshot(path=SHOTS / "failure.png", full_page=True)
                    raise
                finally:
                    browser.close()
            a_failed_request_is_red_from_its_failing_step_on(url, synth_env)


def finished_run(url: str, partition: str) -> dict | None:
    """The finished run of a request's partition, or None while it has none."""
    for run in graphql(url, RUNS)["runsOrError"]["results"]:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        if tags.get("dagster/partition") == partition and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
    return None


def editor_text(page) -> str:
    return page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")


def drive_the_ui(page, url: str, base_url: str, settings, tmp_path: Path) -> None:
    expect = playwright.expect
    expect.set_options(timeout=60_000)  # two shared CPUs: the UI's GraphQL answers can take tens of seconds

    # 1. Jobs → submit_request → Launchpad: the request's fields with their defaults, nothing about the server.
    page.goto(f"{url}/locations/synth_pipelines/jobs/submit_request/playground")
    expect(page.locator(".CodeMirror")).to_be_visible()
    skip = page.get_by_role("button", name="Skip")  # the community sign-up dialog a fresh instance shows once
    try:
        skip.click(timeout=5_000)
    except playwright.TimeoutError:
        pass
    expect(page.get_by_text("gaussian_copula").first).to_be_visible()
    prefilled = editor_text(page)
    assert "chunk_rows: 10000" in prefilled and "name: gaussian_copula" in prefilled
    internals = [str(settings.artifact_root), str(settings.data_root), "ledger", "resources:", "ops:"]
    assert not [word for word in internals if word in prefilled]

    # 2. Scaffold the missing fields, fill them in, launch.
    page.get_by_role("button", name="Scaffold missing config").click()
    page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    scaffolded = editor_text(page)
    assert all(blank in scaffolded for blank in FILLED)  # the three required fields, blank
    filled = scaffolded
    for blank, value in FILLED.items():
        filled = filled.replace(blank, value)
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(filled)  # as pasted: no keystrokes for the editor's completions to catch
    expect(page.get_by_text("No errors")).to_be_visible()
    assert editor_text(page) == filled
    page.screenshot(path=SHOTS / "01-launch-form.png")
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}$"))
    expect(page.get_by_role("link", name="submit_request").first).to_be_visible()

    # 3. The intake sensor takes the filed request and runs it: wait for that run, then open its page.
    run = wait_for(lambda: finished_run(url, REQUEST_ID), 600, f"the intake sensor's run of {REQUEST_ID}", interval=3)
    assert run["status"] == "SUCCESS"
    page.goto(f"{url}/runs/{run['runId']}")
    expect(page.get_by_text(f"partition: {REQUEST_ID}").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Success$")).first).to_be_visible()
    expect(page.get_by_text("Finished execution of run").first).to_be_visible()
    page.screenshot(path=SHOTS / "02-request-run.png")

    # 4. One click from the run's page: published_artifact's summary (the log's last Markdown entry).
    page.get_by_text("[Show Markdown]").last.click()
    result = page.get_by_role("dialog")
    expect(result).to_contain_text("Open the export")
    for fact in ("rows", "2,500", "quality", "overall", "privacy", "no DP", "published: web"):
        expect(result).to_contain_text(fact)
    page.screenshot(path=SHOTS / "03-result.png")
    link = result.get_by_role("link", name="Open the export")
    href = link.get_attribute("href")
    assert href == f"{base_url}/{REQUEST_ID}/{REQUEST_ID}.parquet"
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "opened-export.parquet"
    download.value.save_as(saved)
    manifest = (settings.artifact_root / REQUEST_ID / "manifest.json").read_text()
    sha256 = hashlib.sha256(saved.read_bytes()).hexdigest()
    assert f'"sha256": "{sha256}"' in manifest
    page.keyboard.press("Escape")

    # 5. synthetic_export's preview: the export's first 20 rows, none of them a row of the input table.
    page.goto(f"{url}/assets/synthetic_export?partition={REQUEST_ID}")
    page.get_by_text("[Show Markdown]").first.click()
    preview = page.get_by_role("dialog")
    expect(preview).to_contain_text("fnlwgt")
    header = [cell.inner_text() for cell in preview.locator("thead th").all()]
    rows = [[cell.inner_text() for cell in row.locator("td").all()] for row in preview.locator("tbody tr").all()]
    preview.locator("thead").scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "04-preview.png")
    export = pd.read_parquet(saved)
    assert header == list(export.columns) and len(rows) == 20
    fnlwgt = header.index("fnlwgt")
    assert [int(row[fnlwgt]) for row in rows] == export["fnlwgt"].head(20).astype(int).tolist()
    real = pd.read_csv(settings.data_root / "adult_small.csv")
    shown = {tuple(row[header.index(c)] for c in ("age", "fnlwgt", "education")) for row in rows}
    seen = set(zip(real["age"].astype(str), real["fnlwgt"].astype(str), real["education"].astype(str), strict=True))
    assert not shown & seen


STATUSES = """{ assetNodes { assetKey { path } assetPartitionStatuses {
  ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } } } }"""
STEPS = """query Steps($id: ID!) { runOrError(runId: $id) { ... on Run { status stepStats { stepKey status } } } }"""
# The graph's order: what is before validated_dataset ran and stays green; what is after it never ran.
BEFORE = ("synthesis_request", "raw_dataset", "dataset_profile")
AFTER = ("trained_model", "synthetic_chunks", "synthetic_export", "quality_report", "published_artifact")


def drop_a_request_that_breaks_its_contract(settings) -> None:
    """`bad-data`: its owner's suite wants every age in [0, 1], so validated_dataset fails."""
    suite = {
        "name": "owner",
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 1}}
        ],
    }
    (settings.data_root / "owner_suite.json").write_text(json.dumps(suite))
    request = small_request(request_id="bad-data", validation={"expectation_suite": "owner_suite.json"})
    (settings.request_root / "incoming" / "bad-data.json").write_text(json.dumps(request))


def a_failed_request_is_red_from_its_failing_step_on(url: str, settings) -> None:
    """The request whose data breaks its owner's contract: validated_dataset fails, the steps after it never start.

    The asset graph paints a partition red when a failed run planned it and did not materialize
    it, so the assets after the failure are red too (Dagster has no "skipped" partition
    state; pinned here and in the README, so that a Dagster that gains one shows up); what ran
    before the failure stays green, and the other request's partitions stay green.
    """
    run = wait_for(lambda: finished_run(url, "bad-data"), 300, "the failing request's run to finish", interval=3)
    assert run["status"] == "FAILURE"
    steps = {s["stepKey"]: s["status"] for s in graphql(url, STEPS, {"id": run["runId"]})["runOrError"]["stepStats"]}
    assert steps["validated_dataset"] == "FAILURE"
    assert {steps[key] for key in BEFORE} == {"SUCCESS"}
    assert not [key for key in steps if key.startswith(AFTER)]  # never started ("Not executing" in the log)
    statuses = {n["assetKey"]["path"][-1]: n["assetPartitionStatuses"] for n in graphql(url, STATUSES)["assetNodes"]}
    for asset in BEFORE:
        assert "bad-data" in statuses[asset]["materializedPartitions"] and not statuses[asset]["failedPartitions"]
    for asset in ("validated_dataset", *AFTER):
        assert statuses[asset]["failedPartitions"] == ["bad-data"]
        assert statuses[asset]["materializedPartitions"] == [REQUEST_ID]
