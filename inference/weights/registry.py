"""The known public checkpoints, read from ``checkpoints.json`` beside this file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from inference.errors import WeightsUnavailableError

_REGISTRY_FILE = Path(__file__).with_name("checkpoints.json")


@dataclass(frozen=True)
class HubFile:
    """One file on the Hugging Face Hub: repo, folder, name and branch/tag/commit."""

    repo_id: str
    filename: str
    subfolder: str | None = None
    revision: str | None = None

    @property
    def location(self) -> str:
        """Human-readable location, e.g. ``org/repo:sub/file.pt@main``."""
        path = f"{self.subfolder}/{self.filename}" if self.subfolder else self.filename
        return f"{self.repo_id}:{path}@{self.revision or 'main'}"


@dataclass(frozen=True)
class CheckpointSpec:
    """Where one checkpoint lives and what is known about it.

    Either ``local_path`` is set (a file on disk), or ``repo_id`` + ``filename`` (and optionally
    ``subfolder`` and ``revision``) name a file on the Hugging Face Hub, with ``mirrors``: other
    known uploads of the same file, tried in order when the first cannot be had. ``sha256``,
    when set, pins the file's content: a file with another hash is refused. ``config_sha256``
    pins the ``config.json`` of ``.safetensors`` weights the same way (it sets the label order,
    normalisation and model kind, so it decides the verdict as much as the weights do).
    """

    name: str
    repo_id: str | None = None
    filename: str | None = None
    subfolder: str | None = None
    revision: str | None = None
    local_path: str | None = None
    frames: int | None = None
    reported_accuracy: float | None = None
    training_data: str | None = None
    accuracy_source: str | None = None
    mirrors: tuple[HubFile, ...] = ()
    sha256: str | None = None
    config_sha256: str | None = None

    @property
    def has_config_file(self) -> bool:
        """Whether the weights come with a ``config.json`` (``.safetensors``); ``.pt`` files do not."""
        name = self.local_path or self.filename or ""
        return name.endswith(".safetensors")

    @property
    def pinned(self) -> bool:
        """Whether everything that decides the output is pinned: the weights, and the config if any."""
        return bool(self.sha256) and (bool(self.config_sha256) or not self.has_config_file)

    @property
    def location(self) -> str:
        """Human-readable location of the first source, e.g. ``org/repo:sub/file.pt@main`` or a path."""
        if self.local_path:
            return self.local_path
        return self.sources()[0].location

    def sources(self) -> list[HubFile]:
        """The Hub uploads to try, in order: the main one, then the mirrors."""
        main = HubFile(str(self.repo_id), str(self.filename), self.subfolder, self.revision)
        return [main, *self.mirrors]


def frames_in_name(filename: str | None) -> int | None:
    """Frames per clip encoded in a public checkpoint's name (``model_97_acc_100_frames_...``)."""
    match = re.search(r"_(\d+)_frames", filename or "")
    return int(match.group(1)) if match else None


@cache
def _load() -> tuple[str, dict[str, CheckpointSpec]]:
    data = json.loads(_REGISTRY_FILE.read_text(encoding="utf-8"))
    specs = {
        entry["name"]: CheckpointSpec(
            **{**entry, "mirrors": tuple(HubFile(**mirror) for mirror in entry.get("mirrors", []))}
        )
        for entry in data["checkpoints"]
    }
    return data["default"], specs


def names() -> list[str]:
    """Names of the registered checkpoints, default first."""
    default, specs = _load()
    return [default] + [name for name in specs if name != default]


def default_name() -> str:
    """Name of the checkpoint used when nothing else is configured."""
    return _load()[0]


def get(name: str) -> CheckpointSpec:
    """Return the registered checkpoint called ``name``.

    Raises:
        WeightsUnavailableError: If no checkpoint has that name.
    """
    specs = _load()[1]
    if name not in specs:
        raise WeightsUnavailableError(f"unknown checkpoint {name!r}; known checkpoints: {', '.join(names())}")
    return specs[name]
