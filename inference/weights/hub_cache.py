"""A pinned Hub file already in the local cache is used as it is, without asking the Hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from huggingface_hub import try_to_load_from_cache

from inference.weights.registry import HubFile


def pinned_copy(source: HubFile, sha256: str | None, digest: Callable[[Path], str]) -> Path | None:
    """The cached copy of ``source``'s file when it has the pinned ``sha256``, else None.

    Online, ``hf_hub_download`` asks the Hub for the file's current version (one request, and a
    wait of up to its timeout when the Hub is unreachable) before it answers from the cache.
    For a pinned file that question cannot change the answer: whatever the Hub now holds, only
    bytes with the pinned sha256 are used, and the cached copy has them.

    Args:
        source: The Hub file (repo, folder, name, revision).
        sha256: Its pin; without one, None (the Hub decides which version is current).
        digest: Hex SHA-256 of a file (the caller's, which remembers it).
    """
    if not sha256:
        return None
    filename = f"{source.subfolder}/{source.filename}" if source.subfolder else source.filename
    try:
        cached = try_to_load_from_cache(source.repo_id, filename, revision=source.revision)
    except ValueError:  # a malformed repo id (HFValidationError): that source is simply not cached
        return None
    if not isinstance(cached, str) or digest(Path(cached)) != sha256.lower():
        return None
    return Path(cached)
