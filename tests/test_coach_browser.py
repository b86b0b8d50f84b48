"""The coach as a person uses it: headless Chromium answers items, reloads, and progress survives a restart.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and Selenium.
``MMEMPATHY_SCREENSHOTS=docs python -m pytest tests/test_coach_browser.py`` also saves the main pages.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and DRIVER.exists()),
        reason="needs /usr/bin/chromium and chromedriver (apt-get install chromium chromium-driver)",
    ),  # fmt: skip
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mmempathy coach`` in a subprocess, on a free local port."""

    def __init__(self, db: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "mmempathy.cli", "coach", "--db", str(db), "--port", str(port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"coach exited: {self.proc.stdout.read()}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError("coach did not start within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = Options()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=900,1000"):  # fmt: skip
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    folder = os.environ.get("MMEMPATHY_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"coach-{name}.png"))


def navigate(driver, element_id: str) -> None:
    """Click a button or link that loads a new page, and wait until the new page has replaced the old one.

    A click returns as soon as the browser has the event; reading the page before the server answers
    reads the old page (the server may be busy running the model for the next item).
    """
    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()

    def replaced(_driver) -> bool:
        try:
            old_page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException:  # Chromium's "unhandled inspector error" while the old page is torn down
            return False
        return False

    WebDriverWait(driver, 120).until(replaced)
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.readyState") == "complete")


def answer_item(driver, emotion: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"input[name=emotion][value={emotion}]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=intensity][value='3']").click()
    navigate(driver, "submit-answer")


def test_answer_reload_restart_progress_survives(browser, tmp_path):
    db = tmp_path / "coach.db"
    server = Server(db, free_port())
    try:
        browser.get(server.url)
        shot(browser, "home")
        browser.find_element(By.ID, "name").send_keys("Dana")
        navigate(browser, "start")
        browser.find_element(By.ID, "size").clear()
        browser.find_element(By.ID, "size").send_keys("2")
        navigate(browser, "new-session")
        assert "Item 1 of 2" in browser.page_source
        shot(browser, "item")
        answer_item(browser, "anger")
        verdict = browser.find_element(By.ID, "verdict").text
        assert "you said anger" in verdict
        assert browser.find_element(By.ID, "readings").text.startswith("anger")  # the readings table
        browser.find_element(By.CSS_SELECTOR, "input[name=strategy][value='Reflection of feelings']").click()
        browser.find_element(By.ID, "response-text").send_keys("It comes across as hard; how is it for you?")
        navigate(browser, "submit-response")
        assert "The rules chose" in browser.page_source or "Same strategy" in browser.page_source
        shot(browser, "feedback")
        browser.refresh()  # a reload shows the same recorded answer, not a new form
        assert "you said anger" in browser.find_element(By.ID, "verdict").text
        navigate(browser, "next")
        answer_item(browser, "joy")
        browser.find_element(By.CSS_SELECTOR, "input[name=strategy][value='Question']").click()
        navigate(browser, "submit-response")
        navigate(browser, "to-progress")
        progress_url = browser.current_url
    finally:
        server.stop()

    server = Server(db, free_port())  # a new process on the same database
    try:
        browser.get(server.url + "/" + progress_url.split("/", 3)[3])
        summary = browser.find_element(By.ID, "summary").text
        assert summary.startswith("2 answers")
        assert browser.find_element(By.ID, "plot").get_attribute("naturalWidth") != "0"
        shot(browser, "progress")
        browser.get(server.url)
        assert "Dana" in browser.find_element(By.TAG_NAME, "table").text
    finally:
        server.stop()


def test_a_page_on_another_origin_cannot_post_to_the_coach(browser, tmp_path):
    """CSRF in a real browser: a page served from another port auto-submits a form to the coach; Chromium sends
    that page's Origin, and the coach refuses the post (403) and records nothing."""
    import functools
    import http.server
    import threading

    server = Server(tmp_path / "coach.db", free_port())
    attack = tmp_path / "site"
    attack.mkdir()
    (attack / "index.html").write_text(
        f'<form id="f" method="post" action="{server.url}/people"><input name="name" value="Mallory"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(attack))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{site.server_address[1]}/index.html")
        WebDriverWait(browser, 60).until(lambda d: d.current_url.startswith(server.url))
        WebDriverWait(browser, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert "another site" in browser.find_element(By.ID, "error").text
        browser.get(server.url)
        assert "Mallory" not in browser.page_source
        browser.find_element(By.ID, "name").send_keys("Dana")  # the coach's own form still works
        navigate(browser, "start")
        assert "Hello, Dana" in browser.page_source
    finally:
        site.shutdown()
        server.stop()
