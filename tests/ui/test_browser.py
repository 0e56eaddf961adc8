"""The page in a real headless browser (Debian's chromium, driven through its chromedriver): runs list,
a run's graph changing state live, a task's log, a CSV preview and a metrics table."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import runner
from runner.dsl import compile_to_text
from runner.ui.security import new_token
from runner.ui.server import BackgroundUI, listen
from tests.conftest import IN_CI
from tests.ui.conftest import HeldRun
from tests.ui.pipelines import reports

CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 30


def require_browser() -> None:
    """Skip without chromium and chromedriver, except in CI where their absence is a failure."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not missing and CHROMEDRIVER.exists():
        return
    message = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def headless_chromium() -> Iterator[Any]:
    """Debian's chromium, headless, through its chromedriver; quit when the caller is done with it."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from headless_chromium()


@pytest.fixture
def ui() -> Iterator[str]:
    """The address `flow ui` prints: with the token, which the page keeps and takes out of the address."""
    server = BackgroundUI(listen("127.0.0.1", 0), new_token())
    yield server.address.url()
    server.stop()


@pytest.fixture
def screenshots(tmp_path: Path) -> Iterator[Path]:
    """Where the screenshots go; also copied to $FLOW_TEST_ARTIFACTS when it names a folder."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    print(f"screenshots of the run page: {folder}")
    target = os.environ.get("FLOW_TEST_ARTIFACTS")
    if target:
        shutil.copytree(folder, Path(target) / "ui", dirs_exist_ok=True)
        print(f"screenshots copied to {Path(target) / 'ui'}")


def test_a_run_page_follows_the_run_and_shows_logs_csv_and_metrics(
    browser: Any, ui: str, screenshots: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws the graph and the log as the run goes on: an element found a moment ago may be gone.
    wait = WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def node_state(path: str) -> str:
        """A graph node's state, read in one step inside the page (no element kept across a redraw)."""
        state = browser.execute_script(
            "const node = document.querySelector(arguments[0]);"
            "return node ? node.getAttribute('data-state') : '';",
            f'g.node[data-path="{path}"]',
        )
        return str(state or "")

    finished = runner.run(compile_to_text(reports), backend="process")
    assert finished.succeeded
    held = HeldRun(tmp_path / "root").start()
    try:
        browser.get(f"{ui}#/runs")
        wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, f'tr[data-run="{held.run_id}"]'))
        assert "token" not in browser.current_url  # the page took it out of the address
        rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
        assert [row.get_attribute("data-run") for row in rows] == [held.run_id, finished.run_id]
        browser.save_screenshot(str(screenshots / "runs.png"))

        browser.find_element(By.LINK_TEXT, held.run_id).click()
        wait.until(lambda _: node_state("held") == "RUNNING")
        assert node_state("first") == "SUCCEEDED"
        assert node_state("last") == "PENDING"
        browser.execute_script("window.flowTestMarker = 'same page'")
        browser.save_screenshot(str(screenshots / "run-running.png"))

        browser.find_element(By.CSS_SELECTOR, 'g.node[data-path="held"]').click()
        wait.until(lambda _: "waiting" in browser.find_element(By.ID, "log").text)
        assert "following" in browser.find_element(By.CSS_SELECTOR, ".log-status").text

        held.release()
        wait.until(lambda _: node_state("last") == "SUCCEEDED")
        assert node_state("held") == "SUCCEEDED"
        assert browser.execute_script("return window.flowTestMarker") == "same page"  # no reload
        wait.until(lambda _: "released" in browser.find_element(By.ID, "log").text)
        browser.save_screenshot(str(screenshots / "run-finished.png"))
    finally:
        assert held.finish().succeeded

    # Opened again without the token (a bookmark, a new tab): the cookie opens the page, which kept the token.
    browser.get(f"{ui.split('?')[0]}#/runs/{finished.run_id}")
    table_uri = f"{finished.run_id}/make-table/table"
    preview = f'tr[data-uri="{table_uri}"] .preview-button'
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, preview))
    browser.find_element(By.CSS_SELECTOR, preview).click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "table.csv"))
    cells = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.csv td")]
    assert cells == ["row-0", "0", "row-1", "10", "row-2", "20"]
    browser.save_screenshot(str(screenshots / "csv-preview.png"))

    # An image and a sandboxed page are loaded by the browser itself, with the token in their address.
    made = f"{finished.run_id}/make-reports"
    browser.find_element(By.CSS_SELECTOR, f'tr[data-uri="{made}/picture"] .preview-button').click()
    wait.until(
        lambda _: browser.execute_script(
            "const i = document.querySelector('img.image'); return i && i.naturalWidth"
        )
    )
    browser.find_element(By.CSS_SELECTOR, f'tr[data-uri="{made}/page"] .preview-button').click()
    frame = wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "iframe.sandboxed"))[0]
    browser.switch_to.frame(frame)
    wait.until(lambda _: browser.find_elements(By.TAG_NAME, "h1"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "report"
    browser.switch_to.default_content()

    browser.find_element(
        By.CSS_SELECTOR, f'tr[data-uri="{finished.run_id}/evaluate/metrics"] .preview-button'
    ).click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "table.metrics"))
    metrics = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "table.metrics tbody tr")
    }
    assert metrics == {"rows": "3", "accuracy": "0.875"}

    browser.find_element(
        By.CSS_SELECTOR, f'tr[data-uri="{finished.run_id}/evaluate/matrix"] .preview-button'
    ).click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "table.confusion-matrix"))
    grid = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.confusion-matrix td")]
    assert grid == ["3", "1", "0", "4"]
    browser.find_element(By.CSS_SELECTOR, 'g.node[data-path="evaluate"]').click()
    wait.until(lambda _: "evaluated 3 rows" in browser.find_element(By.ID, "log").text)
    browser.save_screenshot(str(screenshots / "run-metrics.png"))
    assert len(list(screenshots.iterdir())) == 5
