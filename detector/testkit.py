"""Make real test material: a throw-away C2PA test CA, signed images, photo-like
pixels, /proc helpers. Used by the tests, the benchmarks and scripts/make_examples.py;
nothing here is used at analysis time. Needs `cryptography` (the `test` extra)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IPTC_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass(frozen=True)
class TestCA:
    root_pem: bytes  # the trust anchor
    chain_pem: bytes  # end-entity certificate followed by the root
    key_pem: bytes  # end-entity private key (PKCS#8)


def make_test_ca(name: str = "synthcheck test", signer: dict[str, str] | None = None) -> TestCA:
    """A root CA and an ES256 end-entity certificate with the emailProtection EKU,
    which is what the C2PA trust model asks of a signer. `signer`: the end-entity's subject
    ({"CN": .., "O": .., "C": .., "OU": ..}) instead of "<name> signer" / "<name> org"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)

    def subject(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{name} org")])

    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "C": NameOID.COUNTRY_NAME}
    leaf_subject = (x509.Name([x509.NameAttribute(oids[k], v) for k, v in signer.items()]) if signer
                    else subject(f"{name} signer"))

    def key_usage(ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                             encipher_only=False, decipher_only=False)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder().subject_name(subject(f"{name} root CA")).issuer_name(subject(f"{name} root CA"))
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(leaf_subject).issuer_name(root.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return TestCA(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def manifest_definition(digital_source_type: str, title: str = "image.jpg",
                        claim_generator: str = "synthcheck-testkit") -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": claim_generator, "version": "0.1"}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": IPTC_TYPE + digital_source_type}]}},
        ],
    }


def sign_image(data: bytes, mime: str, ca: TestCA, digital_source_type: str = "trainedAlgorithmicMedia",
               title: str = "image.jpg") -> bytes:
    """Embed and sign a C2PA manifest declaring `digital_source_type` (no thumbnail)."""
    return sign_manifest(data, mime, ca, manifest_definition(digital_source_type, title))


def sign_manifest(data: bytes, mime: str, ca: TestCA, definition: dict[str, Any],
                  ingredients: tuple[tuple[dict[str, Any], bytes, str], ...] = ()) -> bytes:
    """Embed and sign the manifest `definition` (c2pa Builder JSON, no thumbnail); each
    ingredient is (ingredient JSON, its bytes, its media type): one with a manifest of its own
    links to it, one without becomes an ingredient of unknown provenance."""
    import c2pa

    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(alg=b"es256", sign_cert=ca.chain_pem, private_key=ca.key_pem, ta_url=None))
    builder = c2pa.Builder(definition, context)
    for ingredient, ingredient_bytes, ingredient_mime in ingredients:
        builder.add_ingredient(ingredient, ingredient_mime, io.BytesIO(ingredient_bytes))
    out = io.BytesIO()
    builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def photo_like(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth shapes, gradients and sensor-like noise: pixels with the statistics of a
    photo closely enough for the signal checks (flat synthetic images are not)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.zeros((height, width, 3), np.float32)
    for c in range(3):
        img[..., c] = 90 + 60 * np.sin(x / (width / rng.uniform(1.5, 4)) + rng.uniform(0, 6)) * np.cos(
            y / (height / rng.uniform(1.5, 4)))
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.3) * min(width, height)
        mask = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r)))
        img += mask[..., None] * rng.uniform(-80, 80, 3)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **save_args: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


def process_descendants(pid: int) -> list[int]:
    """Every descendant of a process, from /proc (Linux; for tests and benchmarks that
    look at the service's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def resident_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def icc_profile_named(name: str) -> bytes:
    """An ICC profile whose description is `name` (as the tiny 'c2' profile many web images
    carry): the built-in sRGB profile with its 'desc' tag (mluc) replaced and no profile ID."""
    import struct

    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    text = name.encode("utf-16-be")
    mluc = b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(text), 28) + text
    mluc += bytes(-len(mluc) % 4)
    for i in range(struct.unpack(">I", data[128:132])[0]):
        at = 132 + 12 * i
        if data[at : at + 4] == b"desc":
            data[at + 4 : at + 12] = struct.pack(">II", len(data), len(mluc))
    data += mluc
    data[0:4] = struct.pack(">I", len(data))
    data[84:100] = bytes(16)  # the profile ID is an MD5 of the old bytes: leave it unset
    return bytes(data)
