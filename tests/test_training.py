"""Training: person-wise split, crops from the engine, learning, resuming, export, CLI (CPU)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from examples.make_examples import _camera, astronaut_bgr, write_h264
from inference import Detector, Settings
from inference.models.network import ResNeXtLSTM
from inference.models.preprocess import crops_to_tensor
from inference.tools import datasets, train
from inference.tools.training import TrainingError
from inference.tools.training.crops import CropRecipe, preprocess
from inference.tools.training.export import push_to_hub, save_weights
from inference.tools.training.loop import Trainer, TrainOptions
from inference.tools.training.split import identity_groups, split
from inference.weights.config import PER_FRAME, TEMPORAL, ModelConfig

# The 'app' profile keeps the crops quick to make; 4-crop sequences for temporal models.
SMALL = replace(ModelConfig(), frames=4, preprocessing="app")


@pytest.fixture(scope="module")
def labelled_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three genuine and three visibly manipulated astronaut clips, each of its own 'person'."""
    folder = tmp_path_factory.mktemp("labelled")
    photo = astronaut_bgr()
    rows = []
    for seed in range(3):
        for fake in (False, True):
            name = f"{'fake' if fake else 'real'}_{seed}.mp4"
            frames = _camera(
                (lambda i, s=seed: astronaut_bgr(True, seed=100 * s + i)) if fake else (lambda i: photo),
                8,
                320,
                seed=seed,
            )
            write_h264(frames, folder / name, fps=8)
            rows.append({"path": name, "label": "fake" if fake else "real", "source": f"person{seed}"})
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "labels.csv"


@pytest.fixture(scope="module")
def cached(labelled_set: Path, tmp_path_factory: pytest.TempPathFactory):
    """The crops of the labelled set, made by two spawned workers (as the command makes them)."""
    videos = datasets.load(labelled_set)
    recipe = CropRecipe(frames=8, profile="app", image_size=SMALL.image_size)
    return preprocess(videos, tmp_path_factory.mktemp("crops"), recipe, Settings.from_env({}), workers=2)


def fresh_network(seed: int = 0) -> ResNeXtLSTM:
    torch.manual_seed(seed)
    return ResNeXtLSTM()


def test_crops_are_the_engines_and_cached(cached, labelled_set: Path, tmp_path: Path):
    assert [c.count for c in cached] == [8] * 6
    crops = cached[0].load()
    assert crops.shape == (8, 112, 112, 3) and crops.dtype == np.uint8
    # A second run finds every file and makes nothing (resumable).
    folder = cached[0].file.parent
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = preprocess(datasets.load(labelled_set), folder, CropRecipe(8, "app", 112), Settings.from_env({}))
    assert [c.file for c in again] == [c.file for c in cached]
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.slow
def test_a_few_dozen_steps_learn_the_training_set(cached, tmp_path: Path):
    options = TrainOptions(epochs=6, batch_size=8, learning_rate=1e-3, seed=0)
    trainer = Trainer(fresh_network(), SMALL, cached, [], options, tmp_path)
    logs = trainer.fit()
    assert logs[-1].step == 36
    # From random weights: every training item right in some epoch, and the loss well down.
    assert max(log.train_accuracy for log in logs) == 1.0
    assert min(log.train_loss for log in logs[2:]) < logs[0].train_loss / 3
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 7))


@pytest.mark.slow
def test_a_stopped_run_resumes_to_the_same_state(cached, tmp_path: Path):
    options = TrainOptions(epochs=2, batch_size=8, learning_rate=1e-3, seed=3)
    videos = cached[:4]  # 4 steps an epoch
    straight = Trainer(fresh_network(), SMALL, videos, [], options, tmp_path / "straight")
    straight.fit()
    # Stopped in the middle of the second epoch, then started again from the saved state.
    stopped = Trainer(fresh_network(), SMALL, videos, [], replace(options, max_steps=6), tmp_path / "stopped")
    stopped.fit()
    assert stopped.progress.step == 6 and stopped.progress.epoch == 1
    resumed = Trainer(fresh_network(1), SMALL, videos, [], options, tmp_path / "stopped")
    assert resumed.resume()
    resumed.fit()
    expected = straight.accelerator.unwrap_model(straight.network).state_dict()
    got = resumed.accelerator.unwrap_model(resumed.network).state_dict()
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("kind", [PER_FRAME, TEMPORAL])
def test_exported_weights_score_like_the_model_in_memory(
    hub_cache: Path, genuine_clip: Path, tmp_path: Path, kind: str
):
    config = replace(SMALL, kind=kind)
    network = fresh_network(2).eval()
    weights = save_weights(network, config, tmp_path / "export")
    detector = Detector.from_settings(Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(weights)}))
    assert detector.classifier.config == config
    result = detector.analyze(genuine_clip, frames=config.frames)
    assert result.profile == "app" and len(result.frames) == config.frames
    crops = [cv2.cvtColor(crop, cv2.COLOR_RGB2BGR) for crop in result.crops]
    batch = crops_to_tensor(crops, config)
    got = np.array([frame.fake_probability for frame in result.frames])
    with torch.inference_mode():
        if kind == PER_FRAME:
            expected = torch.softmax(network(batch), dim=1)[:, 0].numpy()
        else:
            # One window of the trained length: the video score is one sequence forward pass.
            sequence = torch.softmax(network.forward_sequences(batch.unsqueeze(0)), dim=1)[0, 0].item()
            expected = np.full(len(got), sequence)
            assert result.verdict.fake_probability == pytest.approx(sequence, abs=1e-5)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def ffpp_tree(root: Path) -> None:
    originals = root / "original_sequences" / "youtube" / "c23" / "videos"
    originals.mkdir(parents=True)
    for number in range(10):
        (originals / f"{number:03d}.mp4").write_bytes(b"")
    for method in ("Deepfakes", "FaceSwap"):
        fakes = root / "manipulated_sequences" / method / "c23" / "videos"
        fakes.mkdir(parents=True)
        for target, source in ((0, 1), (1, 0), (2, 3), (4, 5), (6, 7), (8, 9), (9, 8)):
            (fakes / f"{target:03d}_{source:03d}.mp4").write_bytes(b"")


def dfdc_folder(root: Path) -> None:
    root.mkdir()
    metadata = {}
    for number in range(8):
        metadata[f"real{number}.mp4"] = {"label": "REAL", "split": "train"}
        for copy in range(2):
            metadata[f"fake{number}_{copy}.mp4"] = {"label": "FAKE", "original": f"real{number}.mp4"}
    for name in metadata:
        (root / name).write_bytes(b"")
    (root / "metadata.json").write_text(json.dumps(metadata))


@pytest.mark.parametrize("layout", [ffpp_tree, dfdc_folder])
def test_split_never_shares_a_person(tmp_path: Path, layout):
    layout(tmp_path / "set")
    videos = datasets.load(tmp_path / "set")
    for seed in range(5):
        training, validation = split(videos, 0.25, seed)
        assert training and validation and len(training) + len(validation) == len(videos)
        assert {p for v in training for p in v.people}.isdisjoint({p for v in validation for p in v.people})
        assert {v.label for v in validation} == {"FAKE", "REAL"}
    if layout is ffpp_tree:
        groups = identity_groups(videos)
        by_name = {v.path.stem: g for v, g in zip(videos, groups, strict=True)}
        assert by_name["000"] == by_name["001"] == by_name["000_001"] == by_name["001_000"]
        assert by_name["000"] != by_name["002"]


def test_too_few_people_to_split(tmp_path: Path):
    videos = [datasets.LabelledVideo(tmp_path / f"{i}.mp4", "REAL", None, ("same",)) for i in range(4)]
    with pytest.raises(TrainingError, match="too few"):
        split(videos, 0.2)


def test_command_trains_resumes_and_exports(labelled_set: Path, tmp_path: Path):
    out = tmp_path / "run"
    common = [str(labelled_set), "--out", str(out), "--init", "scratch", "--frames", "4", "--profile", "app"]
    # Crops made in this process: the spawned workers make those of the `cached` fixture.
    common += ["--epochs", "1", "--batch-size", "4", "--validation", "0.34", "--workers", "1"]
    assert train.main([*common, "--max-steps", "1"]) == 0
    assert not (out / "model").exists()  # stopped: nothing exported yet
    assert train.main(common) == 0
    exported = out / "model"
    config = ModelConfig.from_json_file(exported / "config.json")
    assert (config.kind, config.frames, config.preprocessing) == (PER_FRAME, 4, "app")
    card = (exported / "README.md").read_text()
    assert "ROC AUC" in card and "by person" in card
    # The card names the data set by its folder and the start by its kind, not local paths.
    assert str(labelled_set.parent) not in card and str(tmp_path) not in card
    assert f"{labelled_set.name}: " in card
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["val_auc"] is not None and log[-1]["samples_per_s"] > 0


def test_push_needs_a_token(tmp_path: Path):
    with pytest.raises(TrainingError, match="HF_TOKEN"):
        push_to_hub(tmp_path, "someone/weights")


def test_the_card_names_an_init_file_by_its_kind():
    assert train.init_kind("/home/someone/private/weights.safetensors") == "a checkpoint file"
    assert [train.init_kind(kind) for kind in train.INITS] == list(train.INITS)
