"""The network reproduces the original app's per-frame computation and rejects bad files."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import random_state_dict
from safetensors.torch import save_file

from benchmarks.original import ORIGINAL_TRANSFORM, OriginalModel
from inference.errors import CheckpointFormatError, WeightsIntegrityError, WeightsUnavailableError
from inference.models.classifier import Classifier
from inference.models.network import build_network, read_state_dict
from inference.models.preprocess import crops_to_tensor
from inference.weights.config import ModelConfig
from inference.weights.hub import resolve
from inference.weights.registry import CheckpointSpec


def random_crops(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (int(rng.integers(60, 200)), int(rng.integers(60, 200)), 3), dtype=np.uint8)
        for _ in range(count)
    ]


def test_preprocessing_matches_original_transform():
    crops = random_crops(4)
    ours = crops_to_tensor(crops, ModelConfig())
    theirs = torch.stack([ORIGINAL_TRANSFORM(c) for c in crops])
    assert ours.shape == (4, 3, 112, 112)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_per_frame_scores_match_original_forward(checkpoint_file: Path):
    state = read_state_dict(checkpoint_file)
    original = OriginalModel().eval()
    original.load_state_dict(state, strict=True)
    network = build_network(state)
    crops = random_crops(12, seed=1)  # more than one batch of the classifier
    batch = torch.stack([ORIGINAL_TRANSFORM(c) for c in crops])
    with torch.inference_mode():
        ours = torch.softmax(network(batch), dim=1)
        # The original app reported the last frame of the sequence it was given; feeding it
        # the first k+1 frames gives frame k's score as the original computed it.
        theirs = torch.cat(
            [torch.softmax(original(batch[: k + 1].unsqueeze(0))[1], dim=1) for k in range(len(crops))]
        )
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
    # The production path (batching, backend choice) gives the same fake probabilities.
    classifier = Classifier(network, ModelConfig(), None, torch.device("cpu"))
    np.testing.assert_allclose(classifier.fake_probabilities(crops), theirs[:, 0].numpy(), atol=1e-5)


def test_classifier_probabilities_are_fake_column(checkpoint_file: Path):
    spec = CheckpointSpec(name="t", local_path=str(checkpoint_file), frames=20)
    classifier = Classifier.load(resolve(spec), torch.device("cpu"))
    crops = random_crops(3, seed=2)
    probs = classifier.fake_probabilities(crops)
    with torch.inference_mode():
        logits = classifier.network(crops_to_tensor(crops, classifier.config))
    expected = torch.softmax(logits, 1)[:, 0].double().numpy()
    assert probs.shape == (3,)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    assert classifier.config.frames == 20


def test_missing_and_unexpected_keys_are_named(checkpoint_file: Path):
    state = read_state_dict(checkpoint_file)
    del state["lstm.weight_hh_l0"]
    state["lstm.bias_ih_l0"] = torch.zeros(8192)
    with pytest.raises(
        CheckpointFormatError,
        match=r"1 missing keys \[lstm.weight_hh_l0\].*1 unexpected keys \[lstm.bias_ih_l0\]",
    ):
        build_network(state)


def test_wrong_shape_is_named(checkpoint_file: Path):
    state = read_state_dict(checkpoint_file)
    state["linear1.weight"] = torch.zeros(3, 2048)
    with pytest.raises(CheckpointFormatError, match=r"linear1.weight \(3, 2048\) != \(2, 2048\)"):
        build_network(state)


def test_truncated_file_is_refused(checkpoint_file: Path, tmp_path: Path):
    broken = tmp_path / "truncated.pt"
    broken.write_bytes(checkpoint_file.read_bytes()[:10_000_000])
    with pytest.raises(CheckpointFormatError, match="truncated.pt is not a readable checkpoint"):
        read_state_dict(broken)


class _Exploit:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_that_runs_code_is_not_executed(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Exploit(marker)}, evil, pickle_module=pickle)
    with pytest.raises(CheckpointFormatError, match="nothing in it was executed"):
        read_state_dict(evil)
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the unsafe way: shows the file really is an exploit
    assert marker.exists()


def test_non_tensor_state_is_refused(tmp_path: Path):
    odd = tmp_path / "odd.pt"
    torch.save({"epoch": 3}, odd)
    with pytest.raises(CheckpointFormatError, match="state_dict of tensors"):
        read_state_dict(odd)


def test_safetensors_with_config(checkpoint_file: Path, tmp_path: Path):
    state = read_state_dict(checkpoint_file)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "model.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"frames": 40, "image_size": 112}))
    resolved = resolve(CheckpointSpec(name="st", local_path=str(tmp_path / "model.safetensors")))
    assert resolved.config.frames == 40
    classifier = Classifier.load(resolved, torch.device("cpu"))
    reference = Classifier.load(
        resolve(CheckpointSpec(name="pt", local_path=str(checkpoint_file))), torch.device("cpu")
    )
    crops = random_crops(2, seed=3)
    np.testing.assert_allclose(classifier.fake_probabilities(crops), reference.fake_probabilities(crops))


def test_safetensors_without_config_is_refused(checkpoint_file: Path, tmp_path: Path):
    save_file({"x": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(WeightsUnavailableError, match="needs a config.json"):
        resolve(CheckpointSpec(name="st", local_path=str(tmp_path / "model.safetensors")))


def test_a_loaded_model_does_not_change_with_its_file(checkpoint_file: Path, tmp_path: Path):
    weights = tmp_path / "model_97_acc_20_frames_FF_data.pt"
    shutil.copyfile(checkpoint_file, weights)
    classifier = Classifier.load(
        resolve(CheckpointSpec(name="t", local_path=str(weights))), torch.device("cpu")
    )
    crops = random_crops(3, seed=4)
    before = classifier.fake_probabilities(crops)
    # What re-saving weights to the same path does: truncate, then write other bytes in place.
    torch.save(random_state_dict(seed=1), weights)
    np.testing.assert_array_equal(classifier.fake_probabilities(crops), before)
    # A file cut short under a memory map kills the process (SIGBUS); an in-memory copy is unaffected.
    with open(weights, "r+b") as handle:
        handle.truncate(1000)
    np.testing.assert_array_equal(classifier.fake_probabilities(crops), before)


def test_bytes_that_are_not_the_checked_ones_are_not_loaded(checkpoint_file: Path, tmp_path: Path):
    weights = tmp_path / "model.pt"
    shutil.copyfile(checkpoint_file, weights)
    checked = resolve(CheckpointSpec(name="t", local_path=str(weights))).info.sha256
    assert read_state_dict(weights, checked).keys() == read_state_dict(checkpoint_file).keys()
    torch.save(random_state_dict(seed=2), weights)  # replaced between the check and the load
    now = hashlib.sha256(weights.read_bytes()).hexdigest()
    with pytest.raises(WeightsIntegrityError, match=f"it now has sha256 {now}, but {checked} was checked"):
        read_state_dict(weights, checked)


def test_weights_replaced_after_the_check_are_not_loaded(checkpoint_file: Path, tmp_path: Path):
    weights = tmp_path / "model.pt"
    shutil.copyfile(checkpoint_file, weights)
    resolved = resolve(CheckpointSpec(name="t", local_path=str(weights)))
    torch.save(random_state_dict(seed=2), weights)  # between the check (resolve) and the load
    with pytest.raises(WeightsIntegrityError, match=f"but {resolved.info.sha256} was checked"):
        Classifier.load(resolved, torch.device("cpu"))


def test_bytes_kept_by_resolve_are_the_ones_loaded(checkpoint_file: Path, tmp_path: Path):
    weights = tmp_path / "model.pt"
    shutil.copyfile(checkpoint_file, weights)
    resolved = resolve(CheckpointSpec(name="t", local_path=str(weights)), keep_bytes=True)
    assert resolved.info.sha256 == hashlib.sha256(checkpoint_file.read_bytes()).hexdigest()
    assert resolved.data == checkpoint_file.read_bytes()
    torch.save(random_state_dict(seed=2), weights)  # between the check (resolve) and the load
    # Read and hashed once: the bytes parsed are those hashed, whatever the file holds now.
    loaded = Classifier.load(resolved, torch.device("cpu")).network.state_dict()
    expected = random_state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
