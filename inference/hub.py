"""All Hugging Face Hub I/O: turn a checkpoint spec into local files."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
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
from inference.errors import WeightsUnavailableError
from inference.registry import CheckpointSpec

logger = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Set DEEPFAKE_WEIGHTS_PATH to a local .pt/.safetensors file, or DEEPFAKE_WEIGHTS_REPO "
    "(+ DEEPFAKE_WEIGHTS_FILE, DEEPFAKE_WEIGHTS_REVISION) to a reachable Hub repo, or "
    "DEEPFAKE_CHECKPOINT to another registered checkpoint; for offline use, pre-fill the "
    "Hugging Face cache (HF_HOME) with the file."
)


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights were used, for reports. ``revision`` is the commit hash when known."""

    name: str
    location: str
    repo_id: str | None
    filename: str | None
    revision: str | None
    reported_accuracy: float | None
    training_data: str | None
    accuracy_source: str | None

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

    ``.safetensors`` weights need a ``config.json`` beside them; ``.pt`` files use the
    default :class:`ModelConfig` with the frame count from the registry.

    Raises:
        WeightsUnavailableError: If the file is missing, the repo is unknown, or the Hub is
            unreachable and the file is not cached. The message says what to set.
    """
    if spec.local_path:
        weights = Path(spec.local_path).expanduser()
        if not weights.is_file():
            raise WeightsUnavailableError(
                f"weights file {weights} does not exist (DEEPFAKE_WEIGHTS_PATH). {HOW_TO_CONFIGURE}"
            )
        config_file = weights.with_name("config.json")
        revision = None
    else:
        weights = _download(spec, str(spec.filename))
        config_file = _download(spec, "config.json") if weights.suffix == ".safetensors" else None
        revision = _snapshot_commit(weights) or spec.revision
    config = _config_for(weights, config_file, spec)
    info = WeightsInfo(
        name=spec.name,
        location=spec.location,
        repo_id=spec.repo_id,
        filename=spec.filename or weights.name,
        revision=revision,
        reported_accuracy=spec.reported_accuracy,
        training_data=spec.training_data,
        accuracy_source=spec.accuracy_source,
    )
    logger.info("weights %s resolved to %s", spec.location, weights)
    return ResolvedCheckpoint(weights_file=weights, config=config, info=info)


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


def _download(spec: CheckpointSpec, filename: str) -> Path:
    try:
        path = hf_hub_download(
            repo_id=str(spec.repo_id),
            filename=filename,
            subfolder=spec.subfolder,
            revision=spec.revision,
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as exc:
        reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), str(exc))
        raise WeightsUnavailableError(
            f"cannot get {filename} from {spec.repo_id} (subfolder {spec.subfolder!r}, "
            f"revision {spec.revision or 'main'}): {reason}. {HOW_TO_CONFIGURE}"
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
