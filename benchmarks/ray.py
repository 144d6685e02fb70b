"""Videos per minute in one process and on a local Ray: ``python -m benchmarks.ray [--frames N]``.

Scores every clip of ``../shared/media`` (random weights, second opinion off) in this process,
then on a Ray started on this machine (2 CPUs) with one actor of 2 CPUs and with two actors of
1 CPU each, each Ray run started and stopped on its own so that its start-up is measured. From
the per-video seconds the actors' rows report, writes an estimate of how long DFDC takes on
CPU and GPU nodes. Writes ``benchmarks/ray.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.run import MEDIA, clips, random_checkpoint, write_table
from inference import Detector, Settings
from inference.tools import ray_runner
from inference.tools.batch import analyze_all

RESULTS = Path(__file__).with_name("ray.md")
DFDC_VIDEOS = 120_000
DFDC_BYTES = 470e9
# DFDC's clips are 10 s of 1080p (some portrait), as the three DFDC clips of the shared set.
DFDC_CLIPS = ("abqwwspghj", "brtujopkby", "lynaeydofd")
NODES = (1, 4, 16, 64)
NOTES = """How to read it:

- *Ray start-up* is `ray.init` of a local instance; *first row* counts from then (in one process,
  from the loaded detector) to the first video back: on Ray it is each actor's start (a fresh
  process importing torch, OpenCV and dlib and loading the weights) and one video. *Total* is
  everything, Ray's start and stop or the one process's weights included.
- One process keeps both cores busy only while torch scores, a small share of each clip's time
  at these frame counts (see the DFDC line: decoding and finding faces take most of it, on one
  core with decoding ahead on another thread). Two actors of 1 CPU keep two videos in flight, so
  once started they can pass one process; one actor of 2 CPUs does one process's work behind
  Ray. For a handful of clips Ray's start-up (its own, then each actor importing torch, OpenCV
  and dlib and loading the weights) outweighs that; Ray pays off on long lists, on machines with
  more cores than one process keeps busy, and on more machines than one.
- Other work shared the machine (the load average above): compare the rounds to see how far
  it moved the figures.
- The DFDC estimate scales the seconds the fastest two-actor round's rows report per DFDC clip (an actor
  of 1 CPU, so per core) to 120,000 videos over actors of 1 CPU on 32-core nodes, start-up left
  out (seconds against hours). On GPU nodes the model's share moves to the GPU and the CPU side
  (decoding, finding faces) bounds the rate: with `DEEPFAKE_RAY_GPUS_PER_ACTOR=0.25`, four actors
  share a GPU, so decoding overlaps scoring. The cost grows about linearly with `--frames`
  (the 100-frame checkpoint's default is 100). The last column is what the nodes read from the
  shared folder (470 GB over the run): past a few hundred MB/s, more than one NFS server
  serves; spread the data over several, or copy each node's share to its own disk."""
CORES_PER_NODE = 32


@dataclass(frozen=True)
class Measured:
    """One configuration's run over the clips."""

    name: str
    start_s: float  # Ray's start-up (ray.init), 0 in one process
    first_row_s: float  # from the pipeline's start to its first row (actors starting, first video)
    last_row_s: float  # from the pipeline's start to its last row
    total_s: float  # from the start (Ray's included) to the end
    rows: list[dict]

    def line(self) -> str:
        """The table's row: videos per minute overall and between the first row and the last."""
        steady = 60 * (len(self.rows) - 1) / (self.last_row_s - self.first_row_s)
        return (
            f"| {self.name} | {len(self.rows)} | {self.start_s:.1f} | {self.first_row_s:.1f} | "
            f"{self.total_s:.1f} | {60 * len(self.rows) / self.total_s:.1f} | {steady:.1f} |"
        )


def alone(settings: Settings, paths: list[Path], frames: int, name: str) -> Measured:
    started = time.perf_counter()
    detector = Detector.from_settings(settings)
    loaded = time.perf_counter()
    arrivals, rows = [], []
    for outcome in analyze_all(detector, paths, frames=frames):
        rows.append(outcome.row())
        arrivals.append(time.perf_counter() - loaded)
    return Measured(name, 0.0, arrivals[0], arrivals[-1], time.perf_counter() - started, rows)


def on_ray(settings: Settings, paths: list[Path], frames: int, name: str) -> Measured:
    started = time.perf_counter()
    with ray_runner.session(None, cpus=2):
        up = time.perf_counter()
        arrivals, rows = [], []
        for item in ray_runner.score(settings, paths, frames=frames):
            rows.append(item.row)
            arrivals.append(time.perf_counter() - up)
        total = time.perf_counter() - started
    return Measured(name, up - started, arrivals[0], arrivals[-1], total, rows)


def seconds_per_video(rows: list[dict], stages: tuple[str, ...]) -> float:
    """Mean seconds of ``stages`` per DFDC clip, as the rows report them."""
    dfdc = [row for row in rows if any(name in row["path"] for name in DFDC_CLIPS)]
    return statistics.mean(sum(row[f"{stage}_s"] or 0 for stage in stages) for row in dfdc)


def estimate(rows: list[dict], frames: int) -> list[str]:
    """Lines of the DFDC estimate, from the per-video seconds of actors of one CPU each."""
    everything = seconds_per_video(rows, ("decode", "faces", "model", "second_opinion"))
    cpu_side = seconds_per_video(rows, ("decode", "faces"))
    lines = [
        f"Per DFDC-like clip (1080p, 10 s) at {frames} frames, one actor of one CPU: {everything:.2f} s "
        f"(decoding and faces {cpu_side:.2f} s, the model {everything - cpu_side:.2f} s).",
        "",
        f"| nodes of {CORES_PER_NODE} cores | CPU nodes (1 actor per core) | GPU nodes (model on the GPU, "
        "0.25 GPU per actor, 1 actor per core) | read from the shared folder (GPU nodes) |",
        "|---|---|---|---|",
    ]
    for nodes in NODES:
        actors = nodes * CORES_PER_NODE
        gpu_s = DFDC_VIDEOS * cpu_side / actors
        lines.append(
            f"| {nodes} | {duration(DFDC_VIDEOS * everything / actors)} | {duration(gpu_s)} | "
            f"{DFDC_BYTES / gpu_s / 1e6:,.0f} MB/s |"
        )
    return lines


def duration(seconds: float) -> str:
    """``seconds`` in hours, or minutes under an hour."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each configuration, in turn")
    args = parser.parse_args()
    paths = [path for path, _ in clips([])]
    base = {"DEEPFAKE_WEIGHTS_PATH": str(random_checkpoint()), "DEEPFAKE_SECOND_OPINION": "off"}
    load = os.getloadavg()[0]
    # The configurations take turns, round after round, so that other work on the machine does
    # not favour whichever ran when it was quiet; every round is shown.
    runs: list[Measured] = []
    for number in range(1, args.rounds + 1):
        runs.append(alone(Settings.from_env(base), paths, args.frames, f"one process, round {number}"))
        for actors, cpus in ((1, 2), (2, 1)):
            env = {**base, "DEEPFAKE_RAY_ACTORS": str(actors), "DEEPFAKE_RAY_CPUS_PER_ACTOR": str(cpus)}
            name = f"Ray, {actors} actor{'s' * (actors > 1)} of {cpus} CPU{'s' * (cpus > 1)}, round {number}"
            runs.append(on_ray(Settings.from_env(env), paths, args.frames, name))
    fastest_two_actors = min(runs[2::3], key=lambda measured: measured.total_s)
    lines = [
        "| run | videos | Ray start-up, s | first row, s | total, s | videos/min | "
        "videos/min after the first row |",
        "|---|---|---|---|---|---|---|",
        *(measured.line() for measured in runs),
        "",
        *estimate(fastest_two_actors.rows, args.frames),
    ]
    intro = (
        f"`python -m benchmarks.ray --frames {args.frames} --rounds {args.rounds}` on the {len(paths)} "
        f"clips of `../shared/{MEDIA.name}` (random weights, second opinion off; {os.cpu_count()} cores; "
        f"{args.rounds} rounds; load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, other work sharing the machine)."
    )
    write_table(RESULTS, "Batch analysis on Ray: videos per minute", intro, [*lines, "", NOTES])


if __name__ == "__main__":
    main()
