"""All weights I/O: turn a checkpoint spec into local files, from the Hugging Face Hub or a pinned URL."""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from http.client import HTTPException
from pathlib import Path
from typing import Any

import torch.hub
from huggingface_hub import constants, file_exists, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from inference.errors import WeightsIntegrityError, WeightsUnavailableError
from inference.weights.config import ModelConfig
from inference.weights.hub_cache import pinned_copy
from inference.weights.registry import CheckpointSpec, HubFile, UrlFile

logger = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "Set DEEPFAKE_WEIGHTS_PATH to a local .pt/.safetensors file, or DEEPFAKE_WEIGHTS_REPO "
    "(+ DEEPFAKE_WEIGHTS_FILE, DEEPFAKE_WEIGHTS_REVISION) to a reachable Hub repo, or "
    "DEEPFAKE_CHECKPOINT to another registered checkpoint; for offline use, pre-fill the "
    "Hugging Face cache (HF_HOME) with the file."
)


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights were used, for reports.

    Attributes:
        location: Where the file actually came from (a mirror when the first source failed).
        revision: The commit hash when known.
        sha256: Hex SHA-256 of the weights file used.
        config_sha256: Hex SHA-256 of the ``config.json`` used (``.safetensors`` weights); None
            for ``.pt`` weights, whose config comes from the registry.
        unavailable: Sources tried before the one that served, each with the reason.
    """

    name: str
    location: str
    repo_id: str | None
    filename: str | None
    revision: str | None
    reported_accuracy: float | None
    training_data: str | None
    accuracy_source: str | None
    sha256: str
    config_sha256: str | None = None
    unavailable: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the info as plain JSON types."""
        return asdict(self)


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint available on local disk, with the config that goes with it (and, from
    ``resolve(keep_bytes=True)``, the file's bytes whose sha256 is ``info.sha256``)."""

    weights_file: Path
    config: ModelConfig
    info: WeightsInfo
    data: bytes | None = field(default=None, repr=False, compare=False)


def resolve(spec: CheckpointSpec, keep_bytes: bool = False) -> ResolvedCheckpoint:
    """Make the checkpoint ``spec`` available locally, downloading it if needed.

    Hub sources are tried in order (the main upload, then the mirrors); the first that gives a
    file (matching ``spec.sha256`` when that is set, and for ``.safetensors`` a ``config.json``
    matching ``spec.config_sha256``) serves. ``.pt`` files use the default :class:`ModelConfig`
    with the frame count from the registry. The config is read once, hashed and parsed from the
    same bytes; the weights are hashed here and again, on the bytes loaded, by
    :func:`inference.models.network.read_state_dict`, unless ``keep_bytes``: then the bytes hashed
    come back as ``data`` for the loader to parse (a 226 MB file read and hashed once, not twice).

    Raises:
        WeightsUnavailableError: If no source gives the files (each source's reason is named).
            The message says what to set.
        WeightsIntegrityError: If a file does not match its pin (both hashes are named).
        CheckpointFormatError: If the config.json is not a valid config.
    """
    if spec.local_path:
        weights = Path(spec.local_path).expanduser()
        if not weights.is_file():
            raise WeightsUnavailableError(
                f"weights file {weights} does not exist (DEEPFAKE_WEIGHTS_PATH). {HOW_TO_CONFIGURE}"
            )
        digest, data = _verified_sha256(weights, spec.sha256, str(weights), keep_bytes)
        config_file = _local_config(weights) if weights.suffix == ".safetensors" else None
        config, config_digest = _checked_config(spec, weights, config_file, str(weights))
        revision, served, failures = None, None, []
    else:
        weights, digest, data, config, config_digest, served, failures = _first_available(spec, keep_bytes)
        revision = _snapshot_commit(weights) or getattr(served, "revision", None)
    info = WeightsInfo(
        name=spec.name,
        location=served.location if served else spec.location,
        repo_id=served.repo_id if isinstance(served, HubFile) else None,
        filename=served.filename if served else weights.name,
        revision=revision,
        reported_accuracy=spec.reported_accuracy,
        training_data=spec.training_data,
        accuracy_source=spec.accuracy_source,
        sha256=digest,
        config_sha256=config_digest,
        unavailable=tuple(failures),
    )
    logger.info(
        "weights %s resolved to %s (sha256 %s, config sha256 %s)",
        info.location,
        weights,
        digest,
        config_digest,
    )
    return ResolvedCheckpoint(weights_file=weights, config=config, info=info, data=data)


def _first_available(
    spec: CheckpointSpec, keep_bytes: bool
) -> tuple[Path, str, bytes | None, ModelConfig, str | None, HubFile | UrlFile, list[str]]:
    """Download from the first source that works.

    Returns:
        (weights file, its sha256, its bytes when kept, config, config sha256, the source,
        failures before it).
    """
    failures = []
    tampered = False
    for source in spec.all_sources():
        try:
            if isinstance(source, UrlFile):
                weights = _fetch_url(source, spec.sha256)
            else:
                weights = pinned_copy(source, spec.sha256, file_sha256) or _download(source, source.filename)
            digest, data = _verified_sha256(weights, spec.sha256, source.location, keep_bytes)
            config_file = _download(source, "config.json") if weights.suffix == ".safetensors" else None
            config, config_digest = _checked_config(spec, weights, config_file, source.location)
        except WeightsUnavailableError as exc:
            logger.warning("weights source %s unavailable: %s", source.location, exc.reason)
            failures.append(f"{source.location}: {exc.reason}")
            tampered |= isinstance(exc, WeightsIntegrityError)
            continue
        if failures:
            logger.warning("weights served by mirror %s", source.location)
        return weights, digest, data, config, config_digest, source, failures
    # A file that exists but does not match its pin is a different failure from a missing one.
    error = WeightsIntegrityError if tampered else WeightsUnavailableError
    raise error(
        f"no source of checkpoint {spec.name!r} could be used: "
        + "; ".join(failures)
        + f". {HOW_TO_CONFIGURE}"
    )


def available(spec: CheckpointSpec) -> bool:
    """Whether some source of ``spec`` can give its weights file now, without downloading it.

    A local file must exist; a Hub file must be in the local cache, or (online) exist on the
    Hub (one HEAD request per source). Used to offer visitors only weights that can load.
    """
    if spec.local_path:
        return Path(spec.local_path).expanduser().is_file()
    # A direct URL counts only once downloaded: checking it would need a request to its host.
    if any(_url_target(UrlFile(url), spec.sha256).is_file() for url in spec.urls):
        return True
    for source in spec.sources():
        filename = f"{source.subfolder}/{source.filename}" if source.subfolder else source.filename
        try:
            if isinstance(try_to_load_from_cache(source.repo_id, filename, revision=source.revision), str):
                return True
            if not constants.HF_HUB_OFFLINE and file_exists(
                source.repo_id, filename, revision=source.revision
            ):
                return True
        except (HfHubHTTPError, OSError, ValueError) as exc:
            logger.info("weights source %s not available: %s", source.location, _first_sentence(exc))
    return False


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, computed once per file version (path, size, mtime) per process."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_sha256(
    weights: Path, expected: str | None, where: str, keep_bytes: bool = False
) -> tuple[str, bytes | None]:
    """The file's sha256, checked against ``expected``; and with ``keep_bytes`` the bytes hashed."""
    data = weights.read_bytes() if keep_bytes else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(weights)
    if expected and digest != expected.lower():
        raise WeightsIntegrityError(
            f"{where} has sha256 {digest}, but {expected.lower()} is pinned (registry entry, "
            "DEEPFAKE_WEIGHTS_SHA256 or DEEPFAKE_PINS): the file was changed or replaced; it was not loaded",
            reason=f"sha256 {digest} does not match the pinned {expected.lower()}",
        )
    return digest, data


def _local_config(weights: Path) -> Path:
    config_file = weights.with_name("config.json")
    if not config_file.is_file():
        raise WeightsUnavailableError(
            f"{weights.name} needs a config.json beside it (frames, image_size, mean, std, "
            "labels); none was found",
            reason="no config.json beside the weights",
        )
    return config_file


def _checked_config(
    spec: CheckpointSpec, weights: Path, config_file: Path | None, where: str
) -> tuple[ModelConfig, str | None]:
    """The config that goes with ``weights``, and the sha256 of the config.json it was read from.

    ``config_file`` (given for ``.safetensors`` weights) is read once, checked against
    ``spec.config_sha256`` and parsed from the bytes that were hashed. ``.pt`` weights get the
    default config with the registry's frame count, and no config hash.
    """
    if config_file is None:
        if spec.config_sha256:
            raise WeightsIntegrityError(
                f"a config.json sha256 is pinned for {weights.name}, but .pt weights have no "
                "config.json (their config comes from the registry); unset DEEPFAKE_CONFIG_SHA256 "
                "or the config part of the DEEPFAKE_PINS entry",
                reason="a config.json sha256 is pinned, but .pt weights have no config.json",
            )
        return (ModelConfig(frames=spec.frames) if spec.frames else ModelConfig()), None
    try:
        content = config_file.read_bytes()
    except OSError as exc:
        raise WeightsUnavailableError(
            f"cannot read {config_file}: {exc.strerror or exc}", reason=f"cannot read config.json: {exc}"
        ) from exc
    digest = hashlib.sha256(content).hexdigest()
    expected = spec.config_sha256.lower() if spec.config_sha256 else None
    if expected and digest != expected:
        raise WeightsIntegrityError(
            f"the config.json of {where} has sha256 {digest}, but {expected} is pinned (registry "
            "entry, DEEPFAKE_CONFIG_SHA256 or DEEPFAKE_PINS): it sets the label order and "
            "preprocessing, so it was changed or replaced; the weights were not loaded",
            reason=f"config.json sha256 {digest} does not match the pinned {expected}",
        )
    return ModelConfig.from_json_bytes(content, f"{where} config.json"), digest


# Checked in order: subclasses (gated, local miss) before their bases.
_REASONS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (
        (LocalEntryNotFoundError, OfflineModeIsEnabled),
        "the Hub is unreachable (offline) and the file is not in the local cache",
    ),
    (GatedRepoError, "the repo is gated; use a token (HF_TOKEN) that has access"),
    (RepositoryNotFoundError, "the repo does not exist or is private"),
    (RevisionNotFoundError, "the revision does not exist"),
    (EntryNotFoundError, "the repo has no such file"),
)


def _download(source: HubFile, filename: str) -> Path:
    try:
        path = hf_hub_download(
            repo_id=source.repo_id,
            filename=filename,
            subfolder=source.subfolder,
            revision=source.revision,
        )
    except HFValidationError as exc:
        # A malformed repo id ("me/my weights", "a/b/c"): this source cannot serve, the next may.
        reason = f"{source.repo_id!r} is not a valid Hub repo id ({_first_sentence(exc)})"
        raise WeightsUnavailableError(
            f"cannot get {filename}: {reason}. {HOW_TO_CONFIGURE}", reason=reason
        ) from exc
    except ValueError as exc:
        # hf_hub_download's other argument checks (file name, folder): they come from settings.
        reason = f"the Hub location is not valid ({_first_sentence(exc)})"
        raise WeightsUnavailableError(
            f"cannot get {filename} from {source.repo_id}: {reason}. {HOW_TO_CONFIGURE}", reason=reason
        ) from exc
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as exc:
        reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), str(exc))
        raise WeightsUnavailableError(
            f"cannot get {filename} from {source.repo_id} (subfolder {source.subfolder!r}, "
            f"revision {source.revision or 'main'}): {reason}. {HOW_TO_CONFIGURE}",
            reason=reason,
        ) from exc
    return Path(path)


URL_TIMEOUT_S = 30.0
URL_CHUNK = 1 << 20


def _url_target(source: UrlFile, sha256: str | None) -> Path:
    """Where a direct download is kept: torch's hub cache (TORCH_HOME), in a folder of this
    project named by the pinned hash, so that no other project's file of the same name is used."""
    return (
        Path(torch.hub.get_dir())
        / "checkpoints"
        / "deepfake-detector"
        / (sha256 or "unpinned")
        / source.filename
    )


def _fetch_url(source: UrlFile, sha256: str | None) -> Path:
    """A direct download, from the cache when there and intact, else fetched and checked.

    The download streams to a temporary file beside the target with a timeout on every network
    operation (:data:`URL_TIMEOUT_S`), is hashed while written, and is moved into place only
    when it has the pinned sha256. A cached file that no longer has it is replaced.

    Raises:
        WeightsUnavailableError: Offline (HF_HUB_OFFLINE=1, the one offline switch) and not
            cached, or the download failed.
        WeightsIntegrityError: If the downloaded bytes do not have the pinned sha256.
    """
    target = _url_target(source, sha256)
    if target.is_file():
        if not sha256 or file_sha256(target) == sha256.lower():
            return target
        logger.warning("cached %s does not have its pinned sha256; downloading it again", target)
        target.unlink(missing_ok=True)
    if constants.HF_HUB_OFFLINE:
        reason = "offline (HF_HUB_OFFLINE=1) and not downloaded before"
        raise WeightsUnavailableError(f"cannot get {source.url}: {reason}", reason=reason)
    if not sha256:
        logger.warning("downloading %s without a sha256 pin", source.url)
    partial = target.with_name(target.name + ".part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _download_to(source.url, partial)
    except (OSError, HTTPException, ValueError) as exc:
        partial.unlink(missing_ok=True)
        reason = f"download failed ({_first_sentence(exc)})"
        raise WeightsUnavailableError(f"cannot get {source.url}: {reason}", reason=reason) from exc
    if sha256 and digest != sha256.lower():
        partial.unlink(missing_ok=True)
        reason = f"the download has sha256 {digest}, not the pinned {sha256.lower()}"
        raise WeightsIntegrityError(f"{source.url}: {reason}; it was not kept", reason=reason)
    partial.replace(target)
    return target


def _download_to(url: str, path: Path) -> str:
    """Stream ``url`` (http or https) into ``path``; returns the hex sha256 of what was written."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http and https downloads are allowed, not {url!r}")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response, path.open("wb") as out:
        while chunk := response.read(URL_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _snapshot_commit(path: Path) -> str | None:
    """Commit hash from a cache path ``.../snapshots/<commit>/...``, or None."""
    parts = path.parts
    if "snapshots" in parts:
        index = parts.index("snapshots")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _first_sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text.split(". ")[0].rstrip(".") if text else type(exc).__name__
