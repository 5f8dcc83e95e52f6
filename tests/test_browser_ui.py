"""The web UI in a real headless Chromium (Playwright): launch a short run from the form, watch the
telemetry chart fill and the discovered law appear, download an artifact; the API docs (Swagger UI,
ReDoc) render with every other host cut off. Screenshots go to test_artifacts/browser/."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

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
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(server, browser):
    context = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.console_errors = []
    context.on("console", lambda msg: msg.type == "error" and context.console_errors.append(msg.text))
    yield context
    context.close()


def test_api_docs_render_with_the_network_cut_off(server, browser):
    """/docs and /redoc need nothing but this server: every request to another host is aborted."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    own, refused, errors = urlsplit(server.url).netloc, [], []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))

    def only_this_server(route):
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_this_server)
    try:
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() >= 35
        assert page.locator(".opblock-summary-path", has_text="/api/v1/runs/{run_id}").count() >= 1
        assert page.get_by_text("Launch a closed-loop run").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "06_swagger_offline.png"))

        page.goto(server.url + "/redoc")
        page.wait_for_selector("h1:has-text('ATOM OSS SDK platform')", timeout=30_000)
        page.locator("h2", has_text="Launch a closed-loop run").first.wait_for(timeout=30_000)  # the operation
        menu = page.locator(".menu-content li", has_text="Launch a closed-loop run")  # and its menu entry
        assert menu.count() >= 1 and page.locator(".menu-content li").count() >= 35
        page.screenshot(path=str(ARTIFACTS / "07_redoc_offline.png"))
    finally:
        page.close()
    assert not refused, f"the docs asked other hosts for: {refused}"
    # ReDoc's sidebar always asks for the Redocly logo from its CDN; the docs' CSP stops it in the
    # browser (nothing leaves, the logo hides itself). Any other blocked source is a failure.
    csp = [e for e in errors if "Content Security Policy" in e and "cdn.redoc.ly/redoc/logo-mini.svg" not in e]
    assert not csp, csp


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
    # 32 steps at the default 1 % measurement noise are too few for any law to beat the trivial
    # predictors (the governor rightly accepts none); noise-free readings give the UI a law to show
    page.fill("#run-measurement-noise", "0")
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

    page.goto(server.url + "/#/ledger")  # grouped by law: one row per law, with its counts
    page.wait_for_selector("#ledger-groups tr.law-group")
    assert run_id in page.inner_text("#ledger-groups") and "amplitude" in page.inner_text("#ledger-groups")
    assert "records in" in page.inner_text("#ledger-summary")
    page.uncheck("#ledger-grouped")  # every record
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


# ---------------------------------------------------------------------------- the dashboard
def _until(check, timeout: float = 60, what: str = "condition") -> None:
    """Poll ``check()`` from Python (the UI's CSP forbids the eval behind page.wait_for_function's polling)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def _state(page) -> str | None:
    return page.get_attribute("#run-state [data-state]", "data-state")


def _wait_state(page, states: tuple[str, ...], timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(page)
        if state in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"run stayed {_state(page)}: {page.inner_text('#view')[:2000]}")


def _assert_nice_integer_ticks(text: str, last: int) -> None:
    """Step ticks: whole numbers from 0, evenly spaced by 1, 2 or 5 times a power of ten, up to the last step."""
    ticks = [int(t) for t in text.split(",")]  # a fractional tick fails here
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and len(ticks) >= 3 and ticks[-1] <= last < ticks[-1] + step, ticks
    assert all(b - a == step for a, b in zip(ticks, ticks[1:])), ticks
    assert step / 10 ** (len(str(step)) - 1) in (1, 2, 5), ticks


def test_runs_index_lists_every_run_and_compares_two(server, page):
    """A CLI-style run folder and a broken one sit next to the UI's runs; two are overlaid with smoothing."""
    from test_platform_dashboard import cli_run_folder

    workspace = server.app.state.platform.settings.workspace
    cli_run_folder(workspace / "experiment_results" / "cli_a", name="cli_a", seed=4, steps=120, episode_len=20)
    cli_run_folder(workspace / "experiment_results" / "cli_b", name="cli_b", seed=5, steps=80, episode_len=20,
                   variant="ppo_baseline")
    broken = workspace / "experiment_results" / "cli_broken"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{oops")
    (broken / "telemetry.jsonl").write_text("")

    page.goto(server.url + "/#/runs")
    page.wait_for_selector("#runs tr[data-key='dir:experiment_results/cli_a']")
    assert page.locator("#runs tbody tr").count() >= 3  # and the runs launched from the form
    broken_row = page.locator("#runs tr[data-key='dir:experiment_results/cli_broken']")
    assert broken_row.locator("[data-state]").get_attribute("data-state") == "broken"
    assert "config.json unreadable" in broken_row.inner_text()
    row_a = page.locator("#runs tr[data-key='dir:experiment_results/cli_a']").inner_text()
    assert "analytical:taylor_green" in row_a and "v2_hybrid" in row_a and "120 / 120" in row_a and "amplitude" in row_a

    page.click("#runs th[data-sort='seed']")  # descending first, then ascending
    page.click("#runs th[data-sort='seed']")
    seeds = [t for t in page.locator("#runs tbody tr td:nth-child(6)").all_inner_texts() if t != "–"]
    assert seeds == sorted(seeds, key=int) and seeds[-2:] == ["4", "5"]
    page.fill("#runs-filter", "ppo_baseline")
    assert page.locator("#runs tbody tr").count() == 1
    page.fill("#runs-filter", "")
    page.select_option("#runs-status", "broken")
    assert page.locator("#runs tbody tr").count() == 1
    page.select_option("#runs-status", "")
    page.screenshot(path=str(ARTIFACTS / "08_runs_index.png"), full_page=True)

    assert page.is_disabled("#runs-compare")
    page.locator("tr[data-key='dir:experiment_results/cli_a'] .run-select").check()
    page.locator("tr[data-key='dir:experiment_results/cli_b'] .run-select").check()
    page.click("#runs-compare")
    page.wait_for_selector("#compare-reward")
    _until(lambda: _points(page, "compare-reward") == 200, what="both runs' rewards")  # 120 + 80 steps
    # an episode's return is known once a later step starts the next one: 5 of a's 6, 3 of b's 4
    assert page.get_attribute("#compare-episode_return", "data-points") == str(5 + 3)
    _assert_nice_integer_ticks(page.get_attribute("#compare-reward", "data-xticks"), 119)  # steps 0-119
    assert page.get_attribute("#compare-diagnostics_amplitude", "data-yticks")
    table = page.inner_text("#compare-table")
    assert "cli_a" in table and "cli_b" in table and "ppo_baseline" in table
    before = page.locator("#compare-reward").screenshot()
    page.fill("#smoothing", "0")
    page.dispatch_event("#smoothing", "input")
    assert page.inner_text("#smoothing-value") == "0.00"
    assert page.locator("#compare-reward").screenshot() != before  # the smoothed lines are gone
    page.fill("#smoothing", "0.9")
    page.dispatch_event("#smoothing", "input")
    page.screenshot(path=str(ARTIFACTS / "09_compare.png"), full_page=True)


def test_launch_error_marks_the_field(server, page):
    page.goto(server.url + "/#/")
    page.goto(server.url + "/#/launch")
    page.wait_for_selector("#launch-run-form")
    page.fill("#f-run_steps", "0")
    page.click("#launch-submit")
    page.wait_for_selector(".field-error[data-for='f-run_steps']")
    assert page.get_attribute("#f-run_steps", "aria-invalid") == "true"
    assert "config.steps" in page.inner_text(".field-error")
    page.fill("#f-run_steps", "16")
    page.fill("#f-param_nu", "-1")  # refused by the world's own check: no field path, the message quotes 'nu'
    page.click("#launch-submit")
    page.wait_for_selector(".field-error[data-for='f-param_nu']")
    assert page.get_attribute("#f-run_steps", "aria-invalid") is None  # the old mark is cleared
    assert "invalid_world_parameter" in page.inner_text(".field-error[data-for='f-param_nu']")
    box = page.locator(".field-error").bounding_box()
    assert box is not None and 0 <= box["y"] <= 1000  # scrolled into view, not below the fold
    page.screenshot(path=str(ARTIFACTS / "10_launch_error.png"))


def test_cancel_then_resume_a_3d_run_and_slice_its_field(server, page):
    """Cancel mid-run, Resume from the UI: the run continues from its checkpoint to the last step."""
    page.goto(server.url + "/#/")  # a fresh form (the page may already show #/launch)
    page.goto(server.url + "/#/launch")
    page.wait_for_selector("#launch-run-form")
    page.fill("#run-grid", "8, 8, 4")
    page.fill("#run-measurement-noise", "0")
    page.fill("#f-run_name", "ui_resume")
    page.fill("#f-run_steps", "480")
    page.click("#launch-submit")
    page.wait_for_url("**/#/runs/run_*", timeout=30_000)
    _until(lambda: _points(page, "chart-reward") >= 48, 300, "48 steps of the run")
    page.click("button:has-text('Cancel')")
    assert _wait_state(page, ("cancelled", "succeeded")) == "cancelled", "the run ended before it could be cancelled"
    cancelled_at = _points(page, "chart-reward")
    assert cancelled_at < 480
    page.screenshot(path=str(ARTIFACTS / "11_cancelled.png"), full_page=True)
    page.click("#job-resume")
    _until(lambda: _state(page) not in (None, "cancelled"), what="the run to leave 'cancelled'")
    assert _wait_state(page, ("succeeded", "failed", "cancelled")) == "succeeded", page.inner_text("#view")
    _until(lambda: _points(page, "chart-reward") == 480, 30,
           f"all 480 steps on the chart (it shows {_points(page, 'chart-reward')})")
    page.wait_for_selector("#heat-slice")
    assert page.get_attribute("#heat-slice", "max") == "3"
    assert page.get_attribute("#heatmap", "data-step") == "480" and page.get_attribute("#heatmap", "data-colorbar")
    page.fill("#heat-slice", "0")
    page.dispatch_event("#heat-slice", "input")
    assert page.get_attribute("#heatmap", "data-slice") == "0" and "z = 0" in page.inner_text("#heat-slice-value")
    assert page.locator("#run-saliency").count() == 1  # the hook the saliency view fills
    _assert_nice_integer_ticks(page.get_attribute("#chart-reward", "data-xticks"), 479)
    page.screenshot(path=str(ARTIFACTS / "12_resumed_3d.png"), full_page=True)


def test_phone_layout_has_no_sideways_page_scroll(server, browser):
    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        for path, ready in (("/#/runs", "#runs tbody tr"), ("/#/ledger", "#ledger-groups"),
                            ("/#/launch", "#launch-run-form"), ("/#/", ".template")):
            phone.goto(server.url + path)
            phone.wait_for_selector(ready)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
        phone.goto(server.url + "/#/runs")
        phone.wait_for_selector("#runs tbody tr")
        wrap = phone.locator(".table-wrap").first
        assert wrap.evaluate("n => n.scrollWidth > n.clientWidth")  # the table scrolls inside its box
        phone.screenshot(path=str(ARTIFACTS / "13_phone_runs.png"), full_page=True)
    finally:
        phone.close()
