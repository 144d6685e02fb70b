"""Weights resolution through the real hf_hub_download, offline, and the settings around it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import FAKE_COMMIT, put_in_hub_cache
from safetensors.torch import save_file

from inference.errors import WeightsIntegrityError, WeightsUnavailableError
from inference.settings import Settings, SettingsError
from inference.weights import registry
from inference.weights.hub import resolve
from inference.weights.registry import CheckpointSpec, HubFile


def test_default_checkpoint_resolves_from_hub_cache(hub_cache: Path):
    resolved = resolve(Settings.from_env({}).checkpoint_spec())
    spec = registry.get(registry.default_name())
    assert resolved.weights_file.is_file()
    assert resolved.weights_file.parts[-3:] == ("deepfake_detection", "resnext", spec.filename)
    assert resolved.info.repo_id == spec.repo_id
    assert resolved.info.revision == FAKE_COMMIT
    assert resolved.config.frames == spec.frames == 100
    assert resolved.config.labels == ("FAKE", "REAL")


def test_env_override_points_at_another_repo(hub_cache: Path, checkpoint_file: Path):
    put_in_hub_cache(hub_cache, "someone/other-weights", "weights/custom.pt", checkpoint_file, "f" * 40)
    env = {
        "DEEPFAKE_WEIGHTS_REPO": "someone/other-weights",
        "DEEPFAKE_WEIGHTS_FILE": "custom.pt",
        "DEEPFAKE_WEIGHTS_SUBFOLDER": "weights",
    }
    resolved = resolve(Settings.from_env(env).checkpoint_spec())
    assert resolved.info.repo_id == "someone/other-weights"
    assert resolved.info.revision == "f" * 40
    assert resolved.weights_file.name == "custom.pt"


def test_offline_and_not_cached_says_what_to_set(hub_cache: Path):
    spec = CheckpointSpec(name="x", repo_id="nobody/not-cached", filename="model.pt")
    with pytest.raises(WeightsUnavailableError) as info:
        resolve(spec)
    message = str(info.value)
    assert "nobody/not-cached" in message
    assert "offline" in message
    assert "DEEPFAKE_WEIGHTS_PATH" in message


def test_file_missing_from_cached_repo(hub_cache: Path):
    spec = registry.get(registry.default_name())
    missing = CheckpointSpec(name="x", repo_id=spec.repo_id, filename="no_such_file.pt")
    with pytest.raises(WeightsUnavailableError, match="no_such_file.pt"):
        resolve(missing)


def test_missing_local_path():
    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": "/nonexistent/model.pt"})
    with pytest.raises(WeightsUnavailableError, match="DEEPFAKE_WEIGHTS_PATH"):
        resolve(settings.checkpoint_spec())


def test_local_path_wins_over_registry(checkpoint_file: Path):
    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(checkpoint_file)})
    resolved = resolve(settings.checkpoint_spec())
    assert resolved.weights_file == checkpoint_file
    assert resolved.info.location == str(checkpoint_file)
    assert resolved.config.frames == 100  # read from the public file name


def test_registry_lists_known_checkpoints():
    names = registry.names()
    assert names[0] == registry.default_name()
    for name in names:
        spec = registry.get(name)
        assert spec.repo_id and spec.filename.endswith(".pt") and spec.frames


def test_unknown_checkpoint_name():
    with pytest.raises(SettingsError, match="DEEPFAKE_CHECKPOINT='nope'"):
        Settings.from_env({"DEEPFAKE_CHECKPOINT": "nope"})
    with pytest.raises(
        WeightsUnavailableError, match="unknown checkpoint 'nope'; known checkpoints: resnext"
    ):
        Settings.from_env({}).with_checkpoint("nope")


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEEPFAKE_MAX_FRAMES", "many"), ("DEEPFAKE_DEVICE", "tpu"), ("DEEPFAKE_MIN_FACE_FRACTION", "0")],
)
def test_bad_settings_name_the_variable(name: str, value: str):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_gone_main_upload(spec: CheckpointSpec) -> CheckpointSpec:
    """``spec`` whose main upload has vanished, with the real file as its second mirror."""
    real = spec.sources()[0]
    return replace(
        spec,
        repo_id="gone/deleted-upload",
        mirrors=(HubFile("gone/also-deleted", real.filename, real.subfolder), real),
    )


def test_a_vanished_upload_is_served_by_the_next_mirror(hub_cache: Path, checkpoint_file: Path):
    spec = with_gone_main_upload(registry.get(registry.default_name()))
    resolved = resolve(spec)
    assert resolved.info.repo_id == "ishandutta/mukh-models"
    assert resolved.info.location.startswith("ishandutta/mukh-models:deepfake_detection/resnext/")
    assert [failure.split(":")[0] for failure in resolved.info.unavailable] == [
        "gone/deleted-upload",
        "gone/also-deleted",
    ]
    assert resolved.info.sha256 == sha256_of(checkpoint_file) == sha256_of(resolved.weights_file)


def test_sha256_mismatch_is_refused(hub_cache: Path, checkpoint_file: Path):
    spec = replace(registry.get(registry.default_name()), sha256="0" * 64)
    with pytest.raises(WeightsIntegrityError, match=r"sha256 .* does not match the pinned 0000"):
        resolve(spec)
    pinned = replace(spec, sha256=sha256_of(checkpoint_file).upper())
    assert resolve(pinned).info.sha256 == sha256_of(checkpoint_file)


def test_sha256_pin_from_the_environment(checkpoint_file: Path):
    env = {"DEEPFAKE_WEIGHTS_PATH": str(checkpoint_file), "DEEPFAKE_WEIGHTS_SHA256": "ab" * 32}
    with pytest.raises(WeightsIntegrityError, match="DEEPFAKE_WEIGHTS_SHA256"):
        resolve(Settings.from_env(env).checkpoint_spec())
    with pytest.raises(SettingsError, match="DEEPFAKE_WEIGHTS_SHA256"):
        Settings.from_env({"DEEPFAKE_WEIGHTS_SHA256": "not-a-hash"})


def test_a_bad_mirror_is_skipped_when_pinned(hub_cache: Path, checkpoint_file: Path, tmp_path: Path):
    spec = registry.get(registry.default_name())
    impostor = tmp_path / "impostor.pt"
    impostor.write_bytes(checkpoint_file.read_bytes() + b"tampered")
    put_in_hub_cache(hub_cache, "someone/impostor", spec.filename, impostor, "e" * 40)
    pinned = replace(
        spec,
        repo_id="someone/impostor",
        subfolder=None,
        mirrors=(spec.sources()[0],),
        sha256=sha256_of(checkpoint_file),
    )
    resolved = resolve(pinned)
    assert resolved.info.repo_id == "ishandutta/mukh-models"
    assert "does not match the pinned" in resolved.info.unavailable[0]


def small_safetensors(folder: Path, labels: list[str]) -> tuple[Path, Path]:
    """A tiny .safetensors file (resolve only hashes it) and its config.json with ``labels``."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / "model.safetensors"
    save_file({"x": torch.arange(4.0)}, weights)
    config = folder / "config.json"
    config.write_text(json.dumps({"frames": 20, "labels": labels}))
    return weights, config


def test_a_swapped_config_is_refused_under_its_pin(tmp_path: Path):
    weights, config = small_safetensors(tmp_path, ["FAKE", "REAL"])
    pinned = CheckpointSpec(
        name="st", local_path=str(weights), sha256=sha256_of(weights), config_sha256=sha256_of(config)
    )
    resolved = resolve(pinned)
    assert resolved.config.labels == ("FAKE", "REAL")
    assert (resolved.info.sha256, resolved.info.config_sha256) == (sha256_of(weights), sha256_of(config))
    assert resolved.info.to_dict()["config_sha256"] == sha256_of(config)
    good = sha256_of(config)
    config.write_text(json.dumps({"frames": 20, "labels": ["REAL", "FAKE"]}))  # every verdict inverted
    with pytest.raises(WeightsIntegrityError) as info:
        resolve(pinned)
    assert f"config.json of {weights} has sha256 {sha256_of(config)}, but {good} is pinned" in str(info.value)
    env = {
        "DEEPFAKE_WEIGHTS_PATH": str(weights),
        "DEEPFAKE_WEIGHTS_SHA256": sha256_of(weights),
        "DEEPFAKE_CONFIG_SHA256": good,
    }
    with pytest.raises(WeightsIntegrityError, match="DEEPFAKE_CONFIG_SHA256"):
        resolve(Settings.from_env(env).checkpoint_spec())
    # Unpinned, the config is still reported by its hash.
    assert resolve(CheckpointSpec(name="st", local_path=str(weights))).info.config_sha256 == sha256_of(config)


def test_a_mirror_with_a_changed_config_is_skipped(hub_cache: Path, tmp_path: Path):
    weights, config = small_safetensors(tmp_path / "good", ["FAKE", "REAL"])
    _, swapped = small_safetensors(tmp_path / "bad", ["REAL", "FAKE"])
    for repo, config_file in (("someone/swapped-config", swapped), ("someone/good-config", config)):
        put_in_hub_cache(hub_cache, repo, "model.safetensors", weights, "c" * 40)
        put_in_hub_cache(hub_cache, repo, "config.json", config_file, "c" * 40)
    spec = CheckpointSpec(
        name="st",
        repo_id="someone/swapped-config",
        filename="model.safetensors",
        mirrors=(HubFile("someone/good-config", "model.safetensors"),),
        sha256=sha256_of(weights),
        config_sha256=sha256_of(config),
    )
    resolved = resolve(spec)
    assert resolved.info.repo_id == "someone/good-config"
    assert resolved.config.labels == ("FAKE", "REAL")
    assert resolved.info.config_sha256 == sha256_of(config)
    assert "config.json sha256" in resolved.info.unavailable[0]


def test_pt_weights_report_no_config_hash(hub_cache: Path):
    info = resolve(Settings.from_env({}).checkpoint_spec()).info
    assert info.config_sha256 is None and info.to_dict()["config_sha256"] is None


def test_an_operator_pin_checks_the_entry_a_visitor_chose(hub_cache: Path, checkpoint_file: Path):
    other = next(name for name in registry.names() if name != registry.default_name())
    spec = registry.get(other)
    put_in_hub_cache(hub_cache, str(spec.repo_id), str(spec.filename), checkpoint_file)
    chosen = Settings.from_env({"DEEPFAKE_PINS": f"{other}={'0' * 64}"}).with_checkpoint(other)
    with pytest.raises(WeightsIntegrityError, match="does not match the pinned 0000"):
        resolve(chosen.checkpoint_spec())
    right = Settings.from_env({"DEEPFAKE_PINS": f"{other}={sha256_of(checkpoint_file)}"})
    assert resolve(right.with_checkpoint(other).checkpoint_spec()).info.sha256 == sha256_of(checkpoint_file)


@pytest.mark.parametrize("repo", ["me/my weights", "a/b/c"])
def test_a_malformed_repo_id_is_a_listed_reason(hub_cache: Path, repo: str):
    with pytest.raises(WeightsUnavailableError) as info:
        resolve(Settings.from_env({"DEEPFAKE_WEIGHTS_REPO": repo}).checkpoint_spec())
    assert f"{repo!r} is not a valid Hub repo id" in str(info.value)
    assert "DEEPFAKE_WEIGHTS_REPO" in str(info.value)
    # A malformed mirror entry does not end the fallback.
    spec = registry.get(registry.default_name())
    real = spec.sources()[0]
    broken = replace(spec, repo_id=repo, mirrors=(real,))
    resolved = resolve(broken)
    assert resolved.info.repo_id == real.repo_id
    assert resolved.info.unavailable[0].startswith(f"{repo}:")
    assert "is not a valid Hub repo id" in resolved.info.unavailable[0]
