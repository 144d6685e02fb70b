"""The compiled runtimes (ONNX Runtime and OpenVINO, f32) score real faces as the eager PyTorch networks do.

Both networks have random weights in the public formats, their batch-norm statistics taken from
the same real faces (from a shared clip), so that activations and scores spread as a trained
network's do rather than all sitting at one value.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import random_state_dict, shared_clip
from torch import nn

from benchmarks.networks import calibrated
from inference.errors import SettingsError
from inference.faces.detect import crop, detect_faces
from inference.models import onnx_export, onnx_runtime, runtime
from inference.models.classifier import Classifier
from inference.models.efficientnet import AUTOATT, IcprScorer, build, to_tensor
from inference.models.network import build_network
from inference.models.preprocess import crops_to_tensor
from inference.settings import Settings
from inference.weights.config import ModelConfig

CLIP = "polimi-ispl__icpr2020dfdc__ffpp-youtube-519.mp4"
FACES = 11  # more than one batch of either network, the last one partial
TOLERANCE = 1e-5  # fake probability
COMPILED = pytest.mark.parametrize("name", runtime.COMPILED)
# Fidelity on real faces: the default runtime's in every run; the opt-in OpenVINO's (bf16's
# runtime) with `-m slow` (their compilations are a third of this file's time).
FIDELITY = pytest.mark.parametrize(
    "name",
    [
        name if name == runtime.DEFAULT else pytest.param(name, marks=pytest.mark.slow)
        for name in runtime.COMPILED
    ],
)


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


def _network_class(name: str) -> type:
    return onnx_runtime.OrtNetwork if name == runtime.ONNXRUNTIME else runtime.CompiledNetwork


def _spread(probabilities: np.ndarray) -> None:
    # Scores all at one value would let a broken runtime pass.
    assert np.ptp(probabilities) > 1e-3, probabilities


@FIDELITY
def test_resnext_compiled_equals_eager(faces_bgr: list[np.ndarray], tmp_path: Path, name: str):
    network = calibrated(build_network(random_state_dict()), crops_to_tensor(faces_bgr, ModelConfig()))
    config = ModelConfig()
    eager = Classifier(network, config, None, torch.device("cpu"))
    compiled = Classifier(
        network, config, None, torch.device("cpu"), runtime=runtime.Runtime(name, cache_dir=str(tmp_path))
    )
    assert isinstance(compiled.compiled, _network_class(name)) and eager.compiled is None
    expected = eager.fake_probabilities(faces_bgr)
    _spread(expected)
    np.testing.assert_allclose(compiled.fake_probabilities(faces_bgr), expected, rtol=0, atol=TOLERANCE)
    # A live stream scores on one thread, an analysis on more: a session each, the same scores
    # (both counts, whatever the default is: one per worker under pytest-xdist).
    for threads in (1, 2):
        np.testing.assert_allclose(
            compiled.fake_probabilities(faces_bgr, threads=threads), expected, rtol=0, atol=TOLERANCE
        )
    temporal = ModelConfig(kind="temporal", frames=4)
    eager.config = compiled.config = temporal
    np.testing.assert_allclose(
        compiled.window_probabilities(faces_bgr),
        eager.window_probabilities(faces_bgr),
        rtol=0,
        atol=TOLERANCE,
    )


def _effnet(faces_bgr: list[np.ndarray]) -> tuple[list[np.ndarray], torch.nn.Module]:
    """The faces as the EfficientNet takes them (224 px RGB) and a random network calibrated on them."""
    faces_rgb = [cv2.cvtColor(cv2.resize(face, (224, 224)), cv2.COLOR_BGR2RGB) for face in faces_bgr]
    torch.manual_seed(1)
    network = calibrated(build(AUTOATT), to_tensor(faces_rgb))
    with torch.no_grad():  # logits spread over a few units, as a trained detector's do
        network.classifier.weight.mul_(200.0)
    return faces_rgb, network


@FIDELITY
def test_efficientnet_compiled_equals_eager(faces_bgr: list[np.ndarray], tmp_path: Path, name: str):
    faces_rgb, network = _effnet(faces_bgr)
    eager = IcprScorer(network, torch.device("cpu"))
    compiled = IcprScorer(
        network, torch.device("cpu"), runtime=runtime.Runtime(name, cache_dir=str(tmp_path))
    )
    assert isinstance(compiled.compiled, _network_class(name)) and eager.compiled is None
    logits, maps = eager.score(faces_rgb, attention=True)
    fast_logits, fast_maps = compiled.score(faces_rgb, attention=True)
    expected = 1 / (1 + np.exp(-logits))
    _spread(expected)
    np.testing.assert_allclose(1 / (1 + np.exp(-fast_logits)), expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(fast_maps, maps, rtol=0, atol=TOLERANCE)


@pytest.mark.slow
def test_bf16_is_probed_in_f32_and_scores_in_bf16(faces_bgr: list[np.ndarray], tmp_path: Path):
    # On the synthetic probe this network's bf16 logits differ from torch's by more than their
    # whole scale: a probe run in bf16 refused it (and the second opinion with it).
    import openvino

    faces_rgb, network = _effnet(faces_bgr)
    eager = IcprScorer(network, torch.device("cpu"))
    fast = IcprScorer(
        network, torch.device("cpu"), runtime=runtime.Runtime("openvino", "bf16", str(tmp_path))
    )
    assert fast.compiled is not None and fast.compiled.precision == "bf16"
    logits, expected = fast.score(faces_rgb)[0], eager.score(faces_rgb)[0]
    assert np.all(np.isfinite(logits))
    if "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        # Scored by the bf16 compilation, not by the f32 one that answered the probe.
        assert np.abs(logits - expected).max() > 1e-3


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


def _save_as_kept(name: str, module: torch.nn.Module, example: torch.Tensor, kept: Path) -> None:
    """Save ``module``'s export at the kept path ``kept`` of runtime ``name`` (a replaced file)."""
    if name == runtime.ONNXRUNTIME:
        kept.write_bytes(runtime.export_onnx(module, example, ["y"]))
        return
    import openvino

    model = runtime.cached_model(module, example, ["y"], None, kept.parent)
    openvino.save_model(model, kept, compress_to_fp16=False)


def _kept(tmp_path: Path) -> Path:
    [kept] = [p for p in tmp_path.iterdir() if p.suffix in (".xml", ".onnx")]
    return kept


@COMPILED
def test_a_kept_model_that_answers_otherwise_is_exported_again(tmp_path: Path, name: str):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    example = torch.zeros(1, 3, 16, 16)
    setting = runtime.Runtime(name, cache_dir=str(tmp_path))
    runtime.compiled_network(module, example, ["y"], "c" * 64, setting, 1)
    # Another network of the same shapes saved under the kept name (damaged or replaced weights).
    kept = _kept(tmp_path)
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    _save_as_kept(name, other, example, kept)
    network = runtime.compiled_network(module, example, ["y"], "c" * 64, setting, 1)
    batch = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        expected = module(batch).numpy()
    np.testing.assert_allclose(network(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5)
    # This module's export is kept again.
    if name == runtime.ONNXRUNTIME:
        np.testing.assert_allclose(
            onnx_runtime.OrtNetwork(kept.read_bytes())(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5
        )
    else:
        import openvino

        reread = runtime.CompiledNetwork(openvino.Core().read_model(kept))
        np.testing.assert_allclose(reread(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5)


def test_onnx_export_is_kept_by_sha256_and_read_into_memory(tmp_path: Path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    example = torch.zeros(1, 3, 16, 16)
    setting = runtime.Runtime(runtime.ONNXRUNTIME, cache_dir=str(tmp_path))
    network = runtime.compiled_network(module, example, ["y"], "d" * 64 + "-part", setting, 1)
    kept = _kept(tmp_path)
    assert kept.name.startswith("d" * 64 + "-part-3x16x16-v1-") and kept.name.endswith(".onnx")
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]  # nothing left aside
    # A file swapped under the running process: the next thread count's session is made from
    # the bytes read at load, not from the path.
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    kept.write_bytes(runtime.export_onnx(other, example, ["y"]))
    batch = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        expected = module(batch).numpy()
    np.testing.assert_allclose(network(batch.numpy(), 2)[0], expected, rtol=0, atol=1e-5)
    # An unreadable kept file is exported again; other weights get their own file; no key, no file.
    kept.write_bytes(b"not an onnx model")
    runtime.compiled_network(module, example, ["y"], "d" * 64 + "-part", setting, 1)
    reread = onnx_runtime.OrtNetwork(kept.read_bytes(), 1)
    np.testing.assert_allclose(reread(batch.numpy(), 1)[0], expected, rtol=0, atol=1e-5)
    runtime.compiled_network(module, example, ["y"], "e" * 64 + "-part", setting, 1)
    runtime.compiled_network(module, example, ["y"], None, setting, 1)
    assert len(list(tmp_path.iterdir())) == 2


def test_runtime_settings():
    assert Settings.from_env({}).network_runtime() == runtime.Runtime(runtime.DEFAULT, "f32", None)
    env = {"DEEPFAKE_RUNTIME": "torch", "DEEPFAKE_COMPILED_CACHE": "/x"}
    assert Settings.from_env(env).network_runtime() == runtime.Runtime("torch", "f32", "/x")
    for name in ("onnxruntime", "openvino"):
        assert Settings.from_env({"DEEPFAKE_RUNTIME": name}).network_runtime() == runtime.Runtime(name)
    # bf16 is OpenVINO's only: asked alone, it picks OpenVINO; with another runtime it is refused.
    env = {"DEEPFAKE_PRECISION": "bf16"}
    assert Settings.from_env(env).network_runtime() == runtime.Runtime("openvino", "bf16", None)
    for name in ("torch", "onnxruntime"):
        with pytest.raises(SettingsError, match="DEEPFAKE_PRECISION=bf16 is OpenVINO's: "):
            Settings.from_env({"DEEPFAKE_RUNTIME": name, "DEEPFAKE_PRECISION": "bf16"})
    with pytest.raises(ValueError, match="bf16 is OpenVINO's precision"):
        runtime.Runtime("onnxruntime", "bf16")
    for name, value in (("DEEPFAKE_RUNTIME", "onnx"), ("DEEPFAKE_PRECISION", "int8")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
    assert not runtime.Runtime().compiles(torch.device("cuda"))
    assert runtime.Runtime("onnxruntime").compiles(torch.device("cpu"))


@pytest.mark.parametrize("library", ["onnxruntime", "openvino"])
def test_a_runtime_library_that_cannot_be_imported_is_a_runtime_unavailable_error(
    library: str, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    from torch import nn

    from inference.errors import RuntimeUnavailableError
    from inference.models import runtime

    monkeypatch.setitem(sys.modules, library, None)  # `import` then raises ImportError
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    kind = runtime.ONNXRUNTIME if library == "onnxruntime" else runtime.OPENVINO
    with pytest.raises(RuntimeUnavailableError, match=f"{library} cannot be imported"):
        runtime.compiled_network(
            network, torch.zeros(1, 3, 32, 32), ["y"], "key", runtime.Runtime(kind, cache_dir=tmp_path), 1
        )


def test_a_cache_folder_others_may_write_to_is_not_used(tmp_path, caplog: pytest.LogCaptureFixture):
    from torch import nn

    from inference.models import onnx_runtime

    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    example = torch.zeros(1, 3, 32, 32)
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    planted = onnx_runtime.cached_path("key", example, shared)
    planted.write_bytes(b"a network someone else put here")
    assert onnx_runtime.cached_onnx(network, example, ["y"], "key", shared) != planted.read_bytes()
    assert "others may write to it" in caplog.text


def test_two_exports_at_once_both_succeed():
    """torch's ONNX exporter keeps module-global state: two networks exported from two threads at
    the same instant (two requests loading different networks) both come out whole."""
    barrier = threading.Barrier(2)
    made: dict[int, bytes | BaseException] = {}

    def export(depth: int) -> None:
        net = nn.Sequential(*(nn.Conv2d(8, 8, 3, padding=1) for _ in range(depth))).eval()
        barrier.wait()
        try:
            made[depth] = onnx_export.export_onnx(net, torch.zeros(1, 8, 32, 32), ["y"])
        except Exception as exc:  # any: handed to the assertion below
            made[depth] = exc

    threads = [threading.Thread(target=export, args=(depth,)) for depth in (150, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(onnx, bytes) for onnx in made.values()), made
    for depth, onnx in made.items():
        assert onnx.count(b"Conv") >= depth
