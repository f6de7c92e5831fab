"""Typed pieces of a report. `Report.to_dict()` is the public JSON contract of
`synthcheck scan --format jsonl`: fields may be added, never removed or renamed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# 1.1: `provenance`, `metadata` are null when not computed; provenance gains
# `ingredient_failure_codes` / `ingredient_failures` (failure_codes = the active
# manifest's only); risk gains `unchecked`.
# 1.2: `faces` (null when the faces check did not run, [] when it found none).
# 1.3: provenance gains `trust` (which list vouched: c2pa | interim | user | null, its
# version, the lists checked), `signals` (C2PA Asset Rubrics 1.0), `conforming_product`,
# `timestamp`.
# 1.4: classifier gains `crops`, `crop_size`, `global_view` (what was scored); risk gains `why`.
# 1.5: classifier gains `pooling` (how the crops' scores made the image's) and `coverage`
# (the grid, its crops and the share of the image's pixels they saw at native resolution);
# faces gain `p_person` (a photographed person, not a statue, painting, drawing or animal).
# 1.6: classifier gains `regions_from` (which head scored `regions`: the model's region head,
# trained also on photos with one region edited, or the crops' own scores).
SCHEMA_VERSION = "1.6"

Level = Literal["low", "medium", "high"]
LEVELS: tuple[Level, ...] = ("low", "medium", "high")
ProvenanceState = Literal["none", "valid", "trusted", "invalid", "unreadable"]


@dataclass(frozen=True)
class Evidence:
    """One finding. `weight` is a natural-log likelihood ratio in favour of
    "AI-generated or AI-edited": +2.3 means the finding is ten times likelier on a
    generated image than on a camera photo, 0 means purely informational."""

    source: str
    code: str
    message: str
    weight: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    state: ProvenanceState = "none"
    claim_generator: str | None = None
    issuer: str | None = None
    common_name: str | None = None
    signing_time: str | None = None
    digital_source_types: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    manifest_count: int = 0
    remote_manifest_url: str | None = None
    # The active manifest's thumbnail: {format, identifier, size_bytes}, plus
    # `data_base64` when asked for (AnalysisOptions.thumbnails; the web page does).
    thumbnail: dict[str, Any] | None = None
    # Failures the validator reported for ingredients (their own manifests), kept apart
    # from the active manifest's `failure_codes`; each ingredient also lists its own.
    ingredient_failure_codes: list[str] = field(default_factory=list)
    ingredient_failures: list[dict[str, str]] = field(default_factory=list)
    # Which trust list vouched for the signer: {list: "c2pa" | "interim" | "user" | null,
    # list_name, list_version, entity, lists_checked, lists_checked_names}; null when the
    # check did not run.
    trust: dict[str, Any] | None = None
    # The C2PA signals of the manifest store's provenance DAG (c2pa_signals.asset_signals):
    # {id, name, kind, text, manifest, own, pseudo, depth, signer}.
    signals: list[dict[str, Any]] = field(default_factory=list)
    # The C2PA conforming product the signer's certificate names (conforming.py); its
    # `established` is true only when the signature chains to the official C2PA Trust List.
    conforming_product: dict[str, Any] | None = None
    # The active claim's time-stamp: {time, authority, authority_issuer, validation_codes,
    # trusted, issuer_on_tsa_list}.
    timestamp: dict[str, Any] | None = None


@dataclass(frozen=True)
class ClassifierResult:
    model: str
    version: str
    p_generated: float
    regions: list[list[float]] = field(default_factory=list)  # each crop's probability, rows of the grid
    # What was scored: each crop's box [x, y, width, height] in the image's pixels, in the
    # order of `regions` (row after row); the crop side; and, where the model also scores the
    # global view, the size [width, height] the whole image was shrunk to (its centre
    # crop_size square is what the model saw). Empty / null from models that do not say.
    crops: list[list[int]] = field(default_factory=list)
    crop_size: int | None = None
    global_view: list[int] | None = None
    # How the crops' logits (and the global view's) made p_generated: models/pooling.py's rule.
    pooling: str | None = None
    # {rows, cols, crops, capped, pixel_share}: the grid over the image, whether its crop count
    # was capped (a huge image), and the share of the image's pixels the crops saw at native
    # resolution (the global view saw all of them, shrunk). Null from models that do not say.
    coverage: dict[str, Any] | None = None
    # Which head scored `regions`: "region_head" (the model's head for the map, trained also on
    # real photos with one region regenerated or pasted in; p_generated never reads it) or "crops"
    # (the same crop scores that made p_generated). Null from models that do not say.
    regions_from: str | None = None


@dataclass(frozen=True)
class FaceResult:
    box: list[int]  # x, y, width, height in the image's pixels
    score: float  # the face detector's confidence, 0..1
    p_generated: float | None  # the classifier on a window around the face; None: not scored
    # (1.5) how likely the face is a photographed person rather than a statue, painting, drawing
    # or animal (models/face_probe.PersonGate); a face below the gate's threshold is not judged
    # (p_generated null). None: not scored, or no gate.
    p_person: float | None = None


@dataclass(frozen=True)
class Risk:
    score: float
    level: Level
    summary: str
    policy: str
    log_odds: float
    # Checks that could not run on this file (analyzer names); when any did, the level is
    # at least `medium` (fail closed) and the summary says so.
    unchecked: list[str] = field(default_factory=list)
    # What put a level above `low` there, the policy's prior included (fusion.why_level; also
    # in the summary); null for `low`.
    why: str | None = None


@dataclass(frozen=True)
class ReportError:
    code: str
    message: str


@dataclass
class Report:
    path: str
    sha256: str | None = None
    size_bytes: int | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    risk: Risk | None = None
    evidence: list[Evidence] = field(default_factory=list)
    # null until the check ran: a file that was never read was never checked.
    provenance: Provenance | None = None
    metadata: dict[str, Any] | None = None
    classifier: ClassifierResult | None = None
    faces: list[FaceResult] | None = None
    error: ReportError | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    pipeline_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fully_analysed(risk: Risk | None) -> bool:
    """Every check ran on the file: it has a risk and nothing in `risk.unchecked`."""
    return risk is not None and not risk.unchecked


def reaches(level: Level | None, unchecked: Sequence[str], fail_on: Level) -> bool:
    """`scan --fail-on`'s one rule, for every engine: a file at `fail_on` or above, or a file
    not fully analysed whatever its level (no risk at all, or a check that could not run on
    it: a truncated JPEG whose pixels were never decoded cannot be cleared by its metadata)."""
    return level is None or bool(unchecked) or LEVELS.index(level) >= LEVELS.index(fail_on)
