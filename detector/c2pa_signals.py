"""C2PA provenance signals, as the C2PA Asset Rubrics 1.0 (2026-08-06) define them.

The rubric (`asset-rubric-signals-local.yml`) states each signal as a json-formula
expression evaluated on one manifest of the crJSON manifest store, and its reference
evaluator builds a DAG of the store's manifests (edges from ingredient assertions that name
an `activeManifest`; a "pseudo" manifest for a flat ingredient that declares a digital
source type). The json-formula library is not available here, so each expression is
written out below in Python, keeping the rubric's semantics exactly, including two that
matter in practice:
- only an assertion labelled exactly `c2pa.actions.v2` is read (a legacy `c2pa.actions`
  gives no signal: the expressions fail on it and the evaluator drops the signal);
- an expression that fails (json-formula's length() of null) gives no signal, even where a
  later `||` term would have been true.
Pure functions over dicts: tested signal by signal (tests/test_c2pa_signals.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RUBRIC = "C2PA Asset Rubrics 1.0 (2026-08-06), asset-rubric-signals-local.yml"

_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
INCEPTION_ACTIONS = ("c2pa.created", "c2pa.opened")
NON_EDITORIAL_ACTIONS = (
    "c2pa.converted", "c2pa.published", "c2pa.repackaged", "c2pa.transcoded", "c2pa.resized.proportional",
    "c2pa.enhanced", "c2pa.edited.metadata", "c2pa.watermarked", "c2pa.watermarked.bound",
    "c2pa.watermarked.unbound", "c2pa.redacted",
)
GENAI_DST_TYPES = (_IPTC + "trainedAlgorithmicMedia", _IPTC + "compositeWithTrainedAlgorithmicMedia",
                   _IPTC + "compositeSynthetic", "http://c2pa.org/digitalsourcetype/trainedAlgorithmicData")
POSSIBLY_GENAI_DST_TYPES = (_IPTC + "digitalArt", _IPTC + "composite")


@dataclass(frozen=True)
class SignalDefinition:
    id: str  # the rubric's statement id, e.g. "inception:signal_fullyGenAIMedia"
    text: str  # the rubric's report text when the signal is present (English)

    @property
    def name(self) -> str:
        return self.id.split("signal_", 1)[1]

    @property
    def kind(self) -> str:
        return self.id.split(":", 1)[0]


# Inception signals that are "a created/opened action with this digital source type".
CREATED_WITH: dict[str, tuple[SignalDefinition, tuple[str, ...]]] = {
    d.name: (d, dsts) for d, dsts in (
        (SignalDefinition("inception:signal_blankCanvas", "Contains Blank Canvas"),
         ("http://c2pa.org/digitalsourcetype/empty",)),
        (SignalDefinition("inception:signal_capturedMedia", "Contains Captured Media"),
         (_IPTC + "digitalCapture", _IPTC + "computationalCapture")),
        (SignalDefinition("inception:signal_capturedMediaStitched", "Contains Stitched Captured Media"),
         (_IPTC + "compositeCapture",)),
        (SignalDefinition("inception:signal_compositionMayContainGenAI",
                          "Contains Composition which may contain GenAI content"), (_IPTC + "composite",)),
        (SignalDefinition("inception:signal_fullyGenAIMedia", "Contains Fully GenAI Media"),
         (_IPTC + "trainedAlgorithmicMedia",)),
        (SignalDefinition("inception:signal_nonGenAIDigitalCreation", "Contains Non-GenAI digital creation"),
         (_IPTC + "digitalCreation",)),
        (SignalDefinition("inception:signal_partlyGenAICreation", "Contains Partly GenAI Creation"),
         (_IPTC + "compositeWithTrainedAlgorithmicMedia",)),
        (SignalDefinition("inception:signal_screenCaptureMayContainGenAI",
                          "Contains Screen Capture Which May Contain GenAI Content"), (_IPTC + "screenCapture",)),
    )
}
MEDIA_UNKNOWN_PROVENANCE = SignalDefinition("inception:signal_mediaUnknownProvenance",
                                            "Contains Media of Unknown Provenance")
AMBIGUOUS_ACTIONS = SignalDefinition("transformation:signal_ambiguousActions", "Contains ambiguous actions")
NON_EDITORIAL = SignalDefinition("transformation:signal_nonEditorial", "Contains Non-editorial Transformations")
PERCEPTIBLE_GENAI = SignalDefinition("transformation:signal_perceptibleGenAI",
                                     "Contains Perceptible GenAI Transformations")
PERCEPTIBLE_NON_GENAI = SignalDefinition("transformation:signal_perceptibleNonGenAI",
                                         "Contains Perceptible Non-GenAI Transformations")
PERCEPTIBLE_POSSIBLY_GENAI = SignalDefinition("transformation:signal_perceptiblePossiblyGenAI",
                                              "Contains Perceptible Transformations Possibly Using GenAI")

# Every signal of the rubric, in its order (the tests hold this table against the YAML).
SIGNALS: tuple[SignalDefinition, ...] = (
    CREATED_WITH["blankCanvas"][0], CREATED_WITH["capturedMedia"][0], CREATED_WITH["capturedMediaStitched"][0],
    CREATED_WITH["compositionMayContainGenAI"][0], CREATED_WITH["fullyGenAIMedia"][0], MEDIA_UNKNOWN_PROVENANCE,
    CREATED_WITH["nonGenAIDigitalCreation"][0], CREATED_WITH["partlyGenAICreation"][0],
    CREATED_WITH["screenCaptureMayContainGenAI"][0], AMBIGUOUS_ACTIONS, NON_EDITORIAL, PERCEPTIBLE_GENAI,
    PERCEPTIBLE_NON_GENAI, PERCEPTIBLE_POSSIBLY_GENAI,
)


class _Undefined(Exception):
    """A json-formula evaluation error (the evaluator then reports no signal)."""


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """`assertions.'c2pa.actions.v2'.actions`; length() of anything but a list fails."""
    assertion = (manifest.get("assertions") or {}).get("c2pa.actions.v2")
    actions = assertion.get("actions") if isinstance(assertion, dict) else None
    if not isinstance(actions, list):
        raise _Undefined("no c2pa.actions.v2 actions")
    return [a if isinstance(a, dict) else {} for a in actions]


def _perceptible(action: dict[str, Any]) -> bool:
    name = action.get("action")
    return name is not None and name not in INCEPTION_ACTIONS and name not in NON_EDITORIAL_ACTIONS


def _ambiguous(manifest: dict[str, Any]) -> bool:
    actions = _actions(manifest)  # fails first, as the rubric's first term does
    if len(actions) == 0:
        return True
    if manifest["assertions"]["c2pa.actions.v2"].get("allActionsIncluded") is not True:
        return True
    if any(isinstance(a.get("action"), str) and not a["action"].startswith("c2pa.") for a in actions):
        return True
    if any(a.get("action") == "c2pa.unknown" for a in actions):
        return True
    gathered = (manifest.get("claim.v2") or {}).get("gathered_assertions") if isinstance(
        manifest.get("claim.v2"), dict) else None
    if not isinstance(gathered, list):
        raise _Undefined("no claim.v2 gathered_assertions")
    return any("c2pa.actions" in str((g or {}).get("url", "")) for g in gathered if isinstance(g, dict))


def _media_unknown_provenance(manifest: dict[str, Any]) -> bool:
    ingredient = (manifest.get("assertions") or {}).get("c2pa.ingredient.v3")
    return ingredient is not None and (not isinstance(ingredient, dict) or ingredient.get("activeManifest") is None)


def _tests() -> list[tuple[SignalDefinition, Any]]:
    def created_with(dsts):
        return lambda m: any(a.get("action") in INCEPTION_ACTIONS and a.get("digitalSourceType") in dsts
                             for a in _actions(m))

    tests: list[tuple[SignalDefinition, Any]] = [(d, created_with(dsts)) for d, dsts in CREATED_WITH.values()]
    tests += [
        (MEDIA_UNKNOWN_PROVENANCE, _media_unknown_provenance),
        (AMBIGUOUS_ACTIONS, _ambiguous),
        (NON_EDITORIAL, lambda m: any(a.get("action") in NON_EDITORIAL_ACTIONS for a in _actions(m))),
        (PERCEPTIBLE_GENAI, lambda m: any(_perceptible(a) and a.get("digitalSourceType") in GENAI_DST_TYPES
                                          for a in _actions(m))),
        (PERCEPTIBLE_NON_GENAI, lambda m: any(
            _perceptible(a) and a.get("digitalSourceType") is not None
            and a.get("digitalSourceType") not in GENAI_DST_TYPES for a in _actions(m))),
        (PERCEPTIBLE_POSSIBLY_GENAI, lambda m: any(
            _perceptible(a) and a.get("digitalSourceType") in POSSIBLY_GENAI_DST_TYPES for a in _actions(m))),
    ]
    order = {d.id: i for i, d in enumerate(SIGNALS)}
    return sorted(tests, key=lambda t: order[t[0].id])


_TESTS = _tests()


def manifest_signals(manifest: dict[str, Any]) -> list[SignalDefinition]:
    """The signals one crJSON manifest carries, in the rubric's order."""
    found = []
    for definition, test in _TESTS:
        try:
            if test(manifest):
                found.append(definition)
        except (_Undefined, AttributeError, TypeError):
            continue
    return found


def _parent_label(url: str) -> str:
    """The manifest label in an ingredient's activeManifest URL (as the evaluator cuts it)."""
    if "urn:c2pa:" in url:
        return url[url.find("urn:c2pa:"):].split("/")[0]
    return url


def _subject(manifest: dict[str, Any]) -> dict[str, str]:
    subject = (((manifest.get("signature") or {}).get("certificateInfo") or {}).get("subject")) or {}
    return {k: str(v) for k, v in subject.items() if isinstance(v, (str, int))}


def provenance_nodes(store: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference evaluator's DAG over a crJSON store: one node per manifest (label,
    manifest, parents: [(label, relationship)]) plus a pseudo node for each flat ingredient
    (no activeManifest) that declares a digital source type — itself or through an opened
    action of the manifest that holds it — whose manifest is a created action with it."""
    manifests = [m for m in store.get("manifests") or [] if isinstance(m, dict) and m.get("label")]
    nodes = [{"label": m["label"], "manifest": m, "parents": [], "pseudo": False, "asserted_in": None}
             for m in manifests]
    pseudo: list[dict[str, Any]] = []
    for node in nodes:
        assertions = node["manifest"].get("assertions") or {}
        for key, value in assertions.items():
            if not key.startswith("c2pa.ingredient") or not isinstance(value, dict):
                continue
            url = (value.get("activeManifest") or {}).get("url") if isinstance(value.get("activeManifest"),
                                                                               dict) else None
            if url:
                node["parents"].append((_parent_label(str(url)), value.get("relationship")))
                continue
            dst = value.get("digitalSourceType") or _opened_dst(assertions)
            if dst:
                title = re.sub(r"[^a-zA-Z0-9_\-.]", "_", str(value.get("dc:title", "flat-ingredient")))
                label = f"urn:c2pa:pseudo:{node['label']}:{title}_{len(nodes) + len(pseudo)}"
                pseudo.append({"label": label, "pseudo": True, "parents": [], "asserted_in": node["label"],
                               "manifest": {"label": label, "signature": node["manifest"].get("signature"),
                                            "assertions": {"c2pa.actions.v2": {
                                                "allActionsIncluded": True,
                                                "actions": [{"action": "c2pa.created", "digitalSourceType": dst}]}}}})
                node["parents"].append((label, value.get("relationship")))
    return nodes + pseudo


def _opened_dst(assertions: dict[str, Any]) -> str | None:
    for key, value in assertions.items():
        if key.startswith("c2pa.actions") and isinstance(value, dict):
            for action in value.get("actions") or []:
                if isinstance(action, dict) and action.get("action") == "c2pa.opened" and action.get(
                        "digitalSourceType"):
                    return str(action["digitalSourceType"])
    return None


def asset_signals(store: dict[str, Any], active_label: str | None) -> list[dict[str, Any]]:
    """Every signal of every manifest in the store's provenance DAG, as report entries.
    `own` marks the signals of the file's own claim: the active manifest and the pseudo
    manifests of its flat ingredients; the rest belong to ingredients' histories, each
    with its `depth` below the active manifest (None: not reachable from it)."""
    nodes = provenance_nodes(store)
    by_label = {n["label"]: n for n in nodes}
    depth: dict[str, int] = {}
    frontier: list[str] = []
    if active_label is not None and active_label in by_label:
        frontier.append(active_label)
        depth[active_label] = 0
    while frontier:  # breadth first: cycles and shared ingredients are visited once
        label = frontier.pop(0)
        for parent, _ in by_label[label]["parents"]:
            if parent in by_label and parent not in depth:
                depth[parent] = depth[label] + 1
                frontier.append(parent)
    out = []
    for node in nodes:
        own = node["label"] == active_label or (node["pseudo"] and node["asserted_in"] == active_label)
        subject = _subject(node["manifest"])
        for definition in manifest_signals(node["manifest"]):
            out.append({"id": definition.id, "name": definition.name, "kind": definition.kind,
                        "text": definition.text, "manifest": node["label"], "own": own,
                        "pseudo": node["pseudo"], "depth": depth.get(node["label"]),
                        "signer": subject.get("CN") or subject.get("O")})
    return out
