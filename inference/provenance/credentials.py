"""Content Credentials (C2PA): read and verify what a video file says about its own origin.

Generators such as Sora and Firefly write a signed C2PA manifest into the files they make,
declaring them AI-generated; cameras and editors sign capture and edits. This reads the
manifest store with c2pa-python (the Content Authenticity Initiative's bindings), which validates
signature and content hashes; :mod:`inference.provenance.claims` says what the store means (who
signed, with what, when, and whether an action or ingredient declares generative or algorithmic
media), and :mod:`inference.provenance.boxes` keeps the library's memory and time bounded by
walking an ISO-BMFF file's boxes first.

Trust needs no network: signers are trusted only through a PEM file of trust anchors the
operator configured (DEEPFAKE_C2PA_TRUST_ANCHORS, checked once by :func:`check_trust_anchors`);
OCSP and remote manifests are never fetched.

``c2pa`` (a native library) is imported only when a file or the trust anchors are read, so that
importing the engine does not load it.
"""

from __future__ import annotations

import errno
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.provenance.boxes import _walk_boxes
from inference.provenance.claims import UNREADABLE, Provenance, _clean, from_store

if TYPE_CHECKING:
    import c2pa

logger = logging.getLogger(__name__)

# The trust-anchor file: at most this big (the C2PA trust list is about 100 kB).
MAX_ANCHORS_BYTES = 8 * 1024 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


def check_trust_anchors(path: str | Path) -> None:
    """Check that ``path`` is a usable trust-anchor file, as the reader will load it.

    It must be UTF-8 text of at most :data:`MAX_ANCHORS_BYTES` holding at least one PEM
    ``CERTIFICATE`` block, whose contents decode to DER, no private key, and the C2PA library
    must accept it. Call it once at start-up: :func:`read` loads the file again for every video.

    Raises:
        ValueError: With what is wrong and what to do, for any problem (unreadable file
            included).
    """
    import c2pa

    name = f"the C2PA trust anchors {path}"
    try:
        if Path(path).stat().st_size > MAX_ANCHORS_BYTES:
            raise ValueError(
                f"{name} are larger than {MAX_ANCHORS_BYTES // 2**20} MB; give a PEM file of "
                "root certificates (the C2PA trust list is about 100 kB)"
            )
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {name}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{name} are not UTF-8 text (byte {exc.start}); give PEM certificates "
            "(-----BEGIN CERTIFICATE-----), not DER or another encoding"
        ) from exc
    blocks = _PEM_BLOCK.findall(data)
    if any(b"PRIVATE KEY" in kind for kind, _ in blocks):
        raise ValueError(f"{name} hold a private key; give only the root certificates to trust")
    certificates = [body for kind, body in blocks if kind == b"CERTIFICATE"]
    if not certificates:
        raise ValueError(
            f"{name} hold no PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)"
        )
    for number, body in enumerate(certificates, 1):
        if not _is_der_certificate(body):
            raise ValueError(f"certificate {number} of {name} is not base64 of a DER certificate")
    try:
        with _context_from_text(text):
            pass
    except c2pa.C2paError as exc:
        raise ValueError(f"the C2PA library refuses {name}: {_clean(str(exc))}") from exc


def read(path: str | Path, trust_anchors: str | Path | None = None) -> Provenance:
    """Read and validate the Content Credentials of ``path``.

    Args:
        path: The video file.
        trust_anchors: A PEM file of trust anchors (see :func:`check_trust_anchors`); without it
            no signer is trusted.

    Returns:
        The provenance; "absent" for a file without a manifest store or of a format C2PA does
        not cover, "unreadable" for a store that cannot be parsed or is over the reading caps.
        Never raises for the file's content.

    Raises:
        OSError: If the file cannot be opened or read, or the trust anchors cannot be read or
            are no longer usable (then ``filename`` is the anchors' path).
    """
    import c2pa

    path = Path(path)
    with open(path, "rb") as stream:
        refused = _walk_boxes(stream)
        if refused is not None:
            return refused
        stream.seek(0)
        with _context(trust_anchors) as context:
            try:
                # No format: the library tells it from the bytes, as the walk did (the name may lie).
                reader = c2pa.Reader(None, stream, context=context)
            except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
                return Provenance()
            except (c2pa.C2paError, ValueError, UnicodeDecodeError) as exc:
                return _unreadable(path, exc)
            with reader:
                try:
                    store = json.loads(reader.json())
                    return from_store(store, trusting=trust_anchors is not None)
                except (
                    c2pa.C2paError,
                    ValueError,
                    KeyError,
                    UnicodeDecodeError,
                    TypeError,
                    AttributeError,
                    RecursionError,
                ) as exc:
                    return _unreadable(path, exc)


def _unreadable(path: Path, exc: BaseException) -> Provenance:
    logger.info("Content Credentials of %s unreadable: %s", path.name, exc)
    return Provenance(status=UNREADABLE, codes=(_clean(str(exc)) or type(exc).__name__,))


def _is_der_certificate(body: bytes) -> bool:
    """Whether a PEM block's body is base64 of a DER SEQUENCE whose length fits it."""
    import base64
    import binascii

    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(der) < 2 or der[0] != 0x30:
        return False
    if der[1] < 0x80:
        return 2 + der[1] == len(der)
    width = der[1] & 0x7F
    if width == 0 or width > 4 or len(der) < 2 + width:
        return False
    return 2 + width + int.from_bytes(der[2 : 2 + width], "big") == len(der)


def _settings(anchors: str | None) -> dict[str, Any]:
    """Reading settings: never fetch OCSP responses or remote manifests; trust only the anchors given."""
    verify: dict[str, Any] = {
        "verify_trust": anchors is not None,
        "ocsp_fetch": False,
        "remote_manifest_fetch": False,
    }
    settings: dict[str, Any] = {"verify": verify}
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors}
    return settings


def _context_from_text(anchors: str | None) -> c2pa.Context:
    import c2pa

    return c2pa.Context.from_dict(_settings(anchors))


def _context(trust_anchors: str | Path | None) -> c2pa.Context:
    """A fresh context per read: the anchors file is read as it is now, and no two threads share one.

    Raises:
        OSError: If the anchors cannot be read, or are no longer usable (``filename`` is theirs).
    """
    import c2pa

    if trust_anchors is None:
        return _context_from_text(None)
    try:
        text = Path(trust_anchors).read_text(encoding="utf-8")
        return _context_from_text(text)
    except (UnicodeDecodeError, c2pa.C2paError) as exc:
        raise OSError(
            errno.EINVAL,
            f"not usable trust anchors ({_clean(str(exc))}); see check_trust_anchors",
            str(trust_anchors),
        ) from exc
