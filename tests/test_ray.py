"""Batch analysis and evaluation on Ray (a local Ray of 2 CPUs for the module): the same
rows as one process, error rows for broken files, a killed run resumed, the same metrics.

Ray is imported by the ``ray_cluster`` fixture alone, after the runner has chosen the loopback
(see :func:`inference.tools.ray_runner.session`), not by this module.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import RAY_START_CONNECTIONS, REPO_ROOT, SHARED_MEDIA

from inference import Detector, Settings
from inference.tools import evaluate, ray_runner
from inference.tools.batch import analyze_all

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed: pip install -r requirements-cluster.txt", allow_module_level=True)

FRAMES = "4"
# Columns that measure time, so differ from run to run.
TIMINGS = ("decode_s", "faces_s", "model_s", "explain_s", "second_opinion_s", "total_s")
PROBABILITIES = (
    "fake_probability",
    "confidence",
    "first_fake_probability",
    "second_fake_probability",
    "max_person_fake_probability",
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP address, IPv4-mapped ones too, or a name) is on the loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False


def assert_same_rows(on_ray: list[dict], alone: list[dict]) -> None:
    """The rows of a Ray run equal one process's: probabilities within 1e-6, the rest exactly
    (timings aside)."""
    by_path = {row["path"]: row for row in alone}
    assert sorted(row["path"] for row in on_ray) == sorted(by_path)
    for row in on_ray:
        expected = by_path[row["path"]]
        for key, value in row.items():
            if key in PROBABILITIES and value is not None:
                assert value == pytest.approx(expected[key], abs=1e-6), (row["path"], key)
            elif key not in TIMINGS:
                assert value == expected[key], (row["path"], key)


def compare(paths: list[Path], environment: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """Rows of ``paths`` on the connected Ray and in this process, with the same settings (the
    defaults, or those of ``environment``)."""
    settings = Settings.from_env(environment or {})
    on_ray = [item.row for item in ray_runner.score(settings, paths, frames=int(FRAMES))]
    alone = [o.row() for o in analyze_all(Detector.from_settings(settings), paths, frames=int(FRAMES))]
    return on_ray, alone


def test_local_ray_is_on_the_loopback_alone(ray_cluster: str):
    import ray

    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert is_loopback(ray_cluster.rpartition(":")[0])
    # Nothing was reached but the loopback while Ray started: not even the UDP "connect" to
    # 8.8.8.8 by which Ray finds the address of a node that is not loopback-only.
    reached = [host for host in RAY_START_CONNECTIONS if not host.startswith("/")]  # not Unix sockets
    assert all(is_loopback(host) for host in reached), reached
    names, sockets = set(), []
    # Every process of this worker, Ray's and any other; one that exits meanwhile (another
    # module's servers stop in a thread of their own) has nothing left to check.
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            names.add(process.name())
            sockets += process.net_connections(kind="inet")
    assert {"gcs_server", "raylet"} <= names, names
    listening = [s.laddr.ip for s in sockets if s.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3 and all(is_loopback(ip) for ip in listening), listening
    assert all(is_loopback(s.raddr.ip) for s in sockets if s.raddr), [s.raddr for s in sockets]


@pytest.mark.slow
def test_rows_equal_single_process_rows_on_every_shared_clip(ray_cluster: str):
    clips = sorted(SHARED_MEDIA.glob("*.mp4"))
    if not clips:
        pytest.skip(f"no clips in {SHARED_MEDIA}")
    assert_same_rows(*compare(clips))


def run_cli(log: Path, *args: str) -> subprocess.Popen[bytes]:
    """The command in a process of its own, its output into ``log`` (a pipe nobody reads could
    fill and stop it)."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "inference", *args], cwd=REPO_ROOT, stdout=handle, stderr=subprocess.STDOUT
        )


# Slow: a long scenario (two command processes on the cluster, one killed midway). The default
# run resumes a folder run that ended with a failure, without Ray (tests/test_cli.py), not a killed one.
@pytest.mark.slow
def test_a_run_killed_midway_and_started_again_has_each_video_once(
    ray_cluster: str, tmp_path: Path, genuine_clip: Path, manipulated_clip: Path
):
    folder = tmp_path / "videos"
    folder.mkdir()
    for number in range(6):
        shutil.copy((genuine_clip, manipulated_clip)[number % 2], folder / f"clip{number}.mp4")
    output = tmp_path / "rows.jsonl"
    options = ("--frames", "2", "--profile", "app", "--output", str(output), "--ray", ray_cluster)
    command = (str(folder), *options)
    first = run_cli(tmp_path / "first.log", *command)
    deadline = time.monotonic() + 240
    while not (output.is_file() and output.read_text()) and first.poll() is None:
        assert time.monotonic() < deadline, "no row within 240 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    kept = [json.loads(line)["path"] for line in output.read_text().splitlines()]
    assert 1 <= len(kept) < 6, kept  # stopped midway, with its finished rows flushed
    second = run_cli(tmp_path / "second.log", *command)
    second.wait(timeout=300)
    printed = (tmp_path / "second.log").read_text()
    assert second.returncode == 0, printed
    assert not any(path in printed for path in kept)  # already done: not analysed again
    paths = [json.loads(line)["path"] for line in output.read_text().splitlines()]
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())  # each video exactly once
    assert paths[: len(kept)] == kept


def test_evaluate_on_ray_gives_the_same_rows_and_metrics(
    ray_cluster: str, tmp_path: Path, genuine_clip: Path, manipulated_clip: Path
):
    """The same rows as one process (the settings reach the actors; a broken file is an error
    row), so the same metrics. The rows on every shared clip: ``-m slow``."""
    data = tmp_path / "set"
    for label, clip in (("real", genuine_clip), ("fake", manipulated_clip)):
        (data / label).mkdir(parents=True)
        shutil.copy(clip, data / label / "a.mp4")
    (data / "fake" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    reports = {}
    for name, extra in (("alone", []), ("ray", ["--ray"])):
        out = tmp_path / name
        options = ["--frames", FRAMES, "--profile", "app", "--out", str(out)]
        assert evaluate.main([str(data), *options, *extra]) == 0
        summary = (out / "summary.md").read_text()
        (run,) = (p for p in out.iterdir() if p.is_dir())
        rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
        reports[name] = ([line for line in summary.splitlines() if not line.startswith("Time: ")], rows)
    assert reports["ray"][0] == reports["alone"][0]
    assert "| errors (not in the scores) | 1 |" in "\n".join(reports["ray"][0])
    assert [row["path"] for row in reports["ray"][1]] == [row["path"] for row in reports["alone"][1]]
    on_ray = reports["ray"][1]
    assert_same_rows(on_ray, reports["alone"][1])
    errors = {Path(row["path"]).name: row["error"] for row in on_ray if row["error"]}
    assert list(errors) == ["broken.mp4"] and errors["broken.mp4"].startswith("VideoError: "), errors
    judged = [row for row in on_ray if not row["error"]]
    assert len(judged) == 2 and all(row["verdict"] for row in judged)
    assert {(row["profile"], row["frames_sampled"]) for row in judged} == {("app", int(FRAMES))}


def test_weights_an_actor_cannot_load_stop_the_run_with_the_engine_message(
    ray_cluster: str, tmp_path: Path, genuine_clip: Path
):
    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": str(tmp_path / "missing.pt")})
    with pytest.raises(ray_runner.ClusterError, match=r"could not start: .*missing.pt does not exist"):
        list(ray_runner.score(settings, [genuine_clip], frames=2))


def test_rows_in_order_follows_the_paths_as_soon_as_it_can():
    arrived = [ray_runner.Scored({"path": p}, p) for p in ("c", "a", "b")]
    seen: list[str] = []

    def watched():
        for item in arrived:
            seen.append(item.row["path"])
            yield item

    ordered = ray_runner.rows_in_order(watched(), ["a", "b", "c", "a"])
    assert next(ordered)["path"] == "a" and seen == ["c", "a"]  # "a" as soon as it came
    assert [row["path"] for row in ordered] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("address", "accepted", "loopback"),
    [
        ("", True, False),
        ("auto", True, False),
        ("127.0.0.1:6379", True, True),
        ("localhost:6379", True, True),
        ("[::1]:6379", True, True),
        ("ray://10.0.0.5:10001", True, False),
        ("head.cluster.internal:6379", True, False),
        ("videos/", False, False),
        ("clip.mp4", False, False),
    ],
)
def test_addresses(address: str, accepted: bool, loopback: bool):
    if not accepted:
        with pytest.raises(argparse.ArgumentTypeError, match="put --ray after the videos"):
            ray_runner.address_argument(address)
        return
    assert ray_runner.address_argument(address) == address
    if address not in ("", "auto"):
        assert ray_runner.on_loopback(address) is loopback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray"], "--ray needs --output"),
        (["--output", "rows.csv", "--json", "--ray"], "--json, --explain and --html are for one machine"),
        (["--ray", "videos/", "--output", "rows.csv"], "'videos/' is not a Ray address"),
    ],
)
def test_ray_arguments_are_checked_before_anything_runs(
    genuine_clip: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    from inference.tools import cli

    with pytest.raises(SystemExit) as stopped:
        cli.main([str(genuine_clip), *args])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("resources", "env", "videos", "pool"),
    [
        ({"CPU": 2.0}, {}, 100, (2, 1.0, 0.0)),
        ({"CPU": 2.0}, {}, 1, (1, 1.0, 0.0)),  # never more actors than videos
        ({"CPU": 16.0}, {"DEEPFAKE_RAY_CPUS_PER_ACTOR": "4"}, 100, (4, 4.0, 0.0)),
        ({"CPU": 1.0}, {"DEEPFAKE_RAY_CPUS_PER_ACTOR": "4"}, 100, (1, 4.0, 0.0)),  # waits for a node
        ({"CPU": 64.0, "GPU": 8.0}, {}, 100, (8, 1.0, 1.0)),  # one actor per GPU
        ({"CPU": 64.0, "GPU": 8.0}, {"DEEPFAKE_RAY_GPUS_PER_ACTOR": "0.25"}, 100, (32, 1.0, 0.25)),
        ({"CPU": 16.0, "GPU": 8.0}, {"DEEPFAKE_RAY_GPUS_PER_ACTOR": "0.25"}, 100, (16, 1.0, 0.25)),
        ({"CPU": 64.0, "GPU": 8.0}, {"DEEPFAKE_DEVICE": "cpu"}, 100, (64, 1.0, 0.0)),
        ({"CPU": 64.0, "GPU": 8.0}, {"DEEPFAKE_RAY_ACTORS": "3"}, 100, (3, 1.0, 1.0)),
    ],
)
def test_actor_pool(resources: dict[str, float], env: dict[str, str], videos: int, pool: tuple):
    assert ray_runner.plan_pool(resources, Settings.from_env(env), videos) == pool
