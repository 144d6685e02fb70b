"""What a C2PA manifest store claims: who signed, whether they are trusted, whether AI is declared.

:func:`from_store` turns the store, as c2pa-python gives it in JSON, into a :class:`Provenance`;
:func:`inference.provenance.credentials.read` gets the store from a file.

Everything taken from the file (generator, signer, actions, titles) is cleaned when read: no
control or invisible formatting characters, at most :data:`MAX_TEXT` characters each. It is
still text from a stranger: escape it for the markup it goes into.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

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
