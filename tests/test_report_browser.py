"""The report as a person uses it: headless Chromium opens the page of the demo clip read by the shipped lite
model, with no console error and no request beyond the page; clicking a segment or a timeline block moves the
video there and the page follows it.

Needs Debian's ``chromium`` and ``chromium-driver`` and Selenium (as ``tests/test_coach_browser.py``, whose
browser fixture this uses). ``MMEMPATHY_SCREENSHOTS=docs python -m pytest tests/test_report_browser.py`` also
saves the page as ``docs/report.png`` (the README's picture).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

# the coach's browser test: its headless Chromium fixture, its marks (slow; skipped without chromium) and its
# Selenium names (imported there after skipping where Selenium is missing)
from test_coach_browser import By, WebDriverWait, browser, pytestmark  # noqa: F401

from mmempathy.media.report import write_report

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
# installed before the page's own script runs: every uncaught error, rejected promise and console.error is kept
CATCH_ERRORS = """
window.__errors = [];
addEventListener("error", e => __errors.push(String(e.message || e.type)), true);
addEventListener("unhandledrejection", e => __errors.push(String(e.reason)));
const original = console.error.bind(console);
console.error = (...args) => { __errors.push(args.join(" ")); original(...args); };
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from mmempathy import EmotionFuser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    timeline = fuser.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt", explain=True)
    return write_report(timeline, tmp_path_factory.mktemp("report") / "report.html"), timeline


def video_time(driver) -> float:
    return driver.execute_script("return document.getElementById('video').currentTime")


def test_the_report_loads_cleanly_and_the_video_follows_clicks(browser, report):  # noqa: F811
    path, timeline = report
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCH_ERRORS})
    browser.set_window_size(1200, 1500)
    browser.get(path.as_uri())
    ready = "return window.reportReady === true && document.getElementById('video').readyState >= 1"
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(ready))  # the embedded video's metadata loaded
    assert browser.execute_script("return document.getElementById('video').duration") == pytest.approx(18, abs=1)

    cards = browser.find_elements(By.CSS_SELECTOR, "#segments .card")
    assert len(cards) == len(timeline)
    shaded = cards[0].find_elements(By.CSS_SELECTOR, ".words span")
    assert [s.text for s in shaded] == [w["word"] for w in timeline[0].why["words"]]
    assert cards[0].find_elements(By.CSS_SELECTOR, ".thumbs img")  # the face pictures that mattered most

    seg = timeline[3]  # a segment's button plays from its start; the page marks that segment as the one shown
    cards[3].find_element(By.CSS_SELECTOR, "button.seek").click()
    WebDriverWait(browser, 10).until(lambda d: seg.start - 0.05 <= video_time(d) < seg.end)
    WebDriverWait(browser, 10).until(lambda d: "active" in cards[3].get_attribute("class"))
    assert seg.text in browser.find_element(By.ID, "now").text

    other = timeline[1]  # a block of the timeline's overall strip does the same
    browser.find_elements(By.CSS_SELECTOR, "#rows .row")[0].find_elements(By.CSS_SELECTOR, ".block")[1].click()
    WebDriverWait(browser, 10).until(lambda d: other.start - 0.05 <= video_time(d) < other.end)
    WebDriverWait(browser, 10).until(lambda d: "active" in cards[1].get_attribute("class"))
    browser.execute_script("document.getElementById('video').pause()")

    assert browser.execute_script("return window.__errors") == []
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith(("data:", "file:", "blob:")) for name in fetched), fetched  # nothing from outside
    folder = os.environ.get("MMEMPATHY_SCREENSHOTS")
    if folder:  # the top of the page: the player, the timeline and the first segments
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(Path(folder) / "report.png"))
