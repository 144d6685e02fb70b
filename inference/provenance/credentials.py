"""Content Credentials (C2PA): read and verify what a video file says about its own origin.

Generators such as Sora and Firefly write a signed C2PA manifest into the files they make,
declaring them AI-generated; cameras and editors sign capture and edits. This reads the
manifest store with c2pa-python (the Content Authenticity Initiative's bindings), validates
signature and content hashes, and reports who signed, with what, when, and whether an action or
ingredient declares generative or algorithmic media (an IPTC digital source type).

Trust needs no network: signers are trusted only through a PEM file of trust anchors the
operator configured (DEEPFAKE_C2PA_TRUST_ANCHORS, checked once by :func:`check_trust_anchors`);
OCSP and remote manifests are never fetched.

Memory and time: the library reads the file through a stream, but loads some boxes whole (the
manifest box, any other ``uuid`` box, and ``moov`` when a manifest is present), and its time
grows with the square of the number of boxes under one parent. Before handing it an ISO-BMFF
file (MP4, MOV, M4V, or anything whose first box looks like one), the boxes are walked with
small reads. A file without a manifest box where the library looks (the top level) is "absent"
without the library; one with a manifest box and over the caps (:data:`MAX_UUID_BOX_BYTES`,
:data:`MAX_MOOV_BYTES`, :data:`MAX_SIBLING_COST`, :data:`MAX_BOXES`) is "unreadable", not read.

Everything taken from the file (generator, signer, actions, titles) is cleaned when read: no
control or invisible formatting characters, at most :data:`MAX_TEXT` characters each. It is
still text from a stranger: escape it for the markup it goes into.

``c2pa`` (a native library) is imported only when a file or the trust anchors are read, so that
importing the engine does not load it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import c2pa

logger = logging.getLogger(__name__)

ABSENT = "absent"
VALID = "valid"
INVALID = "invalid"
UNREADABLE = "unreadable"
# IPTC digital source types that declare media made or composited by an algorithm or a trained
# model (not mere enhancement of a capture), lower-cased: a declared type is matched by the last
# path segment of its URI, whatever the scheme or host (http://cv.iptc.org/..., https://..., a
# bare name).
GENERATIVE = frozenset(
    {
        "trainedalgorithmicmedia",
        "compositewithtrainedalgorithmicmedia",
        "algorithmicmedia",
        "compositesynthetic",
    }
)
NOT_TRUSTED = "not on a trust list you configured"
# Failure codes of this suffix are about trust (signingCredential.untrusted,
# timeStamp.untrusted, ...), which ``trusted`` reports; they do not make the credentials invalid.
TRUST_ONLY_SUFFIX = ".untrusted"
SIGNER_TRUSTED = "signingCredential.trusted"
# Cleaning what the file says: longest string kept, most actions, codes and declarations kept.
MAX_TEXT = 200
MAX_ITEMS = 50
# The largest ``uuid`` box (the manifest box, XMP, anything else) and ``moov`` box handed to the
# library, which loads them whole (a 150 MB manifest box adds about 290 MB of memory). Real
# manifests are kilobytes to a few megabytes; the moov of a ten-hour 60 fps video is about 20 MB.
MAX_UUID_BOX_BYTES = 16 * 1024 * 1024
MAX_MOOV_BYTES = 64 * 1024 * 1024
# The library's time grows with the square of the number of boxes under one parent (20,000
# eight-byte boxes, a 160 kB file, take it 3.5 s; 200,000 take it 9 minutes), so a file is not
# handed to it when the sum over parents of (children)^2 is over MAX_SIBLING_COST (one parent
# with 10,000 children, 0.7 s: a fragmented MP4 of 5,000 fragments) or it has more than
# MAX_BOXES boxes in all. Only the library's container boxes are descended into, at most
# MAX_DEPTH deep (it refuses deeper files itself).
MAX_SIBLING_COST = 10_000**2
MAX_BOXES = 200_000
MAX_DEPTH = 32
# When those are exceeded, the top level is still scanned for a manifest box, up to this many boxes.
MAX_SCANNED = 2_000_000
CONTAINERS = frozenset(
    {
        b"moov", b"trak", b"edts", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
        b"mfra", b"udta", b"meta", b"tref", b"sinf", b"schi", b"iprp", b"ipco", b"strk",
    }
)  # fmt: skip
TOO_LARGE = "reader.boxTooLarge"
TOO_MANY_BOXES = "reader.tooManyBoxes"
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
# First box types that mark a file as ISO-BMFF (MP4, MOV, M4V...) whatever its name: the library
# sniffs the bytes, so a renamed MP4 is read as one, and an AVI named .mp4 is not.
BMFF_FIRST_BOXES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pnot", b"sidx", b"moof"}
)
# The trust-anchor file: at most this big (the C2PA trust list is about 100 kB).
MAX_ANCHORS_BYTES = 8 * 1024 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class Provenance:
    """What a file's Content Credentials say, and whether they hold.

    Attributes:
        status: "absent", "valid" (signature and content hashes check out), "invalid" (they do
            not: see ``codes``) or "unreadable" (a manifest store that cannot be parsed, or one
            not read because a box is over the reading caps).
        codes: The validation failure codes (e.g. ``assertion.bmffHash.mismatch``), or the
            reader's error for an unreadable store. Trust-only codes (``*.untrusted``) are not
            failures and are not listed.
        signer: Organisation and common name of the signing certificate's subject.
        trusted: Whether the credentials are valid and their signer chains to a configured
            trust anchor.
        generator: The claim generator's name and version.
        signed_at: Time of signing (from a timestamp) when present, ISO 8601.
        actions: The active manifest's actions, with their digital source types.
        ai_generated: Whether any action or ingredient in the store declares generative or
            algorithmic media: the active manifest's, or an ingredient's (signed by someone else).
        ai_declared_by_signer: Whether the active manifest's own actions declare it, i.e. the
            signer named in ``signer`` made the declaration. Only this can decide the verdict.
        ai_declared_in: Where the declarations are: "the signer's own actions" and/or
            "ingredient 'TITLE' signed by SIGNER".
        source_types: The digital source types declared anywhere in the store (short names).
    """

    status: str = ABSENT
    codes: tuple[str, ...] = ()
    signer: str | None = None
    trusted: bool = False
    generator: str | None = None
    signed_at: str | None = None
    actions: tuple[str, ...] = ()
    ai_generated: bool = False
    ai_declared_by_signer: bool = False
    ai_declared_in: tuple[str, ...] = ()
    source_types: tuple[str, ...] = field(default_factory=tuple)

    @property
    def present(self) -> bool:
        """Whether the file carries Content Credentials (readable or not)."""
        return self.status != ABSENT

    @property
    def valid(self) -> bool | None:
        """Signature and content hashes check out (None when absent)."""
        return None if not self.present else self.status == VALID

    @property
    def decides(self) -> bool:
        """Valid, from a trusted signer who declares AI generation in its own actions: the
        verdict is FAKE. A declaration carried in by an ingredient is someone else's word."""
        return self.status == VALID and self.trusted and self.ai_declared_by_signer

    def message(self) -> str:
        """What the credentials mean for the verdict, in the words the app and the CLI use."""
        if self.status == ABSENT:
            return "no Content Credentials: most videos have none, so this is not evidence either way."
        if self.status == UNREADABLE:
            return (
                f"Content Credentials present but unreadable ({'; '.join(self.codes)}): treated as "
                "broken, not as evidence of where the video comes from."
            )
        if self.status == INVALID:
            changed = any(_is_hash_mismatch(code) for code in self.codes)
            reason = "the file was changed after it was signed" if changed else "they do not validate"
            return f"Content Credentials present but broken: {reason} ({', '.join(self.codes)})."
        who = self.signer or "an unnamed signer"
        generator = self.generator or "an unnamed generator"
        trust = f"{who} (on your trust list)" if self.trusted else f"{who}, {NOT_TRUSTED}"
        if self.ai_declared_by_signer:
            if self.trusted:
                return self.declaration()
            return (
                f"Content Credentials declare this AI-generated by {generator}, signed by {trust}: "
                "an untrusted declaration does not change the verdict (anyone can sign a file as AI)."
            )
        if self.ai_generated:
            return (
                f"valid Content Credentials from {generator}, signed by {trust}, which declares no AI "
                f"generation itself; an ingredient does ({'; '.join(self.ai_declared_in)}). That "
                "declaration is not the signer's, so it does not change the verdict."
            )
        return f"valid Content Credentials from {generator}, signed by {trust}; no AI generation declared."

    def declaration(self) -> str:
        """The verdict's message when the credentials decide it."""
        generator = self.generator or "an unnamed generator"
        return f"declared AI-generated by {generator} (Content Credentials signed by {self.signer})"

    def to_dict(self) -> dict[str, Any]:
        """The provenance as plain JSON types."""
        return {
            "present": self.present,
            "status": self.status,
            "valid": self.valid,
            "validation_codes": list(self.codes),
            "signer": self.signer,
            "trusted": self.trusted,
            "generator": self.generator,
            "signed_at": self.signed_at,
            "actions": list(self.actions),
            "ai_generated": self.ai_generated,
            "ai_declared_by_signer": self.ai_declared_by_signer,
            "ai_declared_in": list(self.ai_declared_in),
            "digital_source_types": list(self.source_types),
            "message": self.message(),
        }


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


def from_store(store: Any, trusting: bool) -> Provenance:
    """The provenance of a manifest store as the library gives it in JSON (``Reader.json()``).

    Args:
        store: The parsed JSON: ``active_manifest``, ``manifests``, ``validation_results``,
            ``validation_state``.
        trusting: Whether trust anchors were configured (without them no signer is trusted).

    Raises:
        ValueError: If the store has no active manifest or no validation results.
    """
    store = _dict(store)
    manifests = _dict(store.get("manifests"))
    label = store.get("active_manifest")
    active = manifests.get(label) if isinstance(label, str) else None
    if not isinstance(active, dict):
        raise ValueError("no active manifest in the store")
    results = store.get("validation_results")
    if isinstance(results, dict):
        current = _dict(results.get("activeManifest"))
        failed = _codes(current.get("failure"))
        succeeded = _codes(current.get("success"))
    elif isinstance(store.get("validation_status"), list):  # the older form: failures only
        failed, succeeded = _codes(store["validation_status"]), []
    else:
        raise ValueError("no validation results in the store")
    failures = [code for code in failed if not code.endswith(TRUST_ONLY_SUFFIX)]
    if not failed and store.get("validation_state") == "Invalid":
        failures = ["validation_state.invalid"]  # invalid without saying why: not valid either
    status = INVALID if failures else VALID
    trusted = (
        trusting
        and status == VALID
        and SIGNER_TRUSTED in succeeded
        and f"signingCredential{TRUST_ONLY_SUFFIX}" not in failed
    )
    signature = _dict(active.get("signature_info"))
    signer = _clean(
        ", ".join(str(part) for part in (signature.get("issuer"), signature.get("common_name")) if part)
    )
    actions, own_types = _actions(active)
    declared_in, types = [], set(own_types)
    by_signer = _generative(own_types)
    if by_signer:
        declared_in.append("the signer's own actions")
    for ingredient in _list(active.get("ingredients")):
        source = _source_type(_dict(ingredient).get("digitalSourceType"))
        if source:
            types.add(source)
            if _generative({source}):
                declared_in.append(f"ingredient {_title(ingredient)}")
    for other, manifest in manifests.items():
        if other == label or not isinstance(manifest, dict):
            continue
        others = _actions(manifest)[1]
        types |= others
        if _generative(others):
            who = _dict(manifest.get("signature_info"))
            by = ", ".join(str(part) for part in (who.get("issuer"), who.get("common_name")) if part)
            declared_in.append(_clean(f"ingredient {_title(manifest)} signed by {by or 'an unnamed signer'}"))
    return Provenance(
        status=status,
        codes=tuple(_clean(code) for code in failures[:MAX_ITEMS]),
        signer=signer or None,
        trusted=trusted,
        generator=_generator(active),
        signed_at=_clean(signature.get("time")) or None,
        actions=tuple(actions[:MAX_ITEMS]),
        ai_generated=_generative(types),
        ai_declared_by_signer=by_signer,
        ai_declared_in=tuple(dict.fromkeys(declared_in))[:MAX_ITEMS],
        source_types=tuple(sorted(types))[:MAX_ITEMS],
    )


def _unreadable(path: Path, exc: BaseException) -> Provenance:
    logger.info("Content Credentials of %s unreadable: %s", path.name, exc)
    return Provenance(status=UNREADABLE, codes=(_clean(str(exc)) or type(exc).__name__,))


def _is_hash_mismatch(code: str) -> bool:
    """A content hash (data, BMFF, boxes, collection) that no longer matches: the file changed."""
    return code.startswith("assertion.") and code.endswith("Hash.mismatch")


def _actions(manifest: dict[str, Any]) -> tuple[list[str], set[str]]:
    """A manifest's actions ("c2pa.created (trainedAlgorithmicMedia)") and the source types they
    declare, from its actions assertions."""
    actions, types = [], set()
    for assertion in _list(manifest.get("assertions")):
        assertion = _dict(assertion)
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in _list(_dict(assertion.get("data")).get("actions")):
            action = _dict(action)
            source = _source_type(action.get("digitalSourceType"))
            name = _clean(action.get("action")) or "unnamed action"
            actions.append(_clean(name + (f" ({source})" if source else "")))
            if source:
                types.add(source)
    return actions, types


def _source_type(value: Any) -> str | None:
    """The short name of a digital source type: the last path segment of its URI."""
    if not isinstance(value, str) or not value.strip():
        return None
    segment = re.split(r"[?#]", value.strip(), maxsplit=1)[0].rstrip("/").rsplit("/", 1)[-1]
    return _clean(segment) or None


def _generative(types: set[str]) -> bool:
    return any(kind.lower() in GENERATIVE for kind in types)


def _title(manifest: Any) -> str:
    title = _clean(_dict(manifest).get("title"))
    return repr(title) if title else "(untitled)"


def _generator(manifest: dict[str, Any]) -> str | None:
    info = _list(manifest.get("claim_generator_info"))
    if info:
        first = _dict(info[0])
        return (
            _clean(" ".join(str(part) for part in (first.get("name"), first.get("version")) if part)) or None
        )
    return _clean(manifest.get("claim_generator")) or None


def _codes(items: Any) -> list[str]:
    return [str(_dict(item)["code"]) for item in _list(items) if isinstance(_dict(item).get("code"), str)]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _clean(value: Any) -> str:
    """Text from the file made safe to show: control characters (newlines, ESC, ...) become
    spaces, invisible formatting characters (bidi overrides, zero-width) go, runs of spaces
    shrink to one, and it is cut to :data:`MAX_TEXT` characters."""
    if value is None:
        return ""
    text = str(value)[: MAX_TEXT * 4]
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or char in "\u2028\u2029":
            kept.append(" ")
        elif category not in ("Cf", "Co", "Cs", "Cn"):
            kept.append(char)
    text = " ".join("".join(kept).split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass
class _Layout:
    """What a walk of an ISO-BMFF file's boxes found."""

    manifest: bool = False  # a top-level C2PA manifest box
    oversized: list[str] = field(default_factory=list)  # the boxes over the caps
    crowded: str | None = None  # why the library would take too long
    scanned: bool = True  # whether every top-level box was seen


def _walk_boxes(stream: IO[bytes]) -> Provenance | None:
    """Walk the boxes of an ISO-BMFF file with small reads (8 to 40 bytes a box), before the
    library loads any, and decide whether it may read the file.

    Returns:
        None to let the library read it (a file with a manifest box within the caps, or one
        that does not start like ISO-BMFF); "absent" when there is no manifest box at the top
        level, the only place the library looks (not read: nothing to find); "unreadable" when
        there is one but a box the library would load whole is over the caps, or its boxes would
        take the library too long.
    """
    end = os.fstat(stream.fileno()).st_size
    stream.seek(0)
    first = stream.read(8)
    if len(first) < 8 or first[4:8] not in BMFF_FIRST_BOXES:
        return None
    layout = _walk(stream, end)
    if layout.scanned and not layout.manifest:
        return Provenance()
    if not layout.oversized and layout.crowded is None:
        return None
    if layout.oversized:
        caps = f"caps: uuid {MAX_UUID_BOX_BYTES} bytes, moov {MAX_MOOV_BYTES} bytes"
        found = ", ".join(layout.oversized[:3])
        return Provenance(
            status=UNREADABLE, codes=(f"{TOO_LARGE}: {found} over the reading {caps}; not read",)
        )
    return Provenance(status=UNREADABLE, codes=(f"{TOO_MANY_BOXES}: {layout.crowded}; not read",))


def _walk(stream: IO[bytes], end: int) -> _Layout:
    """The box tree as the library would build it: sizes, manifest box, crowding (see the caps)."""
    layout = _Layout()
    boxes = cost = 0
    levels = [(0, end, 0)]  # (first byte, end, depth) of each list of sibling boxes to walk
    while levels:
        offset, stop, depth = levels.pop()
        siblings = 0
        while offset + 8 <= stop:
            stream.seek(offset)
            header = stream.read(40)
            size, kind = struct.unpack(">I4s", header[:8])
            start = 8
            if size == 1 and len(header) >= 16:
                size, start = struct.unpack(">Q", header[8:16])[0], 16
            elif size == 0 and depth == 0:
                size = end - offset
            if size < start or (depth and offset + size > stop):
                break  # malformed: the library reports it
            boxes, siblings = boxes + 1, siblings + 1
            cost += 2 * siblings - 1  # the sum of squares, one box at a time
            if layout.crowded is None and (boxes > MAX_BOXES or cost > MAX_SIBLING_COST):
                layout.crowded = (
                    f"more than {MAX_BOXES} boxes"
                    if boxes > MAX_BOXES
                    else f"{siblings}+ boxes under one parent"
                )
                if depth:
                    return layout  # the top level, walked first, was seen whole
            if kind == b"uuid":
                usertype = header[start : start + 16]
                layout.manifest |= depth == 0 and usertype == C2PA_UUID
                if size > MAX_UUID_BOX_BYTES:
                    name = {C2PA_UUID: "manifest", XMP_UUID: "XMP"}.get(usertype, "uuid")
                    layout.oversized.append(f"{name} box of {size} bytes at {offset}")
            elif kind == b"moov" and size > MAX_MOOV_BYTES:
                layout.oversized.append(f"moov box of {size} bytes at {offset}")
            if layout.crowded is None and kind in CONTAINERS and depth < MAX_DEPTH:
                inner = offset + start
                if kind == b"meta" and header[start + 4 : start + 8] != b"hdlr":
                    inner += 4  # ISO meta is a full box; QuickTime's is not
                levels.append((inner, offset + size, depth + 1))
            if layout.crowded is not None and boxes > MAX_SCANNED:
                layout.scanned = False
                return layout
            offset += size
        if layout.crowded is not None:
            return layout
    return layout


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
