"""`confx ui` in a real browser: headless Debian Chromium, driven by Selenium, on a smoke sweep's store.

The test runs the smoke sweep in ``tmp_path``, starts ``confx ui`` on its store, opens the
links it prints and checks what a person sees: the experiment's runs view in the
model-training workflow (not the GenAI overview), the parent and every child run by
name, a child's metrics with their units, and the parent's report with its plots drawn.
Screenshots go to ``<tmp_path>/screenshots`` and, when ``CONFX_SCREENSHOTS_DIR`` is set
(``docs/`` for the README), are copied there. The server is stopped by its process group.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from confx.pipeline.sweep.config import load_sweep_config
from confx.pipeline.sweep.plan import plan_trials, varying_axes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "conf" / "smoke.yaml"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,1000")  # fmt: skip
WAIT_S = 90

webdriver = pytest.importorskip("selenium.webdriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "Debian's chromium and chromium-driver are not installed (.ci/run installs them)", allow_module_level=True
    )


def _env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}


@dataclass(frozen=True)
class Sweep:
    results: Path
    config: Path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Sweep:
    """The smoke sweep, run once for the module with its store in a temporary folder."""
    folder = tmp_path_factory.mktemp("ui")
    config = yaml.safe_load(SMOKE.read_text()) | {"results_dir": str(folder / "results")}
    path = folder / "smoke.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "confx.pipeline.cli", "sweep", str(path)], cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Sweep(folder / "results" / "smoke", path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True)
class UI:
    runs_link: str
    report_link: str
    server_pid: int


@pytest.fixture
def ui(sweep: Sweep) -> Iterator[UI]:
    """`confx ui` on the sweep's store, until the test ends; then it and its server are stopped by process group."""
    process = subprocess.Popen(
        [sys.executable, "-m", "confx.pipeline.cli", "ui", "--results-dir", str(sweep.results),
         "--port", str(_free_port()), "--no-browser"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    server_pid = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not any(line.startswith("report: ") for line in lines):
            assert process.poll() is None, "".join(lines)[-3000:]
            time.sleep(0.5)
        text = "".join(lines)
        server_pid = int(re.search(r"server pid (\d+)", text).group(1))  # type: ignore[union-attr]
        runs = re.search(r"^runs: (\S+)$", text, re.M)
        report = re.search(r"^report: (\S+)$", text, re.M)
        assert runs and report, text[-3000:]
        yield UI(runs.group(1), report.group(1), server_pid)
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGTERM)  # confx ui stops its server on SIGTERM
        process.wait(timeout=60)
        if server_pid is not None:
            deadline = time.monotonic() + 30
            while _group_alive(server_pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_alive(server_pid):
                os.killpg(server_pid, signal.SIGKILL)
                pytest.fail("confx ui left its MLflow server running")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, message: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.5).until(condition, message)


def _body(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _screenshot(driver, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    if os.environ.get("CONFX_SCREENSHOTS_DIR"):
        shutil.copy(path, Path(os.environ["CONFX_SCREENSHOTS_DIR"]) / name)
    return path


def test_a_person_sees_the_runs_a_childs_metrics_and_the_report(sweep: Sweep, ui: UI, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    trials = plan_trials(load_sweep_config(sweep.config))
    children = sorted(trial.short_name(varying_axes(trials)) for trial in trials)
    names = ["sweep-smoke", *children]

    # The runs view: the experiment's runs table in the model-training workflow, every run by name.
    browser.get(ui.runs_link)

    def shown_run_names(driver) -> list[str] | bool:  # type: ignore[no-untyped-def]
        texts = {element.text for element in driver.find_elements(By.TAG_NAME, "a")}
        return sorted(texts & set(names)) == sorted(names) and sorted(texts & set(names))

    _wait(browser, shown_run_names, f"the runs table did not list {names}")
    body = _body(browser)
    assert "/runs" in browser.current_url and "workflowType=machine_learning" in browser.current_url
    assert f"{len(names)} matching runs" in body
    assert "Model training" in body and "Evaluation runs" not in body  # the GenAI sidebar lists evaluation runs
    _screenshot(browser, tmp_path, "mlflow_runs_view.png")
    for column in ("Duration", "gap", "latency_cycles"):  # the first columns; the grid draws what fits
        assert column in body, f"column {column} is not shown"

    # A child: its metrics carry their units.
    browser.find_element(By.LINK_TEXT, "confuciux").click()
    _wait(browser, lambda d: "area_used_um2" in _body(d), "the child's metrics did not show")
    body = _body(browser)
    for metric in ("latency_cycles", "optimum_latency_cycles", "area_used_um2", "area_budget_um2", "gap", "feasible"):
        assert metric in body, f"metric {metric} is not shown"
    assert "epochs" in body and "evaluation_budget" not in body
    _screenshot(browser, tmp_path, "mlflow_child_run.png")

    # The parent's report, from the link `confx ui` prints: rendered in MLflow's artifact view, its plots drawn.
    browser.get(ui.report_link)
    frame = _wait(browser, lambda d: d.find_elements(By.TAG_NAME, "iframe"), "the report did not open")[0]
    browser.switch_to.frame(frame)
    _wait(browser, lambda d: "Closest first" in _body(d), "the report's conclusions did not show")
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 2
    _wait(browser, lambda d: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
                                 for i in images), "the report's plots were not drawn")  # fmt: skip
    assert "0.00% · 4 evals" in _body(browser)
    browser.switch_to.default_content()
    _screenshot(browser, tmp_path, "mlflow_report.png")
