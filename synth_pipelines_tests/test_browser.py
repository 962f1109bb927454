"""The Dagster UI as a person uses it, in Debian's Chromium driven by Playwright, against `dagster dev`.

It opens the asset graph, adds a request partition and launches its run from the UI, watches the run page
until it says Success, and reads the quality report's Markdown summary. Each step leaves a screenshot in
test-artifacts/browser/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from synth_pipelines.core.request import parse_request
from synth_pipelines.intake.requests import LocalRequestStore
from synth_pipelines.settings import REPO_ROOT
from synth_pipelines_tests.conftest import small_request
from synth_pipelines_tests.dagster_processes import dagster_dev, graphql, make_dagster_home
from synth_pipelines_tests.test_dagster_dev import NINE_ASSETS

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "test-artifacts" / "browser"
REQUEST_ID = "ui-request"

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    """A missing browser fails these tests (not a skip, not the whole suite's collection): `make test` installs it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (scripts/install_system_deps.sh)")


SENSOR_ID = """
query Sensor($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { ... on Sensor { id } } }
"""
STOP = """mutation Stop($id: String!) { stopSensor(id: $id) { ... on StopSensorMutationResult {
  instigationState { status } } ... on PythonError { message } } }"""


def stop_intake_sensor(url: str) -> None:
    """The intake sensor also runs any accepted request it has not run yet: off, so the UI's launch is the only run."""
    selector = {
        "repositoryLocationName": "synth_pipelines",
        "repositoryName": "__repository__",
        "sensorName": "request_intake_sensor",
    }
    sensor_id = graphql(url, SENSOR_ID, {"selector": selector})["sensorOrError"]["id"]
    state = graphql(url, STOP, {"id": sensor_id})["stopSensor"]["instigationState"]
    assert state["status"] == "STOPPED"


def test_launch_a_request_from_the_ui_and_read_its_quality_report(synth_env, tmp_path):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    env = {**os.environ, "DAGSTER_HOME": str(make_dagster_home(tmp_path / "dagster_home"))}
    with dagster_dev(env, tmp_path / "dagster-dev.log") as url:
        stop_intake_sensor(url)
        LocalRequestStore(synth_env.request_root).put_accepted(parse_request(small_request(request_id=REQUEST_ID)))
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            try:
                drive_the_ui(page, url)
            except Exception:
                page.screenshot(path=SHOTS / "failure.png", full_page=True)
                raise
            finally:
                browser.close()
    manifest = synth_env.artifact_root / REQUEST_ID / "manifest.json"
    assert manifest.is_file()


def drive_the_ui(page, url: str) -> None:
    expect = playwright.expect
    expect.set_options(timeout=60_000)  # two shared CPUs: the UI's GraphQL answers can take tens of seconds

    # 1. The asset graph of the `synthesis` group shows the nine assets.
    page.goto(f"{url}/locations/synth_pipelines/asset-groups/synthesis")
    materialize_all = page.get_by_role("button", name="Materialize all")
    expect(materialize_all).to_be_visible(timeout=60_000)
    skip = page.get_by_role("button", name="Skip")  # the community sign-up dialog a fresh instance shows once
    try:
        skip.click(timeout=5_000)
    except playwright.TimeoutError:
        pass
    for asset in sorted(NINE_ASSETS):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    page.screenshot(path=SHOTS / "01-asset-graph.png")

    # 2. Materialize all → add the request's partition → launch one run.
    materialize_all.click()
    page.get_by_text("Add a partition").click()
    page.get_by_role("dialog").filter(has_text="Add a partition for").get_by_role("textbox").fill(REQUEST_ID)
    page.screenshot(path=SHOTS / "02-add-partition.png")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog").filter(has_text="Add a partition for")).to_be_hidden(timeout=60_000)
    launch = page.get_by_role("button", name="Launch 1 run")
    try:
        expect(launch).to_be_visible(timeout=30_000)
    except AssertionError:
        # When the partition list refetches slowly the new key is added but not selected: pick it as a person
        # would, by filtering the list down to it and ticking "Select all (1)".
        page.get_by_text("Select a partition or create one").click()
        page.keyboard.type(REQUEST_ID)
        page.get_by_text(re.compile(r"^Select all \(1\)$")).click()
        page.get_by_text("Launch runs to materialize").click()  # closes the list, keeps the dialog
    expect(launch).to_be_enabled()
    expect(page.get_by_text("1 partition", exact=True)).to_be_visible()
    expect(page.get_by_text(REQUEST_ID, exact=True).first).to_be_visible()
    page.screenshot(path=SHOTS / "03-launch-dialog.png")
    launch.click()
    expect(page.get_by_text("Launch runs to materialize")).to_be_hidden()  # the dialog closes once the run exists
    page.screenshot(path=SHOTS / "04-launched.png")

    # 3. The run page says Success.
    page.goto(f"{url}/runs")
    run_link = page.locator('a[href^="/runs/"]').filter(has_text=re.compile(r"^[0-9a-f]{8}$")).first
    expect(run_link).to_be_visible(timeout=60_000)
    run_link.click()
    expect(page.get_by_text(f"partition: {REQUEST_ID}").first).to_be_visible()
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    expect(status).to_be_visible(timeout=420_000)
    page.screenshot(path=SHOTS / "05-run-success.png")
    assert status.inner_text() == "Success"

    # 4. The quality_report asset shows its Markdown summary.
    page.goto(f"{url}/assets/quality_report?partition={REQUEST_ID}")
    page.get_by_text("[Show Markdown]").click()
    summary = page.get_by_role("dialog")
    expect(summary).to_contain_text("Worst columns")
    expect(summary).to_contain_text("score")
    page.screenshot(path=SHOTS / "06-quality-report-summary.png")
