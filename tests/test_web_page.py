"""The analyst page end to end: a real server (`synthcheck serve`), headless Debian
Chromium driven by Playwright, a dropped sample, the result on screen. The screenshot is
saved as a test artifact (SYNTHCHECK_TEST_ARTIFACTS, default tests/artifacts/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO
from .service_helpers import live_server

KEY = "page-test-key"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("SYNTHCHECK_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("web"), api_keys=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    if CHROMIUM is None:
        if os.environ.get("SYNTHCHECK_TEST_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium required (SYNTHCHECK_TEST_REQUIRE_CHROMIUM=1) but not found")
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.goto(server)
        yield page
        browser.close()


def _drop(page, paths: list[Path]) -> None:
    """Drag and drop files onto the drop zone, as a user would."""
    files = [{"name": p.name, "bytes": list(p.read_bytes())} for p in paths]
    page.evaluate("""(files) => {
        const transfer = new DataTransfer();
        for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name));
        document.getElementById('drop-zone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", files)


def test_drop_samples_and_see_the_evidence(page):
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    _drop(page, [EXAMPLES / "ai_signed_c2pa.jpg", EXAMPLES / "camera_exif.jpg"])
    page.wait_for_selector(".result[data-level] >> nth=1", timeout=120_000)
    page.wait_for_function("document.getElementById('status').textContent.includes('2 of 2')")

    cards = {c.query_selector(".file-name").inner_text(): c for c in page.query_selector_all(".result")}
    ai = cards["ai_signed_c2pa.jpg"]
    assert ai.query_selector(".level-badge").inner_text().lower() == "high"
    assert "%" in ai.query_selector(".gauge-score").text_content()
    evidence_text = ai.query_selector(".evidence").inner_text()
    assert "trainedAlgorithmicMedia" in evidence_text or "AI" in evidence_text
    c2pa_text = ai.query_selector(".c2pa").inner_text()
    assert "signature valid" in c2pa_text and "Actions" in c2pa_text
    assert int(ai.query_selector(".heatmap").get_attribute("data-cells")) >= 1

    camera = cards["camera_exif.jpg"]
    assert "No C2PA manifest" in camera.query_selector(".c2pa").inner_text()
    camera.query_selector(".metadata-details summary").click()
    assert "exif" in camera.query_selector(".metadata").inner_text().lower()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "analyst_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_wrong_key_is_shown_as_an_error(page):
    page.fill("#api-key", "not-a-key")
    page.dispatch_event("#api-key", "change")
    _drop(page, [EXAMPLES / "plain_photo.jpg"])
    page.wait_for_selector(".result .error-box:not([hidden])", timeout=60_000)
    message = page.query_selector(".result .error-box").inner_text()
    assert "API key" in message and "401" in message
