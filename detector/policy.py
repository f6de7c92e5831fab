"""Named policies: a prior and the score thresholds that turn a probability into a level."""

from __future__ import annotations

import math
from dataclasses import dataclass


# What a face that looks generated adds to the whole-image classifier's weight: the fitted
# incremental weight on the held-out faces (classifier weight as an offset), for "is the
# image generated?" (default, moderation).
FACE_SCORE_WEIGHT = 0.26
# KYC asks whether the person's face is generated, so there the face counts as a reading
# of its own (b = 1, the classifier's own calibration): on the held-out faces this raised
# no real face's level under kyc and put more generated portraits at `high` (0.82 -> 0.88).
KYC_FACE_SCORE_WEIGHT = 1.0


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    # Prior probability that an upload is AI-generated or AI-edited, before any evidence.
    prior: float
    medium_at: float
    high_at: float
    # b in the face score's weight, min(cap, b x logit(p_face)) for a face that looks
    # generated (one that looks real adds nothing: the classifier already counted those
    # pixels). Measured per question (models/experiments/faces_eval.py, README "Faces").
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
        ),
        Policy(
            name="kyc",
            description="Identity checks: strict. Weak doubt already needs a human look; "
            "an ID selfie without camera evidence is not cleared.",
            prior=0.3,
            medium_at=0.35,
            high_at=0.7,
            face_score_weight=KYC_FACE_SCORE_WEIGHT,
        ),
    )
}


def get_policy(name: str | Policy) -> Policy:
    if isinstance(name, Policy):
        return name
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}") from None
