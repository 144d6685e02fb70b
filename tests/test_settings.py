"""Settings: operator pins per checkpoint, pinned-only mode, and the documented defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inference import settings
from inference.settings import Settings, SettingsError, UnpinnedCheckpointError
from inference.weights import registry

DEFAULT = registry.default_name()
OTHER = next(name for name in registry.names() if name != DEFAULT)
WEIGHTS_PIN = "ab" * 32
OTHER_PIN = "cd" * 32


def test_naming_the_checkpoint_in_use_keeps_its_pins():
    base = Settings.from_env({"DEEPFAKE_WEIGHTS_SHA256": WEIGHTS_PIN})
    assert base.with_checkpoint(DEFAULT) == base
    assert base.with_checkpoint(DEFAULT).checkpoint_spec().sha256 == WEIGHTS_PIN
    # Another entry is another file: the pin of the file in use does not follow it.
    assert base.with_checkpoint(OTHER).checkpoint_spec().sha256 is None


def test_operator_pins_cover_the_entries_visitors_can_choose():
    env = {"DEEPFAKE_PINS": f" {OTHER}={OTHER_PIN.upper()} , {DEFAULT}={WEIGHTS_PIN}"}
    base = Settings.from_env(env)
    assert base.checkpoint_spec().sha256 == WEIGHTS_PIN
    assert base.with_checkpoint(OTHER).checkpoint_spec().sha256 == OTHER_PIN
    # DEEPFAKE_WEIGHTS_SHA256 names the file in use and wins over its DEEPFAKE_PINS entry.
    override = Settings.from_env({**env, "DEEPFAKE_WEIGHTS_SHA256": "ef" * 32})
    assert override.checkpoint_spec().sha256 == "ef" * 32
    assert override.with_checkpoint(OTHER).checkpoint_spec().sha256 == OTHER_PIN


def test_pinned_only_refuses_unpinned_entries():
    with pytest.raises(UnpinnedCheckpointError, match=f"checkpoint '{DEFAULT}' may not be used"):
        Settings.from_env({"DEEPFAKE_PINNED_ONLY": "1"})
    base = Settings.from_env({"DEEPFAKE_PINNED_ONLY": "1", "DEEPFAKE_PINS": f"{DEFAULT}={WEIGHTS_PIN}"})
    assert base.allowed_checkpoints() == [DEFAULT]
    with pytest.raises(UnpinnedCheckpointError, match=f"DEEPFAKE_PINS='{OTHER}=<weights sha256>'"):
        base.with_checkpoint(OTHER)
    with pytest.raises(UnpinnedCheckpointError, match="it has no pin"):
        Settings.from_env({"DEEPFAKE_PINNED_ONLY": "1", "DEEPFAKE_CHECKPOINT": OTHER})
    # The file in use may be pinned by DEEPFAKE_WEIGHTS_SHA256 alone.
    own = Settings.from_env({"DEEPFAKE_PINNED_ONLY": "yes", "DEEPFAKE_WEIGHTS_SHA256": WEIGHTS_PIN})
    assert own.allowed_checkpoints() == [DEFAULT]
    assert own.with_checkpoint(DEFAULT) == own
    both = Settings.from_env(
        {"DEEPFAKE_PINNED_ONLY": "1", "DEEPFAKE_PINS": f"{DEFAULT}={WEIGHTS_PIN},{OTHER}={OTHER_PIN}"}
    )
    assert both.allowed_checkpoints() == registry.names()
    assert Settings.from_env({}).allowed_checkpoints() == registry.names()


def test_pinned_only_covers_a_local_safetensors_config():
    env = {
        "DEEPFAKE_PINNED_ONLY": "1",
        "DEEPFAKE_WEIGHTS_PATH": "/models/model.safetensors",
        "DEEPFAKE_WEIGHTS_SHA256": WEIGHTS_PIN,
    }
    with pytest.raises(UnpinnedCheckpointError, match="its config.json has no pin"):
        Settings.from_env(env)
    spec = Settings.from_env({**env, "DEEPFAKE_CONFIG_SHA256": OTHER_PIN}).checkpoint_spec()
    assert (spec.sha256, spec.config_sha256) == (WEIGHTS_PIN, OTHER_PIN)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEEPFAKE_PINS": f"{DEFAULT}=abc"}, "DEEPFAKE_PINS item"),
        ({"DEEPFAKE_PINS": WEIGHTS_PIN}, "DEEPFAKE_PINS item"),
        ({"DEEPFAKE_PINS": f"nope={WEIGHTS_PIN}"}, "DEEPFAKE_PINS pins 'nope', which is not a registered"),
        ({"DEEPFAKE_PINS": f"{DEFAULT}={WEIGHTS_PIN},{DEFAULT}={OTHER_PIN}"}, "twice"),
        ({"DEEPFAKE_PINS": f"{DEFAULT}={WEIGHTS_PIN}:{OTHER_PIN}"}, "whose .pt weights have no config.json"),
        ({"DEEPFAKE_CONFIG_SHA256": WEIGHTS_PIN}, "DEEPFAKE_CONFIG_SHA256 is set, but the weights in use"),
        ({"DEEPFAKE_CONFIG_SHA256": "xyz", "DEEPFAKE_WEIGHTS_PATH": "m.safetensors"}, "CONFIG_SHA256='xyz'"),
        ({"DEEPFAKE_PINNED_ONLY": "maybe"}, "DEEPFAKE_PINNED_ONLY='maybe'"),
    ],
)
def test_bad_pins_name_the_variable(env: dict[str, str], message: str):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)


def _documented() -> dict[str, str]:
    """Variable -> default column of the table in the settings module's docstring."""
    rows = re.findall(r"^\| (DEEPFAKE_\w+) \| .* \| ([^|]+) \|$", settings.__doc__ or "", re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_docstring_table_lists_every_variable_with_its_default():
    documented = _documented()
    source = Path(settings.__file__).read_text(encoding="utf-8").split('"""', 2)[2]
    assert set(documented) == set(re.findall(r'"(DEEPFAKE_\w+)"', source))
    defaults = Settings(checkpoint=DEFAULT)
    numeric = 0
    for name, default in documented.items():
        number = re.match(r"-?\d+(\.\d+)?(?=\s|$)", default)
        if number:
            field = name.removeprefix("DEEPFAKE_").lower()
            assert getattr(defaults, field) == float(number.group()), name
            numeric += 1
    assert numeric >= 10
