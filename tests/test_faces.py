"""The faces check: the detector on a real face, the windows it scores, its evidence and
weights, the policy scaling, and inputs that must give a report, never an error."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from synthcheck import AnalysisOptions, analyze
from synthcheck.analyzers.faces import (
    DISAGREEMENT_LOGIT_GAP,
    MAX_FACES,
    FaceScores,
    background_windows,
    face_evidence,
    face_window,
)
from synthcheck.cli import main
from synthcheck.fusion import FACE_SCORE_CAP, face_score_weight, weigh
from synthcheck.pipeline import Scanner
from synthcheck.policy import POLICIES
from synthcheck.report import SCHEMA_VERSION, ClassifierResult, FaceResult

from .conftest import EXAMPLES, codes, evidence

ASTRONAUT = EXAMPLES / "astronaut_face.jpg"  # scikit-image's astronaut (public domain)
# Where the face is in that photo (looked at by hand): a box around it must overlap this.
ASTRONAUT_FACE = (180, 60, 90, 120)


def overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


# --- pure parts -------------------------------------------------------------------------


def test_a_face_window_is_a_native_square_inside_the_image():
    w = face_window((5, 5, 40, 40), 300, 400, 224)
    assert (w.x, w.y, w.size) == (0, 0, 224)  # moved inside, not cut
    w = face_window((300, 200, 200, 200), 600, 600, 224)
    assert w.size == 300 and w.x + w.size <= 600 and w.y + w.size <= 600
    assert w.x <= 300 and w.x + w.size >= 500  # the face is inside its window


def test_background_windows_touch_no_face_and_need_room():
    boxes = [(0, 0, 100, 100)]
    windows = background_windows(boxes, 800, 800, 224)
    assert windows and all(w.x >= 125 or w.y >= 125 for w in windows)
    assert windows[0].x + windows[0].y == 2 * (800 - 224)  # farthest from the face first
    assert background_windows(boxes, 200, 800, 224) == []  # no full crop fits
    assert background_windows([], 800, 800, 224) == []  # no face: nothing to compare with
    assert background_windows([(0, 0, 800, 800)], 800, 800, 224) == []  # the face is the image


def _scores(ps: list[float | None], background: float | None) -> FaceScores:
    return FaceScores([FaceResult([10 * i, 10, 50, 60], 0.9, p) for i, p in enumerate(ps)], background, [])


def test_evidence_in_words_with_capped_weights():
    assert [e.code for e in face_evidence(_scores([], None))] == ["no_face"]
    assert face_evidence(_scores([], None))[0].weight == 0
    too_small = face_evidence(_scores([None, None], None))
    assert [e.code for e in too_small] == ["faces_too_small"] and too_small[0].weight == 0
    (item,) = face_evidence(_scores([0.2, 0.999], 0.7))
    assert item.code == "face_score" and item.details["p_generated"] == 0.999
    assert "2 faces" in item.message and "the most suspicious face at (10, 10, 50, 60)" in item.message
    assert "rest of the image scores 70%" in item.message
    assert item.weight == 0  # a measurement: fusion weighs it
    assert 0 < weigh([item], POLICIES["default"])[0].weight <= FACE_SCORE_CAP


def test_a_face_that_looks_real_clears_nothing():
    (item,) = face_evidence(_scores([0.01], None))
    assert item.code == "face_score" and item.weight == 0
    assert face_score_weight(0.01, 1.0) == 0 and face_score_weight(0.5, 1.0) == 0
    assert face_score_weight(0.9999, 1.0) == FACE_SCORE_CAP  # capped: the classifier read these pixels too


def test_a_face_that_disagrees_with_its_background_is_its_own_evidence():
    swapped = face_evidence(_scores([0.99], 0.02))
    assert [e.code for e in swapped] == ["face_score", "face_background_disagreement"]
    assert "generated face swapped into a photo" in swapped[1].message and swapped[1].weight > 0
    assert swapped[1].details["logit_gap"] >= DISAGREEMENT_LOGIT_GAP
    pasted = face_evidence(_scores([0.02], 0.99))
    assert "real face pasted onto a generated scene" in pasted[1].message and pasted[1].weight > 0
    assert [e.code for e in face_evidence(_scores([0.6], 0.5))] == ["face_score"]  # too close
    assert [e.code for e in face_evidence(_scores([0.9999], 0.9))] == ["face_score"]  # both say generated
    assert [e.code for e in face_evidence(_scores([0.99], None))] == ["face_score"]  # no background to compare


def test_a_face_the_person_gate_turns_away_is_listed_never_judged_never_a_swap():
    statue = FaceResult([10, 10, 50, 60], 0.9, None, p_person=0.02)  # not judged: p_generated stays null
    alone = face_evidence(FaceScores([statue], None, []))
    assert [e.code for e in alone] == ["faces_not_persons"] and alone[0].weight == 0
    assert "like a statue, a painting, a drawing or an animal" in alone[0].message
    assert "no face swap is looked for there" in alone[0].message
    # beside a photographed person: only the person is judged, and only against the background
    person = FaceResult([200, 10, 50, 60], 0.9, 0.99, p_person=0.97)
    both = face_evidence(FaceScores([statue, person], 0.02, []))
    assert [e.code for e in both] == ["faces_not_persons", "face_score", "face_background_disagreement"]
    assert both[1].details["box"] == [200, 10, 50, 60] and "1 of the 2 faces found looks like" in both[0].message
    # judged, but the gate not sure enough for a swap claim: scored, never a swap
    unsure = FaceResult([200, 10, 50, 60], 0.9, 0.99, p_person=0.6)
    assert [e.code for e in face_evidence(FaceScores([unsure], 0.02, [], claim_threshold=0.9))] == ["face_score"]


def test_the_gate_decides_before_the_face_head_and_the_background_is_only_for_persons():
    from synthcheck.analyzers.faces import score_faces

    class Gate:
        threshold = 0.5

        def __init__(self, p):
            self.p = p

        claim_threshold = 0.9

        def p_person(self, crops):
            return self.p

    class Head:
        class card:  # noqa: N801 - the attribute a card has
            class preprocessing:  # noqa: N801
                crop_size = 224

        calls = 0

        def encode(self, rgb):
            return 1, 1, np.zeros((1, 4)), None

        def predict_encoded(self, *encoded):
            Head.calls += 1
            return FaceResult([0, 0, 1, 1], 1.0, 0.99)  # only .p_generated is read

    class Background:
        calls = 0

        def predict(self, rgb):
            Background.calls += 1
            return ClassifierResult("m", "1", 0.5, regions=[[0.01]])  # the map's score is read

    rgb = np.zeros((800, 800, 3), np.uint8)
    boxes = [(100, 100, 80, 80, 0.9)]
    statue = score_faces(rgb, boxes, Head(), Background(), person_gate=Gate(0.1))
    assert statue.faces[0].p_generated is None and statue.faces[0].p_person == 0.1
    assert statue.background_p is None and Head.calls == 0 and Background.calls == 0
    person = score_faces(rgb, boxes, Head(), Background(), person_gate=Gate(0.9))
    assert person.faces[0].p_generated == 0.99 and person.background_p == 0.01 and Head.calls == 1
    assert Background.calls == 2 and not person.background_from_map  # two windows of a 4x4 grid, scored here


def test_the_background_is_read_off_the_classifiers_crops_when_one_is_face_free():
    """The classifier already scored crops all over the image: the faces check reads the
    face-free ones (farthest first) off its map instead of encoding windows again."""
    from synthcheck.analyzers.faces import Window, classifier_crops, score_faces

    class Head:
        class card:  # noqa: N801 - the attribute a card has
            class preprocessing:  # noqa: N801
                crop_size = 224

        def encode(self, rgb):
            return 1, 1, np.zeros((1, 4)), None

        def predict_encoded(self, *encoded):
            return FaceResult([0, 0, 1, 1], 1.0, 0.99)

    class Background:
        calls = 0

        def predict(self, rgb):
            Background.calls += 1
            return ClassifierResult("m", "1", 0.5, regions=[[0.5]])

    # a 2x3 grid on 1152x864, as synthcheck-clip-v7 scores it; the face sits in the top-left crop
    result = ClassifierResult("m", "1", 0.2, regions=[[0.9, 0.2, 0.1], [0.3, 0.4, 0.05]], crop_size=224,
                              crops=[[x, y, 224, 224] for y in (0, 640) for x in (0, 464, 928)])
    crops = classifier_crops(result)
    assert [c.p_generated for c in crops] == [0.9, 0.2, 0.1, 0.3, 0.4, 0.05]
    rgb = np.zeros((864, 1152, 3), np.uint8)
    scores = score_faces(rgb, [(40, 40, 100, 120, 0.9)], Head(), Background(), map_crops=crops)
    assert Background.calls == 0 and scores.background_from_map
    # the two farthest from the face: bottom right, then top right
    assert scores.background_windows == [Window(928, 640, 224), Window(928, 0, 224)]
    assert scores.background_p == round((0.05 + 0.1) / 2, 4)
    face, disagreement = face_evidence(scores)
    assert disagreement.message.startswith("The rest of the image scores 8% (2 of the classifier's crops away from "
                                           "the faces) and disagrees with the face")
    assert face.details["background_windows"] == [[928, 640, 224, 224], [928, 0, 224, 224]]
    # every crop touches a face (here the one crop offered): windows of a 4x4 grid are scored instead
    covering = score_faces(rgb, [(40, 40, 100, 120, 0.9)], Head(), Background(), map_crops=crops[:1])
    assert not covering.background_from_map and Background.calls == 2 and covering.background_p == 0.5
    # a result that does not say where its crops were offers none
    assert classifier_crops(ClassifierResult("m", "1", 0.2, regions=[[0.2]])) == []
    assert classifier_crops(None) == []


def test_moderation_counts_the_face_score_less_than_kyc_and_says_so():
    items = face_evidence(_scores([0.95], 0.01))
    assert [e.code for e in items] == ["face_score", "face_background_disagreement"]
    assert POLICIES["kyc"].face_score_weight > POLICIES["moderation"].face_score_weight
    default = weigh(items, POLICIES["default"])
    assert default[0].weight == face_score_weight(0.95, 1.0) and default[0].message == items[0].message
    assert weigh(items, POLICIES["kyc"]) == default  # kyc counts the face as default does
    moderation = weigh(items, POLICIES["moderation"])
    assert moderation[0].weight == face_score_weight(0.95, POLICIES["moderation"].face_score_weight)
    assert 0 < moderation[0].weight < default[0].weight
    assert "under the moderation policy" in moderation[0].message
    assert moderation[0].details["unscaled_weight"] == default[0].weight
    assert moderation[1] == items[1]  # the disagreement is a likelihood ratio: the same under every policy
    assert weigh(moderation, POLICIES["moderation"]) == moderation  # weighing twice changes nothing


# --- the real detector and classifier ------------------------------------------------------


def test_the_real_face_is_found_and_scored(scanner):
    report = scanner.analyze(ASTRONAUT)
    assert report.error is None and len(report.faces) == 1
    (face,) = report.faces
    assert overlap(face.box, ASTRONAUT_FACE) > 0.5 and face.score >= 0.5
    assert 0 <= face.p_generated <= 1
    item = evidence(report, "face_score")
    assert f"({face.box[0]}, {face.box[1]}, {face.box[2]}, {face.box[3]})" in item.message
    assert item.details["background_p"] is not None  # a 512 px portrait has face-free corners


def test_faces_are_part_of_the_jsonl_contract(capsys):
    assert main(["scan", str(ASTRONAUT), str(EXAMPLES / "plain_photo.jpg"), "--format", "jsonl",
                 "--workers", "0"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["schema_version"] for r in reports] == [SCHEMA_VERSION, SCHEMA_VERSION]
    face = reports[0]["faces"][0]
    assert set(face) == {"box", "score", "p_generated", "p_person"} and len(face["box"]) == 4
    assert reports[1]["faces"] == []  # checked, none found
    assert "no_face" in {e["code"] for e in reports[1]["evidence"]}


def test_the_table_says_where_the_faces_are(capsys):
    assert main(["scan", str(ASTRONAUT), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "faces: 1 found: (" in out and "%" in out.split("faces:")[1]


def test_no_faces_switches_the_check_off(capsys):
    assert main(["scan", str(ASTRONAUT), "--format", "jsonl", "--no-faces"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["faces"] is None and "faces" not in report["timings_ms"]


@pytest.mark.parametrize("threads", [1, 2])  # the detector inline, and beside the classifier
def test_a_detector_that_fails_is_evidence_and_keeps_the_level_up(monkeypatch, threads):
    import synthcheck.pipeline as pipeline

    scanner = Scanner(AnalysisOptions(watermarks=False))
    faces_analyzer = next(a for a in scanner.analyzers if a.name == "faces")

    def broken(rgb):
        raise RuntimeError("detector exploded")

    monkeypatch.setitem(faces_analyzer.__dict__, "detector", broken)
    monkeypatch.setattr(pipeline, "inference_threads", lambda: threads)
    report = scanner.analyze(ASTRONAUT, "kyc")
    assert "analyzer_failed" in codes(report) and report.faces is None
    assert report.risk.unchecked == ["faces"] and report.risk.level in ("medium", "high")


def test_the_detector_beside_the_classifier_finds_and_reports_the_same(monkeypatch, scanner):
    # with threads to spare the pipeline starts the detector on a second thread while the
    # classifier runs; a worker process (one thread) runs it inline: the report is the same
    import threading

    import synthcheck.pipeline as pipeline

    faces_analyzer = next(a for a in scanner.analyzers if a.name == "faces")
    detector, ran_on = faces_analyzer.detector, []

    def recorded(rgb):
        ran_on.append(threading.current_thread().name)
        return detector(rgb)

    monkeypatch.setitem(faces_analyzer.__dict__, "detector", recorded)
    reports = []
    for threads in (1, 2):
        monkeypatch.setattr(pipeline, "inference_threads", lambda threads=threads: threads)
        reports.append(scanner.analyze(ASTRONAUT, "kyc"))
    assert ran_on[0] == threading.current_thread().name and ran_on[1].startswith("synthcheck-early")
    inline, beside = reports
    assert len(beside.faces) == 1 and beside.faces == inline.faces
    assert [(e.code, e.message, e.weight) for e in beside.evidence] == [(e.code, e.message, e.weight)
                                                                        for e in inline.evidence]
    assert beside.risk == inline.risk


def test_faces_are_scored_by_the_face_head_on_the_classifier_backbone(scanner, astronaut):
    from synthcheck.analyzers.faces import cut, face_window
    from synthcheck.models import load_classifier
    from synthcheck.models.face_probe import DEFAULT_FACE_HEAD, load_face_head

    classifier = load_classifier()
    head = load_face_head(DEFAULT_FACE_HEAD, classifier)
    assert head.encoder is classifier.encoder  # one backbone session, not two
    (face,) = scanner.analyze(ASTRONAUT).faces
    window = face_window(tuple(face.box), *astronaut.shape[:2], head.card.preprocessing.crop_size)
    assert face.p_generated == head.predict(cut(astronaut, window)).p_generated


def test_a_damaged_or_foreign_face_head_is_refused(tmp_path):
    import shutil

    from synthcheck.errors import ModelError, ModelIntegrityError, ModelNotFoundError
    from synthcheck.models import load_classifier
    from synthcheck.models.face_probe import DEFAULT_FACE_HEAD, FACE_HEADS_DIR, load_face_head

    classifier = load_classifier()
    shutil.copytree(FACE_HEADS_DIR / DEFAULT_FACE_HEAD, tmp_path / "damaged")
    weights = tmp_path / "damaged" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelIntegrityError):
        load_face_head("damaged", classifier, heads_dir=tmp_path)
    shutil.copytree(FACE_HEADS_DIR / DEFAULT_FACE_HEAD, tmp_path / "foreign")
    card = json.loads((tmp_path / "foreign" / "card.json").read_text())
    card["members"][0]["backbone_sha256"] = "0" * 64
    (tmp_path / "foreign" / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="another backbone"):
        load_face_head("foreign", classifier, heads_dir=tmp_path)
    with pytest.raises(ModelNotFoundError):
        load_face_head("absent", classifier, heads_dir=tmp_path)


# --- inputs that must give a report ------------------------------------------------------------


def test_two_hundred_faces(scanner, astronaut):
    face = astronaut[40:200, 160:290]  # the astronaut's head, 160 x 130
    grid = np.tile(face, (10, 20, 1))  # 200 copies: 1600 x 2600
    report = scanner.analyze(png(grid), "kyc")
    assert report.error is None and report.risk is not None
    assert len(report.faces) > MAX_FACES  # the detector finds many, the report lists them all
    scored = [f for f in report.faces if f.p_generated is not None]
    assert len(scored) == MAX_FACES
    assert f"past the first {MAX_FACES}" in evidence(report, "face_score").message


def test_a_face_at_the_border(scanner, astronaut):
    cut = astronaut[90:, 215:]  # the face runs off the left and top edges
    report = scanner.analyze(png(np.ascontiguousarray(cut)))
    assert report.error is None
    for face in report.faces:
        x, y, w, h = face.box
        assert x >= 0 and y >= 0 and x + w <= cut.shape[1] and y + h <= cut.shape[0]


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (5, 7), (12, 12)])
def test_tiny_images_and_one_pixel_faces(scanner, astronaut, shape):
    small = np.asarray(Image.fromarray(astronaut[40:200, 160:290]).resize(shape[::-1]))
    report = scanner.analyze(png(small))
    assert report.error is None and report.risk is not None and report.faces is not None
    assert codes(report) & {"no_face", "faces_too_small", "face_score"}


def test_a_large_photos_background_is_read_off_the_classifiers_map(scanner, tmp_path):
    """On a 1152x864 photo the classifier's 2x3 grid has face-free crops: the faces check
    reads its background off them (their boxes are the classifier's) rather than encoding
    windows of its own; on the 512 px original (one centre crop, over the face) it scores
    windows of its own."""
    path = tmp_path / "astronaut-1152x864.jpg"
    Image.open(ASTRONAUT).convert("RGB").resize((1152, 864)).save(path, quality=92)
    report = scanner.analyze(path)
    item = evidence(report, "face_score")
    assert report.classifier is not None and len(report.classifier.crops) == 6
    windows = item.details["background_windows"]
    assert len(windows) == 2 and all(w in report.classifier.crops for w in windows)
    small = evidence(scanner.analyze(ASTRONAUT), "face_score").details["background_windows"]
    assert small and not any(w in scanner.analyze(ASTRONAUT).classifier.crops for w in small)


def test_no_face_adds_nothing(scanner):
    report = scanner.analyze(EXAMPLES / "plain_photo.jpg")
    assert report.faces == [] and evidence(report, "no_face").weight == 0


def test_without_the_classifier_there_is_no_faces_check():
    report = analyze(ASTRONAUT, options=AnalysisOptions(classifier=None, watermarks=False))
    assert report.faces is None and "faces" not in report.timings_ms



def test_face_and_background_are_said_once_and_which_pixels_is_which():
    """Issue 29, item 8: the face finding and the disagreement no longer repeat the same
    numbers; the background is named as face-free windows (not "the pixels"); list items after
    '; ' start lower case."""
    from synthcheck.analyzers.faces import Window
    from synthcheck.fusion import classifier_evidence, fuse

    scores = FaceScores([FaceResult([400, 120, 90, 110], 0.9, 0.999)], 0.07,
                        [Window(0, 576, 224), Window(976, 576, 224)])
    items = face_evidence(scores)
    assert [e.code for e in items] == ["face_score", "face_background_disagreement"]
    assert items[0].message == "1 face; the face at (400, 120, 90, 110) scores > 99% generated."
    assert items[1].message.startswith("The rest of the image scores 7% (2 face-free 224x224 windows away from the "
                                       "faces) and disagrees with the face: the face looks generated")
    assert items[0].details["background_windows"] == [[0, 576, 224, 224], [976, 576, 224, 224]]
    assert "> 99%" not in items[1].message  # each number said once
    classifier = classifier_evidence(ClassifierResult("m", "1", 0.93, [[0.93]], crops=[[488, 288, 224, 224]],
                                                      crop_size=224), 1200, 800)
    summary = fuse(weigh(items + [classifier], POLICIES["default"]), POLICIES["default"]).summary
    assert summary.count("> 99%") == 1 and summary.count("7%") == 1
    assert "; The " not in summary and "; the rest of the image scores 7%" in summary
    # a face that looks real weighs nothing (left out of the summary): the disagreement says its score
    pasted = face_evidence(FaceScores([FaceResult([400, 120, 90, 110], 0.9, 0.07)], 0.74, scores.background_windows))
    assert pasted[0].weight == 0 and "disagrees with the face, which scores 7%: the background looks generated" \
        in pasted[1].message
    assert "rates the centre 224x224 crop of this 1200x800 image 93%" in summary


# ImageNet photos of ../shared/data in which the face detector finds a face and no person is in
# the frame (looked at by hand): dogs, a hamster, two primates, a carnival mask. None of them is in
# the person gate's training data.
NOT_PERSONS = ("n02112018_Pomeranian", "n02113023_Pembroke", "n02342885_hamster", "n02481823_chimpanzee",
               "n02486261_patas", "n03724870_mask")


@pytest.mark.parametrize("name", NOT_PERSONS)
def test_an_animal_or_a_mask_is_never_a_face_swap(scanner, name):
    from .conftest import shared_or_skip

    path = shared_or_skip("data", "real", "imagenet", f"{name}.JPEG")
    report = scanner.analyze(path)
    found = codes(report)
    assert report.faces, "the detector finds a face-like region here (why the photo is in this test)"
    assert "face_background_disagreement" not in found
    # the faces check adds nothing towards "generated" (the face head judges no likeness)
    assert not any(e.source == "faces" and e.weight > 0 for e in report.evidence)
