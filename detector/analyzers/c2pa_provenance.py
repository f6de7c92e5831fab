"""C2PA provenance: read and validate the manifest store with c2pa-python.

"No manifest" is an outcome (state `none`), not an error. Remote manifests are never
fetched, nor is revocation checked online (OCSP): the URL is reported instead. States:
none | valid | trusted | invalid | unreadable. State and failure codes are c2pa-python's own,
read with every trust list in use (trust.py); for a trusted file, the first list that alone
trusts it is the one reported as vouching. The C2PA signals (c2pa_signals.py) come from the
same reader's crJSON, and decide the weights."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import threading
from typing import Any

import c2pa

from ..c2pa_signals import asset_signals
from ..conforming import match_product
from ..image_input import ImageInput
from ..options import AnalysisOptions
from ..report import Evidence, Provenance
from ..source_types import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, short_source_type
from ..trust import TrustList, tsa_list
from .base import AnalyzerBase, Findings

SOURCE = "c2pa"

# Extended key usages accepted for signers once trust anchors are configured; real
# signers use these (emailProtection, documentSigning, C2PA, Microsoft, timestamping).
TRUSTED_EKUS = "\n".join(
    [
        "1.3.6.1.5.5.7.3.4",
        "1.3.6.1.5.5.7.3.36",
        "1.3.6.1.4.1.62558.2.1",
        "1.3.6.1.4.1.311.76.59.1.9",
        "1.3.6.1.5.5.7.3.8",
        "1.3.6.1.5.5.7.3.9",
    ]
)

# Failure codes that only say "we don't know this signer": not a sign of tampering.
TRUST_ONLY_CODES = {
    "signingCredential.untrusted",
    "cawg.x509.credential.untrusted",
    "timeStamp.untrusted",
}

FAILURE_EXPLANATIONS = {
    "signingCredential.untrusted": "the signer's certificate chains to none of the trust lists in use",
    "signingCredential.invalid": "the signer's certificate is not valid for signing content credentials",
    "signingCredential.revoked": "the signer's certificate has been revoked",
    "signingCredential.expired": "the signer's certificate had expired when it signed",
    "claimSignature.mismatch": "the signature does not match the claim: the manifest was altered after signing",
    "claimSignature.missing": "the claim's signature is missing",
    "claimSignature.outsideValidity": "the claim was signed outside the certificate's validity period",
    "assertion.dataHash.mismatch": "the file's bytes no longer match the hash recorded at signing: "
    "the image was changed after it was signed",
    "assertion.boxesHash.mismatch": "the file's boxes no longer match the hash recorded at signing: "
    "the image was changed after it was signed",
    "assertion.bmffHash.mismatch": "the file's media boxes no longer match the hash recorded at signing: "
    "the image was changed after it was signed",
    "assertion.hashedURI.mismatch": "an assertion was changed after the manifest was signed",
    "assertion.missing": "an assertion that the claim lists is missing",
    "assertion.required.missing": "a required assertion (such as the actions) is missing",
    "assertion.cbor.invalid": "an assertion is not valid CBOR",
    "assertion.action.ingredientMismatch": "an action names an ingredient that does not match",
    "ingredient.manifest.missing": "the manifest of an ingredient is missing",
    "ingredient.hashedURI.mismatch": "an ingredient's manifest was changed after it was referenced",
    "manifest.inaccessible": "the manifest could not be accessed",
    "timeStamp.mismatch": "the time-stamp does not match the signature",
    "timeStamp.untrusted": "the time-stamp authority is not trusted",
    "timeStamp.outsideValidity": "the time-stamp is outside its certificate's validity",
    "cawg.x509.credential.untrusted": "the creator identity (CAWG) credential is not trusted",
    "general.error": "the validator hit an internal error",
}


def explain_failure(code: str) -> str:
    if code in FAILURE_EXPLANATIONS:
        return FAILURE_EXPLANATIONS[code]
    return "validation failed: " + code.replace(".", " ").replace("_", " ")


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    if manifest.get("claim_generator"):
        return manifest["claim_generator"]
    # Claim v2 manifests name their generator only in claim_generator_info; the first
    # entry is the application (the SDK appends its own), as the reference reader reports.
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, dict) and info.get("name"):
            return str(info["name"])
    return None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    actions = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions") or []:
            if not isinstance(action, dict):
                continue
            agent = action.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
            raw_params = action.get("parameters")
            params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
            actions.append(
                {
                    "action": action.get("action"),
                    "digital_source_type": short_source_type(action.get("digitalSourceType")),
                    "software_agent": agent,
                    "description": action.get("description") or params.get("description"),
                    "when": action.get("when"),
                }
            )
    return actions


def _source_types(actions: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for action in actions:
        if action["digital_source_type"]:
            seen[action["digital_source_type"]] = None
    return list(seen)


def _ingredient_chain(store: dict[str, Any], manifest: dict[str, Any], manifest_label: str | None,
                      failures: dict[tuple[str, str], list[str]], depth: int = 0, seen: set | None = None):
    """Flatten the ingredient tree (depth-limited, cycle-safe) into a list; each entry
    carries the failure codes the validator reported for that ingredient."""
    seen = seen if seen is not None else set()
    chain = []
    manifests = store.get("manifests") or {}
    for ingredient in manifest.get("ingredients") or []:
        label = ingredient.get("active_manifest")
        parent = manifests.get(label) if label else None
        entry = {
            "depth": depth,
            "title": ingredient.get("title"),
            "format": ingredient.get("format"),
            "relationship": ingredient.get("relationship"),
            "manifest": label,
            "claim_generator": _claim_generator(parent) if parent else None,
            "issuer": ((parent or {}).get("signature_info") or {}).get("issuer"),
            "digital_source_types": _source_types(_actions(parent)) if parent else [],
            "failure_codes": failures.get((str(manifest_label), str(ingredient.get("label"))), []),
            # {format, identifier}; the analyzer adds size_bytes (and data_base64 when asked for)
            "thumbnail": {k: (ingredient.get("thumbnail") or {}).get(k) for k in ("format", "identifier")}
            if (ingredient.get("thumbnail") or {}).get("identifier") else None,
        }
        chain.append(entry)
        if parent and label not in seen and depth < 8:
            seen.add(label)
            chain.extend(_ingredient_chain(store, parent, label, failures, depth + 1, seen))
    return chain


def _explained(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    failures: dict[str, dict[str, str]] = {}
    for entry in entries:
        code = entry.get("code")
        if code and code not in failures:
            failures[code] = {"code": code, "message": explain_failure(code), "url": entry.get("url") or ""}
    return [failures[c] for c in sorted(failures)]


def _active_failures(store: dict[str, Any]) -> list[dict[str, str]]:
    """The active manifest's failures, exactly as the reference reader's
    validation_results.activeManifest; the legacy validation_status list (which mixes in
    the ingredients' failures) only when a reader gives nothing else."""
    results = store.get("validation_results")
    if isinstance(results, dict) and "activeManifest" in results:
        return _explained(list((results.get("activeManifest") or {}).get("failure") or []))
    return _explained(list(store.get("validation_status") or []))


def _ingredient_failures(store: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(manifest label, ingredient assertion label) -> failure codes, from the reader's
    ingredientDeltas (URIs of the form self#jumbf=/c2pa/<manifest>/c2pa.assertions/<ingredient>)."""
    out: dict[tuple[str, str], list[str]] = {}
    for delta in (store.get("validation_results") or {}).get("ingredientDeltas") or []:
        uri = str(delta.get("ingredientAssertionURI") or "")
        codes = sorted({e.get("code") for e in (delta.get("validationDeltas") or {}).get("failure") or []
                        if e.get("code")})
        match = re.search(r"/c2pa/([^/]+)/c2pa\.assertions/([^/]+)$", uri)
        if codes and match:
            out[(match.group(1), match.group(2))] = codes
    return out


def provenance_from_store(store: dict[str, Any]) -> Provenance:
    """Turn the reader's JSON (a dict) into a Provenance. Pure: tested on the shared samples."""
    state = str(store.get("validation_state") or "").lower()
    if state not in ("valid", "trusted", "invalid"):
        state = "invalid" if store.get("validation_status") else "valid"
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) or {}
    signature = active.get("signature_info") or {}
    actions = _actions(active)
    failures = _active_failures(store)
    ingredients = _ingredient_chain(store, active, active_label, _ingredient_failures(store))
    ingredient_codes = sorted({code for i in ingredients for code in i["failure_codes"]})
    return Provenance(
        state=state,  # type: ignore[arg-type]
        claim_generator=_claim_generator(active),
        issuer=signature.get("issuer"),
        common_name=signature.get("common_name"),
        signing_time=signature.get("time"),
        digital_source_types=_source_types(actions),
        actions=actions,
        ingredients=ingredients,
        failure_codes=[f["code"] for f in failures],
        failures=failures,
        manifest_count=len(manifests),
        ingredient_failure_codes=ingredient_codes,
        ingredient_failures=_explained([{"code": c} for c in ingredient_codes]),
    )


def _active_crjson(crjson: dict[str, Any], label: str | None) -> dict[str, Any]:
    for manifest in crjson.get("manifests") or []:
        if isinstance(manifest, dict) and manifest.get("label") == label:
            return manifest
    return {}


def _timestamp(active: dict[str, Any]) -> dict[str, Any] | None:
    """The active claim's time-stamp: when, by whom, c2pa-python's verdict on it, and whether
    its issuer is named on the C2PA TSA Trust List (by name: c2pa-python checks the chain)."""
    info = (active.get("signature") or {}).get("timeStampInfo")
    if not isinstance(info, dict):
        return None
    cert = info.get("certificateInfo") or {}
    subject, issuer = cert.get("subject") or {}, cert.get("issuer") or {}
    results = active.get("validationResults") or {}
    codes = sorted({e.get("code") for kind in ("success", "informational", "failure") for e in results.get(kind) or []
                    if str(e.get("code", "")).startswith("timeStamp.")})
    return {"time": info.get("timestamp"), "authority": subject.get("CN") or subject.get("O"),
            "authority_issuer": issuer.get("CN") or issuer.get("O"), "validation_codes": codes,
            "trusted": "timeStamp.trusted" in codes if codes else None,
            "issuer_on_tsa_list": tsa_list().entity_for(issuer) is not None}


def enrich(prov: Provenance, crjson: dict[str, Any], active_label: str | None, trust: dict[str, Any]) -> Provenance:
    """Add what the crJSON store says beyond the reader's JSON: the rubric's signals, the
    conforming product the signer names, the time-stamp, and which list vouched. Pure."""
    active = _active_crjson(crjson, active_label)
    subject = ((active.get("signature") or {}).get("certificateInfo") or {}).get("subject") or {}
    product = match_product(subject) if subject else None
    return dataclasses.replace(
        prov, trust=trust, signals=asset_signals(crjson, active_label),
        conforming_product=product.to_dict(established=trust.get("list") == "c2pa") if product else None,
        timestamp=_timestamp(active))


# The file's own signals and what each says for "AI-generated or AI-edited": (evidence code,
# ln likelihood ratio in a manifest that validates, words). Capture and creation claims speak
# against AI only as far as the signer is trusted (TRUST_SCALE); declarations of AI count
# whoever signed them (nobody forges a confession), less in a broken manifest.
SIGNAL_WEIGHTS: dict[str, tuple[str, float, str]] = {
    "fullyGenAIMedia": ("c2pa_ai_generated", 7.0, "generated by AI"),
    "partlyGenAICreation": ("c2pa_ai_edited", 5.0, "AI-edited: created partly with generative AI"),
    "perceptibleGenAI": ("c2pa_ai_edited", 5.0, "AI-edited: changed perceptibly with generative AI"),
    "compositionMayContainGenAI": ("c2pa_ai_edited", 2.0, "a composition that may contain AI-generated content"),
    "perceptiblePossiblyGenAI": ("c2pa_possibly_ai_edited", 1.0, "edited in ways that may have used AI"),
    "screenCaptureMayContainGenAI": ("c2pa_screen_capture", 0.0,
                                     "a screen capture: it may show AI content, so provenance cannot say"),
    "capturedMedia": ("c2pa_camera_capture", -3.0, "a camera capture (captured by a camera or other device)"),
    "capturedMediaStitched": ("c2pa_camera_capture", -2.0, "a camera capture stitched from several captures"),
    "nonGenAIDigitalCreation": ("c2pa_digital_creation", -1.0, "a digital creation made without generative AI"),
}
AI_SIGNALS = frozenset(n for n, (_, w, _) in SIGNAL_WEIGHTS.items() if w > 0)
POSITIVE_SCALE = {"trusted": 1.0, "valid": 1.0, "invalid": 0.6}
# How far a claim against AI counts, by who vouched for the signer: the official list and the
# user's own roots fully, the frozen interim list less, an unknown signer (anyone can make a
# certificate) hardly, a manifest that fails validation not at all.
TRUST_SCALE = {"c2pa": 1.0, "user": 1.0, "interim": 0.67, None: 0.25}
# A capture claim from a conforming product certified at assurance level 2 (hardware-backed
# keys) on the official list weighs this much more.
ASSURANCE_2_FACTOR = 4.0 / 3.0
MISUSE_WEIGHT = 2.0


def _trust_words(prov: Provenance) -> str:
    trust = prov.trust or {}
    entity = f" through {trust['entity']}" if trust.get("entity") else ""
    if trust.get("list") == "c2pa":
        return f"a signer on the {trust['list_name']} ({trust['list_version']}){entity}"
    if trust.get("list") == "interim":
        return (f"a signer on the frozen interim trust list{entity}, not the official C2PA Trust List: verifiers "
                "still show it with a disclaimer, and it counts for less here")
    if trust.get("list") == "user":
        return f"a signer trusted through {trust['list_name']}{entity}"
    return "a trusted signer"


def _lists_in_use(prov: Provenance) -> str:
    names = (prov.trust or {}).get("lists_checked_names") or []
    return " and ".join(names) if names else "no trust list (none is in use)"


def evidence_for(prov: Provenance) -> list[Evidence]:
    """Plain-words evidence for a provenance result. Pure."""
    signer = prov.common_name or prov.issuer or "an unknown signer"
    if prov.issuer and prov.common_name and prov.issuer != prov.common_name:
        signer = f"{prov.common_name} ({prov.issuer})"
    details = {"claim_generator": prov.claim_generator, "signer": signer, "signing_time": prov.signing_time,
               "trust_list": (prov.trust or {}).get("list")}
    if prov.state == "none":
        return [Evidence(SOURCE, "c2pa_absent", "No C2PA manifest: the file carries no signed provenance "
                         "(most images on the web carry none).", 0.0)]
    if prov.state == "unreadable":
        if prov.remote_manifest_url:
            return [Evidence(SOURCE, "c2pa_remote_manifest",
                             "The file points to a remote C2PA manifest that was not fetched (synthcheck "
                             "works offline); check it by hand at the URL in the details.",
                             0.0, {"url": prov.remote_manifest_url})]
        reason = prov.failures[0]["message"] if prov.failures else "unknown reason"
        return [Evidence(SOURCE, "c2pa_unreadable",
                         f"A C2PA manifest is present but could not be read ({reason}): it is damaged, "
                         "malformed, or from a pre-release version of the standard.", 0.7,
                         {"failures": prov.failures})]

    evidence: list[Evidence] = []
    serious = [f for f in prov.failures if f["code"] not in TRUST_ONLY_CODES]
    if prov.state == "invalid":
        words = "; ".join(f["message"] for f in serious) or "validation failed"
        evidence.append(Evidence(SOURCE, "c2pa_invalid",
                                 f"The C2PA manifest signed by {signer} fails validation: {words}. "
                                 "The image or its manifest was altered after signing.", 3.0,
                                 {**details, "failure_codes": [f["code"] for f in serious]}))
    elif prov.state == "trusted":
        evidence.append(Evidence(SOURCE, "c2pa_trusted",
                                 f"Valid C2PA manifest signed by {signer}, {_trust_words(prov)}.", 0.0, details))
    else:
        evidence.append(Evidence(SOURCE, "c2pa_valid_untrusted",
                                 f"Valid C2PA manifest signed by {signer}, but that signer is on none of the trust "
                                 f"lists in use ({_lists_in_use(prov)}), so who made the claim is not established.",
                                 0.0, details))

    product: dict[str, Any] = prov.conforming_product or {}  # {}: the signer is no conforming product
    established = bool(product.get("established"))
    if product:
        what = (f"{product['product']} ({product['organization']}), a C2PA conforming generator product "
                f"(assurance level {product['assurance_level']}, spec {', '.join(product['spec_versions'])}, "
                f"certified {product['conformance_date']})")
        evidence.append(Evidence(SOURCE, "c2pa_conforming_product" if established else "c2pa_conforming_name",
                                 f"The signer is {what}." if established else
                                 f"The signer's name matches {what}, but the signature does not chain to the "
                                 "C2PA Trust List, so that it is this product is not established.", 0.0,
                                 {"conforming_product": product}))

    positive = POSITIVE_SCALE[prov.state]
    negative = 0.0 if prov.state == "invalid" else TRUST_SCALE.get((prov.trust or {}).get("list"), 0.25)
    own = [s for s in prov.signals if s["own"]]
    if prov.signals:
        words = "; ".join(dict.fromkeys(s["text"] for s in own)) or "none"
        theirs = "; ".join(dict.fromkeys(s["text"] for s in prov.signals if not s["own"]))
        evidence.append(Evidence(SOURCE, "c2pa_signals",
                                 f"C2PA signals (Asset Rubrics 1.0) of this file's claim: {words}"
                                 + (f"; of its ingredients' claims: {theirs}" if theirs else "") + ".", 0.0,
                                 {"signals": [s["id"] for s in own]}))
    counted_signal = False
    for name in dict.fromkeys(s["name"] for s in own):
        if name not in SIGNAL_WEIGHTS:
            continue
        code, weight, words = SIGNAL_WEIGHTS[name]
        text = next(s["text"] for s in own if s["name"] == name)
        scale = positive if weight > 0 else negative
        if weight < 0 and established and product["assurance_level"] == 2:
            scale *= ASSURANCE_2_FACTOR
        message = (f"The C2PA manifest ({prov.state}) says the image is {words}: \"{text}\" "
                   f"(C2PA signal {name}).")
        if established and name in product["disallowed_signals"]:
            evidence.append(Evidence(SOURCE, "c2pa_disallowed_signal",
                                     f"{product['product']} is not allowed to claim \"{text}\" (its conforming-"
                                     "products entry disallows that signal), yet this manifest does: evidence of "
                                     "misuse of the product's signing key or a faulty product.", MISUSE_WEIGHT,
                                     {"signal": name, **details}))
            scale = min(scale, 0.0) if weight > 0 else 0.0
        counted_signal = counted_signal or weight != 0  # weighed here, even where it counts nothing
        if weight != 0 and scale == 0:
            continue
        evidence.append(Evidence(SOURCE, code, message, round(weight * scale, 3),
                                 {"signal": name, **details}))
    if not counted_signal:
        evidence.extend(_legacy_source_type_evidence(prov, positive, negative, details))

    ingredient_ai = [s for s in prov.signals if not s["own"] and s["name"] in AI_SIGNALS]
    legacy_ai = [i for i in prov.ingredients if any(t in AI_SOURCE_TYPES for t in i["digital_source_types"])]
    if ingredient_ai or legacy_ai:
        words = "; ".join(dict.fromkeys(f"\"{s['text']}\" (signed by {s['signer'] or 'an unknown signer'})"
                                        for s in ingredient_ai))
        titles = ", ".join(str(i["title"]) for i in legacy_ai[:3])
        evidence.append(Evidence(SOURCE, "c2pa_ai_ingredient",
                                 "An ingredient of this image is declared AI-generated or AI-edited in its own "
                                 f"C2PA manifest: {words or titles}.", round(3.0 * positive, 3),
                                 {"ingredients": legacy_ai, "signals": [s["id"] for s in ingredient_ai]}))
    broken = [i for i in prov.ingredients if any(c not in TRUST_ONLY_CODES for c in i["failure_codes"])]
    if broken:
        words = "; ".join(sorted({explain_failure(c) for i in broken for c in i["failure_codes"]
                                  if c not in TRUST_ONLY_CODES}))
        titles = ", ".join(str(i["title"]) for i in broken[:3])
        evidence.append(Evidence(SOURCE, "c2pa_ingredient_invalid",
                                 f"An ingredient's own provenance ({titles}) fails validation: {words}. "
                                 "This says where the image came from, not that this file was altered.", 0.0,
                                 {"ingredients": [{"title": i["title"], "failure_codes": i["failure_codes"]}
                                                  for i in broken]}))
    return evidence


def _legacy_source_type_evidence(prov: Provenance, positive: float, negative: float,
                                 details: dict[str, Any]) -> list[Evidence]:
    """Digital source types that gave no weighed signal: declared in a legacy `c2pa.actions`
    assertion (the rubric reads only `c2pa.actions.v2`) or types the rubric has no signal for
    (algorithmicMedia, digitalArt, ...). Still a signed declaration, weighed like a signal."""
    out = []
    for dst in prov.digital_source_types:
        if dst in AI_SOURCE_TYPES:
            weight, words = AI_SOURCE_TYPES[dst]
            code = "c2pa_ai_generated" if weight >= 5.0 and not dst.startswith("composite") else "c2pa_ai_edited"
            out.append(Evidence(SOURCE, code, f"The C2PA manifest ({prov.state}) declares the image {words} "
                                f"(digitalSourceType {dst}, in an actions assertion the C2PA signal rubric does not "
                                "read).", round(weight * positive, 3), {"digital_source_type": dst, **details}))
        elif dst in CAPTURE_SOURCE_TYPES and negative > 0:
            out.append(Evidence(SOURCE, "c2pa_camera_capture",
                                f"The C2PA manifest ({prov.state}) declares a camera capture (digitalSourceType "
                                f"{dst}, in an actions assertion the C2PA signal rubric does not read).",
                                round(-3.0 * negative, 3), {"digital_source_type": dst, **details}))
    return out


def trust_entry(lists: tuple[TrustList, ...], vouched: TrustList | None, issuer: dict[str, Any]) -> dict[str, Any]:
    """`provenance.trust`: which list vouched (None: none did), its version, the entity on it
    that issued the signer's certificate when that is named there, and the lists checked."""
    return {"list": vouched.key if vouched else None, "list_name": vouched.name if vouched else None,
            "list_version": vouched.version if vouched else None,
            "entity": vouched.entity_for(issuer) if vouched and issuer else None,
            "lists_checked": [lst.key for lst in lists], "lists_checked_names": [lst.name for lst in lists]}


# Thumbnails read from one manifest store at most (the active manifest's and its ingredients').
MAX_THUMBNAILS = 9


def is_remote_manifest(exc: c2pa.C2paError) -> bool:
    """Whether c2pa refused the file because its manifest is stored remotely (never fetched here).

    c2pa-python has a typed `C2paError.RemoteManifest`, but 0.38.1 never raises it on this
    path: the native library's error reads "Remote: must fetch remote manifests from url ...",
    and c2pa-python maps only the prefix "RemoteManifest" to the typed error, so a plain
    C2paError arrives (tests/test_c2pa.py reads `cloud.jpg` to show it). The type is checked
    first; the message stays as the fallback while the installed version needs it."""
    if isinstance(exc, c2pa.C2paError.RemoteManifest):
        return True
    return "remote manifest" in str(exc).lower()


class C2paAnalyzer(AnalyzerBase):
    name = SOURCE
    media_types = frozenset({"image/jpeg", "image/png", "image/webp", "image/avif", "image/heic",
                             "image/heif", "image/tiff", "image/gif"})

    def __init__(self, options: AnalysisOptions):
        super().__init__(options)
        # Contexts are shared by all reads; reads hold this lock only while a context is
        # built, not while a file is validated.
        self._lock = threading.Lock()
        self._contexts: dict[tuple[str, ...], c2pa.Context] = {}

    def context(self, lists: tuple[TrustList, ...]) -> c2pa.Context:
        """A c2pa context trusting exactly these lists (none: nothing is trusted)."""
        key = tuple(lst.key for lst in lists)
        with self._lock:
            if key not in self._contexts:
                # offline: no remote manifests, no online revocation checks (OCSP; also c2pa's default)
                settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
                if lists:  # checked when the options were built
                    settings["trust"] = {"trust_anchors": "".join(lst.pem for lst in lists),
                                         "trust_config": TRUSTED_EKUS}
                self._contexts[key] = c2pa.Context.from_dict(settings)
            return self._contexts[key]

    def read_store(self, image: ImageInput, context: c2pa.Context):
        """(the manifest store as a dict, the same as crJSON, the thumbnails: identifier ->
        thumbnail entry, the active manifest's and its ingredients'), or None when the file
        has no manifest."""
        reader = c2pa.Reader.try_create(image.media_type, io.BytesIO(image.data), None, context)
        if reader is None:
            return None
        with reader:
            store = json.loads(reader.json())
            manifests = store.get("manifests") or {}
            active = manifests.get(store.get("active_manifest")) or {}
            refs: dict[str, dict[str, Any]] = {}  # identifier -> reference, the active manifest's first
            for manifest in (active, *manifests.values()):
                for ref in (manifest.get("thumbnail"),
                            *(i.get("thumbnail") for i in manifest.get("ingredients") or [])):
                    if isinstance(ref, dict) and ref.get("identifier") and len(refs) < MAX_THUMBNAILS:
                        refs.setdefault(ref["identifier"], ref)
            thumbnails = {identifier: self._thumbnail(reader, ref) for identifier, ref in refs.items()}
            return store, json.loads(reader.crjson()), thumbnails

    def _vouching_list(self, image: ImageInput) -> TrustList:
        """The first list (in crediting order) that alone makes the file trusted; where only
        the lists together do (a chain across two lists), the lowest tier among them, so that
        the claim never weighs more than its weakest link."""
        lists = self.options.trust_lists
        for lst in lists[:-1]:
            reader = c2pa.Reader.try_create(image.media_type, io.BytesIO(image.data), None, self.context((lst,)))
            if reader is not None:
                with reader:
                    if str(json.loads(reader.json()).get("validation_state", "")).lower() == "trusted":
                        return lst
        return lists[-1]

    def _thumbnail(self, reader: c2pa.Reader, ref: dict[str, Any]) -> dict[str, Any]:
        thumbnail = {"format": ref.get("format"), "identifier": ref["identifier"]}
        try:
            buffer = io.BytesIO()
            reader.resource_to_stream(ref["identifier"], buffer)
        except c2pa.C2paError as exc:  # a missing or damaged thumbnail is not a provenance failure
            return {**thumbnail, "error": str(exc)}
        thumbnail["size_bytes"] = buffer.tell()
        if self.options.thumbnails:
            thumbnail["data_base64"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        return thumbnail

    def analyze(self, image: ImageInput) -> Findings:
        # Outside the try below: a context that cannot be built is this check failing
        # (analyzer_failed, fail closed), not a damaged manifest in this file.
        context = self.context(self.options.trust_lists)
        no_trust = trust_entry(self.options.trust_lists, None, {})
        try:
            store = self.read_store(image, context)
        except c2pa.C2paError as exc:
            message = str(exc)
            if is_remote_manifest(exc):
                url = message.rsplit("url ", 1)[-1].strip() if "url " in message else None
                prov = Provenance(state="unreadable", remote_manifest_url=url, trust=no_trust,
                                  failures=[{"code": "manifest.remote", "message": "the manifest is stored "
                                             "remotely and was not fetched", "url": url or ""}],
                                  failure_codes=["manifest.remote"])
            else:
                prov = Provenance(state="unreadable", trust=no_trust,
                                  failures=[{"code": "manifest.unreadable", "message": message, "url": ""}],
                                  failure_codes=["manifest.unreadable"])
            return Findings(evidence=evidence_for(prov), provenance=prov)
        if store is None:
            prov = Provenance(trust=no_trust)
        else:
            store_dict, crjson, thumbnails = store
            prov = provenance_from_store(store_dict)
            active_ref = ((store_dict.get("manifests") or {}).get(store_dict.get("active_manifest")) or {}).get(
                "thumbnail") or {}
            thumbnail = thumbnails.get(active_ref.get("identifier"))
            ingredients = [{**i, "thumbnail": thumbnails.get(i["thumbnail"]["identifier"], i["thumbnail"])}
                           if i.get("thumbnail") else i for i in prov.ingredients]
            prov = dataclasses.replace(prov, ingredients=ingredients)
            vouched = self._vouching_list(image) if prov.state == "trusted" else None
            label = store_dict.get("active_manifest")
            issuer = ((_active_crjson(crjson, label).get("signature") or {}).get("certificateInfo") or {}).get(
                "issuer") or {}
            prov = dataclasses.replace(enrich(prov, crjson, label, trust_entry(self.options.trust_lists, vouched,
                                                                                issuer)), thumbnail=thumbnail)
        return Findings(evidence=evidence_for(prov), provenance=prov)
