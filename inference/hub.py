"""All Hugging Face Hub I/O: turn a checkpoint spec into local files."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from inference.config import ModelConfig
from inference.errors import WeightsIntegrityError, WeightsUnavailableError
from inference.registry import CheckpointSpec, HubFile

logger = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Set DEEPFAKE_WEIGHTS_PATH to a local .pt/.safetensors file, or DEEPFAKE_WEIGHTS_REPO "
    "(+ DEEPFAKE_WEIGHTS_FILE, DEEPFAKE_WEIGHTS_REVISION) to a reachable Hub repo, or "
    "DEEPFAKE_CHECKPOINT to another registered checkpoint; for offline use, pre-fill the "
    "Hugging Face cache (HF_HOME) with the file."
)


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights were used, for reports.

    Attributes:
        location: Where the file actually came from (a mirror when the first source failed).
        revision: The commit hash when known.
        sha256: Hex SHA-256 of the weights file used.
        unavailable: Sources tried before the one that served, each with the reason.
    """

    name: str
    location: str
    repo_id: str | None
    filename: str | None
    revision: str | None
    reported_accuracy: float | None
    training_data: str | None
    accuracy_source: str | None
    sha256: str
    unavailable: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the info as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint available on local disk, with the config that goes with it."""

    weights_file: Path
    config: ModelConfig
    info: WeightsInfo


def resolve(spec: CheckpointSpec) -> ResolvedCheckpoint:
    """Make the checkpoint ``spec`` available locally, downloading it if needed.

    Hub sources are tried in order (the main upload, then the mirrors); the first that gives a
    file (matching ``spec.sha256`` when that is set) serves. ``.safetensors`` weights need a
    ``config.json`` beside them; ``.pt`` files use the default :class:`ModelConfig` with the
    frame count from the registry.

    Raises:
        WeightsUnavailableError: If no source gives the file (each source's reason is named),
            or a local file does not match the pinned sha256. The message says what to set.
    """
    if spec.local_path:
        weights = Path(spec.local_path).expanduser()
        if not weights.is_file():
            raise WeightsUnavailableError(
                f"weights file {weights} does not exist (DEEPFAKE_WEIGHTS_PATH). {HOW_TO_CONFIGURE}"
            )
        digest = _verified_sha256(weights, spec.sha256, str(weights))
        config_file, revision, served, failures = weights.with_name("config.json"), None, None, []
    else:
        weights, digest, served, failures = _first_available(spec)
        config_file = _download(served, "config.json") if weights.suffix == ".safetensors" else None
        revision = _snapshot_commit(weights) or served.revision
    config = _config_for(weights, config_file, spec)
    info = WeightsInfo(
        name=spec.name,
        location=served.location if served else spec.location,
        repo_id=served.repo_id if served else None,
        filename=served.filename if served else weights.name,
        revision=revision,
        reported_accuracy=spec.reported_accuracy,
        training_data=spec.training_data,
        accuracy_source=spec.accuracy_source,
        sha256=digest,
        unavailable=tuple(failures),
    )
    logger.info("weights %s resolved to %s (sha256 %s)", info.location, weights, digest)
    return ResolvedCheckpoint(weights_file=weights, config=config, info=info)


def _first_available(spec: CheckpointSpec) -> tuple[Path, str, HubFile, list[str]]:
    """Download from the first source that works; returns (file, sha256, source, failures)."""
    failures = []
    tampered = False
    for source in spec.sources():
        try:
            weights = _download(source, source.filename)
            digest = _verified_sha256(weights, spec.sha256, source.location)
        except WeightsUnavailableError as exc:
            logger.warning("weights source %s unavailable: %s", source.location, exc.reason)
            failures.append(f"{source.location}: {exc.reason}")
            tampered |= isinstance(exc, WeightsIntegrityError)
            continue
        if failures:
            logger.warning("weights served by mirror %s", source.location)
        return weights, digest, source, failures
    # A file that exists but does not match its pin is a different failure from a missing one.
    error = WeightsIntegrityError if tampered else WeightsUnavailableError
    raise error(
        f"no source of checkpoint {spec.name!r} could be used: "
        + "; ".join(failures)
        + f". {HOW_TO_CONFIGURE}"
    )


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, computed once per file version (path, size, mtime) per process."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_sha256(weights: Path, expected: str | None, where: str) -> str:
    digest = file_sha256(weights)
    if expected and digest != expected.lower():
        raise WeightsIntegrityError(
            f"{where} has sha256 {digest}, but {expected.lower()} is pinned (registry entry or "
            "DEEPFAKE_WEIGHTS_SHA256): the file was changed or replaced; it was not loaded",
            reason=f"sha256 {digest} does not match the pinned {expected.lower()}",
        )
    return digest


def _config_for(weights: Path, config_file: Path | None, spec: CheckpointSpec) -> ModelConfig:
    if weights.suffix == ".safetensors":
        if config_file is None or not config_file.is_file():
            raise WeightsUnavailableError(
                f"{weights.name} needs a config.json beside it (frames, image_size, mean, std, "
                "labels); none was found"
            )
        return ModelConfig.from_json_file(config_file)
    return ModelConfig(frames=spec.frames) if spec.frames else ModelConfig()


# Checked in order: subclasses (gated, local miss) before their bases.
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (
        (LocalEntryNotFoundError, OfflineModeIsEnabled),
        "the Hub is unreachable (offline) and the file is not in the local cache",
    ),
    (GatedRepoError, "the repo is gated; use a token (HF_TOKEN) that has access"),
    (RepositoryNotFoundError, "the repo does not exist or is private"),
    (RevisionNotFoundError, "the revision does not exist"),
    (EntryNotFoundError, "the repo has no such file"),
)


def _download(source: HubFile, filename: str) -> Path:
    try:
        path = hf_hub_download(
            repo_id=source.repo_id,
            filename=filename,
            subfolder=source.subfolder,
            revision=source.revision,
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as exc:
        reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), str(exc))
        raise WeightsUnavailableError(
            f"cannot get {filename} from {source.repo_id} (subfolder {source.subfolder!r}, "
            f"revision {source.revision or 'main'}): {reason}. {HOW_TO_CONFIGURE}",
            reason=reason,
        ) from exc
    return Path(path)


def _snapshot_commit(path: Path) -> str | None:
    """Commit hash from a cache path ``.../snapshots/<commit>/...``, or None."""
    parts = path.parts
    if "snapshots" in parts:
        index = parts.index("snapshots")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None
