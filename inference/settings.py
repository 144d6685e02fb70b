"""Runtime settings, all read from environment variables here and nowhere else.

| variable | meaning | default |
| --- | --- | --- |
| DEEPFAKE_CHECKPOINT | name of a registered checkpoint (see checkpoints.json) | registry default |
| DEEPFAKE_WEIGHTS_PATH | a local checkpoint file (.pt or .safetensors); overrides the Hub | unset |
| DEEPFAKE_WEIGHTS_REPO | Hub repo id holding the checkpoint; overrides the registry | unset |
| DEEPFAKE_WEIGHTS_FILE | file name in that repo | registry file |
| DEEPFAKE_WEIGHTS_SUBFOLDER | folder of that file in the repo | registry folder |
| DEEPFAKE_WEIGHTS_REVISION | branch, tag or commit of the repo | main |
| DEEPFAKE_WEIGHTS_SHA256 | expected sha256 of the weights file; any other file is refused | registry pin |
| DEEPFAKE_DEVICE | "cpu", "cuda" or "auto" (CUDA when present) | auto |
| DEEPFAKE_PROFILE | crop preprocessing, "training" or "app" (inference/profiles.py) | the checkpoint's |
| DEEPFAKE_FACE_MODEL | face detector, "hog" (fast) or "cnn" (slower, better on turned faces) | hog |
| DEEPFAKE_DETECT_MAX_SIDE | longest side of the downscaled copy faces are searched in, pixels | 480 |
| DEEPFAKE_MIN_FACE_FRACTION | share of sampled frames that must show a face to judge | 0.25 |
| DEEPFAKE_UNCERTAIN_MARGIN | a mean fake probability within 0.5 +/- this is UNCERTAIN | 0.1 |
| DEEPFAKE_MAX_PEOPLE | people followed and judged per video, the most seen first | 4 |
| DEEPFAKE_MAX_UPLOAD_MB | largest file accepted, MB | 200 |
| DEEPFAKE_MAX_DURATION_S | only the first this many seconds are analysed | 600 |
| DEEPFAKE_MAX_PIXELS | frames with more pixels are refused | 35389440 (8K) |
| DEEPFAKE_MAX_FRAMES | largest number of frames one request may sample | 200 |
| DEEPFAKE_QUEUE_SIZE | requests the app lets wait in its queue before refusing more | 16 |
| DEEPFAKE_TORCH_THREADS | threads for torch on CPU; 0 keeps torch's choice | 0 |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from inference import registry
from inference.errors import DeepfakeDetectorError
from inference.profiles import PROFILES
from inference.registry import CheckpointSpec


class SettingsError(DeepfakeDetectorError):
    """An environment variable has a value the engine cannot use."""


@dataclass(frozen=True)
class Settings:
    """Every runtime setting of the engine; build it with :meth:`from_env`."""

    checkpoint: str
    weights_path: str | None = None
    weights_repo: str | None = None
    weights_file: str | None = None
    weights_subfolder: str | None = None
    weights_revision: str | None = None
    weights_sha256: str | None = None
    device: str = "auto"
    profile: str | None = None
    face_model: str = "hog"
    detect_max_side: int = 480
    min_face_fraction: float = 0.25
    uncertain_margin: float = 0.1
    max_people: int = 4
    max_upload_mb: float = 200.0
    max_duration_s: float = 600.0
    max_pixels: int = 7680 * 4320
    max_frames: int = 200
    queue_size: int = 16
    torch_threads: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``).

        Raises:
            SettingsError: If a variable cannot be parsed or is out of range.
        """
        env = os.environ if environ is None else environ
        settings = cls(
            checkpoint=env.get("DEEPFAKE_CHECKPOINT") or registry.default_name(),
            weights_path=env.get("DEEPFAKE_WEIGHTS_PATH") or None,
            weights_repo=env.get("DEEPFAKE_WEIGHTS_REPO") or None,
            weights_file=env.get("DEEPFAKE_WEIGHTS_FILE") or None,
            weights_subfolder=env.get("DEEPFAKE_WEIGHTS_SUBFOLDER") or None,
            weights_revision=env.get("DEEPFAKE_WEIGHTS_REVISION") or None,
            weights_sha256=(env.get("DEEPFAKE_WEIGHTS_SHA256") or "").strip().lower() or None,
            device=env.get("DEEPFAKE_DEVICE", "auto"),
            profile=env.get("DEEPFAKE_PROFILE") or None,
            face_model=env.get("DEEPFAKE_FACE_MODEL", "hog"),
            detect_max_side=_number(env, "DEEPFAKE_DETECT_MAX_SIDE", 480, int),
            min_face_fraction=_number(env, "DEEPFAKE_MIN_FACE_FRACTION", 0.25, float),
            uncertain_margin=_number(env, "DEEPFAKE_UNCERTAIN_MARGIN", 0.1, float),
            max_people=_number(env, "DEEPFAKE_MAX_PEOPLE", 4, int),
            max_upload_mb=_number(env, "DEEPFAKE_MAX_UPLOAD_MB", 200.0, float),
            max_duration_s=_number(env, "DEEPFAKE_MAX_DURATION_S", 600.0, float),
            max_pixels=_number(env, "DEEPFAKE_MAX_PIXELS", 7680 * 4320, int),
            max_frames=_number(env, "DEEPFAKE_MAX_FRAMES", 200, int),
            queue_size=_number(env, "DEEPFAKE_QUEUE_SIZE", 16, int),
            torch_threads=_number(env, "DEEPFAKE_TORCH_THREADS", 0, int),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first setting that is out of range."""
        checks = [
            (self.checkpoint in registry.names(), "DEEPFAKE_CHECKPOINT", self.checkpoint),
            (
                self.weights_sha256 is None or re.fullmatch(r"[0-9a-f]{64}", self.weights_sha256) is not None,
                "DEEPFAKE_WEIGHTS_SHA256",
                self.weights_sha256,
            ),
            (self.device in ("auto", "cpu", "cuda"), "DEEPFAKE_DEVICE", self.device),
            (self.profile in (None, *PROFILES), "DEEPFAKE_PROFILE", self.profile),
            (self.face_model in ("hog", "cnn"), "DEEPFAKE_FACE_MODEL", self.face_model),
            (self.detect_max_side >= 64, "DEEPFAKE_DETECT_MAX_SIDE", self.detect_max_side),
            (0 < self.min_face_fraction <= 1, "DEEPFAKE_MIN_FACE_FRACTION", self.min_face_fraction),
            (0 <= self.uncertain_margin < 0.5, "DEEPFAKE_UNCERTAIN_MARGIN", self.uncertain_margin),
            (self.max_people >= 1, "DEEPFAKE_MAX_PEOPLE", self.max_people),
            (self.max_upload_mb > 0, "DEEPFAKE_MAX_UPLOAD_MB", self.max_upload_mb),
            (self.max_duration_s > 0, "DEEPFAKE_MAX_DURATION_S", self.max_duration_s),
            (self.max_pixels > 0, "DEEPFAKE_MAX_PIXELS", self.max_pixels),
            (self.max_frames >= 1, "DEEPFAKE_MAX_FRAMES", self.max_frames),
            (self.queue_size >= 1, "DEEPFAKE_QUEUE_SIZE", self.queue_size),
            (self.torch_threads >= 0, "DEEPFAKE_TORCH_THREADS", self.torch_threads),
        ]
        for ok, name, value in checks:
            if not ok:
                raise SettingsError(
                    f"{name}={value!r} is not allowed; see inference/settings.py or the README"
                )

    def with_checkpoint(self, name: str) -> Settings:
        """Return a copy that uses the registered checkpoint ``name`` and no overrides."""
        registry.get(name)
        return replace(
            self,
            checkpoint=name,
            weights_path=None,
            weights_repo=None,
            weights_file=None,
            weights_subfolder=None,
            weights_revision=None,
            weights_sha256=None,
        )

    def checkpoint_spec(self) -> CheckpointSpec:
        """Where the weights come from: a local path, a Hub override, or a registry entry.

        A registry entry keeps its mirrors and sha256 pin only while no override changes which
        file it names; DEEPFAKE_WEIGHTS_SHA256 pins any of them.
        """
        if self.weights_path:
            return CheckpointSpec(
                name="local file",
                local_path=self.weights_path,
                frames=registry.frames_in_name(Path(self.weights_path).name),
                sha256=self.weights_sha256,
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
            )
        if self.weights_file or self.weights_subfolder or self.weights_revision:
            base = replace(
                base,
                filename=self.weights_file or base.filename,
                subfolder=self.weights_subfolder or base.subfolder,
                revision=self.weights_revision or base.revision,
                mirrors=(),
                sha256=None,
            )
        return replace(base, sha256=self.weights_sha256 or base.sha256)


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
