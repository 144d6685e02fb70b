"""Sign clips with Content Credentials at test time: a throwaway certificate chain and c2pa-python.

A root CA and a leaf certificate (digitalSignature, e-mail protection extended key usage, as the
C2PA certificate profile accepts) made with ``cryptography``; no timestamp server, nothing leaves
the machine. Used by tests/test_provenance.py and three entries of the hostile corpus, always as
``tests.c2pa_signing`` (one module, so one root CA per subject in a test session).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
GENERATOR = ("TestGen", "1.2")
SIGNER_ORG = "Test Generator Inc"
SIGNER_NAME = "Test Signer"


@dataclass(frozen=True)
class Chain:
    """A root certificate (PEM) and a leaf's chain (leaf + root, PEM) with its private key (PEM)."""

    root_pem: bytes
    chain_pem: bytes
    key_pem: bytes


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _usage(sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign,
        crl_sign=not sign,
        encipher_only=False,
        decipher_only=False,
    )


@cache
def chain(organisation: str = SIGNER_ORG, common: str = SIGNER_NAME) -> Chain:
    """A fresh root CA and a leaf for the subject ``organisation``/``common``, valid from yesterday
    for 30 days (one per subject and test session: each has its own root)."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"Root of {organisation}", "Test CA")

    def builder(subject: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    root = (
        builder(root_name, root_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf = (
        builder(_name(common, organisation), leaf_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Chain(
        root_pem=root.public_bytes(pem),
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def sign(
    source: Path,
    dest: Path,
    source_type: str,
    *,
    keys: Chain | None = None,
    action: str = "c2pa.created",
    parent: Path | None = None,
) -> None:
    """Write ``source`` (an MP4) to ``dest`` with a manifest whose action declares the digital
    source type ``source_type`` (an IPTC short name such as "trainedAlgorithmicMedia", or a whole
    URI), signed with ``keys`` (default: :func:`chain`).

    With ``parent`` (a signed MP4), that file becomes the manifest's parentOf ingredient: the
    actions are "c2pa.opened" (of the parent) then ``action``, which must then not be
    "c2pa.created".
    """
    keys = keys or chain()
    declared = source_type if "/" in source_type else IPTC + source_type
    actions: list[dict[str, object]] = [{"action": action, "digitalSourceType": declared}]
    if parent is not None:
        actions.insert(0, {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}})
    manifest = {
        "claim_generator_info": [{"name": GENERATOR[0], "version": GENERATOR[1]}],
        "title": dest.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, keys.chain_pem, keys.key_pem, None)
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder.from_json(manifest) as builder,
        source.open("rb") as reading,
        dest.open("w+b") as writing,
    ):
        if parent is not None:
            with parent.open("rb") as ingredient:
                builder.add_ingredient(
                    {"title": parent.name, "relationship": "parentOf", "label": "parent"},
                    "video/mp4",
                    ingredient,
                )
        builder.sign(signer, "video/mp4", reading, writing)


def flip_media_byte(signed: Path, dest: Path) -> None:
    """Copy ``signed`` with one byte of the video data (inside ``mdat``) inverted."""
    data = bytearray(signed.read_bytes())
    at = data.index(b"mdat") + 4 + 1000
    data[at] ^= 0xFF
    dest.write_bytes(bytes(data))


def truncate_manifest(signed: Path, dest: Path) -> None:
    """Copy ``signed`` with the second half of its manifest box's content zeroed: the JUMBF
    boxes inside end early, while the box and everything after it keep their places (so the
    video still decodes)."""
    data = bytearray(signed.read_bytes())
    start = data.rindex(b"uuid", 0, data.index(b"jumb")) - 4  # the uuid box holding the manifest
    size = int.from_bytes(data[start : start + 4], "big")
    data[start + size // 2 : start + size] = bytes(size - size // 2)
    dest.write_bytes(bytes(data))
