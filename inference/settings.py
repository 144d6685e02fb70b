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
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from inference.errors import DeepfakeDetectorError
from inference.faces.profiles import PROFILES
from inference.provenance import credentials
from inference.weights import registry
from inference.weights.registry import CheckpointSpec

_SHA256 = re.compile(r"[0-9a-f]{64}")
OFF = "off"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingsError(DeepfakeDetectorError):
    """An environment variable has a value the engine cannot use."""


class UnpinnedCheckpointError(SettingsError):
    """DEEPFAKE_PINNED_ONLY is set and the chosen weights have no pin."""


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
    config_sha256: str | None = None
    pins: tuple[Pin, ...] = ()
    pinned_only: bool = False
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
    ray_address: str | None = None
    ray_actors: int = 0
    ray_cpus_per_actor: float = 1.0
    ray_gpus_per_actor: float = 1.0
    max_decode_pixels: int = 2000 * 1920 * 1080
    request_timeout_s: float = 300.0
    max_queued_per_visitor: int = 2
    upload_quota_mb: float = 2000.0
    upload_ttl_s: float = 600.0
    max_uploads: int = 100
    upload_timeout_s: float = 300.0
    uploads_per_visitor: int = 3
    upload_visitor_share: float = 0.5
    trusted_proxies: int = 0
    second_opinion: str = OFF
    second_opinion_path: str | None = None
    blazeface_path: str | None = None
    c2pa_trust_anchors: str | None = None
    allow_private_urls: bool = False
    link_timeout_s: float = 120.0
    link_max_duration_s: float = 600.0
    live_window_s: float = 3.0
    live_time_limit_s: float = 120.0
    live_max_streams: int = 1
    monitoring: bool = False

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
            config_sha256=(env.get("DEEPFAKE_CONFIG_SHA256") or "").strip().lower() or None,
            pins=_pins(env.get("DEEPFAKE_PINS") or ""),
            pinned_only=_flag(env, "DEEPFAKE_PINNED_ONLY"),
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
            ray_address=env.get("RAY_ADDRESS") or None,
            ray_actors=_number(env, "DEEPFAKE_RAY_ACTORS", 0, int),
            ray_cpus_per_actor=_number(env, "DEEPFAKE_RAY_CPUS_PER_ACTOR", 1.0, float),
            ray_gpus_per_actor=_number(env, "DEEPFAKE_RAY_GPUS_PER_ACTOR", 1.0, float),
            max_decode_pixels=_number(env, "DEEPFAKE_MAX_DECODE_PIXELS", 2000 * 1920 * 1080, int),
            request_timeout_s=_number(env, "DEEPFAKE_REQUEST_TIMEOUT_S", 300.0, float),
            max_queued_per_visitor=_number(env, "DEEPFAKE_MAX_QUEUED_PER_VISITOR", 2, int),
            upload_quota_mb=_number(env, "DEEPFAKE_UPLOAD_QUOTA_MB", 2000.0, float),
            upload_ttl_s=_number(env, "DEEPFAKE_UPLOAD_TTL_S", 600.0, float),
            max_uploads=_number(env, "DEEPFAKE_MAX_UPLOADS", 100, int),
            upload_timeout_s=_number(env, "DEEPFAKE_UPLOAD_TIMEOUT_S", 300.0, float),
            uploads_per_visitor=_number(env, "DEEPFAKE_UPLOADS_PER_VISITOR", 3, int),
            upload_visitor_share=_number(env, "DEEPFAKE_UPLOAD_VISITOR_SHARE", 0.5, float),
            # A Space (SPACE_ID set) runs behind one proxy of Hugging Face's.
            trusted_proxies=_number(env, "DEEPFAKE_TRUSTED_PROXIES", 1 if env.get("SPACE_ID") else 0, int),
            second_opinion=(env.get("DEEPFAKE_SECOND_OPINION") or registry.default_second_opinion()).strip(),
            second_opinion_path=env.get("DEEPFAKE_SECOND_OPINION_PATH") or None,
            blazeface_path=env.get("DEEPFAKE_BLAZEFACE_PATH") or None,
            c2pa_trust_anchors=env.get("DEEPFAKE_C2PA_TRUST_ANCHORS") or None,
            allow_private_urls=_flag(env, "DEEPFAKE_ALLOW_PRIVATE_URLS"),
            link_timeout_s=_number(env, "DEEPFAKE_LINK_TIMEOUT_S", 120.0, float),
            link_max_duration_s=_number(env, "DEEPFAKE_LINK_MAX_DURATION_S", 600.0, float),
            live_window_s=_number(env, "DEEPFAKE_LIVE_WINDOW_S", 3.0, float),
            live_time_limit_s=_number(env, "DEEPFAKE_LIVE_TIME_LIMIT_S", 120.0, float),
            live_max_streams=_number(env, "DEEPFAKE_LIVE_MAX_STREAMS", 1, int),
            monitoring=_flag(env, "DEEPFAKE_MONITORING"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` naming the first setting that is out of range.

        Raises:
            SettingsError: For a value out of range, a pin of an unknown entry or of a config
                the weights do not have.
            UnpinnedCheckpointError: If DEEPFAKE_PINNED_ONLY is set and the weights in use
                have no pin.
        """
        checks = [
            (self.checkpoint in registry.names(), "DEEPFAKE_CHECKPOINT", self.checkpoint),
            (_is_sha256(self.weights_sha256), "DEEPFAKE_WEIGHTS_SHA256", self.weights_sha256),
            (_is_sha256(self.config_sha256), "DEEPFAKE_CONFIG_SHA256", self.config_sha256),
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
            (self.ray_actors >= 0, "DEEPFAKE_RAY_ACTORS", self.ray_actors),
            (self.ray_cpus_per_actor > 0, "DEEPFAKE_RAY_CPUS_PER_ACTOR", self.ray_cpus_per_actor),
            (self.ray_gpus_per_actor > 0, "DEEPFAKE_RAY_GPUS_PER_ACTOR", self.ray_gpus_per_actor),
            (self.max_decode_pixels > 0, "DEEPFAKE_MAX_DECODE_PIXELS", self.max_decode_pixels),
            (self.request_timeout_s > 0, "DEEPFAKE_REQUEST_TIMEOUT_S", self.request_timeout_s),
            (
                self.max_queued_per_visitor >= 1,
                "DEEPFAKE_MAX_QUEUED_PER_VISITOR",
                self.max_queued_per_visitor,
            ),
            (self.upload_quota_mb > 0, "DEEPFAKE_UPLOAD_QUOTA_MB", self.upload_quota_mb),
            (self.upload_ttl_s > 0, "DEEPFAKE_UPLOAD_TTL_S", self.upload_ttl_s),
            (self.max_uploads >= 1, "DEEPFAKE_MAX_UPLOADS", self.max_uploads),
            (self.upload_timeout_s > 0, "DEEPFAKE_UPLOAD_TIMEOUT_S", self.upload_timeout_s),
            (self.uploads_per_visitor >= 1, "DEEPFAKE_UPLOADS_PER_VISITOR", self.uploads_per_visitor),
            (
                0 < self.upload_visitor_share <= 1,
                "DEEPFAKE_UPLOAD_VISITOR_SHARE",
                self.upload_visitor_share,
            ),
            (self.trusted_proxies >= 0, "DEEPFAKE_TRUSTED_PROXIES", self.trusted_proxies),
            (self.link_timeout_s > 0, "DEEPFAKE_LINK_TIMEOUT_S", self.link_timeout_s),
            (self.link_max_duration_s > 0, "DEEPFAKE_LINK_MAX_DURATION_S", self.link_max_duration_s),
            (self.live_window_s > 0, "DEEPFAKE_LIVE_WINDOW_S", self.live_window_s),
            (self.live_time_limit_s > 0, "DEEPFAKE_LIVE_TIME_LIMIT_S", self.live_time_limit_s),
            (self.live_max_streams >= 1, "DEEPFAKE_LIVE_MAX_STREAMS", self.live_max_streams),
            (
                self.second_opinion in self.second_opinions(),
                "DEEPFAKE_SECOND_OPINION",
                self.second_opinion,
            ),
        ]
        for ok, name, value in checks:
            if not ok:
                raise SettingsError(
                    f"{name}={value!r} is not allowed; see inference/settings.py or the README"
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

    def with_checkpoint(self, name: str) -> Settings:
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

    def _switched(self, name: str) -> Settings:
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


def _is_sha256(value: str | None) -> bool:
    return value is None or _SHA256.fullmatch(value) is not None


def _pins(raw: str) -> tuple[Pin, ...]:
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
        if not name or not _SHA256.fullmatch(weights) or (config and not _SHA256.fullmatch(config)):
            raise SettingsError(
                f"DEEPFAKE_PINS item {item!r} is not 'name=sha256' or 'name=weights_sha256:config_sha256' "
                "(each sha256 64 hex digits)"
            )
        if any(pin.name == name for pin in pins):
            raise SettingsError(f"DEEPFAKE_PINS pins {name!r} twice; give one pin per checkpoint")
        pins.append(Pin(name, weights, config or None))
    return tuple(pins)


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
