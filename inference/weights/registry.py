"""The known public checkpoints and detector files, read from ``checkpoints.json`` beside this file.

Entries belong to a family: ``resnext-lstm`` (the first detector, :mod:`inference.models.network`)
or ``icpr2020-efficientnet`` (the second opinion, :mod:`inference.models.efficientnet`); the
``files`` section holds what the second opinion needs beside its weights (BlazeFace).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from inference.errors import WeightsUnavailableError

_REGISTRY_FILE = Path(__file__).with_name("checkpoints.json")
RESNEXT = "resnext-lstm"
EFFICIENTNET = "icpr2020-efficientnet"


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
class UrlFile:
    """A direct download (http/https) of a file whose sha256 is pinned."""

    url: str

    @property
    def location(self) -> str:
        """The URL itself."""
        return self.url

    @property
    def filename(self) -> str:
        """The file name at the end of the URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class CheckpointSpec:
    """Where one checkpoint lives and what is known about it.

    Either ``local_path`` is set (a file on disk), or ``repo_id`` + ``filename`` (and optionally
    ``subfolder`` and ``revision``) name a file on the Hugging Face Hub, with ``mirrors``: other
    known uploads of the same file, tried in order when the first cannot be had, then ``urls``
    (direct downloads, e.g. the authors' own host). ``family`` and ``architecture`` say which
    network reads the file. ``sha256``,
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
    family: str = RESNEXT
    architecture: str | None = None
    urls: tuple[str, ...] = ()

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
        if not self.repo_id:
            return self.urls[0]
        return self.sources()[0].location

    def sources(self) -> list[HubFile]:
        """The Hub uploads to try, in order: the main one, then the mirrors (then :attr:`urls`)."""
        if not self.repo_id:
            return list(self.mirrors)
        main = HubFile(str(self.repo_id), str(self.filename), self.subfolder, self.revision)
        return [main, *self.mirrors]

    def all_sources(self) -> list[HubFile | UrlFile]:
        """Every source to try, in order: the Hub uploads, then the direct URLs."""
        return [*self.sources(), *(UrlFile(url) for url in self.urls)]


def frames_in_name(filename: str | None) -> int | None:
    """Frames per clip encoded in a public checkpoint's name (``model_97_acc_100_frames_...``)."""
    match = re.search(r"_(\d+)_frames", filename or "")
    return int(match.group(1)) if match else None


def _spec(entry: dict) -> CheckpointSpec:
    return CheckpointSpec(
        **{
            **entry,
            "mirrors": tuple(HubFile(**mirror) for mirror in entry.get("mirrors", [])),
            "urls": tuple(entry.get("urls", [])),
        }
    )


@cache
def _load() -> tuple[dict, dict[str, CheckpointSpec], dict[str, CheckpointSpec]]:
    data = json.loads(_REGISTRY_FILE.read_text(encoding="utf-8"))
    specs = {entry["name"]: _spec(entry) for entry in data["checkpoints"]}
    files = {entry["name"]: _spec(entry) for entry in data.get("files", [])}
    return data, specs, files


def names(family: str = RESNEXT) -> list[str]:
    """Names of the registered checkpoints of ``family``, its default first.

    The default family is the first detector's; :data:`EFFICIENTNET` lists the second opinions.
    """
    data, specs, _ = _load()
    defaults = {RESNEXT: data["default"], EFFICIENTNET: data["second_opinion_default"]}
    members = [name for name, spec in specs.items() if spec.family == family]
    default = defaults.get(family)
    return ([default] if default in members else []) + [name for name in members if name != default]


def default_name() -> str:
    """Name of the checkpoint used when nothing else is configured."""
    return _load()[0]["default"]


def default_second_opinion() -> str:
    """Name of the second-opinion checkpoint used when nothing else is configured."""
    return _load()[0]["second_opinion_default"]


def get(name: str) -> CheckpointSpec:
    """Return the registered checkpoint called ``name`` (of any family).

    Raises:
        WeightsUnavailableError: If no checkpoint has that name.
    """
    specs = _load()[1]
    if name not in specs:
        known = ", ".join(names() + names(EFFICIENTNET))
        raise WeightsUnavailableError(f"unknown checkpoint {name!r}; known checkpoints: {known}")
    return specs[name]


def file(name: str) -> CheckpointSpec:
    """Return the registered detector file called ``name`` ("blazeface", "blazeface-anchors")."""
    return _load()[2][name]
