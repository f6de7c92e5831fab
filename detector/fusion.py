"""Fusion: one pure function from evidence to a calibrated risk.

Each evidence weight is a natural-log likelihood ratio. Weights add to the policy's
prior log-odds (naive Bayes), with one guard against double counting: findings from
the same analyzer are correlated, so within a source the strongest finding counts
fully, the next half, the next a quarter, and so on (separately for findings for and
against). The score is the resulting probability; the policy's thresholds give the level."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from .policy import Policy
from .report import ClassifierResult, Evidence, Level, Risk
from .wording import percent, shown_probability

STRONG = 2.0  # a finding at least this heavy is worth naming in the summary
CLAMP = 30.0


def _source_total(weights: list[float]) -> float:
    positive = sorted((w for w in weights if w > 0), reverse=True)
    negative = sorted(w for w in weights if w < 0)
    return sum(w * 0.5**i for i, w in enumerate(positive)) + sum(w * 0.5**i for i, w in enumerate(negative))


def level_for(score: float, policy: Policy) -> Level:
    if score >= policy.high_at:
        return "high"
    if score >= policy.medium_at:
        return "medium"
    return "low"


# Evidence codes that mean "a check could not run on this file". Such a check cannot
# clear the file: the level is kept at least `medium` and the summary says so.
UNCHECKED_CODES = frozenset({"analyzer_failed", "pixels_unreadable"})


def _sentence(message: str) -> str:
    return message.rstrip(". ")


def _continued(message: str) -> str:
    """A finding as a later item of a '; ' list: its first letter lower case, unless its
    first word is an acronym or a name ("C2PA", "EXIF", "IPTC")."""
    text = _sentence(message)
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and not any(c.isupper() or c.isdigit() for c in first[1:]):
        return text[0].lower() + text[1:]
    return text


def _listed(items: Sequence[Evidence]) -> str:
    """Findings as one '; ' list: the first as written, the others continuing the sentence."""
    return "; ".join([_sentence(items[0].message)] + [_continued(e.message) for e in items[1:]])


def _counted(evidence: Sequence[Evidence]) -> list[tuple[Evidence, float]]:
    """Each finding with the weight fusion counted for it (_source_total's discount: within a
    source the strongest counts fully, the next half, ...)."""
    by_source: dict[str, list[Evidence]] = defaultdict(list)
    for item in evidence:
        by_source[item.source].append(item)
    out = []
    for items in by_source.values():
        for side in (sorted((e for e in items if e.weight > 0), key=lambda e: -e.weight),
                     sorted((e for e in items if e.weight < 0), key=lambda e: e.weight)):
            out += [(e, e.weight * 0.5**i) for i, e in enumerate(side)]
    return out


def _label(message: str) -> str:
    """A finding's first clause, to name it inside a sentence."""
    text = _sentence(message)
    cuts = [i for i in (text.find(". "), text.find(": ")) if i > 0]
    return _continued(text[: min(cuts)] if cuts else text)


def _positives(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The findings the summary lists for AI, strongest first."""
    return sorted((e for e in evidence if e.weight >= 0.5), key=lambda e: -e.weight)


def why_level(level: Level, score: float, evidence: Sequence[Evidence], policy: Policy,
              unchecked: Sequence[Evidence] = (), raised: bool = False) -> str | None:
    """What put a level above `low` there, in one sentence, from the weights fusion counted:
    the policy's prior (a file with no evidence at all starts there), the findings for AI
    (those the summary lists as a sum, the small ones by name: a level reached by several
    small findings has no strong one to point at), those against, and the policy's mark.
    None for `low`. Pure."""
    if level == "low":
        return None
    if raised:
        names = ", ".join(dict.fromkeys(e.source for e in unchecked))
        return (f"Why {level}: not every check ran ({names}), and a check that did not run cannot clear a file: the "
                f"findings alone give {percent(score)}, below the {policy.name} policy's medium mark "
                f"({percent(policy.medium_at)}), so the level is kept at medium.")
    mark = policy.high_at if level == "high" else policy.medium_at
    counted = _counted(evidence)
    listed = {id(e) for e in _positives(evidence)[:3]}
    strong = sum(w for e, w in counted if id(e) in listed)
    small = sorted(((e, w) for e, w in counted if w > 0 and id(e) not in listed), key=lambda x: -x[1])
    against = sum(w for _, w in counted if w < 0)
    parts = [f"Why {level}: the {policy.name} policy starts every file at {percent(policy.prior)}"]
    if strong:
        parts.append(f"the findings for AI above add {strong:+.1f}")
    if small:
        named = ", ".join(f"{_label(e.message)} ({w:+.1f})" for e, w in small[:3])
        more = f" and {len(small) - 3} more" if len(small) > 3 else ""
        parts.append((f"smaller ones add {sum(w for _, w in small):+.1f}: " if strong else
                      "no finding is strong, but small ones add to it: ") + named + more)
    if against:
        parts.append(f"the findings against take off {-against:.1f}")
    if not strong and not small:
        parts.append("no finding took it below its mark")
    return "; ".join(parts) + (f"; {percent(score)} in all, at or above the {policy.name} policy's {level} mark "
                               f"({percent(mark)}).")


def _summary(level: Level, score: float, evidence: Sequence[Evidence], unchecked: Sequence[Evidence],
             why: str | None) -> str:
    head = f"{level.capitalize()} risk ({percent(score)})."
    positives = _positives(evidence)
    negatives = sorted((e for e in evidence if e.weight <= -0.5), key=lambda e: e.weight)
    parts = [head]
    if positives:
        parts.append("For AI generation or editing: " + _listed(positives[:3]) + ".")
    else:
        parts.append("No strong sign of AI generation or editing was found.")
    if negatives:
        parts.append("Against: " + _listed(negatives[:2]) + ".")
    if positives and negatives and positives[0].weight >= STRONG and negatives[0].weight <= -1.0:
        # Each finding is said once (above); the conflict only names who disagrees.
        pos, neg = positives[0], negatives[0]
        stronger = pos if pos.weight >= -neg.weight else neg
        parts.append(f"Conflict: the strongest {pos.source} finding for and the strongest {neg.source} finding "
                     f"against disagree; the {stronger.source} finding ({stronger.weight:+.1f}) weighs more.")
    if why:
        parts.append(why)
    if unchecked:
        names = ", ".join(dict.fromkeys(e.source for e in unchecked))
        # (the why sentence says what this did to the level)
        parts.append(f"Not checked: {names} could not run on this file ("
                     + "; ".join(_continued(e.message) for e in unchecked[:2]) + ").")
    return " ".join(parts)


def fuse(evidence: Sequence[Evidence], policy: Policy) -> Risk:
    by_source: dict[str, list[float]] = defaultdict(list)
    for item in evidence:
        by_source[item.source].append(item.weight)
    log_odds = policy.prior_log_odds + sum(_source_total(w) for w in by_source.values())
    log_odds = max(-CLAMP, min(CLAMP, log_odds))
    score = 1.0 / (1.0 + math.exp(-log_odds))
    unchecked = [e for e in evidence if e.code in UNCHECKED_CODES]
    raised = bool(unchecked) and score < policy.medium_at
    found = score
    if raised:  # fail closed: what could not be checked never lowers the risk below medium
        score = policy.medium_at
    level = level_for(score, policy)
    why = why_level(level, found, evidence, policy, unchecked, raised)
    # Never round to certainty in the JSON either: evidence is never proof.
    shown = shown_probability(score)
    return Risk(score=shown, level=level, summary=_summary(level, score, evidence, unchecked, why),
                policy=policy.name, log_odds=round(log_odds, 3),
                unchecked=list(dict.fromkeys(e.source for e in unchecked)), why=why)


def logit(p: float) -> float:
    """ln(p / (1 - p)), with p kept within 1e-4 of 0 and 1 (a shown probability is never
    exactly 0 or 1, and a weight must stay finite)."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def scored_words(result: ClassifierResult, width: int, height: int) -> str:
    """What the classifier scored, in words: "the centre 224x224 crop of this 4000x3000
    image", "4 crops of 224x224 spread over this ...", "the whole 200x150 image (padded ...)",
    and the global view where there was one. Pure: from the crops the result records."""
    size = result.crop_size or 0
    boxes = result.crops
    if len(boxes) == 1:
        x, y, w, h = boxes[0]
        padded = f" (padded by reflection to {size}x{size})" if (w, h) != (size, size) else ""
        if (x, y, w, h) == (0, 0, width, height):
            seen = f"the whole {width}x{height} image{padded}"
        else:
            if abs(x - (width - w) / 2) <= 1 and abs(y - (height - h) / 2) <= 1:
                crop = f"centre {w}x{h} crop"
            elif (x, y) == (0, 0):
                crop = f"top-left {w}x{h} crop"
            else:
                crop = f"{w}x{h} crop at ({x}, {y})"
            seen = f"the {crop} of this {width}x{height} image{padded}"
    else:
        seen = f"{len(boxes)} crops of {size}x{size} spread over this {width}x{height} image (their mean)"
    if result.global_view:
        gw, gh = result.global_view
        centre = f"its centre {size}x{size}; " if (gw, gh) != (size, size) else ""
        seen += f" at full resolution and the whole image shrunk to {gw}x{gh} ({centre}the two views averaged)"
    return seen


def classifier_evidence(result: ClassifierResult, width: int | None = None, height: int | None = None) -> Evidence:
    """The learned classifier's output as evidence: its calibrated probability (trained
    on balanced classes, so prior 0.5) turns into a log-likelihood ratio, capped so that
    pixels alone never outweigh a signed manifest. The sentence names what was scored
    (a crop is not the whole image) when the result records its crops."""
    weight = max(-4.0, min(4.0, logit(result.p_generated)))
    where = ""
    cells = [(v, r, c) for r, row in enumerate(result.regions) for c, v in enumerate(row)]
    if len(cells) > 1:
        top, r, c = max(cells)
        rows, cols = len(result.regions), len(result.regions[0])
        vertical = ["top", "middle", "bottom"][min(2, r * 3 // rows)] if rows > 1 else ""
        horizontal = ["left", "centre", "right"][min(2, c * 3 // cols)] if cols > 1 else ""
        where = f"; the most suspicious crop ({percent(top)}) is {(vertical + ' ' + horizontal).strip()}"
    details = {"model": result.model, "version": result.version, "p_generated": result.p_generated}
    if result.crops and width and height:
        seen = scored_words(result, width, height)
        details.update(scored=seen, crops=result.crops, global_view=result.global_view)
        verb = f"rates {seen}"
    else:  # a bare probability (models/evaluate.py): nothing is known of the area
        verb = "rates the image"
    return Evidence(
        "classifier", "classifier_score",
        f"The learned classifier {result.model} {result.version} {verb} {percent(result.p_generated)} likely "
        f"generated{where}.", round(weight, 3), details)


# A finding at least this heavy in favour of AI from a check other than the classifier is a
# declaration: C2PA or IPTC digital source types, generation settings, a generator's
# watermark, a generator named as the software. Pixels that look real do not clear such a
# file (generators are built to look real, and the classifier misses generators it never
# saw): against a declaration the classifier counts at most PIXELS_AGAINST_DECLARATION.
DECLARATION_WEIGHT = 4.0
PIXELS_AGAINST_DECLARATION = -1.0


def limit_pixels_against_declarations(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence with the classifier's weight against AI limited where another check
    found a declaration of AI generation; the item says so, so the weights listed are the
    weights counted. Pure, like fuse(), and run just before it."""
    declared = [e for e in evidence if e.source != "classifier" and e.weight >= DECLARATION_WEIGHT]
    if not declared:
        return list(evidence)
    out = []
    for item in evidence:
        if item.code == "classifier_score" and item.weight < PIXELS_AGAINST_DECLARATION:
            item = replace(item, weight=PIXELS_AGAINST_DECLARATION, message=(
                f"{_sentence(item.message)}; counted only {PIXELS_AGAINST_DECLARATION:+.1f} (of {item.weight:+.1f}): "
                f"the file declares AI generation ({declared[0].code}), and pixels that look real do not clear "
                "a declaration."), details={**item.details, "uncapped_weight": item.weight})
        out.append(item)
    return out


FACE_SCORE_CAP = 2.0  # a face is part of the pixels the classifier (capped at 4) already read


def face_score_weight(p_face: float, b: float) -> float:
    """The face score's weight: b x the logit of a face that looks generated, capped; 0 for
    a face that looks real (it cannot clear what the whole image did not)."""
    return round(min(FACE_SCORE_CAP, b * max(0.0, logit(p_face))), 3)


def weigh_for_policy(evidence: Sequence[Evidence], policy: Policy) -> list[Evidence]:
    """The evidence with the face score weighed by the policy's b (Policy.face_score_weight:
    moderation, whose `high` acts automatically, counts a face less); the item says so, so
    the weights listed are the weights counted. Pure; run just before fuse()."""
    out = []
    for item in evidence:
        if item.code == "face_score" and item.details.get("b") != policy.face_score_weight:
            weight = face_score_weight(item.details["p_generated"], policy.face_score_weight)
            if weight != item.weight:
                item = replace(item, weight=weight, message=(
                    f"{_sentence(item.message)}; counted {weight:+.1f} (not {item.weight:+.1f}) under the "
                    f"{policy.name} policy."),
                    details={**item.details, "b": policy.face_score_weight, "unscaled_weight": item.weight})
        out.append(item)
    return out


def classifier_unavailable() -> Evidence:
    return Evidence("classifier", "classifier_unavailable",
                    "No learned classifier result: the pixels were judged only by the provenance, "
                    "metadata and signal checks.", 0.0)
