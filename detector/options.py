"""Options that change how an image is analysed (not how results are printed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .trust import TrustList, trust_lists

# A 100-megapixel medium-format photo must pass; a 30,000 x 30,000 "bomb" must not.
DEFAULT_MAX_PIXELS = 120_000_000
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024
# Seconds a worker may spend on one file before it is stopped (scan with workers).
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AnalysisOptions:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # The user's PEM file of trusted C2PA signer roots, added to the built-in lists (see
    # trust.py). Read and checked here, once: a bad file raises TrustAnchorError.
    trust_anchors: Path | None = None
    # The shipped official C2PA Trust List. Off (with no trust_anchors): signatures are
    # checked but no signer is trusted; off with trust_anchors: only the user's roots count.
    builtin_trust: bool = True
    # The shipped, frozen interim list: a lower tier, reported as such and weighing less.
    interim_trust: bool = True
    # The invisible-watermark decoder is the slowest heuristic; it can be switched off.
    watermarks: bool = True
    # The learned classifier: "default" (the shipped default model), a shipped model's
    # name, or None to run without it.
    classifier: str | None = "default"
    # Find faces and score each with the classifier (needs the classifier; see
    # analyzers/faces.py). Off: no detector pass, `faces` stays null.
    faces: bool = True
    # Embed the C2PA manifest's thumbnail (base64) in the report; its format and size are
    # always reported.
    thumbnails: bool = False
    # The checked lists in use, in crediting order (derived, not set by callers).
    trust_lists: tuple[TrustList, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.trust_anchors is not None:
            object.__setattr__(self, "trust_anchors", Path(self.trust_anchors))
        object.__setattr__(self, "trust_lists", trust_lists(self.trust_anchors, self.builtin_trust,
                                                            self.interim_trust))
