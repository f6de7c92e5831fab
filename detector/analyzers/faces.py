"""Faces: find every face (CenterFace, models/faces.py), score a window around each at
native resolution with the shipped face head (models/face_probe.py: a second head on the
classifier's own backbone), and compare the faces with the rest of the picture. Runs after
the classifier; it is what a phone's face detector lacks for KYC: which face, how
suspicious, and whether face and background agree (a generated face swapped into a real
photo, or a real face pasted onto a generated scene).

The analyzer reports what it measured: the most suspicious face's probability (face_score,
weighed by fusion.weigh_face with the policy's b) and a disagreement between face and
background (a constant, below). The weights were measured, not chosen by hand:
training/experiments/faces_eval.py on the classifier's held-out validation images with a face
(numbers and method in training/experiments/README.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ..image_input import ImageInput
from ..odds import logit
from ..report import ClassifierResult, Evidence, FaceResult
from ..wording import percent
from .base import AnalyzerBase, Findings

if TYPE_CHECKING:
    from ..models.faces import Face

SOURCE = "faces"
MAX_FACES = 8  # scored, largest first; the rest are counted and listed without a score
MIN_FACE_PX = 12  # smaller boxes are listed but not scored: too few pixels to judge
# A face's weight is fusion's (fusion.weigh_face: its probability, capped, times the policy's b).
# Face and background disagree when one is above 0.5 and the other below, and their logits
# differ by at least this. The weight is the measured ln likelihood ratio of such a gap on
# composites (generated face in a real photo, real face on a generated scene) against
# untouched real photos: +0.95 at a gap of 3 (28 of 48 composites, 4 of 19 real photos). A
# constant: the likelihood ratio of the finding itself, the same under every policy.
DISAGREEMENT_LOGIT_GAP = 3.0
DISAGREEMENT_WEIGHT = 0.95
BACKGROUND_WINDOWS = 2  # face-free windows scored for "the rest of the image"


@dataclass(frozen=True)
class WindowRule:
    """Which pixels stand for a face and which for "the rest of the image"."""

    face_margin: float = 1.5  # the face's window: this x its longer side (hair, chin, an edge)
    # ...and at least one classifier crop (None), so a small face is seen with its
    # surroundings at native resolution instead of padded by reflection (0: no minimum)
    face_min_side: int | None = None
    # background windows keep out of each face box grown by this; 1.0 (the box itself) finds a
    # face-free window in twice as many composites as 1.5 did, at a similar ratio
    background_margin: float = 1.0


WINDOWS = WindowRule()


@dataclass(frozen=True)
class Window:
    x: int
    y: int
    size: int


def disagreement_gap(p_face: float, p_background: float) -> float:
    """How far apart face and background are (logits), when one says generated and the other
    real; 0 when they are on the same side of 0.5."""
    if (p_face >= 0.5) == (p_background >= 0.5):
        return 0.0
    return abs(logit(p_face) - logit(p_background))


def face_window(box: tuple[int, int, int, int], height: int, width: int, crop: int,
                rule: WindowRule = WINDOWS) -> Window:
    """A square around the face (see WindowRule) centred on it, moved (not cut) to lie
    inside the image where the image is large enough."""
    x, y, w, h = box
    minimum = crop if rule.face_min_side is None else rule.face_min_side
    size = max(minimum, 1, int(round(rule.face_margin * max(w, h))))
    cx, cy = x + w / 2, y + h / 2
    left = int(round(min(max(cx - size / 2, 0), max(0, width - size))))
    top = int(round(min(max(cy - size / 2, 0), max(0, height - size))))
    return Window(left, top, size)


def face_free(candidates: list[Window], boxes: list[tuple[int, int, int, int]], limit: int = BACKGROUND_WINDOWS,
              rule: WindowRule = WINDOWS) -> list[Window]:
    """Up to `limit` of the candidate windows that touch no face (each box grown by the
    margin), farthest from the faces first."""
    if not boxes:
        return []
    grown = []
    for x, y, w, h in boxes:
        pad = (rule.background_margin - 1) / 2 * max(w, h)
        grown.append((x - pad, y - pad, x + w + pad, y + h + pad))
    free = []
    for i, window in enumerate(candidates):
        left, top, size = window.x, window.y, window.size
        if all(left >= x2 or left + size <= x1 or top >= y2 or top + size <= y1 for x1, y1, x2, y2 in grown):
            cx, cy = left + size / 2, top + size / 2
            distance = min(math.hypot(cx - (x1 + x2) / 2, cy - (y1 + y2) / 2) for x1, y1, x2, y2 in grown)
            free.append((-distance, top, left, i))
    return [candidates[i] for *_, i in sorted(free)[:limit]]


def background_windows(boxes: list[tuple[int, int, int, int]], height: int, width: int, crop: int,
                       limit: int = BACKGROUND_WINDOWS, rule: WindowRule = WINDOWS) -> list[Window]:
    """Up to `limit` crop-sized windows from a 4x4 grid over the image that touch no face
    (each box grown by the margin), farthest from the faces first."""
    if not boxes or height < crop or width < crop:
        return []
    ys = dict.fromkeys(np.linspace(0, height - crop, 4).round().astype(int).tolist())
    xs = dict.fromkeys(np.linspace(0, width - crop, 4).round().astype(int).tolist())
    return face_free([Window(left, top, crop) for top in ys for left in xs], boxes, limit, rule)


@dataclass(frozen=True)
class ScoredCrop:
    """One of the classifier's crops and its score on the report's map (`regions`)."""

    window: Window
    p_generated: float


def classifier_crops(result: ClassifierResult | None) -> list[ScoredCrop]:
    """The crops the classifier already scored (its `crops` boxes and `regions`, row after row),
    full-sized square ones only; [] when the result does not say where its crops were."""
    if result is None or not result.crops or not result.regions:
        return []
    scores = [p for row in result.regions for p in row]
    if len(scores) != len(result.crops):
        return []
    return [ScoredCrop(Window(x, y, w), p) for (x, y, w, h), p in zip(result.crops, scores)
            if w == h == result.crop_size]


def where(box: list[int]) -> str:
    """A box as the evidence and the table write it: "(x, y, w, h)"."""
    return "(" + ", ".join(map(str, box)) + ")"


def cut(rgb: np.ndarray, window: Window) -> np.ndarray:
    return rgb[window.y : window.y + window.size, window.x : window.x + window.size]


@dataclass(frozen=True)
class FaceScores:
    faces: list[FaceResult]  # every face found, largest first; p_generated None when not scored
    background_p: float | None  # the face-free windows' mean p generated; None when none exists
    background_windows: list[Window]
    # A face may be said to disagree with its background (a swap) only from this p_person up
    # (the person gate's stricter mark; 0 without a gate).
    claim_threshold: float = 0.0
    # whether the background windows are crops the classifier had scored (its map's cells) or
    # windows scored for this check (the classifier's crops all touched a face)
    background_from_map: bool = False


def score_faces(rgb: np.ndarray, boxes: list[tuple[int, int, int, int, float]], face_model, background_model,
                rule: WindowRule = WINDOWS, person_gate=None, map_crops: list[ScoredCrop] | None = None) -> FaceScores:
    """Each face's window (the largest MAX_FACES of at least MIN_FACE_PX) encoded once: the
    person gate (models/face_probe.PersonGate) first, then, for a photographed person only,
    the face head's `predict`; and, when a person's face was judged, the background: the
    face-free crops among those the classifier already scored (`map_crops`, classifier_crops: its
    map's own scores, no second backbone pass), else face-free windows of a 4x4 grid scored
    here by the whole-image classifier (a background is a scene, which is what it was trained
    on), each read as its map would read it (`regions`)."""
    height, width = rgb.shape[:2]
    crop = face_model.card.preprocessing.crop_size
    order = sorted(range(len(boxes)), key=lambda i: -boxes[i][2] * boxes[i][3])
    scored = {i for i in order[:MAX_FACES] if min(boxes[i][2], boxes[i][3]) >= MIN_FACE_PX}
    faces = []
    for i in order:
        x, y, w, h, detection = boxes[i]
        p = person = None
        if i in scored:
            encoded = face_model.encode(cut(rgb, face_window((x, y, w, h), height, width, crop, rule)))
            person = None if person_gate is None else round(person_gate.p_person(encoded[2]), 4)
            if person is None or person >= person_gate.threshold:
                p = face_model.predict_encoded(*encoded).p_generated
        faces.append(FaceResult(box=[x, y, w, h], score=detection, p_generated=p, p_person=person))
    face_boxes = [(x, y, w, h) for x, y, w, h, _ in boxes]
    by_window = {c.window: c.p_generated for c in map_crops or []}
    windows = face_free(list(by_window), face_boxes, rule=rule)
    from_map = bool(windows)
    if not from_map:
        windows = background_windows(face_boxes, height, width, crop, rule=rule)
    background = None
    if windows and any(f.p_generated is not None for f in faces):
        background = float(np.mean([by_window[w] if from_map else background_model.predict(cut(rgb, w)).regions[0][0]
                                    for w in windows]))
    claim = 0.0 if person_gate is None else person_gate.claim_threshold
    return FaceScores(faces, None if background is None else round(background, 4), windows, claim, from_map)


def not_persons(faces: list[FaceResult]) -> list[FaceResult]:
    """The faces the person gate turned away (scored by it, not judged)."""
    return [f for f in faces if f.p_person is not None and f.p_generated is None]


def face_evidence(scores: FaceScores) -> list[Evidence]:
    """What the scores say, in words: face_score carries the most suspicious face's
    probability (details `p_generated`) and weight 0, for fusion to weigh (fusion.WEIGHERS);
    a disagreement carries its constant weight. Pure."""
    faces = scores.faces
    if not faces:
        return [Evidence(SOURCE, "no_face", "No face was found.", 0.0, {"faces": 0})]
    judged = [(f, f.p_generated) for f in faces if f.p_generated is not None]  # (face, its p generated)
    count = f"{len(faces)} face{'s' if len(faces) != 1 else ''}"
    likenesses = not_persons(faces)
    out: list[Evidence] = []
    if likenesses:
        # A statue's, a painting's or an animal's face is not a photographed person's: the face
        # head was never trained on one (it called a statue 99% generated), so it is not judged.
        most = max(f.p_person for f in likenesses if f.p_person is not None)
        several = len(likenesses) != 1
        out.append(Evidence(SOURCE, "faces_not_persons",
                            f"{len(likenesses)} of the {count} found look{'' if several else 's'} like a statue, a "
                            f"painting, a drawing or an animal rather than a photographed person (at most "
                            f"{percent(most)} likely a person): not judged as {'faces' if several else 'a face'}, "
                            "and no face swap is looked for there.", 0.0,
                            {"faces": len(faces), "boxes": [f.box for f in likenesses],
                             "p_person": [f.p_person for f in likenesses]}))
    if not judged:
        if likenesses:
            return out
        return [Evidence(SOURCE, "faces_too_small", f"{count} found, all under {MIN_FACE_PX} px: too small to "
                         "judge.", 0.0, {"faces": len(faces)})]
    top, top_p = max(judged, key=lambda j: j[1])
    rest = disagreement = None
    if scores.background_p is not None:  # face-free crops of the classifier's map, or windows scored here
        windows = scores.background_windows
        plural = "s" if len(windows) != 1 else ""
        if not windows:
            said = ""
        elif scores.background_from_map:
            said = f" ({len(windows)} of the classifier's crop{plural} away from the faces)"
        else:
            said = f" ({len(windows)} face-free {windows[0].size}x{windows[0].size} window{plural} away from the faces)"
        rest = f"the rest of the image scores {percent(scores.background_p)}{said}"
        # a swap is claimed only on a face the gate is sure is a photographed person
        claimable = [(f, p) for f, p in judged if f.p_person is None or f.p_person >= scores.claim_threshold]
        if claimable:
            gap, face, face_p = max(((disagreement_gap(p, scores.background_p), f, p) for f, p in claimable),
                                    key=lambda g: g[0])
            if gap >= DISAGREEMENT_LOGIT_GAP:
                disagreement = gap, face, face_p
    unscored = len(faces) - len(judged) - len(likenesses)
    more = f" ({unscored} more not scored: small or past the first {MAX_FACES})" if unscored else ""
    subject = "the face" if len(judged) == 1 else "the most suspicious face"
    # Each number is said once: with a disagreement, the background's score is in that item
    # (after this one in the evidence and in the summary), not here as well.
    background = f" while {rest}" if rest and not disagreement else ""
    out += [Evidence(SOURCE, "face_score",
                    f"{count}{more}; {subject} at {where(top.box)} scores {percent(top_p)} generated"
                    f"{background}.",
                    0.0, {"faces": len(faces), "scored": len(judged), "box": top.box,
                          "p_generated": top_p, "background_p": scores.background_p,
                          "background_windows": [[w.x, w.y, w.size, w.size] for w in scores.background_windows]})]
    if disagreement:
        # found only against a scored background, after which `rest` says that background
        assert rest is not None and scores.background_p is not None
        gap, face, face_p = disagreement
        if face_p > scores.background_p:
            which = "the face looks generated and the background real, possibly a generated face swapped into a photo"
        else:
            which = ("the background looks generated and the face real, possibly a real face pasted onto a "
                     "generated scene")
        # A face that looks real weighs 0 in face_score, which the summary then leaves out: its
        # score is said here. One that looks generated has its score in face_score.
        named = "the face" if face.box == top.box else f"the face at {where(face.box)}"
        if face_p <= 0.5:
            named += f", which scores {percent(face_p)}"
        out.append(Evidence(SOURCE, "face_background_disagreement",
                            f"{rest[0].upper()}{rest[1:]} and disagrees with {named}: {which}.", DISAGREEMENT_WEIGHT,
                            {"box": face.box, "p_generated": face_p,
                             "background_p": scores.background_p, "logit_gap": round(gap, 2)}))
    return out


class FacesAnalyzer(AnalyzerBase):
    name = SOURCE
    needs_pixels = True

    def handles(self, media_type: str) -> bool:
        return self.options.classifier is not None and self.options.faces

    @cached_property
    def detector(self):
        from ..models.faces import FaceDetector

        # One thread: the pipeline runs the detector beside the classifier, whose ONNX Runtime
        # threads take the cores (with two, the two sessions fought: 1152x864 +35 ms, not -18).
        return FaceDetector(threads=1)

    @cached_property
    def models(self):
        """(face model, background model, person gate): the shipped face head on the
        classifier's backbone session, the classifier itself (the classifier analyzer's
        instance), and the shipped person gate."""
        from ..models import load_classifier, resolve
        from ..models.face_probe import face_model_for, person_gate_for

        classifier = load_classifier(resolve(self.options.classifier))
        return face_model_for(classifier), classifier, person_gate_for(classifier)

    def find_faces(self, image: ImageInput) -> list[Face]:
        return self.detector(image.rgb)

    # the detector reads only the pixels: the pipeline may run it while the classifier runs
    early_work = find_faces

    def analyze(self, image: ImageInput) -> Findings:
        found = image.early_result(self.name, self.find_faces)
        boxes = [(f.x, f.y, f.w, f.h, f.score) for f in found]
        if not boxes:
            scores = FaceScores([], None, [])
        else:
            face_model, background_model, person_gate = self.models
            scores = score_faces(image.rgb, boxes, face_model, background_model, person_gate=person_gate,
                                 map_crops=classifier_crops(image.classified))
        return Findings(evidence=face_evidence(scores), faces=scores.faces)
