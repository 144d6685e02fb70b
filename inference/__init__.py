"""Deepfake video detection engine: ResNeXt50 + LSTM over face crops found with face_recognition.

Typical use::

    from inference import Detector

    detector = Detector.from_settings()  # weights from env / registry / Hub
    result = detector.analyze("clip.mp4", frames=20, explain=False)
    print(result.verdict.label, result.verdict.confidence)
    for person in result.people:
        print(person.id, person.verdict.label, person.seen)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inference.errors import (
        CheckpointFormatError,
        DeepfakeDetectorError,
        LimitExceededError,
        NonFiniteScoreError,
        VideoError,
        WeightsIntegrityError,
        WeightsUnavailableError,
    )
    from inference.pipeline import Detector
    from inference.result import (
        CANNOT_JUDGE,
        FAKE,
        REAL,
        UNCERTAIN,
        AnalysisResult,
        FrameScore,
        Person,
        Verdict,
    )
    from inference.settings import Settings, SettingsError, UnpinnedCheckpointError
    from inference.video.window import InvalidWindowError
    from inference.weights.config import ModelConfig

# Where each public name lives. They are imported on first use (PEP 562), so that
# ``python -m inference --help`` and the light tools do not pay for torch and the pipeline.
_HOMES = {
    "CheckpointFormatError": "inference.errors",
    "DeepfakeDetectorError": "inference.errors",
    "LimitExceededError": "inference.errors",
    "NonFiniteScoreError": "inference.errors",
    "VideoError": "inference.errors",
    "WeightsIntegrityError": "inference.errors",
    "WeightsUnavailableError": "inference.errors",
    "Detector": "inference.pipeline",
    "CANNOT_JUDGE": "inference.result",
    "FAKE": "inference.result",
    "REAL": "inference.result",
    "UNCERTAIN": "inference.result",
    "AnalysisResult": "inference.result",
    "FrameScore": "inference.result",
    "Person": "inference.result",
    "Verdict": "inference.result",
    "Settings": "inference.settings",
    "SettingsError": "inference.settings",
    "UnpinnedCheckpointError": "inference.settings",
    "InvalidWindowError": "inference.video.window",
    "ModelConfig": "inference.weights.config",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])


__all__ = [
    "CANNOT_JUDGE",
    "FAKE",
    "REAL",
    "UNCERTAIN",
    "AnalysisResult",
    "CheckpointFormatError",
    "DeepfakeDetectorError",
    "Detector",
    "FrameScore",
    "InvalidWindowError",
    "LimitExceededError",
    "ModelConfig",
    "NonFiniteScoreError",
    "Person",
    "Settings",
    "SettingsError",
    "UnpinnedCheckpointError",
    "Verdict",
    "VideoError",
    "WeightsIntegrityError",
    "WeightsUnavailableError",
]
