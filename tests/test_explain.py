"""Heatmaps: a sanity check in the spirit of Adebayo et al. (2018), a known answer, and the outputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import random_state_dict

from inference import Detector, ModelConfig
from inference.models.explain import EXPLAIN_LAYER, gradcam_grids, overlay, side_by_side
from inference.models.network import ResNeXtLSTM, build_network
from inference.models.preprocess import crops_to_tensor
from inference.tools import cli

FAKE_INDEX = 0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@pytest.fixture(scope="module")
def face_crops(detector: Detector, manipulated_clip: Path) -> list[np.ndarray]:
    """Real face crops (BGR, 112 px) found by the engine in the manipulated example."""
    result = detector.analyze(manipulated_clip, frames=6)
    return [crop[:, :, ::-1].copy() for crop in result.crops]


def test_maps_change_when_the_head_is_randomised(face_crops: list[np.ndarray]):
    state = random_state_dict(seed=0)
    batch = crops_to_tensor(face_crops, ModelConfig())
    before = gradcam_grids(build_network(dict(state)), batch, FAKE_INDEX)
    torch.manual_seed(123)
    randomised = dict(state)
    randomised["linear1.weight"] = torch.randn_like(state["linear1.weight"]) * 0.05
    after = gradcam_grids(build_network(randomised), batch, FAKE_INDEX)
    assert before.shape == after.shape == (len(face_crops), 7, 7)
    same = gradcam_grids(build_network(dict(state)), batch, FAKE_INDEX)
    np.testing.assert_allclose(same, before, atol=1e-5)  # deterministic, so a change means something
    correlations = [correlation(a, b) for a, b in zip(before, after, strict=True)]
    assert np.mean(correlations) < 0.5, correlations


def region_network() -> ResNeXtLSTM:
    """A network whose FAKE logit grows with the backbone's features and nothing else.

    The backbone is freshly initialised (batch norms are identities), so an input that is zero
    gives zero features; the LSTM passes each feature through a monotone function (input and
    output gates fixed at 0.5); the head adds the features up for FAKE.
    """
    torch.manual_seed(7)
    state = {k: v.clone() for k, v in ResNeXtLSTM().state_dict().items()}
    features = state["lstm.weight_ih_l0"].shape[1]
    weight_ih = torch.zeros_like(state["lstm.weight_ih_l0"])
    weight_ih[2 * features : 3 * features] = torch.eye(features) * 4.0  # the cell input g
    state["lstm.weight_ih_l0"] = weight_ih
    state["lstm.weight_hh_l0"] = torch.zeros_like(state["lstm.weight_hh_l0"])
    state["linear1.weight"] = torch.zeros_like(state["linear1.weight"])
    state["linear1.weight"][FAKE_INDEX] = 0.02  # small enough that the softmax does not saturate
    state["linear1.bias"] = torch.zeros_like(state["linear1.bias"])
    return build_network(state)


def test_the_map_sits_where_the_evidence_is():
    network = region_network()
    batch = torch.zeros(4, 3, 112, 112)
    generator = torch.Generator().manual_seed(0)
    corners = [(0, 0), (0, 64), (64, 0), (64, 64)]
    for crop, (top, left) in zip(batch, corners, strict=True):
        crop[:, top : top + 48, left : left + 48] = torch.randn(3, 48, 48, generator=generator)
    grids = gradcam_grids(network, batch, FAKE_INDEX)
    for grid, (top, left) in zip(grids, corners, strict=True):
        rows = slice(0, 4) if top == 0 else slice(3, 7)
        cols = slice(0, 4) if left == 0 else slice(3, 7)
        share = grid[rows, cols].sum() / grid.sum()
        assert share > 0.8, (top, left, share, np.round(grid, 2))


def test_engine_attaches_heatmaps_on_request(detector: Detector, manipulated_clip: Path):
    plain = detector.analyze(manipulated_clip, frames=4)
    explained = detector.analyze(manipulated_clip, frames=4, explain=True)
    assert all(frame.heatmap is None for frame in plain.frames)
    assert "heatmap" not in plain.to_dict()["frames"][0]
    assert "explain" in explained.timings
    for a, b in zip(plain.frames, explained.frames, strict=True):
        assert a.fake_probability == pytest.approx(b.fake_probability, abs=1e-6)
        assert b.heatmap.shape == (7, 7) and b.heatmap.min() >= 0 and b.heatmap.max() <= 1
    grid = explained.to_dict()["frames"][0]["heatmap"]
    assert len(grid) == 7 and len(grid[0]) == 7
    crop = explained.crops[0]
    assert overlay(crop, explained.frames[0].heatmap).shape == crop.shape
    assert side_by_side(crop, explained.frames[0].heatmap).shape == (112, 224, 3)
    assert EXPLAIN_LAYER == 6


def test_cli_writes_heatmap_pngs(hub_cache: Path, genuine_clip: Path, tmp_path: Path, capsys):
    assert cli.main([str(genuine_clip), "--frames", "3", "--explain", str(tmp_path)]) == cli.EXIT_OK
    assert genuine_clip.name in capsys.readouterr().out
    (folder,) = tmp_path.glob(f"{genuine_clip.stem}-*")  # one folder per input file
    written = sorted(folder.glob("frame_*_fake*.png"))
    assert len(written) == 3
    assert cv2.imread(str(written[0])).shape == (112, 224, 3)
