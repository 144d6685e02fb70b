"""Weights resolution through the real hf_hub_download, offline, and the settings around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FAKE_COMMIT, put_in_hub_cache

from inference import registry
from inference.errors import WeightsUnavailableError
from inference.hub import resolve
from inference.registry import CheckpointSpec
from inference.settings import Settings, SettingsError


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
