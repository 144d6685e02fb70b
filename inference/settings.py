"""Runtime settings, all read from environment variables here and nowhere else.

Grouped by concern: each group is one table of :class:`Variable` rows (the setting it fills, how
it is read, which values are allowed), and :class:`Settings` lists its fields in the same groups;
:meth:`Settings.from_env` reads every table once. Which weights the weights group chooses is
worked out by :class:`inference.weights.choice.WeightsChoice`, a base class of :class:`Settings`.

| variable | meaning | default |
| --- | --- | --- |
| DEEPFAKE_CHECKPOINT | name of a registered checkpoint (see checkpoints.json) | registry default |
| DEEPFAKE_WEIGHTS_PATH | a local checkpoint file (.pt or .safetensors); overrides the Hub | unset |
| DEEPFAKE_WEIGHTS_REPO | Hub repo id holding the checkpoint; overrides the registry | unset |
| DEEPFAKE_WEIGHTS_FILE | file name in that repo | registry file |
| DEEPFAKE_WEIGHTS_SUBFOLDER | folder of that file in the repo | registry folder |
| DEEPFAKE_WEIGHTS_REVISION | branch, tag or commit of the repo | main |
| DEEPFAKE_WEIGHTS_SHA256 | expected sha256 of the weights file; any other file is refused | registry pin |
| DEEPFAKE_CONFIG_SHA256 | expected sha256 of the config.json of .safetensors weights | registry pin |
| DEEPFAKE_PINS | pins per registry entry, "name=sha256[:config_sha256]", comma-separated | unset |
| DEEPFAKE_PINNED_ONLY | "1": only pinned weights may be used, unpinned entries are refused | 0 |
| DEEPFAKE_DEVICE | "cpu", "cuda" or "auto" (CUDA when present) | auto |
| DEEPFAKE_PROFILE | crops, "training" or "app" (inference/faces/profiles.py) | the checkpoint's |
| DEEPFAKE_FACE_MODEL | face detector, "hog" (fast) or "cnn" (slower, better on turned faces) | hog |
| DEEPFAKE_DETECT_MAX_SIDE | longest side of the downscaled copy faces are searched in, pixels | 480 |
| DEEPFAKE_MIN_FACE_FRACTION | share of sampled frames that must show a person's face to judge them | 0.25 |
| DEEPFAKE_UNCERTAIN_MARGIN | a mean fake probability within 0.5 +/- this is UNCERTAIN | 0.1 |
| DEEPFAKE_MAX_PEOPLE | people followed and judged per video, the most seen first | 4 |
| DEEPFAKE_MAX_UPLOAD_MB | largest file accepted, MB | 200 |
| DEEPFAKE_MAX_DURATION_S | only the first this many seconds are analysed | 600 |
| DEEPFAKE_MAX_PIXELS | frames with more pixels are refused | 33177600 (7680x4320, 8K) |
| DEEPFAKE_MAX_FRAMES | largest number of frames one request may sample | 200 |
| DEEPFAKE_QUEUE_SIZE | analyses the app holds (waiting or running) before refusing more | 16 |
| DEEPFAKE_TORCH_THREADS | threads for torch on CPU; 0 keeps torch's choice | 0 |
| DEEPFAKE_RUNTIME | "onnxruntime", "openvino" (compiled for the CPU) or "torch" (eager) | onnxruntime |
| DEEPFAKE_PRECISION | "f32" (scores as eager torch) or "bf16" (OpenVINO's; faster, scores move) | f32 |
| DEEPFAKE_COMPILED_CACHE | folder of the classifiers' exports | $HF_HOME/deepfake-detector/compiled |
| RAY_ADDRESS | Ray's own: the cluster `--ray` joins when given no address | unset (a local Ray) |
| DEEPFAKE_RAY_ACTORS | detector actors of a `--ray` run; 0: as many as the cluster holds | 0 |
| DEEPFAKE_RAY_CPUS_PER_ACTOR | CPUs each of those actors takes (its torch threads) | 1 |
| DEEPFAKE_RAY_GPUS_PER_ACTOR | GPUs each actor takes where the cluster has GPUs (0.25: 4 per GPU) | 1 |
| DEEPFAKE_MAX_DECODE_PIXELS | pixels one request may decode, then keyframes only | 4147200000 (2000x1080p) |
| DEEPFAKE_REQUEST_TIMEOUT_S | the app stops an analysis that runs longer, seconds | 300 |
| DEEPFAKE_MAX_QUEUED_PER_VISITOR | analyses one visitor may have waiting or running in the app | 2 |
| DEEPFAKE_UPLOAD_TTL_S | the app deletes uploads nobody analysed after this long, seconds | 600 |
| DEEPFAKE_TRUSTED_PROXIES | proxies before the app whose X-Forwarded-For is trusted | 0 (1 on a Space) |
| DEEPFAKE_UPLOAD_QUOTA_MB | the app refuses uploads while its own (stored, arriving) pass this, MB | 2000 |
| DEEPFAKE_MAX_UPLOADS | uploads the app holds at once (stored and arriving) | 100 |
| DEEPFAKE_UPLOAD_TIMEOUT_S | an upload's body must arrive within this, seconds | 300 |
| DEEPFAKE_UPLOADS_PER_VISITOR | uploads one visitor may hold at once (stored and arriving) | 3 |
| DEEPFAKE_UPLOAD_VISITOR_SHARE | share of the upload quota one visitor may hold | 0.5 |
| DEEPFAKE_SECOND_OPINION | second detector: a registered ICPR 2020 entry, or "off" | effnet-autoatt-b4-dfdc |
| DEEPFAKE_SECOND_OPINION_PATH | local weights file of the second detector, pinned like its entry | unset |
| DEEPFAKE_C2PA_TRUST_ANCHORS | PEM file of C2PA trust anchors; without it no signer is trusted | unset |
| DEEPFAKE_ALLOW_PRIVATE_URLS | "1": links may reach private and loopback addresses (tests only) | 0 |
| DEEPFAKE_LINK_TIMEOUT_S | a link's whole download (page, redirects, video) must end within, s | 120 |
| DEEPFAKE_LINK_MAX_DURATION_S | a linked video longer than this is refused, seconds | 600 |
| DEEPFAKE_BLAZEFACE_PATH | a local blazeface.pth (anchors.npy beside it), pinned by the registry | unset |
| DEEPFAKE_LIVE_WINDOW_S | a live stream's rolling verdict is over this many last seconds | 3 |
| DEEPFAKE_LIVE_TIME_LIMIT_S | one live stream is judged for at most this many seconds | 120 |
| DEEPFAKE_LIVE_MAX_STREAMS | live streams the app judges at once | 1 |
| DEEPFAKE_MONITORING | "1": Gradio's /monitoring routes answer (the summary without a key) | 0 |
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from inference.errors import SettingsError, UnpinnedCheckpointError
from inference.faces.profiles import PROFILES
from inference.models import runtime as runtimes
from inference.provenance import credentials
from inference.weights import registry
from inference.weights.choice import OFF, SHA256, Pin, WeightsChoice, parse_pins

__all__ = ["OFF", "Pin", "Settings", "SettingsError", "UnpinnedCheckpointError", "Variable"]

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

Reader = Callable[[Mapping[str, str], str], Any]


@dataclass(frozen=True)
class Variable:
    """One environment variable: the :class:`Settings` field it fills, how it is read, what is allowed.

    Attributes:
        field: The attribute of :class:`Settings`.
        name: The environment variable.
        read: Called with the environment and ``name``; raises SettingsError for a value that
            does not parse.
        allowed: Whether a value read is in range (checked by :meth:`Settings.validate`).
    """

    field: str
    name: str
    read: Reader
    allowed: Callable[[Any], bool] = lambda value: True


def _text(default: str | None = None) -> Reader:
    """The value, or ``default`` when the variable is unset or empty."""
    return lambda env, name: env.get(name) or default


def _given(default: str) -> Reader:
    """The value as given (an empty one is kept, and refused by its check), or ``default`` when unset."""
    return lambda env, name: env.get(name, default)


def _runtime(env: Mapping[str, str], name: str) -> str:
    """The value as given, or when unset OpenVINO for DEEPFAKE_PRECISION=bf16 (its only runtime)
    and :data:`runtimes.DEFAULT` otherwise."""
    if name in env:
        return env[name]
    return runtimes.OPENVINO if env.get("DEEPFAKE_PRECISION") == runtimes.BF16 else runtimes.DEFAULT


def _digest(env: Mapping[str, str], name: str) -> str | None:
    return (env.get(name) or "").strip().lower() or None


def _of(default: float, kind: type) -> Reader:
    return lambda env, name: _number(env, name, default, kind)


def _positive(value: float) -> bool:
    return value > 0


def _at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: value >= low


WEIGHTS = (
    Variable(
        "checkpoint",
        "DEEPFAKE_CHECKPOINT",
        lambda env, name: env.get(name) or registry.default_name(),
        lambda value: value in registry.names(),
    ),
    Variable("weights_path", "DEEPFAKE_WEIGHTS_PATH", _text()),
    Variable("weights_repo", "DEEPFAKE_WEIGHTS_REPO", _text()),
    Variable("weights_file", "DEEPFAKE_WEIGHTS_FILE", _text()),
    Variable("weights_subfolder", "DEEPFAKE_WEIGHTS_SUBFOLDER", _text()),
    Variable("weights_revision", "DEEPFAKE_WEIGHTS_REVISION", _text()),
    Variable("weights_sha256", "DEEPFAKE_WEIGHTS_SHA256", _digest, lambda value: _is_sha256(value)),
    Variable("config_sha256", "DEEPFAKE_CONFIG_SHA256", _digest, lambda value: _is_sha256(value)),
    Variable("pins", "DEEPFAKE_PINS", lambda env, name: parse_pins(env.get(name) or "")),
    Variable("pinned_only", "DEEPFAKE_PINNED_ONLY", lambda env, name: _flag(env, name)),
    Variable(
        "second_opinion",
        "DEEPFAKE_SECOND_OPINION",
        lambda env, name: (env.get(name) or registry.default_second_opinion()).strip(),
        lambda value: value in [*registry.names(registry.EFFICIENTNET), OFF],
    ),
    Variable("second_opinion_path", "DEEPFAKE_SECOND_OPINION_PATH", _text()),
    Variable("blazeface_path", "DEEPFAKE_BLAZEFACE_PATH", _text()),
)
COMPUTE = (
    Variable("device", "DEEPFAKE_DEVICE", _given("auto"), lambda value: value in ("auto", "cpu", "cuda")),
    Variable("torch_threads", "DEEPFAKE_TORCH_THREADS", _of(0, int), _at_least(0)),
    Variable("runtime", "DEEPFAKE_RUNTIME", _runtime, lambda v: v in runtimes.RUNTIMES),
    Variable("precision", "DEEPFAKE_PRECISION", _given(runtimes.F32), lambda v: v in runtimes.PRECISIONS),
    Variable("compiled_cache", "DEEPFAKE_COMPILED_CACHE", _text()),
)
ANALYSIS = (
    Variable("profile", "DEEPFAKE_PROFILE", _text(), lambda value: value in (None, *PROFILES)),
    Variable("face_model", "DEEPFAKE_FACE_MODEL", _given("hog"), lambda value: value in ("hog", "cnn")),
    Variable("detect_max_side", "DEEPFAKE_DETECT_MAX_SIDE", _of(480, int), _at_least(64)),
    Variable(
        "min_face_fraction", "DEEPFAKE_MIN_FACE_FRACTION", _of(0.25, float), lambda value: 0 < value <= 1
    ),
    Variable(
        "uncertain_margin", "DEEPFAKE_UNCERTAIN_MARGIN", _of(0.1, float), lambda value: 0 <= value < 0.5
    ),
    Variable("max_people", "DEEPFAKE_MAX_PEOPLE", _of(4, int), _at_least(1)),
    Variable("c2pa_trust_anchors", "DEEPFAKE_C2PA_TRUST_ANCHORS", _text()),
)
LIMITS = (
    Variable("max_upload_mb", "DEEPFAKE_MAX_UPLOAD_MB", _of(200.0, float), _positive),
    Variable("max_duration_s", "DEEPFAKE_MAX_DURATION_S", _of(600.0, float), _positive),
    Variable("max_pixels", "DEEPFAKE_MAX_PIXELS", _of(7680 * 4320, int), _positive),
    Variable("max_frames", "DEEPFAKE_MAX_FRAMES", _of(200, int), _at_least(1)),
    Variable("max_decode_pixels", "DEEPFAKE_MAX_DECODE_PIXELS", _of(2000 * 1920 * 1080, int), _positive),
)
APP = (
    Variable("queue_size", "DEEPFAKE_QUEUE_SIZE", _of(16, int), _at_least(1)),
    Variable("request_timeout_s", "DEEPFAKE_REQUEST_TIMEOUT_S", _of(300.0, float), _positive),
    Variable("max_queued_per_visitor", "DEEPFAKE_MAX_QUEUED_PER_VISITOR", _of(2, int), _at_least(1)),
    Variable("upload_quota_mb", "DEEPFAKE_UPLOAD_QUOTA_MB", _of(2000.0, float), _positive),
    Variable("upload_ttl_s", "DEEPFAKE_UPLOAD_TTL_S", _of(600.0, float), _positive),
    Variable("max_uploads", "DEEPFAKE_MAX_UPLOADS", _of(100, int), _at_least(1)),
    Variable("upload_timeout_s", "DEEPFAKE_UPLOAD_TIMEOUT_S", _of(300.0, float), _positive),
    Variable("uploads_per_visitor", "DEEPFAKE_UPLOADS_PER_VISITOR", _of(3, int), _at_least(1)),
    Variable(
        "upload_visitor_share",
        "DEEPFAKE_UPLOAD_VISITOR_SHARE",
        _of(0.5, float),
        lambda value: 0 < value <= 1,
    ),
    # A Space (SPACE_ID set) runs behind one proxy of Hugging Face's.
    Variable(
        "trusted_proxies",
        "DEEPFAKE_TRUSTED_PROXIES",
        lambda env, name: _number(env, name, 1 if env.get("SPACE_ID") else 0, int),
        _at_least(0),
    ),
    Variable("monitoring", "DEEPFAKE_MONITORING", lambda env, name: _flag(env, name)),
)
LINKS = (
    Variable("allow_private_urls", "DEEPFAKE_ALLOW_PRIVATE_URLS", lambda env, name: _flag(env, name)),
    Variable("link_timeout_s", "DEEPFAKE_LINK_TIMEOUT_S", _of(120.0, float), _positive),
    Variable("link_max_duration_s", "DEEPFAKE_LINK_MAX_DURATION_S", _of(600.0, float), _positive),
)
LIVE = (
    Variable("live_window_s", "DEEPFAKE_LIVE_WINDOW_S", _of(3.0, float), _positive),
    Variable("live_time_limit_s", "DEEPFAKE_LIVE_TIME_LIMIT_S", _of(120.0, float), _positive),
    Variable("live_max_streams", "DEEPFAKE_LIVE_MAX_STREAMS", _of(1, int), _at_least(1)),
)
RAY = (
    Variable("ray_address", "RAY_ADDRESS", _text()),
    Variable("ray_actors", "DEEPFAKE_RAY_ACTORS", _of(0, int), _at_least(0)),
    Variable("ray_cpus_per_actor", "DEEPFAKE_RAY_CPUS_PER_ACTOR", _of(1.0, float), _positive),
    Variable("ray_gpus_per_actor", "DEEPFAKE_RAY_GPUS_PER_ACTOR", _of(1.0, float), _positive),
)
VARIABLES = WEIGHTS + COMPUTE + ANALYSIS + LIMITS + APP + LINKS + LIVE + RAY


@dataclass(frozen=True)
class Settings(WeightsChoice):
    """Every runtime setting of the engine, grouped as the tables above; build it with :meth:`from_env`."""

    # Weights (WEIGHTS): which checkpoint, its overrides and pins, the second opinion, BlazeFace.
    checkpoint: str
    weights_path: str | None = None
    weights_repo: str | None = None
    weights_file: str | None = None
    weights_subfolder: str | None = None
    weights_revision: str | None = None
    weights_sha256: str | None = None
    config_sha256: str | None = None
    pins: tuple[Pin, ...] = ()
    pinned_only: bool = False
    second_opinion: str = OFF
    second_opinion_path: str | None = None
    blazeface_path: str | None = None
    # Compute (COMPUTE).
    device: str = "auto"
    torch_threads: int = 0
    runtime: str = runtimes.DEFAULT
    precision: str = runtimes.F32
    compiled_cache: str | None = None
    # How a video is judged (ANALYSIS).
    profile: str | None = None
    face_model: str = "hog"
    detect_max_side: int = 480
    min_face_fraction: float = 0.25
    uncertain_margin: float = 0.1
    max_people: int = 4
    c2pa_trust_anchors: str | None = None
    # What one request may ask (LIMITS).
    max_upload_mb: float = 200.0
    max_duration_s: float = 600.0
    max_pixels: int = 7680 * 4320
    max_frames: int = 200
    max_decode_pixels: int = 2000 * 1920 * 1080
    # The app's server: its queue, visitors and uploads (APP).
    queue_size: int = 16
    request_timeout_s: float = 300.0
    max_queued_per_visitor: int = 2
    upload_quota_mb: float = 2000.0
    upload_ttl_s: float = 600.0
    max_uploads: int = 100
    upload_timeout_s: float = 300.0
    uploads_per_visitor: int = 3
    upload_visitor_share: float = 0.5
    trusted_proxies: int = 0
    monitoring: bool = False
    # Links (LINKS).
    allow_private_urls: bool = False
    link_timeout_s: float = 120.0
    link_max_duration_s: float = 600.0
    # Live streams (LIVE).
    live_window_s: float = 3.0
    live_time_limit_s: float = 120.0
    live_max_streams: int = 1
    # Ray (RAY).
    ray_address: str | None = None
    ray_actors: int = 0
    ray_cpus_per_actor: float = 1.0
    ray_gpus_per_actor: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``), every table once.

        Raises:
            SettingsError: If a variable cannot be parsed or is out of range.
        """
        env = os.environ if environ is None else environ
        settings = cls(**{variable.field: variable.read(env, variable.name) for variable in VARIABLES})
        settings.validate()
        return settings

    def network_runtime(self) -> runtimes.Runtime:
        """How the classifier networks run on CPU (DEEPFAKE_RUNTIME, _PRECISION, _COMPILED_CACHE)."""
        return runtimes.Runtime(self.runtime, self.precision, self.compiled_cache)

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first setting that is out of range.

        Raises:
            SettingsError: For a value out of range, a pin of an unknown entry or of a config
                the weights do not have.
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and the weights in use
                have no pin.
        """
        for variable in VARIABLES:
            value = getattr(self, variable.field)
            if not variable.allowed(value):
                raise SettingsError(
                    f"{variable.name}={value!r} is not allowed; see inference/settings.py or the README"
                )
        if self.precision != runtimes.F32 and self.runtime != runtimes.OPENVINO:
            raise SettingsError(
                f"DEEPFAKE_PRECISION={self.precision} is OpenVINO's: "
                "set DEEPFAKE_RUNTIME=openvino, or unset it"
            )
        if self.c2pa_trust_anchors is not None:
            try:
                credentials.check_trust_anchors(self.c2pa_trust_anchors)
            except ValueError as exc:
                raise SettingsError(f"DEEPFAKE_C2PA_TRUST_ANCHORS: {exc}") from exc
        every = registry.names() + registry.names(registry.EFFICIENTNET)
        for pin in self.pins:
            if pin.name not in every:
                raise SettingsError(
                    f"DEEPFAKE_PINS pins {pin.name!r}, which is not a registered checkpoint; "
                    f"known checkpoints: {', '.join(every)}"
                )
            if pin.config_sha256 and not registry.get(pin.name).has_config_file:
                raise SettingsError(
                    f"DEEPFAKE_PINS gives a config.json sha256 for {pin.name!r}, whose .pt weights "
                    "have no config.json; give the weights' sha256 alone"
                )
        spec = self._spec()
        if self.config_sha256 and not spec.has_config_file:
            raise SettingsError(
                f"DEEPFAKE_CONFIG_SHA256 is set, but the weights in use ({spec.location}) are .pt "
                "and have no config.json; unset it"
            )
        self._check_pinned(spec)


def _is_sha256(value: str | None) -> bool:
    return value is None or SHA256.fullmatch(value) is not None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise SettingsError(f"{name}={raw!r} is not allowed; use 1 (on) or 0 (off)")
    return raw in _TRUE


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc
