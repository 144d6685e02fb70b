"""The command line, run as a user runs it: a separate process (``main`` in this process where a test
runs the command again), real files, real weights path."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from inference.tools import cli


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inference", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_verdict_for_one_clip_and_an_error_for_a_broken_one(
    hub_cache: Path, tmp_path: Path, genuine_clip: Path
):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    done = run_cli(str(bad), str(genuine_clip), "--frames", "4")
    assert done.returncode == 1, done.stderr
    assert "broken.mp4: error: broken.mp4 is not a video that can be decoded" in done.stderr, done.stderr
    # The broken file's message goes to stderr: the clip's verdict is the first line of stdout.
    assert done.stdout.startswith(f"{genuine_clip}: ")
    # Random weights score about 0.5: UNCERTAIN.
    assert "UNCERTAIN: the model cannot tell" in done.stdout and "of 4 sampled frames" in done.stdout


def test_json_output_with_weights_by_path(checkpoint_file: Path, genuine_clip: Path, no_face_clip: Path):
    # The quick crops: what is checked here is the output and the weights' location.
    command = [str(genuine_clip), str(no_face_clip), "--frames", "3", "--profile", "app", "--json"]
    done = run_cli(*command, "--weights", str(checkpoint_file))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["file_name"] == "genuine_astronaut.mp4" and first["frames_sampled"] == 3
    assert first["weights"]["location"] == str(checkpoint_file)
    assert [p["id"] for p in first["people"]] == [1] and len(first["people"][0]["frames"]) == 3
    assert second["verdict"] == "CANNOT JUDGE" and second["people"] == []


def test_missing_weights_say_what_to_set(tmp_path: Path, genuine_clip: Path):
    done = run_cli(str(genuine_clip), env={"DEEPFAKE_WEIGHTS_REPO": "nobody/nothing"})
    assert done.returncode == 2
    assert "DEEPFAKE_WEIGHTS_PATH" in done.stderr and "Traceback" not in done.stderr


def test_missing_input(capsys: pytest.CaptureFixture[str]):
    # In this process: it is refused before any weights load (the exit code's way out of
    # `python -m inference` is the other tests').
    assert cli.main(["/no/such/video.mp4"]) == 2
    assert "/no/such/video.mp4 does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "-5"], "argument --start: '-5' is not a time in the video"),
        (["--start", "nan"], "argument --start: 'nan' is not a time in the video"),
        (["--end", "inf"], "argument --end: 'inf' is not a time in the video"),
        (["--end", "soon"], "argument --end: 'soon' is not a number of seconds"),
        (["--start", "5", "--end", "3"], r"end \(3.0 s\) must come after its start \(5.0 s\)"),
    ],
)
def test_window_arguments_are_checked_before_anything_runs(
    genuine_clip: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
):
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(genuine_clip), *args])
    assert stopped.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_explain_keeps_same_named_videos_apart(hub_cache: Path, tmp_path: Path, genuine_clip: Path):
    for folder in ("day1", "day2"):
        (tmp_path / folder).mkdir()
        shutil.copy(genuine_clip, tmp_path / folder / "clip.mp4")
    heatmaps = tmp_path / "heatmaps"
    # The quick crops: the heat maps' folders are the point, not the crops.
    videos = (str(tmp_path / "day1"), str(tmp_path / "day2"))
    done = run_cli(*videos, "--frames", "2", "--profile", "app", "--explain", str(heatmaps))
    assert done.returncode == 0, done.stderr
    folders = sorted(heatmaps.iterdir())
    assert len(folders) == 2, folders  # one per video, not one for both
    assert [f.name for f in folders] == sorted(
        cli.explain_folder(heatmaps, tmp_path / day / "clip.mp4").name for day in ("day1", "day2")
    )
    assert all(re.fullmatch(r"clip-[0-9a-f]{8}", f.name) for f in folders)
    assert [len(list(f.glob("frame_*.png"))) for f in folders] == [2, 2]


def read_rows(output: Path) -> list[dict[str, str]]:
    with output.open() as handle:
        return list(csv.DictReader(handle)) if output.suffix == ".csv" else [json.loads(x) for x in handle]


@pytest.mark.parametrize("suffix", [".jsonl", pytest.param(".csv", marks=pytest.mark.slow)])
def test_folder_batch_resumes_and_retries_failed_videos_keeping_one_row_each(
    hub_cache: Path,
    tmp_path: Path,
    genuine_clip: Path,
    no_face_clip: Path,
    suffix: str,
    capsys: pytest.CaptureFixture[str],
):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(genuine_clip, folder / "a.mp4")
    shutil.copy(no_face_clip, folder / "sub" / "b.mp4")
    (folder / "sub" / "broken.mkv").write_text("still uploading")
    (folder / "readme.txt").write_text("not a video, not picked up")
    output = tmp_path / f"rows{suffix}"
    # The quick crops: what is checked is which videos run and the rows they leave.
    options = ("--frames", "2", "--profile", "app", "--output", str(output))
    first = run_cli(str(folder), *options)
    assert first.returncode == 1, first.stderr  # the broken file
    rows = read_rows(output)
    by_name = {Path(r["path"]).name: r for r in rows}
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mp4", "broken.mkv"]
    assert by_name["b.mp4"]["verdict"] == "CANNOT JUDGE"
    assert "VideoError" in by_name["broken.mkv"]["error"]
    assert float(by_name["a.mp4"]["total_s"]) > 0
    assert int(by_name["a.mp4"]["people_judged"]) == 1
    assert 0 <= float(by_name["a.mp4"]["max_person_fake_probability"]) <= 1
    assert int(by_name["b.mp4"]["people_judged"]) == 0
    # The file is whole now (the no-face clip in a Matroska file).
    command = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(no_face_clip), "-c", "copy"]
    subprocess.run([*command, str(folder / "sub" / "broken.mkv")], check=True)

    # The runs after the first in this process (the same command; a process each cost 4 s of
    # start-up). Named one by one this time: the folder run's rows still say they are done.
    capsys.readouterr()
    assert cli.main([str(folder / "a.mp4"), str(folder / "sub"), *options, "--skip-failed"]) == cli.EXIT_OK
    assert capsys.readouterr().out == ""
    assert "VideoError" in read_rows(output)[2]["error"]

    assert cli.main([str(folder), *options]) == cli.EXIT_OK
    shown = capsys.readouterr().out
    assert "a.mp4" not in shown and "b.mp4" not in shown  # already done: skipped
    assert "broken.mkv: cannot judge" in shown
    rows = read_rows(output)
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mp4", "broken.mkv"]
    assert [r["verdict"] for r in rows[1:]] == ["CANNOT JUDGE", "CANNOT JUDGE"]
    assert not rows[2]["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name, "videos"]  # no temporary file left
