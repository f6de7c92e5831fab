"""C2PA trust anchors: read and checked once, when the options are built.

A bad anchor file must never reach analysis: c2pa would fail on every manifest and
every file would read "manifest present but could not be read", quietly turning a
signed AI declaration into a low risk. So the file is refused up front, with a reason."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from .errors import TrustAnchorError

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


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
    return "\n".join(blocks) + "\n"
