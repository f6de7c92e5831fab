"""C2PA trust lists: which signers' roots vouch for a manifest, read and checked once,
when the options are built.

Three kinds of list, in the order a signer is credited to them:
- `c2pa`: the official C2PA Trust List, shipped in the package (trust_lists/, dated, sha256
  recorded below), on by default;
- `user`: the user's own PEM roots (`--trust-anchors`), added to the built-in lists;
- `interim`: the frozen interim list (frozen 2026-01-01; verifiers still show results
  against it, with a disclaimer), shipped, on by default, a lower tier that weighs less.

A bad anchor file must never reach analysis: c2pa would fail on every manifest and every
file would read "manifest present but could not be read", quietly turning a signed AI
declaration into a low risk. So a file is refused up front, with a reason; a shipped list
whose bytes are not the recorded ones is refused the same way."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import TrustAnchorError

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)

# The shipped files and their sha256, recorded when they were copied in from
# c2pa-org/conformance-public @ 7dbff513b66e (2026-08-21, CC BY 4.0) and, for the interim
# list, the PyPI wheel bonafide 0.0.2 (MIT). trust_lists/README.md says where each comes from.
SHIPPED_SHA256 = {
    "C2PA-TRUST-LIST.pem": "75cacc98b79ecac33713c7ecfb58d4a0ef383f3c1f886e7409f9e37e8664aea5",
    "C2PA-TRUST-LIST.json": "709555a038a78d4b001e96826313957a27771dc66ca881d408ec8cbf2e21627e",
    "C2PA-TSA-TRUST-LIST.pem": "c688d3555f4a2f1f8d663472bbd37888ff234abdd234c25934c0f9292e4eb5c9",
    "C2PA-TSA-TRUST-LIST.json": "6f409f08c7c877019cb8fa54e83017bd02feee5a1851cc95d2e369ccaba1793e",
    "interim-trust-list-anchors.pem": "db57e50b9bd4e4c786cbb91f38fd85e2af6a9d5412438a8cddcc42688df07ae5",
    "conforming-products-list.json": "47723b7648e7134c6cec60a17b3371586f24fe8c4925dbd27be4c7645426771f",
}
INTERIM_FROZEN_ON = "2026-01-01"


@dataclass(frozen=True)
class TrustList:
    """One list of trust anchors. `key` is what a report's `provenance.trust.list` says."""

    key: str  # "c2pa" | "interim" | "user" | "tsa"
    name: str
    pem: str
    certificates: int
    source: str
    sha256: str
    sequence: int | None = None
    issued: str | None = None
    next_update: str | None = None
    # anchor subject (dn_key) -> who it belongs to, for naming the entity that vouched
    entities: dict[tuple, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def version(self) -> str:
        """What a report's `list_version` says: the sequence number and issue date, or for
        the interim list the day it was frozen, or the user file's sha256 prefix."""
        if self.sequence is not None:
            return f"sequence {self.sequence}, issued {(self.issued or '?')[:10]}"
        if self.key == "interim":
            return f"frozen {INTERIM_FROZEN_ON}"
        return f"sha256 {self.sha256[:12]}"

    def entity_for(self, issuer: dict[str, object]) -> str | None:
        """Who on this list issued a certificate with this issuer DN (CN and O compared):
        the entity that vouched, where the signer's issuer is itself on the list."""
        want = {k: v for k, v in dn_key(issuer) if k in ("CN", "O")}
        for key, owner in self.entities.items():
            if want and {k: v for k, v in key if k in ("CN", "O")} == want:
                return owner
        return None

    def stale(self, now: datetime | None = None) -> bool:
        """Past its next-update date: a newer list has (or should have) been published."""
        if not self.next_update:
            return False
        now = now or datetime.now(UTC)
        return now > datetime.fromisoformat(self.next_update.replace("Z", "+00:00"))


def _checked_blocks(text: str, where: str) -> list[str]:
    blocks = _PEM_CERTIFICATE.findall(text)
    if not blocks:
        raise TrustAnchorError(f"{where}: holds no PEM certificate (expected '-----BEGIN CERTIFICATE-----' blocks)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for number, block in enumerate(blocks, 1):
        try:
            context.load_verify_locations(cadata=block)
        except ssl.SSLError as exc:
            raise TrustAnchorError(f"{where}: certificate {number} of {len(blocks)} cannot be parsed "
                                   f"({exc.reason or exc})") from None
    return blocks


def load_trust_anchors(path: str | Path) -> str:
    """The PEM text of `path`, after checking that it holds at least one X.509
    certificate that OpenSSL can parse. Raises TrustAnchorError otherwise."""
    where = f"trust anchors {path}"
    p = Path(path)
    try:
        if not p.is_file():
            raise TrustAnchorError(f"{where}: no such file" if not p.exists() else f"{where}: not a regular file")
        text = p.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise TrustAnchorError(f"{where}: not a PEM file (it is not ASCII text)") from None
    except OSError as exc:
        raise TrustAnchorError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    return "\n".join(_checked_blocks(text, where)) + "\n"


def dn_key(fields: dict[str, object]) -> tuple:
    """A distinguished name as a comparable key: {"CN": .., "O": ..} -> sorted (name, value)
    pairs, the form c2pa-python's crJSON gives a certificate's subject and issuer in."""
    return tuple(sorted((str(k), " ".join(str(v).split())) for k, v in fields.items() if v is not None))


def _cert_dn_key(name) -> tuple:
    return dn_key({a.rfc4514_attribute_name: a.value for a in name})


def _subjects(blocks: list[str]) -> dict[tuple, str]:
    """subject -> a short owner name (O, else CN) of each certificate."""
    from cryptography import x509

    out = {}
    for block in blocks:
        subject = dict(_cert_dn_key(x509.load_pem_x509_certificate(block.encode("ascii")).subject))
        out[dn_key(subject)] = subject.get("O") or subject.get("CN") or "?"
    return out


def shipped_bytes(name: str) -> bytes:
    data = resources.files("synthcheck").joinpath("trust_lists", name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHIPPED_SHA256[name]:
        raise TrustAnchorError(f"the shipped trust file {name} is not the recorded one (sha256 {digest[:12]}…, "
                               f"expected {SHIPPED_SHA256[name][:12]}…): reinstall synthcheck")
    return data


def _lote_list(key: str, pem_name: str, json_name: str) -> TrustList:
    """An official list: its PEM (what c2pa-python is given) and its LoTE JSON (name,
    sequence number, dates, and the entity each certificate belongs to)."""
    from cryptography import x509

    pem_bytes = shipped_bytes(pem_name)
    blocks = _checked_blocks(pem_bytes.decode("ascii"), f"shipped trust list {pem_name}")
    lote = json.loads(shipped_bytes(json_name))["LoTE"]
    info = lote["ListAndSchemeInformation"]
    entities = _subjects(blocks)
    for entity in lote.get("TrustedEntitiesList") or []:
        owner = entity["TrustedEntityInformation"]["TEName"][0]["value"]
        for service in entity.get("TrustedEntityServices") or []:
            for cert in service["ServiceInformation"]["ServiceDigitalIdentity"].get("X509Certificates") or []:
                subject = x509.load_der_x509_certificate(base64.b64decode(cert["val"])).subject
                entities[_cert_dn_key(subject)] = owner
    return TrustList(key=key, name=info["SchemeName"][0]["value"], pem="\n".join(blocks) + "\n",
                     certificates=len(blocks), source=f"built in ({pem_name})", sha256=SHIPPED_SHA256[pem_name],
                     sequence=int(info["LoTESequenceNumber"]), issued=info.get("ListIssueDateTime"),
                     next_update=info.get("NextUpdate"), entities=entities)


@lru_cache(maxsize=1)
def official_list() -> TrustList:
    return _lote_list("c2pa", "C2PA-TRUST-LIST.pem", "C2PA-TRUST-LIST.json")


@lru_cache(maxsize=1)
def tsa_list() -> TrustList:
    """The official list of time-stamp authorities (shown by `synthcheck trust`; a report
    says whether the time-stamp's issuer is named on it)."""
    return _lote_list("tsa", "C2PA-TSA-TRUST-LIST.pem", "C2PA-TSA-TRUST-LIST.json")


@lru_cache(maxsize=1)
def interim_list() -> TrustList:
    name = "interim-trust-list-anchors.pem"
    blocks = _checked_blocks(shipped_bytes(name).decode("ascii"), f"shipped trust list {name}")
    return TrustList(key="interim", name="frozen interim trust list", pem="\n".join(blocks) + "\n",
                     certificates=len(blocks), source=f"built in ({name})", sha256=SHIPPED_SHA256[name],
                     entities=_subjects(blocks))


def user_list(path: str | Path) -> TrustList:
    pem = load_trust_anchors(path)
    blocks = _PEM_CERTIFICATE.findall(pem)
    return TrustList(key="user", name=f"your trust anchors ({Path(path).name})", pem=pem, certificates=len(blocks),
                     source=str(path), sha256=hashlib.sha256(pem.encode("ascii")).hexdigest(),
                     entities=_subjects(blocks))


def trust_lists(user_anchors: str | Path | None = None, builtin: bool = True,
                interim: bool = True) -> tuple[TrustList, ...]:
    """The lists in use, in the order a signer is credited to them: the official list first,
    then the user's, then the interim tier. `builtin` false leaves out both shipped lists,
    `interim` false only the interim one. Raises TrustAnchorError for any unusable list."""
    lists = [official_list()] if builtin else []
    if user_anchors is not None:
        lists.append(user_list(user_anchors))
    if builtin and interim:
        lists.append(interim_list())
    return tuple(lists)


def stale_warnings(lists: tuple[TrustList, ...], now: datetime | None = None) -> list[str]:
    """One sentence per list past its next-update date (said by setup, trust and scan)."""
    return [f"the shipped {lst.name} ({lst.version}) was due to be replaced on {lst.next_update[:10]}: "
            "a newer list may trust or distrust other signers; upgrade synthcheck for the current one"
            for lst in lists if lst.stale(now) and lst.next_update]
