"""Labelled-set layouts, metric values against hand computation, and the evaluation command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import SHARED_MEDIA

from inference import Settings
from inference.tools import datasets, evaluate
from inference.tools.metrics import (
    Prediction,
    comparison_table,
    compute,
    markdown_run,
    plot_reliability,
    plot_roc,
)


def test_metrics_match_hand_computation(tmp_path: Path):
    predictions = [
        Prediction("FAKE", "FAKE", 0.9, "Deepfakes"),
        Prediction("FAKE", "FAKE", 0.6, "FaceSwap"),
        Prediction("FAKE", "REAL", 0.3, "FaceSwap"),
        Prediction("REAL", "REAL", 0.2, "original"),
        Prediction("REAL", "FAKE", 0.7, "original"),
        Prediction("REAL", "REAL", 0.1, "original"),
        Prediction("FAKE", "CANNOT JUDGE", None, "Deepfakes"),
        Prediction("REAL", None, None, "original"),
    ]
    metrics = compute(predictions)
    assert (metrics.videos, metrics.judged, metrics.cannot_judge, metrics.errors) == (8, 6, 1, 1)
    assert metrics.accuracy == pytest.approx(4 / 6)
    assert metrics.balanced_accuracy == pytest.approx(2 / 3)
    assert metrics.roc_auc == pytest.approx(7 / 9)
    assert metrics.precision_fake == pytest.approx(2 / 3)
    assert metrics.recall_fake == pytest.approx(2 / 3)
    assert metrics.f1_fake == pytest.approx(2 / 3)
    assert metrics.confusion == [[2, 1], [1, 2]]
    assert metrics.per_method["FaceSwap"] == {
        "videos": 2,
        "judged": 2,
        "coverage": 1.0,
        "accuracy": 0.5,
        "mean_fake_probability": pytest.approx(0.45),
    }
    assert metrics.per_method["Deepfakes"]["judged"] == 1
    assert plot_roc(predictions, tmp_path / "roc.png", "t")
    assert plot_reliability(predictions, tmp_path / "rel.png", "t")
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"


def test_uncertain_is_an_abstention_not_a_real_verdict(tmp_path: Path):
    predictions = [
        Prediction("FAKE", "FAKE", 0.9, "Deepfakes"),
        Prediction("FAKE", "UNCERTAIN", 0.55, "Deepfakes"),
        Prediction("FAKE", "UNCERTAIN", 0.45, "Deepfakes"),
        Prediction("REAL", "REAL", 0.2, "original"),
        Prediction("REAL", "UNCERTAIN", 0.5, "original"),
        Prediction("REAL", "CANNOT JUDGE", None, "original"),
        Prediction("FAKE", None, None, "Deepfakes"),
    ]
    metrics = compute(predictions)
    assert (metrics.videos, metrics.judged, metrics.uncertain, metrics.cannot_judge, metrics.errors) == (
        7,
        2,
        3,
        1,
        1,
    )
    assert metrics.coverage == pytest.approx(2 / 7)
    # Over the two judged videos only: both right, nothing on the wrong side of the matrix.
    assert metrics.accuracy == 1.0 and metrics.balanced_accuracy == 1.0
    assert metrics.confusion == [[1, 0], [0, 1]]
    assert (metrics.precision_fake, metrics.recall_fake) == (1.0, 1.0)
    # ROC AUC over every video with a probability (judged and UNCERTAIN): fakes 0.9, 0.55,
    # 0.45 against reals 0.2, 0.5 -> 5 of 6 pairs ordered right.
    assert metrics.roc_auc == pytest.approx(5 / 6)
    assert metrics.per_method["Deepfakes"] == {
        "videos": 4,
        "judged": 1,
        "coverage": 0.25,
        "accuracy": 1.0,
        "mean_fake_probability": pytest.approx((0.9 + 0.55 + 0.45) / 3),  # UNCERTAIN included
    }
    assert metrics.per_method["original"]["accuracy"] == 1.0
    assert plot_roc(predictions, tmp_path / "roc.png", "t")
    summary = comparison_table({"run": metrics})
    assert "| coverage (judged / videos) | 0.286 |" in summary
    assert "| uncertain (abstained; in the ROC AUC only) | 3 |" in summary
    assert "| accuracy (of judged) | 1.000 |" in summary


def test_nothing_judged_still_has_coverage_and_auc():
    metrics = compute([Prediction("FAKE", "UNCERTAIN", 0.58), Prediction("REAL", "UNCERTAIN", 0.42)])
    assert (metrics.judged, metrics.uncertain, metrics.coverage) == (0, 2, 0.0)
    assert metrics.accuracy is None and metrics.confusion == []
    assert metrics.roc_auc == 1.0
    assert "No video was judged FAKE or REAL" in markdown_run("run", metrics)


def test_one_class_has_no_auc():
    metrics = compute([Prediction("FAKE", "FAKE", 0.8), Prediction("FAKE", "REAL", 0.4)])
    assert metrics.roc_auc is None and metrics.balanced_accuracy is None
    assert metrics.recall_fake == 0.5


@pytest.fixture
def clips(genuine_clip: Path, manipulated_clip: Path) -> dict[str, Path]:
    return {"REAL": genuine_clip, "FAKE": manipulated_clip}


def test_real_fake_layout(tmp_path: Path, clips: dict[str, Path]):
    shutil.copy(clips["REAL"], tmp_path / "Real.mp4")
    (tmp_path / "real").mkdir()
    (tmp_path / "fake" / "FaceSwap").mkdir(parents=True)
    shutil.copy(clips["REAL"], tmp_path / "real" / "a.mp4")
    shutil.copy(clips["FAKE"], tmp_path / "fake" / "b.mp4")
    shutil.copy(clips["FAKE"], tmp_path / "fake" / "FaceSwap" / "c.mov")
    found = {(v.path.name, v.label, v.method) for v in datasets.load(tmp_path)}
    assert found == {("a.mp4", "REAL", None), ("b.mp4", "FAKE", None), ("c.mov", "FAKE", "FaceSwap")}


def test_dfdc_layout(tmp_path: Path, clips: dict[str, Path]):
    shutil.copy(clips["REAL"], tmp_path / "aaa.mp4")
    shutil.copy(clips["FAKE"], tmp_path / "bbb.mp4")
    metadata = {"aaa.mp4": {"label": "REAL"}, "bbb.mp4": {"label": "FAKE", "original": "aaa.mp4"}}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    found = [(v.path.name, v.label) for v in datasets.load(tmp_path)]
    assert found == [("aaa.mp4", "REAL"), ("bbb.mp4", "FAKE")]


def test_faceforensics_layout(tmp_path: Path, clips: dict[str, Path]):
    original = tmp_path / "original_sequences" / "youtube" / "c23" / "videos"
    swapped = tmp_path / "manipulated_sequences" / "Deepfakes" / "c23" / "videos"
    original.mkdir(parents=True)
    swapped.mkdir(parents=True)
    shutil.copy(clips["REAL"], original / "000.mp4")
    shutil.copy(clips["FAKE"], swapped / "000_003.mp4")
    found = [(v.path.name, v.label, v.method) for v in datasets.load(tmp_path)]
    assert found == [("000.mp4", "REAL", "original"), ("000_003.mp4", "FAKE", "Deepfakes")]


def test_csv_layout_and_bad_label(tmp_path: Path, clips: dict[str, Path]):
    shutil.copy(clips["REAL"], tmp_path / "x.mp4")
    (tmp_path / "labels.csv").write_text("path,label\nx.mp4,real\n")
    found = [(v.path, v.label) for v in datasets.load(tmp_path / "labels.csv")]
    assert found == [(tmp_path / "x.mp4", "REAL")]
    (tmp_path / "bad.csv").write_text("path,label\nx.mp4,maybe\n")
    with pytest.raises(datasets.DatasetError, match="unknown label 'maybe'"):
        datasets.load(tmp_path / "bad.csv")
    with pytest.raises(datasets.DatasetError, match="not a labelled set"):
        datasets.load(tmp_path)


def test_evaluate_command_compares_frame_counts_and_profiles(
    hub_cache: Path, tmp_path: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
):
    data = tmp_path / "set"
    # One video of each class (and a broken one): what is checked is the runs and their tables.
    for label, name in (("real", "a"), ("fake", "c")):
        (data / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(clips[label.upper()], data / label / f"{name}.mp4")
    (data / "fake" / "broken.mp4").write_text("not a video")
    out = tmp_path / "report"
    command = [str(data), "--frames", "2", "--frames", "3", "--profile", "training", "--profile", "app"]
    assert evaluate.main([*command, "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "@ 2 frames (training crops)" in table and "@ 3 frames (app crops)" in table
    summary = (out / "summary.md").read_text()
    assert "| videos | 3 | 3 | 3 | 3 |" in summary
    assert "| errors (not in the scores) | 1 | 1 | 1 | 1 |" in summary
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(runs) == 4
    verdicts: list[str | None] = []
    for run in runs:
        assert (run / "roc.png").is_file() and (run / "reliability.png").is_file()
        rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
        assert len(rows) == 3
        assert sum(row["error"] is not None for row in rows) == 1
        assert {row["profile"] for row in rows if row["error"] is None} == {run.name.split("_")[-2]}
        verdicts += [row["verdict"] for row in rows]
    # Abstentions are counted apart from the judged videos, as predictions.jsonl says.
    table = summary_table(summary)
    assert sum(table["judged (FAKE or REAL)"]) == sum(v in ("FAKE", "REAL") for v in verdicts)
    assert sum(table["uncertain (abstained; in the ROC AUC only)"]) == verdicts.count("UNCERTAIN")
    assert sum(table["cannot judge (abstained; not in the scores)"]) == verdicts.count("CANNOT JUDGE")
    assert "coverage (judged / videos)" in table


def summary_table(summary: str) -> dict[str, list[float]]:
    """The numeric rows of the side-by-side table of ``summary.md``, by metric."""
    table = {}
    for line in summary.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 1 and all(c.replace(".", "").isdigit() for c in cells[1:]):
            table[cells[0]] = [float(c) for c in cells[1:]]
    return table


def test_runs_are_named_apart():
    runs = evaluate.plan_runs(
        Settings.from_env({}),
        [],
        ["a/model.safetensors", "b/model.safetensors", "b/model.safetensors", "c/d/x.pt", "e b.pt", "e_b.pt"],
        [8],
    )
    assert [run.name for run in runs] == [
        "a/model.safetensors @ 8 frames",
        "b/model.safetensors @ 8 frames",
        "b/model.safetensors @ 8 frames #2",
        "x.pt @ 8 frames",
        "e b.pt @ 8 frames",
        "e_b.pt @ 8 frames",
    ]
    assert [run.settings.weights_path for run in runs][:2] == ["a/model.safetensors", "b/model.safetensors"]
    # "e b.pt" and "e_b.pt" make the same folder name: the second is numbered.
    assert [run.folder for run in runs] == [
        "a_model.safetensors_8_frames",
        "b_model.safetensors_8_frames",
        "b_model.safetensors_8_frames_2",
        "x.pt_8_frames",
        "e_b.pt_8_frames",
        "e_b.pt_8_frames-2",
    ]


def test_same_named_weights_do_not_overwrite_each_other(
    checkpoint_file: Path,
    tmp_path: Path,
    clips: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    data = tmp_path / "set"
    for label in ("real", "fake"):
        (data / label).mkdir(parents=True)
        shutil.copy(clips[label.upper()], data / label / "clip.mp4")
    weights = []
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        weights += ["--weights", str(tmp_path / folder / "model.pt")]
        (tmp_path / folder / "model.pt").symlink_to(checkpoint_file)
    out = tmp_path / "report"
    # The quick crops (from the environment: --profile would name the runs): the point is the
    # runs' names and folders.
    monkeypatch.setenv("DEEPFAKE_PROFILE", "app")
    assert evaluate.main([str(data), *weights, "--frames", "2", "--out", str(out)]) == 0
    assert "first/model.pt @ 2 frames | second/model.pt @ 2 frames |" in capsys.readouterr().out
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == ["first_model.pt_2_frames", "second_model.pt_2_frames"]
    for run in runs:
        assert len((out / run / "predictions.jsonl").read_text().splitlines()) == 2
    summary = (out / "summary.md").read_text()
    assert "## first/model.pt @ 2 frames" in summary and "## second/model.pt @ 2 frames" in summary


@pytest.mark.slow
def test_shared_media_manifest_end_to_end(hub_cache: Path, tmp_path: Path):
    manifest = SHARED_MEDIA / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.skip(f"{manifest} not present")
    out = tmp_path / "shared"
    assert evaluate.main([str(manifest), "--frames", "8", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    videos = len(datasets.load(manifest))
    assert f"| videos | {videos} |" in summary
    assert "ROC" in summary
