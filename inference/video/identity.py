"""Which bytes were analysed: a file's size and sha256, its codec's name, and when the analysis ran (UTC)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inference.errors import VideoError

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileIdentity:
    """The analysed file's bytes, named so that anyone can check a copy with ``sha256sum``.

    Attributes:
        size_bytes: The file's size in bytes.
        sha256: Hex SHA-256 of the file's bytes, lower case.
    """

    size_bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """The identity as plain JSON types."""
        return {"size_bytes": self.size_bytes, "sha256": self.sha256}


def identify(path: str | Path) -> FileIdentity:
    """Hash the file at ``path`` (read in 1 MiB chunks).

    Raises:
        VideoError: If the file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise VideoError(f"{Path(path).name} cannot be read: {exc.strerror or exc}") from exc
    return FileIdentity(size_bytes=size, sha256=digest.hexdigest())


def utc_now() -> str:
    """The time now in UTC, ISO 8601 to the second, e.g. ``2026-12-05T07:30:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def fourcc_codec(value: float) -> str | None:
    """The codec OpenCV's FFmpeg backend reports as a FourCC number (``CAP_PROP_FOURCC``), e.g.
    "h264", or None when it reports none or an unprintable one."""
    number = int(value) if value == value and value > 0 else 0
    text = number.to_bytes(4, "little").decode("latin-1").strip("\x00 ") if number < 1 << 32 else ""
    return text.lower() if text and text.isprintable() else None
