"""The analyst page end to end: a real server (`synthcheck serve`), headless Debian
Chromium driven by Playwright, a dropped sample, the result on screen. The screenshots go to
the test's temporary directory, or to SYNTHCHECK_TEST_ARTIFACTS when set (to keep them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import EXAMPLES
from .service_helpers import live_server

KEY = "page-test-key"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def artifacts(tmp_path: Path) -> Path:
    """Where a test's screenshots go: never into the checkout."""
    folder = Path(os.environ.get("SYNTHCHECK_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("web"), api_keys=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    if CHROMIUM is None:
        if os.environ.get("SYNTHCHECK_TEST_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium required (SYNTHCHECK_TEST_REQUIRE_CHROMIUM=1) but not found")
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(server)
    yield page
    page.close()


def _drop(page, paths: list[Path]) -> None:
    """Drag and drop files onto the drop zone, as a user would."""
    files = [{"name": p.name, "bytes": list(p.read_bytes())} for p in paths]
    page.evaluate("""(files) => {
        const transfer = new DataTransfer();
        for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name));
        document.getElementById('drop-zone').dispatchEvent(
            new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", files)


def test_drop_samples_and_see_the_evidence(page, server, tmp_path):
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    text_as_jpeg = tmp_path / "notes.jpg"
    text_as_jpeg.write_text("a text file with an image's name")
    dropped = [EXAMPLES / "ai_signed_c2pa.jpg", text_as_jpeg, EXAMPLES / "camera_exif.jpg"]
    _drop(page, dropped)
    page.wait_for_selector(".result[data-level] >> nth=2", timeout=120_000)
    page.wait_for_function("document.getElementById('status').textContent.includes('3 of 3')")
    # results keep the upload order
    assert [c.inner_text() for c in page.query_selector_all(".result .file-name")] == [p.name for p in dropped]

    cards = {c.query_selector(".file-name").inner_text(): c for c in page.query_selector_all(".result")}
    ai = cards["ai_signed_c2pa.jpg"]
    assert ai.query_selector(".level-badge").inner_text().lower() == "high"
    assert "%" in ai.query_selector(".gauge-score").text_content()
    evidence_text = ai.query_selector(".evidence").inner_text()
    assert "trainedAlgorithmicMedia" in evidence_text or "AI" in evidence_text
    c2pa_text = ai.query_selector(".c2pa").inner_text()
    assert "signature valid" in c2pa_text and "Actions" in c2pa_text
    # a verifier's block: which lists were checked, the signals in the rubric's words
    assert "Trust list" in c2pa_text and "C2PA Trust List" in c2pa_text
    assert "C2PA signals" in c2pa_text and "Contains Fully GenAI Media" in c2pa_text
    import httpx

    report = httpx.post(f"{server}/v1/analyze", headers={"X-API-Key": KEY}, timeout=120,
                        files={"file": ("a.jpg", (EXAMPLES / "ai_signed_c2pa.jpg").read_bytes())}).json()
    crops = report["classifier"]["crops"]
    heatmap = ai.query_selector(".heatmap")
    # the heatmap covers the scored crops, not the whole image (issue 29, item 7)
    assert int(heatmap.get_attribute("data-cells")) == len(crops) >= 1
    outlines = ai.query_selector_all(".scored-crop")
    assert [o.get_attribute("data-box") for o in outlines] == [",".join(map(str, c)) for c in crops]
    note = ai.query_selector(".heatmap-note").inner_text()
    scored = next(e for e in report["evidence"] if e["code"] == "classifier_score")["details"]["scored"]
    assert scored in note
    if report["classifier"]["global_view"]:  # the whole image was seen, shrunk: said, and not drawn as a crop
        w, h = report["classifier"]["global_view"]
        assert f"seen only at low resolution, in the whole image shrunk to {w}x{h}" in note
        assert "not scored" not in note
    else:  # one centre crop and nothing else
        assert "the rest of the image was not scored" in note and "whole image" not in note
    # off by default; when on, only crops scoring above 0.5 are tinted (the others stay clear)
    assert not heatmap.is_visible() and not ai.query_selector(".scored-crops").is_visible()
    suspicious = sum(p > 0.5 for row in report["classifier"]["regions"] for p in row)
    tinted = int(heatmap.get_attribute("data-tinted"))
    assert tinted == suspicious
    ai.query_selector(".heatmap-toggle input").check()
    assert heatmap.is_visible() and ai.query_selector(".scored-crops").is_visible()
    # no pixel outside the scored crops is tinted; inside, only a crop above 50% is
    clear_outside, tinted_inside = page.evaluate("""([canvas, crops, width, height]) => {
        const ctx = canvas.getContext('2d');
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        const sx = canvas.width / width, sy = canvas.height / height;
        const inside = (px, py) => crops.some(([x, y, w, h]) =>
            px >= x * sx && px < (x + w) * sx && py >= y * sy && py < (y + h) * sy);
        let outside = 0, clear = 0, tinted = 0;
        for (let py = 0; py < canvas.height; py++) for (let px = 0; px < canvas.width; px++) {
            const alpha = data[(py * canvas.width + px) * 4 + 3];
            if (inside(px + 0.5, py + 0.5)) { if (alpha) tinted++; } else { outside++; if (!alpha) clear++; }
        }
        return [clear / outside, tinted];
    }""", [heatmap, crops, report["width"], report["height"]])
    assert clear_outside == 1.0
    assert (tinted_inside > 0) == (suspicious > 0)
    box = ai.query_selector(".scored-crop").bounding_box()
    preview = ai.query_selector(".preview").bounding_box()
    x, y, w, h = crops[0]
    scale = preview["width"] / report["width"]
    assert abs(box["x"] - (preview["x"] + x * scale)) < 2 and abs(box["width"] - w * scale) < 2

    error_card = cards["notes.jpg"]
    assert error_card.query_selector(".level-badge").inner_text().lower() == "error"
    assert "unsupported_format" in error_card.query_selector(".error-box").inner_text()
    for absent in (".visual", ".gauge-row", ".evidence-section", ".c2pa-section", ".metadata-details"):
        assert not error_card.query_selector(absent).is_visible(), absent
    assert "No C2PA manifest" not in error_card.inner_text()

    camera = cards["camera_exif.jpg"]
    assert "No C2PA manifest" in camera.query_selector(".c2pa").inner_text()
    camera.query_selector(".metadata-details summary").click()
    assert "exif" in camera.query_selector(".metadata").inner_text().lower()

    shot = artifacts(tmp_path) / "analyst_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_face_boxes_are_drawn_where_the_report_puts_them(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(server)
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    sample = EXAMPLES / "astronaut_face.jpg"
    _drop(page, [sample])
    page.wait_for_selector(".result[data-level] .face-box", timeout=120_000)
    import httpx

    report = httpx.post(f"{server}/v1/analyze", headers={"X-API-Key": KEY}, timeout=120,
                        files={"file": (sample.name, sample.read_bytes())}).json()
    assert report["faces"], "the sample has a face"
    card = page.query_selector(".result")
    boxes = card.query_selector_all(".face-box")
    assert [b.get_attribute("data-box") for b in boxes] == [",".join(map(str, f["box"])) for f in report["faces"]]
    # each box sits over its face: its on-screen rectangle is the face's box scaled to the preview
    preview = card.query_selector(".preview").bounding_box()
    for box, face in zip(boxes, report["faces"]):
        shown = box.bounding_box()
        scale = preview["width"] / report["width"]
        x, y, w, h = face["box"]
        assert abs(shown["x"] - (preview["x"] + x * scale)) < 2 and abs(shown["y"] - (preview["y"] + y * scale)) < 2
        assert abs(shown["width"] - w * scale) < 2 and abs(shown["height"] - h * scale) < 2
        label = box.inner_text()
        assert label.endswith("generated") and "%" in label
        assert ("suspicious" in box.get_attribute("class")) == (face["p_generated"] >= 0.5)
    assert "1 face found" in card.query_selector(".faces-note").inner_text()
    evidence = card.query_selector(".evidence").inner_text()
    assert "face at" in evidence
    shot = artifacts(tmp_path) / "analyst_page_faces.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_wrong_key_is_shown_as_an_error(page):
    page.fill("#api-key", "not-a-key")
    page.dispatch_event("#api-key", "change")
    before = len(page.query_selector_all(".result"))
    _drop(page, [EXAMPLES / "plain_photo.jpg"])
    page.wait_for_function(f"document.querySelectorAll('.result')[{before}]?.dataset.level", timeout=60_000)
    card = page.query_selector_all(".result")[before]
    assert card.get_attribute("data-level") == "error"
    message = card.query_selector(".error-box").inner_text()
    assert "API key" in message and "401" in message
    # the analyst is pointed at the page's key field, not at an HTTP header they cannot set
    assert "refused" in message and "API key field" in message and "X-API-Key header" not in message
    status = page.inner_text("#status")
    assert "refused" in status and "API key field" in status and "0 analysed" in status
    assert page.get_attribute("#api-key", "aria-invalid") == "true"
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "input")
    assert page.get_attribute("#api-key", "aria-invalid") != "true"  # cleared once the key is edited


def test_each_card_shows_its_policy_and_a_policy_change_reruns_the_cards(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.goto(server)
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url) if "/v1/analyze" in r.url else None)
    samples = [EXAMPLES / "camera_exif.jpg", EXAMPLES / "sd_webui_parameters.png"]
    _drop(page, samples)
    page.wait_for_selector(".result[data-level] >> nth=1", timeout=120_000)
    assert [c.inner_text() for c in page.query_selector_all(".result .card-policy")] == ["policy: default"] * 2
    page.select_option("#policy", "kyc")
    page.wait_for_function("""() => {
        const cards = [...document.querySelectorAll('.result')];
        return cards.length === 2 && cards.every((c) => c.dataset.level && c.dataset.policy === 'kyc');
    }""", timeout=120_000)
    cards = page.query_selector_all(".result")
    assert [c.query_selector(".file-name").inner_text() for c in cards] == [p.name for p in samples]
    assert [c.query_selector(".card-policy").inner_text() for c in cards] == ["policy: kyc"] * 2
    assert sum("policy=kyc" in url for url in requested) == 2  # each file analysed again, under kyc
    import httpx

    for card, sample in zip(cards, samples):  # the card shows the kyc report, not the default one
        report = httpx.post(f"{server}/v1/analyze?policy=kyc", headers={"X-API-Key": KEY}, timeout=120,
                            files={"file": (sample.name, sample.read_bytes())}).json()
        assert card.query_selector(".summary").inner_text() == report["risk"]["summary"]
    page.close()


def test_the_evidence_stays_readable_420_px_wide(browser, server):
    page = browser.new_page(viewport={"width": 420, "height": 1600})
    page.goto(server)
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    _drop(page, [EXAMPLES / "ai_signed_c2pa.jpg"])
    page.wait_for_selector(".result[data-level] .evidence li", timeout=120_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 420  # no sideways scrolling
    card = page.query_selector(".result").bounding_box()
    for message in page.query_selector_all(".evidence .message"):
        box = message.bounding_box()
        # each message gets most of the card's width (a line holds several words), inside the screen
        assert box["width"] >= 0.6 * card["width"], (box, card)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 420
        assert message.evaluate("m => m.scrollWidth <= m.clientWidth")
    page.close()


def test_docs_work_offline_and_the_page_has_a_favicon(browser, server):
    """Swagger UI from the package itself: with every request off loopback refused, /docs
    still lists the operations."""
    refused: list[str] = []

    def only_loopback(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page = browser.new_page()
    page.route("**/*", only_loopback)
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=60_000)
    text = page.inner_text("body")
    assert "/v1/analyze" in text and "/v1/analyze/batch" in text
    assert not refused, refused
    response = page.request.get(f"{server}/favicon.ico")
    assert response.status == 200 and response.headers["content-type"] == "image/x-icon"
    page.goto(server)
    assert page.eval_on_selector("link[rel=icon]", "l => l.href") == f"{server}/favicon.ico"
    page.close()


def test_face_labels_never_overlap(browser, server):
    """Issue 29, item 8: faces side by side had their labels drawn over each other ("> 99% 97%
    generated"). A report with three faces close together (the server's own report of the
    sample, its faces moved): every label stays readable, next to its own box."""
    import json

    import httpx

    sample = EXAMPLES / "astronaut_face.jpg"
    report = httpx.post(f"{server}/v1/analyze", headers={"X-API-Key": KEY}, timeout=120,
                        files={"file": (sample.name, sample.read_bytes())}).json()
    report["faces"] = [{"box": [100 + 45 * i, 200, 40, 50], "score": 0.9, "p_generated": p}
                       for i, p in enumerate((0.999, 0.97, 0.2))]
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    page.route("**/v1/analyze*", lambda route: route.fulfill(status=200, content_type="application/json",
                                                              body=json.dumps(report)))
    page.goto(server)
    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    _drop(page, [sample])
    page.wait_for_selector(".result[data-level] .face-box >> nth=2", timeout=60_000)
    boxes = page.query_selector_all(".face-box")
    labels = [b.query_selector("span") for b in boxes]
    assert [label.inner_text() for label in labels] == ["> 99% generated", "97% generated", "20% generated"]
    rects = [label.bounding_box() for label in labels]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            apart = (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
                     or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5)
            assert apart, (a, b)
    for box, rect in zip(boxes, rects):  # each label beside its own box (above or below it)
        shown = box.bounding_box()
        assert abs(rect["x"] - shown["x"]) < 4
        # (a label sits on its box's 2 px border, as a tab)
        assert rect["y"] + rect["height"] <= shown["y"] + 3 or rect["y"] >= shown["y"] + shown["height"] - 3
        assert min(abs(rect["y"] + rect["height"] - shown["y"]), abs(rect["y"] - shown["y"] - shown["height"])) \
            <= 3 * rect["height"] + 3
    page.close()
