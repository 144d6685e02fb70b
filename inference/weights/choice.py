"""Which weights the settings choose: the checkpoint in use, its overrides and pins, the second
opinion's and BlazeFace's files, and DEEPFAKE_PINNED_ONLY.

:class:`WeightsChoice` is a base class of :class:`inference.settings.Settings`: its methods read
the settings' weights fields (read from the environment there, and only there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from inference.errors import SettingsError, UnpinnedCheckpointError
from inference.weights import registry
from inference.weights.registry import CheckpointSpec

SHA256 = re.compile(r"[0-9a-f]{64}")
OFF = "off"


@dataclass(frozen=True)
class Pin:
    """An operator's pin for one registry entry (from DEEPFAKE_PINS).

    Attributes:
        name: The registry entry.
        sha256: Hex SHA-256 of its weights file.
        config_sha256: Hex SHA-256 of its config.json (``.safetensors`` entries only).
    """

    name: str
    sha256: str
    config_sha256: str | None = None


def parse_pins(raw: str) -> tuple[Pin, ...]:
    """Parse DEEPFAKE_PINS: "name=sha256[:config_sha256]" items, comma-separated.

    Raises:
        SettingsError: Naming the item that is malformed or repeated.
    """
    pins: list[Pin] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        weights, _, config = value.strip().lower().partition(":")
        if not name or not SHA256.fullmatch(weights) or (config and not SHA256.fullmatch(config)):
            raise SettingsError(
                f"DEEPFAKE_PINS item {item!r} is not 'name=sha256' or 'name=weights_sha256:config_sha256' "
                "(each sha256 64 hex digits)"
            )
        if any(pin.name == name for pin in pins):
            raise SettingsError(f"DEEPFAKE_PINS pins {name!r} twice; give one pin per checkpoint")
        pins.append(Pin(name, weights, config or None))
    return tuple(pins)


class WeightsChoice:
    """The weights fields of the settings, and what they choose (see :class:`inference.settings.Settings`)."""

    checkpoint: str
    weights_path: str | None
    weights_repo: str | None
    weights_file: str | None
    weights_subfolder: str | None
    weights_revision: str | None
    weights_sha256: str | None
    config_sha256: str | None
    pins: tuple[Pin, ...]
    pinned_only: bool
    second_opinion: str
    second_opinion_path: str | None
    blazeface_path: str | None

    def with_checkpoint(self, name: str) -> Self:
        """Return settings that use the registered checkpoint ``name``.

        Naming the checkpoint already in use changes nothing (its overrides and
        DEEPFAKE_WEIGHTS_SHA256 / DEEPFAKE_CONFIG_SHA256 stay). Another entry is used without
        the overrides and those two pins (they describe other files), pinned by its
        DEEPFAKE_PINS entry or the registry.

        Raises:
            WeightsUnavailableError: If no checkpoint has that name.
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and the entry has no pin.
        """
        if name == self.checkpoint:
            return self
        registry.get(name)
        chosen = self._switched(name)
        chosen._check_pinned(chosen._spec())
        return chosen

    def allowed_checkpoints(self) -> list[str]:
        """Names of the registry entries that may be chosen, in registry order (default first).

        All of them, or with DEEPFAKE_PINNED_ONLY the pinned ones only (the checkpoint in use as
        these settings pin it, the others by DEEPFAKE_PINS or the registry). The app's and the
        API's checkpoint choice should offer these.
        """
        names = registry.names()
        if not self.pinned_only:
            return names
        return [name for name in names if self._switched(name)._spec().pinned]

    def second_opinions(self) -> list[str]:
        """The choices for the second detector: the registered ICPR 2020 entries, then "off"."""
        return [*registry.names(registry.EFFICIENTNET), OFF]

    def second_opinion_spec(self, name: str | None = None) -> CheckpointSpec | None:
        """The second detector's weights: entry ``name`` (default DEEPFAKE_SECOND_OPINION), or None for "off".

        DEEPFAKE_SECOND_OPINION_PATH replaces the file of the configured entry (not of another
        one a visitor picks). A DEEPFAKE_PINS entry pins it, else the registry's pin does: a
        local copy of the public file has the public hash.

        Raises:
            SettingsError: If ``name`` is neither a registered second opinion nor "off".
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and the weights have no pin.
        """
        name = name or self.second_opinion
        if name == OFF:
            return None
        if name not in self.second_opinions():
            raise SettingsError(
                f"second opinion {name!r} is not known; choose one of {', '.join(self.second_opinions())}"
            )
        base = registry.get(name)
        pin = next((pin.sha256 for pin in self.pins if pin.name == name), None)
        spec = replace(base, sha256=pin or base.sha256)
        if self.second_opinion_path and name == self.second_opinion:
            spec = replace(
                spec,
                local_path=self.second_opinion_path,
                repo_id=None,
                urls=(),
            )
        self._check_pinned(spec)
        return spec

    def blazeface_specs(self) -> tuple[CheckpointSpec, CheckpointSpec]:
        """BlazeFace's weights and anchors, from DEEPFAKE_BLAZEFACE_PATH (anchors.npy beside it)
        or the registry's sources; always pinned by the registry's sha256."""
        weights, anchors = registry.file("blazeface"), registry.file("blazeface-anchors")
        if not self.blazeface_path:
            return weights, anchors
        local = Path(self.blazeface_path).expanduser()
        return (
            replace(weights, local_path=str(local), repo_id=None, urls=()),
            replace(anchors, local_path=str(local.with_name("anchors.npy")), repo_id=None, urls=()),
        )

    def checkpoint_spec(self) -> CheckpointSpec:
        """Where the weights come from: a local path, a Hub override, or a registry entry.

        A registry entry keeps its mirrors and registry pins only while no override changes
        which file it names. DEEPFAKE_WEIGHTS_SHA256 and DEEPFAKE_CONFIG_SHA256 pin any of them;
        a DEEPFAKE_PINS entry pins its registry entry (under them in precedence).

        Raises:
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and the weights have no pin.
        """
        spec = self._spec()
        self._check_pinned(spec)
        return spec

    def _spec(self) -> CheckpointSpec:
        if self.weights_path:
            return CheckpointSpec(
                name="local file",
                local_path=self.weights_path,
                frames=registry.frames_in_name(Path(self.weights_path).name),
                sha256=self.weights_sha256,
                config_sha256=self.config_sha256,
            )
        base = registry.get(self.checkpoint)
        if self.weights_repo:
            filename = self.weights_file or base.filename
            return CheckpointSpec(
                name=f"{self.weights_repo} (DEEPFAKE_WEIGHTS_REPO)",
                repo_id=self.weights_repo,
                filename=filename,
                subfolder=self.weights_subfolder,
                revision=self.weights_revision,
                frames=registry.frames_in_name(filename),
                sha256=self.weights_sha256,
                config_sha256=self.config_sha256,
            )
        if self.weights_file or self.weights_subfolder or self.weights_revision:
            base = replace(
                base,
                filename=self.weights_file or base.filename,
                subfolder=self.weights_subfolder or base.subfolder,
                revision=self.weights_revision or base.revision,
                mirrors=(),
                sha256=None,
                config_sha256=None,
            )
        pin = next((pin for pin in self.pins if pin.name == base.name), Pin(base.name, ""))
        return replace(
            base,
            sha256=self.weights_sha256 or pin.sha256 or base.sha256,
            config_sha256=self.config_sha256 or pin.config_sha256 or base.config_sha256,
        )

    def _switched(self, name: str) -> Self:
        """These settings on registry entry ``name``, unchecked (see :meth:`with_checkpoint`)."""
        if name == self.checkpoint:
            return self
        return replace(
            self,
            checkpoint=name,
            weights_path=None,
            weights_repo=None,
            weights_file=None,
            weights_subfolder=None,
            weights_revision=None,
            weights_sha256=None,
            config_sha256=None,
        )

    def _check_pinned(self, spec: CheckpointSpec) -> None:
        if not self.pinned_only or spec.pinned:
            return
        missing = "its config.json has no pin" if spec.sha256 else "it has no pin"
        allowed = ", ".join(self.allowed_checkpoints()) or "none is pinned"
        raise UnpinnedCheckpointError(
            f"checkpoint {spec.name!r} may not be used: DEEPFAKE_PINNED_ONLY is set and {missing}. "
            f"Allowed: {allowed}. Pin it with DEEPFAKE_PINS='{spec.name}=<weights sha256>"
            + (":<config.json sha256>'" if spec.has_config_file else "'")
            + " (or, for the weights in use, DEEPFAKE_WEIGHTS_SHA256"
            + (" and DEEPFAKE_CONFIG_SHA256)" if spec.has_config_file else ")")
        )
