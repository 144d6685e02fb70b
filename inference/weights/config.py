"""Settings that travel with a checkpoint: how its inputs were prepared and what its outputs mean."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from inference.errors import CheckpointFormatError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PER_FRAME = "per-frame"
TEMPORAL = "temporal"
KINDS = (PER_FRAME, TEMPORAL)


@dataclass(frozen=True)
class ModelConfig:
    """Preprocessing and label order of a ResNeXt50 + LSTM checkpoint.

    Attributes:
        frames: Frames per clip the checkpoint was trained on; the default sample count.
        image_size: Side of the square face crop fed to the network, in pixels.
        mean: Per-channel normalisation mean, in the channel order of the crops (BGR, see
            ``channel_order``) as the original code applied it.
        std: Per-channel normalisation std, same order as ``mean``.
        labels: Class names by output index. The public checkpoints use ("FAKE", "REAL").
        channel_order: Colour order of the crops the network was trained on. The original
            project fed OpenCV frames without conversion, so "BGR".
        preprocessing: How face boxes and crops are made (see :mod:`inference.faces.profiles`):
            "training" (like the checkpoint's training data) or "app" (like the original app).
        kind: "per-frame" (each crop scored from a zero LSTM state, like the public
            checkpoints) or "temporal" (the LSTM runs over ``frames`` crops in a row and the
            sequence gets one score).
    """

    frames: int = 20
    image_size: int = 112
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    labels: tuple[str, str] = ("FAKE", "REAL")
    channel_order: str = "BGR"
    preprocessing: str = "training"
    kind: str = "per-frame"

    @property
    def fake_index(self) -> int:
        """Output index of the FAKE class."""
        return self.labels.index("FAKE")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build a config from ``config.json`` content, ignoring keys it does not know.

        Raises:
            CheckpointFormatError: If a value has the wrong shape.
        """
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        config = cls(**values)
        if len(config.mean) != 3 or len(config.std) != 3 or "FAKE" not in config.labels:
            raise CheckpointFormatError(
                f"config.json must give 3 mean and 3 std values and a 'FAKE' label, got {data}"
            )
        if config.kind not in KINDS or config.preprocessing not in ("training", "app"):
            raise CheckpointFormatError(
                f"config.json: kind must be one of {', '.join(KINDS)} and preprocessing 'training' or "
                f"'app', got kind={config.kind!r}, preprocessing={config.preprocessing!r}"
            )
        return config

    def save(self, path: str | Path) -> None:
        """Write the config as ``config.json`` content to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json_file(cls, path: str | Path) -> ModelConfig:
        """Read a ``config.json`` written next to ``model.safetensors``.

        Raises:
            CheckpointFormatError: If the file cannot be read or is not a valid config.
        """
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise CheckpointFormatError(f"cannot read checkpoint config {path}: {exc}") from exc
        return cls.from_json_bytes(content, str(path))

    @classmethod
    def from_json_bytes(cls, content: bytes, where: str) -> ModelConfig:
        """Parse ``config.json`` content already read (and hashed) by the caller.

        Args:
            content: The file's bytes, UTF-8 JSON.
            where: The file's name or location, for messages.

        Raises:
            CheckpointFormatError: If the content is not a JSON object of a valid config.
        """
        try:
            data = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointFormatError(f"cannot read checkpoint config {where}: {exc}") from exc
        if not isinstance(data, dict):
            raise CheckpointFormatError(f"checkpoint config {where} must hold a JSON object, got {data!r}")
        return cls.from_dict(data)
