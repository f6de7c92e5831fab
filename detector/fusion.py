"""Fusion: pure functions from evidence to a calibrated risk. weigh() gives every finding
that carries a measurement (a probability) its weight, from that measurement and the policy
(WEIGHERS, one weigher per code); fuse() adds the weights up.

Each evidence weight is a natural-log likelihood ratio. Weights add to the policy's
prior log-odds (naive Bayes), with one guard against double counting: findings from
the same analyzer are correlated, so within a source the strongest finding counts
fully, the next half, the next a quarter, and so on (separately for findings for and
against). The score is the resulting probability; the policy's thresholds give the level."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from .odds import logit
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


# --- weighing: from what an analyzer found to the weight fusion counts ---------------------
#
# An analyzer reports what it found. Most findings are constants: a C2PA manifest that declares
# AI generation, camera EXIF, a generator's watermark or preset size, a JPEG quantisation table.
# Each carries the likelihood ratio measured for that finding (c2pa_provenance's tables scaled
# by the signer's trust, metadata's, dimensions' generator_sizes.json, ...), set where the
# finding is made: it depends on nothing but the finding, not on a probability read off the
# pixels and not on the policy, so there is nothing for fusion to compute. A finding that
# carries a measurement is weighed here, once, from that measurement, the policy and the
# other findings: one weigher per code, in WEIGHERS (below). Its analyzer leaves its weight at
# 0 and puts the measurement in its details.

# A weigher: (the finding as its analyzer reported it, the policy, every finding of the file
# as reported) -> the finding with the weight fusion counts.
Weigher = Callable[[Evidence, Policy, Sequence[Evidence]], Evidence]

CLASSIFIER_CAP = 4.0  # pixels alone never outweigh a signed manifest (+7)
FACE_SCORE_CAP = 2.0  # a face is part of the pixels the classifier (capped at 4) already read

# A constant-weight finding (not a reading of the pixels: no weigher) at least this heavy in
# favour of AI is a declaration: C2PA or IPTC digital source types, generation settings, a
# generator's watermark, a generator named as the software. Pixels that look real do not
# clear such a file (generators are built to look real, and the classifier misses generators
# it never saw): against a declaration the classifier counts at most PIXELS_AGAINST_DECLARATION.
DECLARATION_WEIGHT = 4.0
PIXELS_AGAINST_DECLARATION = -1.0


def classifier_weight(p_generated: float) -> float:
    """The learned classifier's calibrated probability (trained on balanced classes, so prior
    0.5) as a log-likelihood ratio, capped so that pixels alone never outweigh a signed
    manifest."""
    return round(max(-CLASSIFIER_CAP, min(CLASSIFIER_CAP, logit(p_generated))), 3)


def face_score_weight(p_face: float, b: float) -> float:
    """The face score's weight: b x the logit of a face that looks generated, capped; 0 for
    a face that looks real (it cannot clear what the whole image did not). b is the policy's
    (Policy.face_score_weight); b = 1 is the face's own reading, unscaled."""
    return round(min(FACE_SCORE_CAP, b * max(0.0, logit(p_face))), 3)


def declarations(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The declarations of AI generation among the findings: constant-weight findings (no
    weigher: not a reading of the pixels) at least DECLARATION_WEIGHT heavy."""
    return [e for e in evidence if e.code not in WEIGHERS and e.weight >= DECLARATION_WEIGHT]


# A weigher whose counted weight is not the plain reading of the measurement says so: a note
# at the end of the message, starting with NOTE, and the plain weight in the details (one of
# NOTED), so that the weight listed is the weight counted. weigh() takes both off again
# before weighing (_found), so weighing weighed evidence starts from what was found.
NOTE = "; counted "
NOTED = ("unscaled_weight", "uncapped_weight")
ADDED = ("b", *NOTED)  # every key a weigher adds to a finding's details


def _noted(item: Evidence, weight: float, note: str, **details) -> Evidence:
    return replace(item, weight=weight, message=f"{_sentence(item.message)}{NOTE}{note}.",
                   details={**item.details, **details})


def weigh_classifier(item: Evidence, policy: Policy, evidence: Sequence[Evidence]) -> Evidence:
    """classifier_score: classifier_weight of its p_generated; against a declaration (another
    check's, declarations()) at most PIXELS_AGAINST_DECLARATION, and the item says so. The
    same under every policy."""
    weight = classifier_weight(item.details["p_generated"])
    declared = declarations(evidence)
    if declared and weight < PIXELS_AGAINST_DECLARATION:
        return _noted(item, PIXELS_AGAINST_DECLARATION,
                      f"only {PIXELS_AGAINST_DECLARATION:+.1f} (of {weight:+.1f}): the file declares AI generation "
                      f"({declared[0].code}), and pixels that look real do not clear a declaration",
                      uncapped_weight=weight)
    return replace(item, weight=weight)


def weigh_face(item: Evidence, policy: Policy, evidence: Sequence[Evidence]) -> Evidence:
    """face_score: face_score_weight of its p_generated with the policy's b (moderation, whose
    `high` acts automatically, counts a face less); where that is not the face's unscaled
    weight (b = 1), the item says so."""
    p, b = item.details["p_generated"], policy.face_score_weight
    weight, unscaled = face_score_weight(p, b), face_score_weight(p, 1.0)
    if weight == unscaled:
        return replace(item, weight=weight, details={**item.details, "b": b})
    return _noted(item, weight, f"{weight:+.1f} (not {unscaled:+.1f}) under the {policy.name} policy",
                  b=b, unscaled_weight=unscaled)


# The one table from a finding's code to the function that weighs it. A code not here keeps
# the constant weight its analyzer gave it (see above).
WEIGHERS: dict[str, Weigher] = {
    "classifier_score": weigh_classifier,
    "face_score": weigh_face,
}


def _found(item: Evidence) -> Evidence:
    """A measured finding as its analyzer reported it: weight 0, no note, no weigher's details
    (weigh() undone, for evidence weighed before)."""
    message = item.message
    if any(key in item.details for key in NOTED) and NOTE in message:
        message = message[: message.rfind(NOTE)] + "."
    details = {k: v for k, v in item.details.items() if k not in ADDED}
    return replace(item, weight=0.0, message=message, details=details)


def weigh(evidence: Sequence[Evidence], policy: Policy) -> list[Evidence]:
    """Every finding with the weight fusion counts for it, in the same order: a measured one (its
    code in WEIGHERS) weighed from its measurement, the policy and the other findings; the
    others as their analyzers weighed them. The weights listed are the weights counted: run it
    just before fuse(), and list what it returns. Pure; weighing its result again, under this
    policy or another, gives what weighing the found evidence under that policy gives."""
    found = [_found(e) if e.code in WEIGHERS else e for e in evidence]
    return [WEIGHERS[e.code](e, policy, found) if e.code in WEIGHERS else e for e in found]


def classifier_evidence(result: ClassifierResult, width: int | None = None, height: int | None = None) -> Evidence:
    """The classifier's finding (analyzers/classifier.py classifier_finding) weighed on its own,
    as fuse() counts it beside no declaration: for callers that fuse a bare probability
    (training/evaluate.py, the experiments). The classifier's weight is the same under every
    policy."""
    from .analyzers.classifier import classifier_finding
    from .policy import POLICIES

    return weigh([classifier_finding(result, width, height)], POLICIES["default"])[0]


def classifier_unavailable() -> Evidence:
    return Evidence("classifier", "classifier_unavailable",
                    "No learned classifier result: the pixels were judged only by the provenance, "
                    "metadata and signal checks.", 0.0)
