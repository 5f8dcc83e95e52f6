"""The web UI in a real headless Chromium (Playwright): launch a short run from the form, watch the
telemetry chart fill and the discovered law appear, download an artifact. Screenshots go to
test_artifacts/browser/."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (run scripts/ci_install_browser.sh)"),
]
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("fastapi")

from atom_sdk.platform.testing import ServerThread, settings_for  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test_artifacts" / "browser"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerThread(settings_for(tmp_path_factory.mktemp("ui"), workers=1)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        context.console_errors = []
        context.on("console", lambda msg: msg.type == "error" and context.console_errors.append(msg.text))
        yield context
        browser.close()


def _points(page, canvas_id: str) -> int:
    return int(page.get_attribute(f"#{canvas_id}", "data-points") or 0)


def test_launch_run_watch_telemetry_laws_and_download(server, page):
    page.goto(server.url + "/#/")
    page.wait_for_selector(".template[data-template='taylor_green_quick']")
    page.screenshot(path=str(ARTIFACTS / "01_home.png"), full_page=True)

    page.goto(server.url + "/#/launch")
    page.wait_for_selector("#launch-run-form")
    page.select_option("#run-world", "analytical:taylor_green")
    page.fill("#run-grid", "8, 8, 1")
    page.fill("#f-run_name", "ui_tg")
    page.fill("#f-run_steps", "32")
    page.select_option("#f-run_variant", "v2_hybrid")
    page.screenshot(path=str(ARTIFACTS / "02_launch_form.png"), full_page=True)
    page.click("#launch-submit")
    page.wait_for_url("**/#/runs/run_*", timeout=30_000)
    run_id = page.url.rsplit("/", 1)[-1]

    seen: list[int] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        seen.append(_points(page, "chart-reward"))
        state = page.get_attribute("#run-state [data-state]", "data-state")
        if state in ("succeeded", "failed", "cancelled"):
            break
        if seen[-1] and len(seen) % 20 == 0:
            page.screenshot(path=str(ARTIFACTS / "03_live_run.png"), full_page=True)
        time.sleep(0.5)
    assert state == "succeeded", page.inner_text("#view")
    page.wait_for_function("document.querySelector('#chart-reward').dataset.points === '32'", timeout=30_000)
    assert any(0 < n < 32 for n in seen), f"the chart never showed a partial run: {sorted(set(seen))}"
    assert _points(page, "chart-trust") == 32 and _points(page, "chart-mode") == 32
    page.wait_for_selector("#laws .law-item", timeout=30_000)
    law_text = page.inner_text("#laws")
    assert "amplitude" in law_text and "dt" in law_text
    assert page.get_attribute("#heatmap", "data-step") == "32"
    page.wait_for_selector("a.artifact-download")
    page.screenshot(path=str(ARTIFACTS / "04_finished_run.png"), full_page=True)

    with page.expect_download() as info:
        page.click("a.artifact-download[download='results.json']")
    target = ARTIFACTS / f"{run_id}_results.json"
    info.value.save_as(str(target))
    results = json.loads(target.read_text())
    assert results["summary"]["steps"] == 32 and results["laws"], results["laws"]
    assert results["laws"][0]["target"] == "amplitude"

    page.goto(server.url + "/#/ledger")
    page.wait_for_selector("#ledger tr:nth-child(2)")
    assert run_id in page.inner_text("#ledger")
    page.goto(server.url + "/#/assistant")
    page.fill("#assistant-question", f"Which laws did {run_id} discover?")
    page.click("#assistant-ask")
    page.wait_for_selector("#assistant-answer li")
    answer = page.inner_text("#assistant-answer")
    assert "discovered" in answer and f"{run_id}/results.json" in answer
    page.screenshot(path=str(ARTIFACTS / "05_assistant.png"), full_page=True)
    csp = [e for e in page.console_errors if "Content Security Policy" in e]
    assert not csp, csp
