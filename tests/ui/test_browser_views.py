"""The run page's actions and the views beside it, in a real headless browser (as test_browser.py): one
browser and one UI over one store of recorded runs for the whole module; screenshots kept as artifacts."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import runner
from runner.dsl import compile_to_text
from runner.store import RunRecord, SQLiteStore, Store
from runner.testing.shellsteps import Step, pipeline
from runner.ui.app import create_app
from runner.ui.security import new_token
from runner.ui.server import BackgroundUI, listen
from tests.ui.conftest import record_runs
from tests.ui.pipelines import reports, sweep
from tests.ui.test_browser import WAIT_SECONDS, headless_chromium

# Fails until the file `fixed` is in the pipeline root, with a traceback on its way out.
FIXABLE = (
    'if [ -f "{{$.pipeline_root}}/fixed" ]; then echo fixed; else '
    'echo "Traceback (most recent call last):"; echo "ValueError: not fixed yet" >&2; exit 3; fi'
)


@dataclass
class Views:
    home: Path
    root: Path
    url: str
    reports: list[runner.RunResult]  # threshold 0.5, 0.7, 0.9
    fixable: runner.RunResult  # FAILED until root/fixed exists
    sweep: runner.RunResult  # a loop over rates 0.1 and 0.2

    def store(self) -> Store:
        return SQLiteStore(self.home / "flow.db")


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    home = tmp_path_factory.mktemp("views-home")
    root = home / "root"
    text = compile_to_text(reports)
    open_store = lambda: SQLiteStore(home / "flow.db")  # noqa: E731
    with pytest.MonkeyPatch.context() as patch, open_store() as store:
        patch.setenv("FLOW_HOME", str(home))
        done = [
            runner.run(text, backend="process", root=root, store=store, params={"threshold": value})
            for value in (0.5, 0.7, 0.9)
        ]
        steps = {"prepare": Step("echo prepared"), "check": Step(FIXABLE, after=("prepare",))}
        fixable = runner.run(pipeline(steps, name="ui-fixable"), backend="process", root=root, store=store)
        swept = runner.run(compile_to_text(sweep), backend="process", root=root, store=store)
    assert all(result.succeeded for result in [*done, swept]) and fixable.state.value == "FAILED"
    token = new_token()
    app = create_app(open_store=open_store, token=token, folder=home)
    server = BackgroundUI(listen("127.0.0.1", 0), token, app)
    yield Views(home, root, server.address.url(), done, fixable, swept)
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from headless_chromium()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the screenshots go; also copied to $FLOW_TEST_ARTIFACTS when it names a folder."""
    folder = tmp_path_factory.mktemp("view-screenshots")
    yield folder
    target = os.environ.get("FLOW_TEST_ARTIFACTS")
    if target:
        shutil.copytree(folder, Path(target) / "ui", dirs_exist_ok=True)


def waiter(browser: Any) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws as the run goes on: an element found a moment ago may be gone.
    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))


def run_state(browser: Any) -> str:
    return str(
        browser.execute_script(
            "const b = document.querySelector('.run-header .badge'); return b ? b.dataset.state : '';"
        )
        or ""
    )


def node_state(browser: Any, path: str) -> str:
    """A graph node's state, read in one step inside the page (no element kept across a redraw)."""
    found = browser.execute_script(
        "const n = document.querySelector(arguments[0]); return n ? n.dataset.state : '';",
        f'g.node[data-path="{path}"]',
    )
    return str(found or "")


def click(browser: Any, css: str) -> None:
    """Click the element once it is there; one the page drew again meanwhile is looked for again."""
    from selenium.webdriver.common.by import By

    def clicked(_: Any) -> bool:
        found = browser.find_elements(By.CSS_SELECTOR, css)
        if found:
            found[0].click()
        return bool(found)

    waiter(browser).until(clicked)


def text_of(browser: Any, css: str) -> str:
    """An element's text, read in one step inside the page."""
    found = browser.execute_script(
        "const n = document.querySelector(arguments[0]); return n && n.textContent;", css
    )
    return str(found or "")


def test_a_failed_run_resumes_a_task_reruns_and_a_run_clones_with_edited_values(
    browser: Any, views: Views, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    failed = views.fixable.run_id
    browser.get(f"{views.url}#/runs/{failed}")
    wait.until(lambda _: run_state(browser) == "FAILED")
    assert "ValueError" not in browser.find_element(By.ID, "run-header").text  # the task shows it
    # The page opens on the task that failed, with its log; the header's button leads back to it.
    wait.until(lambda _: "not fixed yet" in text_of(browser, "#log"))
    click(browser, 'g.node[data-path="prepare"]')
    click(browser, ".show-failed")
    wait.until(lambda _: "not fixed yet" in text_of(browser, "#log"))
    assert text_of(browser, "#view").count("ValueError: not fixed yet") == 1  # in the log
    browser.save_screenshot(str(screenshots / "run-failed.png"))

    (views.root / "fixed").touch()
    click(browser, ".run-actions .resume")
    wait.until(lambda _: run_state(browser) == "SUCCEEDED")
    assert not browser.find_elements(By.CSS_SELECTOR, ".run-actions .resume")
    browser.save_screenshot(str(screenshots / "run-resumed.png"))

    click(browser, 'g.node[data-path="check"]')
    click(browser, "#task-panel .rerun")
    wait.until(lambda _: f"#/runs/{failed}" not in browser.current_url)
    wait.until(lambda _: run_state(browser) == "SUCCEEDED")
    assert f"rerun of{failed} check" in text_of(browser, "#run-header dl.facts")
    assert not browser.find_elements(By.CSS_SELECTOR, ".run-actions .clone")  # a rerun is not cloned

    second = views.reports[1].run_id
    browser.get(f"{views.url}#/runs/{second}")
    click(browser, ".run-actions .clone")
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#run-form input[name=rows]"))
    rows = browser.find_element(By.CSS_SELECTOR, "#run-form input[name=rows]")
    threshold = browser.find_element(By.CSS_SELECTOR, "#run-form input[name=threshold]")
    assert (rows.get_attribute("value"), threshold.get_attribute("value")) == ("3", "0.7")
    assert browser.find_element(By.ID, "backend").get_attribute("value") == "process"
    rows.clear()
    rows.send_keys("many")
    browser.find_element(By.ID, "start").click()
    wait.until(lambda _: "expected an integer" in browser.find_element(By.ID, "form-error").text)
    rows.clear()
    rows.send_keys("2")
    browser.save_screenshot(str(screenshots / "clone-form.png"))
    browser.find_element(By.ID, "start").click()
    wait.until(lambda _: "#/runs/" in browser.current_url)
    wait.until(lambda _: run_state(browser) == "SUCCEEDED")
    assert text_of(browser, "#run-header table.values") == "rows2threshold0.7"


def test_a_running_run_is_cancelled_after_the_user_confirms(
    browser: Any, views: Views, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    steps = {"first": Step("echo first"), "held": Step("sleep 600", after=("first",))}
    started: list[str] = []
    ready = threading.Event()
    result: list[runner.RunResult] = []

    def drive() -> None:
        def on_start(record: RunRecord) -> None:
            started.append(record.run_id)
            ready.set()

        with views.store() as store:
            text = pipeline(steps, name="ui-held")
            result.append(
                runner.run(text, backend="process", root=views.root, store=store, on_start=on_start)
            )

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    assert ready.wait(30)
    browser.get(f"{views.url}#/runs/{started[0]}")
    wait.until(lambda _: node_state(browser, "held") == "RUNNING")
    # The run's and the running task's durations count on while the page is open.
    counting = 'g.node[data-path="held"] tspan[data-since]'
    before = text_of(browser, counting)
    wait.until(lambda _: text_of(browser, counting) not in ("", before))
    assert browser.find_elements(By.CSS_SELECTOR, "#run-header dd[data-since]")
    click(browser, ".run-actions .cancel")
    browser.switch_to.alert.dismiss()  # asked first: "no" leaves it running
    assert run_state(browser) == "RUNNING"
    browser.find_element(By.CSS_SELECTOR, ".run-actions .cancel").click()
    assert "Cancel run" in browser.switch_to.alert.text
    browser.switch_to.alert.accept()
    wait.until(lambda _: run_state(browser) == "CANCELLED")
    browser.save_screenshot(str(screenshots / "run-cancelled.png"))
    thread.join(60)
    assert result and result[0].state.value == "CANCELLED"


def test_a_loop_s_iterations_are_named_by_their_items_with_a_timeline_and_lineage(
    browser: Any, views: Views, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    run_id = views.sweep.run_id
    browser.get(f"{views.url}#/runs/{run_id}")
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#timeline .lane"))
    # Read in one step inside the page: the graph and the timeline are drawn again as the events come.
    titles, lanes, widths = browser.execute_script(
        "const all = (css) => [...document.querySelectorAll(css)];"
        "return [all('g.frame.iteration > .frame-title').map((t) => t.textContent),"
        " all('#timeline .lane').map((l) => l.dataset.path),"
        " all('#timeline .bar.state-SUCCEEDED').map((b) => b.getBoundingClientRect().width)];"
    )
    assert [title.split(" · ")[0] for title in titles] == ["lr=0.1", "lr=0.2"]
    assert sorted(lanes) == [f"for-loop-1/{i}/{name}" for i in (0, 1) for name in ("score", "train")]
    assert len(widths) == 4 and all(width > 0 for width in widths)

    made = f'tr[data-uri="{run_id}/for-loop-1/0/train/model"]'
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, made))
    assert browser.find_element(By.CSS_SELECTOR, f"{made} .made-by").text == "for-loop-1/0/train"
    assert browser.find_element(By.CSS_SELECTOR, f"{made} .used-by").text == "for-loop-1/0/score"
    browser.find_element(By.CSS_SELECTOR, f"{made} .used-by a").click()
    wait.until(
        lambda _: browser.find_element(By.ID, "task-panel").get_attribute("data-path") == "for-loop-1/0/score"
    )
    panel = browser.find_element(By.ID, "task-panel").text
    assert "INPUT ARTIFACTS" in panel.upper() and "from for-loop-1/0/train" in panel
    browser.save_screenshot(str(screenshots / "run-loop-timeline-lineage.png"))


def test_runs_are_compared_side_by_side_with_a_metric_drawn_across_them(
    browser: Any, views: Views, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    chosen = [result.run_id for result in views.reports]
    browser.get(f"{views.url}#/runs")
    for run_id in chosen:
        click(browser, f'tr[data-run="{run_id}"] input[type=checkbox]')
    assert browser.find_element(By.ID, "compare").text == "Compare 3 runs"
    browser.find_element(By.ID, "compare").click()
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#metric-chart .chart canvas"))
    heads = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.parameters thead th")]
    assert sorted(heads[1:]) == sorted(chosen)
    threshold = browser.find_element(By.CSS_SELECTOR, 'table.parameters tr[data-name="threshold"]')
    assert "differs" in str(threshold.get_attribute("class"))
    assert len(threshold.find_elements(By.CSS_SELECTOR, "td.differs")) == 2  # not the first run's value
    rows = browser.find_element(By.CSS_SELECTOR, 'table.parameters tr[data-name="rows"]')
    assert "differs" not in str(rows.get_attribute("class"))

    picker = browser.find_element(By.ID, "metric-pick")
    assert "evaluate/metrics: accuracy" in [
        option.text for option in picker.find_elements(By.TAG_NAME, "option")
    ]
    from selenium.webdriver.support.ui import Select

    Select(picker).select_by_visible_text("evaluate/metrics: accuracy")
    chart = browser.find_element(By.CSS_SELECTOR, "#metric-chart .chart")
    assert (
        chart.get_attribute("data-title") == "evaluate/metrics: accuracy"
        and chart.get_attribute("data-points") == "3"
    )
    assert "evaluate/metrics: accuracy" in chart.find_element(By.CSS_SELECTOR, ".u-title").text
    browser.save_screenshot(str(screenshots / "compare-runs.png"))


def test_classification_curves_are_charts_and_images_show_inline(
    browser: Any, views: Views, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    run_id = views.reports[0].run_id
    browser.get(f"{views.url}#/runs/{run_id}")
    wait.until(
        lambda _: browser.execute_script(
            "const i = document.querySelector('img.thumb'); return i && i.complete && i.naturalWidth"
        )
    )
    click(browser, f'tr[data-uri="{run_id}/evaluate/matrix"] .preview-button')
    wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "section.preview .chart canvas")) == 2)
    charts = browser.find_elements(By.CSS_SELECTOR, "section.preview .chart")
    assert [(c.get_attribute("data-title"), c.get_attribute("data-points")) for c in charts] == [
        ("ROC curve", "3"),
        ("Precision-recall curve", "3"),
    ]
    grid = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.confusion-matrix td")]
    assert grid == ["3", "1", "0", "4"]
    browser.execute_script("document.querySelector('section.preview').scrollIntoView()")
    browser.save_screenshot(str(screenshots / "classification-charts.png"))


@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[RunRecord]]]:
    """A UI of its own over 130 recorded runs (the other tests' runs stay on the first page of theirs)."""
    home = tmp_path_factory.mktemp("many-runs")
    with SQLiteStore(home / "flow.db") as store:
        made = record_runs(store, 130)
    token = new_token()
    app = create_app(open_store=lambda: SQLiteStore(home / "flow.db"), token=token, folder=home)
    server = BackgroundUI(listen("127.0.0.1", 0), token, app)
    yield server.address.url(), made
    server.stop()


def test_the_runs_list_searches_pages_and_keeps_its_filters_in_the_address(
    browser: Any, many_runs: tuple[str, list[RunRecord]], screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    wait = waiter(browser)
    url, made = many_runs

    def shown() -> list[str]:
        return list(
            browser.execute_script(
                "return [...document.querySelectorAll('#runs tbody tr')].map((r) => r.dataset.run)"
            )
        )

    browser.get(f"{url}#/runs")
    wait.until(lambda _: len(shown()) == 100)
    assert shown()[0] == made[-1].run_id
    click(browser, "#page-next")
    wait.until(lambda _: len(shown()) == 30)
    assert shown() == [record.run_id for record in reversed(made[:30])]
    assert browser.current_url.endswith("#/runs?page=2")

    browser.find_element(By.ID, "search").send_keys("trial-7")
    wait.until(lambda _: len(shown()) == 11)
    Select(browser.find_element(By.ID, "filter-state")).select_by_value("FAILED")
    wait.until(lambda _: len(shown()) == 6)
    assert browser.current_url.endswith("#/runs?state=FAILED&q=trial-7")  # the page went back to the first
    browser.save_screenshot(str(screenshots / "runs-search.png"))

    browser.refresh()  # the address keeps the filters
    wait.until(lambda _: browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr"))
    wait.until(lambda _: len(shown()) == 6)
    assert browser.find_element(By.ID, "search").get_attribute("value") == "trial-7"
    assert browser.find_element(By.ID, "filter-state").get_attribute("value") == "FAILED"
