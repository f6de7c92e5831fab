"""Named policies: a prior and the score thresholds that turn a probability into a level."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UnknownPolicyError

# b, the weight of a face that looks generated (fusion.face_score_weight, applied by
# fusion.weigh_face: the faces analyzer reports the face's probability only), per policy: the
# largest b of 0, 0.25, 0.5 and 1 that put no more held-out real faces at the policy's
# `high` than no face score at all (training/experiments/faces_eval.py). Moderation, whose
# `high` acts automatically, stops at 0.25 (at 0.5 one more real face reached `high`);
# triage and KYC count the face as a reading of its own.
FACE_SCORE_WEIGHT = 1.0
MODERATION_FACE_SCORE_WEIGHT = 0.25


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    # Prior probability that an upload is AI-generated or AI-edited, before any evidence.
    prior: float
    medium_at: float
    high_at: float
    # b in the face score's weight (fusion.weigh_face), min(cap, b x logit(p_face)) for a face
    # that looks generated (one that looks real adds nothing: the classifier already counted those
    # pixels). Chosen per policy on held-out faces (above; README "Faces").
    face_score_weight: float = FACE_SCORE_WEIGHT

    @property
    def prior_log_odds(self) -> float:
        return math.log(self.prior / (1.0 - self.prior))


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            name="default",
            description="Analyst triage: balanced between missed fakes and false alarms.",
            prior=0.2,
            medium_at=0.5,
            high_at=0.85,
        ),
        Policy(
            name="moderation",
            description="Platform moderation at volume: 'high' only on strong evidence, "
            "so automatic actions rarely hit real photos.",
            prior=0.2,
            medium_at=0.6,
            high_at=0.93,
            face_score_weight=MODERATION_FACE_SCORE_WEIGHT,
        ),
        Policy(
            name="kyc",
            description="Identity checks: strict. Weak doubt already needs a human look; "
            "an ID selfie without camera evidence is not cleared.",
            prior=0.3,
            medium_at=0.35,
            high_at=0.7,
        ),
    )
}


def get_policy(name: str | Policy) -> Policy:
    if isinstance(name, Policy):
        return name
    try:
        return POLICIES[name]
    except KeyError:
        raise UnknownPolicyError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}") from None
