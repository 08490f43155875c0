"""The web UI in a real browser: Debian's headless Chromium driven by Selenium against a real `podrun serve`.

The test logs in with `podrun dashboard`'s one-time URL, watches the seed's `init-demo` go `Init:0/1` → `Running`
in the pods table, opens the pod and sees the timeline's bars appear in order and the log follow, then shows the
other examples (the seed's multi-container pods, a native sidecar, a crash-looping pod). Every view is saved as a
screenshot under `$PODRUN_UI_SCREENSHOTS` (else the test's temporary directory); with `PODRUN_UI_DOCS_IMAGES=1`
they are also copied to docs/images/ as the README's pictures. Waits are explicit conditions (WebDriverWait).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_harness import EXAMPLES, KUBECTL, REPO, ServeProcess, serving

selenium = pytest.importorskip("selenium", reason="needs selenium (the test extra)")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(KUBECTL is None, reason="needs kubectl (the google-cloud-cli kubectl package)"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver"),
]
# Headless Chromium as a test runs it: no sandbox (root), no GPU, nothing fetched from the network.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900",
)  # fmt: skip
# Seconds for anything the UI shows as it happens: only reached when something is broken.
TIMEOUT = 60


@pytest.fixture(scope="module")
def serve(test_image_archives: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    archives = [test_image_archives["busybox"], test_image_archives["nginx"]]
    with serving(archives, tmp_path_factory.mktemp("web-ui")) as server:
        yield server


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a profile of its own: no login, no cookies."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="podrun-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    # podrun serve's certificate is signed by its own CA, which this fresh profile does not know.
    options.accept_insecure_certs = True
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def fresh_browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(serve: ServeProcess) -> Iterator[webdriver.Chrome]:
    """A browser logged in to the UI (through `podrun dashboard`'s one-time URL), on the pods page."""
    with chromium() as driver:
        driver.get(dashboard_url(serve))
        wait_for_the_pods_watch(driver)
        yield driver


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[webdriver.Chrome, str], None]:
    """Saves the browser's view as `<name>.png` (and into docs/images/ with PODRUN_UI_DOCS_IMAGES=1)."""
    directory = Path(os.environ.get("PODRUN_UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    directory.mkdir(parents=True, exist_ok=True)

    def save(driver: webdriver.Chrome, name: str) -> None:
        path = directory / f"{name}.png"
        assert driver.save_screenshot(str(path)), path
        if os.environ.get("PODRUN_UI_DOCS_IMAGES") == "1":
            shutil.copy(path, REPO / "docs" / "images" / path.name)

    return save


def dashboard_url(serve: ServeProcess) -> str:
    command = [sys.executable, "-m", "podrun.cli.main", "dashboard", "--kubeconfig", str(serve.kubeconfig)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.strip()


def wait(driver: webdriver.Chrome, condition: Callable[[Any], Any], what: str) -> Any:
    """`condition`'s first true value; failing after `TIMEOUT` seconds with what the page's console said. An element
    that went stale (the page reloaded after its login) is looked up again at the next poll."""
    ignored = (NoSuchElementException, StaleElementReferenceException)
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.1, ignored_exceptions=ignored).until(
            condition, message=what
        )
    except TimeoutException:
        console = "\n".join(entry["message"] for entry in driver.get_log("browser"))
        raise AssertionError(f"not shown within {TIMEOUT} s: {what}\nbrowser console:\n{console}") from None


def wait_for_the_pods_watch(driver: webdriver.Chrome) -> None:
    wait(driver, lambda d: "live" in d.find_element(By.ID, "connection").text, "the pods watch")


CELLS_SCRIPT = """
const row = document.querySelector(arguments[0]);
return row ? [...row.cells].map((cell) => cell.textContent) : [];
"""


def pod_cells(driver: webdriver.Chrome, table: str, name: str) -> list[str]:
    """The cells of the pod's row of a kubectl-style table (empty without one), read at once (the page redraws
    rows as the watch delivers them)."""
    return list(driver.execute_script(CELLS_SCRIPT, f'{table} tr[data-name="{name}"]'))


def status_of(driver: webdriver.Chrome, table: str, name: str) -> str:
    cells = pod_cells(driver, table, name)
    return cells[2] if len(cells) > 2 else ""


BARS_SCRIPT = """
return [...document.querySelectorAll('#timeline rect.run')].map((r) => [
  r.dataset.container, Number(r.dataset.run), r.getAttribute('class'), Number(r.getAttribute('x')),
  Number(r.getAttribute('width'))]);
"""


def bars(driver: webdriver.Chrome) -> list[list[Any]]:
    """The timeline's bars: [container, run, class, x, width] each."""
    return list(driver.execute_script(BARS_SCRIPT))


def open_tab(driver: webdriver.Chrome, tab: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'.tabs button[data-tab="{tab}"]').click()


def open_pods_page(browser: webdriver.Chrome) -> None:
    origin = browser.current_url.split("/ui/", 1)[0]
    browser.get(f"{origin}/ui/")
    wait_for_the_pods_watch(browser)


def apply(serve: ServeProcess, example: str) -> None:
    serve.kubectl("apply", "-f", str(EXAMPLES / example))


def test_without_a_login_the_ui_shows_the_login_form_and_no_data(
    serve: ServeProcess, fresh_browser: webdriver.Chrome
) -> None:
    fresh_browser.get(dashboard_url(serve).split("#", 1)[0])
    wait(fresh_browser, lambda d: d.find_element(By.ID, "login").is_displayed(), "the login form")
    assert not fresh_browser.find_element(By.ID, "content").is_displayed()


def test_the_one_time_url_logs_in_and_leaves_no_code_in_the_address_or_the_log(
    serve: ServeProcess, fresh_browser: webdriver.Chrome
) -> None:
    url = dashboard_url(serve)
    fresh_browser.get(url)
    wait(fresh_browser, lambda d: d.find_element(By.ID, "content").is_displayed(), "the pods page")
    wait_for_the_pods_watch(fresh_browser)
    assert "#" not in fresh_browser.current_url
    assert url.split("#code=", 1)[1] not in serve.log()


def test_init_demo_goes_from_init_to_running_live_with_its_timeline_and_log(
    serve: ServeProcess, browser: webdriver.Chrome, screenshots: Callable[[webdriver.Chrome, str], None]
) -> None:
    open_pods_page(browser)
    pods_tab = browser.current_window_handle
    apply(serve, "init-demo.yaml")
    wait(browser, lambda d: status_of(d, "#pods", "init-demo") == "Init:0/1", "init-demo Init:0/1 in the table")
    screenshots(browser, "ui-pods-init")

    origin = browser.current_url.split("/ui/", 1)[0]
    browser.switch_to.new_window("tab")
    browser.get(origin + "/ui/namespaces/default/pods/init-demo")
    seen: list[list[tuple[str, str]]] = []

    def app_running(driver: webdriver.Chrome) -> bool:
        shown = [(container, cls) for container, _, cls, _, _ in bars(driver)]
        if not seen or seen[-1] != shown:
            seen.append(shown)
        return ("app-container", "run going") in shown

    wait(browser, app_running, "the app container's bar")
    assert seen[0] == [] or seen[0][0][0] == "init-myservice", seen
    assert any(shown and all(c == "init-myservice" for c, _ in shown) for shown in seen), f"never only the init: {seen}"
    init, app = (next(b for b in bars(browser) if b[0] == name) for name in ("init-myservice", "app-container"))
    assert init[2] == "run done" and app[3] >= init[3] + init[4] - 1, (init, app)
    screenshots(browser, "ui-pod-timeline")

    open_tab(browser, "logs")
    wait(browser, lambda d: "App container started!" in d.find_element(By.ID, "log").text, "the app's log")
    screenshots(browser, "ui-pod-logs")
    open_tab(browser, "describe")
    wait(browser, lambda d: "Init Containers:" in d.find_element(By.ID, "describe").text, "describe")
    assert "State:          Running" in browser.find_element(By.ID, "describe").text
    screenshots(browser, "ui-pod-describe")
    open_tab(browser, "events")
    wait(browser, lambda d: "Started" in d.find_element(By.ID, "events").text, "the Started events")
    screenshots(browser, "ui-pod-events")
    browser.close()

    browser.switch_to.window(pods_tab)
    wait(browser, lambda d: status_of(d, "#pods", "init-demo") == "Running", "init-demo Running in the table")
    assert kubectl_columns(pod_cells(browser, "#pods", "init-demo")) == serve.pod_row("init-demo")[:4]


def open_pod(browser: webdriver.Chrome, name: str) -> None:
    origin = browser.current_url.split("/ui/", 1)[0]
    browser.get(f"{origin}/ui/namespaces/default/pods/{name}")
    wait(browser, lambda d: pod_cells(d, "#pod-row", name), f"{name}'s row")


def select_container(browser: webdriver.Chrome, container: str) -> None:
    open_tab(browser, "logs")
    button = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#containers [data-container="{container}"]'),
                  f"the {container} button")  # fmt: skip
    button[0].click()


def log_text(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.ID, "log").text)


def test_a_sidecars_log_follows_what_its_neighbour_does(
    serve: ServeProcess, browser: webdriver.Chrome, screenshots: Callable[[webdriver.Chrome, str], None]
) -> None:
    apply(serve, "sidecar-pod.yaml")
    serve.kubectl("wait", "--for=condition=Ready", "pod/web-server-with-logger", "--timeout=60s")
    open_pod(browser, "web-server-with-logger")
    wait(browser, lambda d: len(bars(d)) == 2, "a bar for each container")
    screenshots(browser, "ui-sidecar-pod-timeline")
    select_container(browser, "log-tailer")
    for request in range(1, 3):
        serve.kubectl("exec", "web-server-with-logger", "-c", "log-tailer", "--", "wget", "-q", "-O", "/dev/null",
                      f"http://127.0.0.1/?request={request}")  # fmt: skip
        wait(browser, lambda d, n=request: f"GET /?request={n} " in log_text(d), f"request {request} in the log")
    screenshots(browser, "ui-sidecar-pod-logs")


def test_each_container_of_a_pod_is_followed_in_turn_without_stalling(
    serve: ServeProcess, browser: webdriver.Chrome
) -> None:
    ticking = "i=0; while true; do i=$((i+1)); echo \"$HOSTNAME $0 tick $i\"; sleep 0.2; done"
    containers = [{"name": f"c{n}", "image": "busybox", "command": ["sh", "-c", ticking, f"c{n}"]} for n in range(8)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "chatty"}, "spec": {"containers": containers}}
    serve.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    serve.kubectl("wait", "--for=condition=Ready", "pod/chatty", "--timeout=60s")
    open_pod(browser, "chatty")
    for container in [*(c["name"] for c in containers), "c0"]:
        select_container(browser, container)
        wait(browser, lambda d, c=container: f"{c} tick 3" in log_text(d), f"{container}'s log")
        first = log_text(browser).count("tick")
        wait(browser, lambda d, n=first: log_text(d).count("tick") >= n + 3, f"{container}'s log following")
        assert {line.split()[1] for line in log_text(browser).splitlines() if "tick" in line} == {container}


def test_a_crash_looping_pod_shows_its_failed_runs_and_back_off(
    serve: ServeProcess, browser: webdriver.Chrome, screenshots: Callable[[webdriver.Chrome, str], None]
) -> None:
    apply(serve, "crash-loop.yaml")
    open_pod(browser, "crash-loop")
    wait(browser, lambda d: sum(b[2] == "run failed" for b in bars(d)) >= 2, "two failed runs")
    # The kubelet waits 10 s before the next run: the chart shows the wait, dashed, up to that run.
    wait(browser, lambda d: any(b[1] == 2 for b in bars(d)), "the run after the back-off")
    third = next(b for b in bars(browser) if b[1] == 2)
    waits = browser.execute_script(
        "return [...document.querySelectorAll('#timeline line.backoff')].map((l) => Number(l.getAttribute('x2')));"
    )
    assert third[3] in waits, (third, waits)
    wait(browser, lambda d: status_of(d, "#pod-row", "crash-loop") in ("CrashLoopBackOff", "Error"), "the status")
    screenshots(browser, "ui-crash-loop-timeline")
    select_container(browser, "app")
    wait(browser, lambda d: "--- app: restart" in log_text(d), "the restart marker in the log")
    assert log_text(browser).count("starting at") == 2  # the last run's log, then the next run's
    screenshots(browser, "ui-crash-loop-logs")


def test_a_native_sidecar_starts_first_and_stops_after_the_job(
    serve: ServeProcess, browser: webdriver.Chrome, screenshots: Callable[[webdriver.Chrome, str], None]
) -> None:
    apply(serve, "native-sidecar.yaml")
    open_pod(browser, "native-sidecar")
    wait(browser, lambda d: status_of(d, "#pod-row", "native-sidecar") == "Completed", "the pod Completed")
    wait(browser, lambda d: {b[0]: b[2] for b in bars(d)} == {"log-shipper": "run done", "job": "run done"},
         "both runs ended")  # fmt: skip
    shipper, job = (next(b for b in bars(browser) if b[0] == name) for name in ("log-shipper", "job"))
    assert shipper[3] < job[3] and shipper[3] + shipper[4] >= job[3] + job[4] - 1, (shipper, job)
    screenshots(browser, "ui-native-sidecar-timeline")


def kubectl_columns(cells: list[str]) -> list[str]:
    """NAME, READY, STATUS and the restart count: what a row shows that does not change with the clock (AGE and
    the restarts' "(5s ago)" are as old as the row's last watch event)."""
    return [*cells[:3], cells[3].split()[0]] if len(cells) > 3 else cells


def test_the_pods_table_shows_every_example_as_kubectl_does(
    serve: ServeProcess, browser: webdriver.Chrome, screenshots: Callable[[webdriver.Chrome, str], None]
) -> None:
    apply(serve, "multi-container-demo.yaml")
    serve.kubectl("wait", "--for=condition=Ready", "pod/multi-container-demo", "--timeout=60s")
    open_pods_page(browser)
    wait(browser, lambda d: status_of(d, "#pods", "multi-container-demo") == "Running", "multi-container-demo")
    for name in serve.pod_names():
        wait(browser, lambda d, n=name: kubectl_columns(pod_cells(d, "#pods", n)) == serve.pod_row(n)[:4],
             f"{name} as kubectl prints it")  # fmt: skip
    screenshots(browser, "ui-pods")
    open_pod(browser, "multi-container-demo")
    wait(browser, lambda d: len(bars(d)) == 2, "a bar for each container")
    screenshots(browser, "ui-multi-container-demo-timeline")
