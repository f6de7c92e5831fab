"""The C2PA Conforming Products List (shipped in trust_lists/, CC BY 4.0): products that
passed the C2PA conformance program, with the distinguished name their claims are signed
under, their assurance level and the signals they may not emit.

A name is easy to forge, so a match says "conforming product" only when the signature
also chains to the official C2PA Trust List (the program's own anchors); otherwise the
report says the name matches but the match is not established."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .trust import shipped_bytes

LIST_FILE = "conforming-products-list.json"


@dataclass(frozen=True)
class ConformingProduct:
    record_id: str
    applicant: str
    product: str  # the CN its claims are signed under
    organization: str
    product_type: str  # generatorProduct | validatorProduct
    assurance_level: int | None
    spec_versions: tuple[str, ...]
    disallowed_signals: tuple[str, ...]  # signal names, e.g. "capturedMedia"
    conformance_date: str | None
    dn: tuple[tuple[str, str], ...]  # the non-empty DN fields the list gives

    def to_dict(self, established: bool) -> dict[str, Any]:
        return {"record_id": self.record_id, "product": self.product, "organization": self.organization,
                "applicant": self.applicant, "product_type": self.product_type,
                "assurance_level": self.assurance_level, "spec_versions": list(self.spec_versions),
                "disallowed_signals": list(self.disallowed_signals), "conformance_date": self.conformance_date,
                "established": established}


def _norm(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def _product(record: dict[str, Any]) -> ConformingProduct:
    product = record.get("product") or {}
    dn = {k: str(v) for k, v in (product.get("DN") or {}).items() if str(v or "").strip()}
    disallowed = product.get("disallowedSignals") or {}
    return ConformingProduct(
        record_id=str(record.get("recordId", "")), applicant=str(record.get("applicant", "")),
        product=dn.get("CN", ""), organization=dn.get("O", ""), product_type=str(product.get("productType", "")),
        assurance_level=(product.get("assurance") or {}).get("maxAssuranceLevel"),
        spec_versions=tuple(str(v) for v in record.get("specVersion") or []),
        disallowed_signals=tuple(str(s) for kind in ("inception", "transformation")
                                 for s in disallowed.get(kind) or []),
        conformance_date=(record.get("dates") or {}).get("conformance"),
        dn=tuple(sorted(dn.items())))


@lru_cache(maxsize=1)
def conforming_products() -> tuple[ConformingProduct, ...]:
    records = json.loads(shipped_bytes(LIST_FILE))
    return tuple(_product(r) for r in records if r.get("status") == "conformant")


def match_product(subject: dict[str, Any]) -> ConformingProduct | None:
    """The conformant generator product whose DN the signer's certificate subject carries
    (every non-empty field the list gives must be equal, CN and O at least). Several
    records can share a DN (new versions): the most recently certified one is taken."""
    fields = {k: _norm(v) for k, v in subject.items()}
    found = [p for p in conforming_products()
             if p.product_type == "generatorProduct" and p.product and p.organization
             and all(fields.get(k) == _norm(v) for k, v in p.dn)]
    return max(found, key=lambda p: (p.conformance_date or "", p.record_id)) if found else None
