"""Exceptions raised by the engine, each with a message a user can act on."""

from __future__ import annotations


class DeepfakeDetectorError(Exception):
    """Base class for every error the engine raises on purpose."""


class VideoError(DeepfakeDetectorError):
    """The file cannot be decoded as a video (missing, empty, not a video, broken)."""


class LimitExceededError(DeepfakeDetectorError):
    """The input is beyond a configured limit (size, duration, pixels); names the limit."""


class FrameSizeError(LimitExceededError):
    """A frame inside the video has another size than its first one, on which the limits were set."""


class WeightsUnavailableError(DeepfakeDetectorError):
    """The checkpoint could not be found or downloaded; says which setting to change.

    Attributes:
        reason: The cause alone, without the advice (used to list several failed sources).
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class WeightsIntegrityError(WeightsUnavailableError):
    """The weights file does not have the pinned sha256, so it is not loaded."""


class CheckpointFormatError(DeepfakeDetectorError):
    """The checkpoint file exists but is not a ResNeXt50 + LSTM checkpoint of the public format."""


class NonFiniteScoreError(DeepfakeDetectorError):
    """The model gave NaN or infinite scores: the weights are broken, so nothing is judged."""


class SettingsError(DeepfakeDetectorError):
    """An environment variable has a value the engine cannot use."""


class UnpinnedCheckpointError(SettingsError):
    """DEEPFAKE_PINNED_ONLY is set and the chosen weights have no pin."""


class RuntimeUnavailableError(DeepfakeDetectorError):
    """The compiled runtime (ONNX Runtime or OpenVINO) could not export, compile or run a network."""
