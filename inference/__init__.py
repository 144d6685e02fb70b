"""Deepfake video detection engine: ResNeXt50 + LSTM over face crops found with face_recognition.

Typical use::

    from inference import Detector

    detector = Detector.from_settings()  # weights from env / registry / Hub
    result = detector.analyze("clip.mp4", frames=20, explain=False)
    print(result.verdict.label, result.verdict.confidence)
    for person in result.people:
        print(person.id, person.verdict.label, person.seen)
"""

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
