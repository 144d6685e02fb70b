"""The compiled runtime (OpenVINO, f32) scores real faces as the eager PyTorch networks do.

Both networks have random weights in the public formats, their batch-norm statistics taken from
the same real faces (from a shared clip), so that activations and scores spread as a trained
network's do rather than all sitting at one value.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import random_state_dict, shared_clip

from benchmarks.networks import calibrated
from inference.errors import SettingsError
from inference.faces.detect import crop, detect_faces
from inference.models import runtime
from inference.models.classifier import Classifier
from inference.models.efficientnet import AUTOATT, IcprScorer, build, to_tensor
from inference.models.network import build_network
from inference.models.preprocess import crops_to_tensor
from inference.settings import Settings
from inference.weights.config import ModelConfig

CLIP = "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4"
FACES = 11  # more than one batch of either network, the last one partial
TOLERANCE = 1e-5  # fake probability


@pytest.fixture(scope="module")
def faces_bgr() -> list[np.ndarray]:
    """Real face crops (H, W, 3) uint8 BGR, one per frame, from a shared clip."""
    capture = cv2.VideoCapture(str(shared_clip(CLIP)))
    found: list[np.ndarray] = []
    while len(found) < FACES:
        ok, frame = capture.read()
        assert ok, f"{CLIP} has fewer than {FACES} frames with a face"
        boxes = detect_faces(frame)
        if boxes:
            found.append(crop(frame, boxes[0]))
    capture.release()
    return found


def _spread(probabilities: np.ndarray) -> None:
    # Scores all at one value would let a broken runtime pass.
    assert np.ptp(probabilities) > 1e-3, probabilities


def test_resnext_compiled_equals_eager(faces_bgr: list[np.ndarray], tmp_path: Path):
    network = calibrated(build_network(random_state_dict()), crops_to_tensor(faces_bgr, ModelConfig()))
    config = ModelConfig()
    eager = Classifier(network, config, None, torch.device("cpu"))
    compiled = Classifier(
        network, config, None, torch.device("cpu"), runtime=runtime.Runtime(cache_dir=str(tmp_path))
    )
    assert compiled.compiled is not None and eager.compiled is None
    expected = eager.fake_probabilities(faces_bgr)
    _spread(expected)
    np.testing.assert_allclose(compiled.fake_probabilities(faces_bgr), expected, rtol=0, atol=TOLERANCE)
    # A live stream scores on one thread: its own compilation, the same scores.
    np.testing.assert_allclose(
        compiled.fake_probabilities(faces_bgr, threads=1), expected, rtol=0, atol=TOLERANCE
    )
    temporal = ModelConfig(kind="temporal", frames=4)
    eager.config = compiled.config = temporal
    np.testing.assert_allclose(
        compiled.window_probabilities(faces_bgr),
        eager.window_probabilities(faces_bgr),
        rtol=0,
        atol=TOLERANCE,
    )


def test_efficientnet_compiled_equals_eager(faces_bgr: list[np.ndarray], tmp_path: Path):
    faces_rgb = [cv2.cvtColor(cv2.resize(face, (224, 224)), cv2.COLOR_BGR2RGB) for face in faces_bgr]
    torch.manual_seed(1)
    network = calibrated(build(AUTOATT), to_tensor(faces_rgb))
    with torch.no_grad():  # logits spread over a few units, as a trained detector's do
        network.classifier.weight.mul_(200.0)
    eager = IcprScorer(network, torch.device("cpu"))
    compiled = IcprScorer(network, torch.device("cpu"), runtime=runtime.Runtime(cache_dir=str(tmp_path)))
    assert compiled.compiled is not None and eager.compiled is None
    logits, maps = eager.score(faces_rgb, attention=True)
    fast_logits, fast_maps = compiled.score(faces_rgb, attention=True)
    expected = 1 / (1 + np.exp(-logits))
    _spread(expected)
    np.testing.assert_allclose(1 / (1 + np.exp(-fast_logits)), expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(fast_maps, maps, rtol=0, atol=TOLERANCE)


def test_export_is_cached_by_weights_sha256(tmp_path: Path):
    import openvino

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    example = torch.zeros(2, 3, 16, 16)
    first = runtime.cached_model(module, example, ["y"], "a" * 64 + "-part", tmp_path)
    [xml] = tmp_path.glob("*.xml")
    assert xml.name.startswith("a" * 64 + "-part-3x16x16-") and xml.with_suffix(".bin").is_file()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".bin", ".xml"]  # nothing left aside
    assert first.output(0).get_partial_shape()[1] == 4
    # Read back, not exported again: another network saved under the kept name comes back.
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3)).eval()
    openvino.save_model(
        runtime.cached_model(other, example, ["y"], None, tmp_path), xml, compress_to_fp16=False
    )
    again = runtime.cached_model(module, example, ["y"], "a" * 64 + "-part", tmp_path)
    assert again.output(0).get_partial_shape()[1] == 5
    # Other weights (another sha256) get their own export; no key, no file.
    runtime.cached_model(module, example, ["y"], "b" * 64 + "-part", tmp_path)
    runtime.cached_model(module, example, ["y"], None, tmp_path)
    assert len(list(tmp_path.glob("*.xml"))) == 2 and len(list(tmp_path.iterdir())) == 4


def test_a_kept_model_that_answers_otherwise_is_exported_again(tmp_path: Path):
    import openvino

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    example = torch.zeros(1, 3, 16, 16)
    setting = runtime.Runtime(cache_dir=str(tmp_path))
    runtime.compiled_network(module, example, ["y"], "c" * 64, setting, 1)
    # Another network of the same shapes saved under the kept name (damaged or replaced weights).
    [xml] = tmp_path.glob("*.xml")
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    openvino.save_model(
        runtime.cached_model(other, example, ["y"], None, tmp_path), xml, compress_to_fp16=False
    )
    network = runtime.compiled_network(module, example, ["y"], "c" * 64, setting, 1)
    batch = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        expected = module(batch).numpy()
    np.testing.assert_allclose(network(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5)
    kept = runtime.CompiledNetwork(openvino.Core().read_model(xml))  # this module's pair again
    np.testing.assert_allclose(kept(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5)


def test_runtime_settings():
    assert Settings.from_env({}).network_runtime() == runtime.Runtime("openvino", "f32", None)
    env = {"DEEPFAKE_RUNTIME": "torch", "DEEPFAKE_COMPILED_CACHE": "/x"}
    assert Settings.from_env(env).network_runtime() == runtime.Runtime("torch", "f32", "/x")
    env = {"DEEPFAKE_PRECISION": "bf16"}
    assert Settings.from_env(env).network_runtime() == runtime.Runtime("openvino", "bf16", None)
    with pytest.raises(SettingsError, match="DEEPFAKE_PRECISION=bf16 is OpenVINO's: "):
        Settings.from_env({"DEEPFAKE_RUNTIME": "torch", "DEEPFAKE_PRECISION": "bf16"})
    for name, value in (("DEEPFAKE_RUNTIME", "onnx"), ("DEEPFAKE_PRECISION", "int8")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
    assert not runtime.Runtime().compiles(torch.device("cuda"))
