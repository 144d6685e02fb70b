"""Evaluate checkpoints on a labelled video set: ``python -m inference.evaluate DATASET``.

Writes, under ``--out``: ``summary.md`` (side-by-side metrics of every run), and per run a
folder with ``predictions.jsonl``, ``roc.png`` and ``reliability.png``. Runs have unique names
(two weights files of the same name are told apart by their folders), so no run overwrites
another.

UNCERTAIN and CANNOT JUDGE verdicts are abstentions, never counted as REAL or as wrong: each is
counted apart (as are errors), coverage is judged (FAKE or REAL) / all videos, accuracy and the
confusion matrix are over the judged videos only, and ROC AUC uses the fake probability wherever
there is one (judged and UNCERTAIN videos). See :mod:`inference.tools.metrics`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from inference.errors import DeepfakeDetectorError
from inference.faces.profiles import PROFILES
from inference.pipeline import Detector
from inference.settings import OFF, Settings
from inference.tools import datasets, metrics, ray_runner
from inference.tools.batch import analyze_all
from inference.weights import registry


@dataclass(frozen=True)
class Run:
    """One configuration to evaluate: which weights, how many frames.

    Attributes:
        name: Unique among the runs of one evaluation; the column of the summary.
        settings: The engine settings of the run.
        frames: Frames per video, or None for the checkpoint's.
        folder: Unique folder name (under ``--out``) for the run's files.
    """

    name: str
    settings: Settings
    frames: int | None
    folder: str


def distinct_names(paths: list[str]) -> list[str]:
    """Name each path by its shortest trailing part that no other path ends with.

    ``a/model.pt`` and ``b/model.pt`` are named so, ``x.pt`` and ``y/z.pt`` just ``x.pt`` and
    ``z.pt``; a path given twice keeps its whole text (:func:`plan_runs` then numbers it).
    """
    parts = [Path(path).parts or (path,) for path in paths]
    names = []
    for index, own in enumerate(parts):
        others = [other for i, other in enumerate(parts) if i != index]
        depth = next(
            (d for d in range(1, len(own)) if all(other[-d:] != own[-d:] for other in others)), len(own)
        )
        names.append(Path(*own[-depth:]).as_posix())
    return names


def _unique(names: list[str], mark: str, key: Callable[[str], str] = str) -> list[str]:
    """``names`` with ``mark`` (a format of the number) added to each repeat, by ``key``."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        while key(candidate) in seen:
            number += 1
            candidate = name + mark.format(number)
        seen.add(key(candidate))
        unique.append(candidate)
    return unique


def plan_runs(
    base: Settings,
    checkpoints: list[str],
    weights: list[str],
    frames: list[int],
    profiles: list[str] | None = None,
    second_opinions: list[str] | None = None,
) -> list[Run]:
    """Every combination of the requested weights, frame counts, preprocessing profiles and
    second opinions.

    Each list left empty means the configured value alone, except the second opinions: none
    given means "off", so that a run measures the named weights alone; a run with one is named
    "... + NAME" and scores its combined verdicts. Run names and folders are unique.
    """
    models = [(name, base.with_checkpoint(name)) for name in checkpoints]
    models += [
        (name, replace(base, weights_path=w))
        for name, w in zip(distinct_names(weights), weights, strict=True)
    ]
    if not models:
        models = [(base.checkpoint_spec().name, base)]
    counts: list[int | None] = list(frames) or [None]
    chosen: list[str | None] = list(profiles or []) or [None]
    seconds = list(second_opinions or []) or [OFF]
    combinations = [
        (
            f"{model}"
            + (f" @ {count} frames" if count else "")
            + (f" ({profile} crops)" if profile else "")
            + (f" + {second}" if second != OFF else ""),
            replace(settings, profile=profile or settings.profile, second_opinion=second),
            count,
        )
        for model, settings in models
        for count in counts
        for profile in chosen
        for second in seconds
    ]
    names = _unique([name for name, _, _ in combinations], " #{}")
    # Folder names are compared without case, for case-insensitive file systems.
    folders = _unique([_slug(name) for name in names], "-{}", key=str.lower)
    return [
        Run(name, settings, count, folder)
        for name, folder, (_, settings, count) in zip(names, folders, combinations, strict=True)
    ]


def evaluate_run(
    run: Run, videos: list[datasets.LabelledVideo], on_ray: bool = False
) -> tuple[list[metrics.Prediction], list[dict]]:
    """Analyse every video of the set with one configuration.

    Args:
        run: The configuration.
        videos: The labelled set.
        on_ray: Score on the connected Ray cluster (see :func:`ray_runner.session`) instead of
            in this process.
    """
    paths = [v.path for v in videos]
    if on_ray:
        scored = ray_runner.rows_in_order(ray_runner.score(run.settings, paths, frames=run.frames), paths)
    else:
        outcomes = analyze_all(Detector.from_settings(run.settings), paths, frames=run.frames)
        scored = (outcome.row() for outcome in outcomes)
    predictions, rows = [], []
    for video, row in tqdm(
        zip(videos, scored, strict=True), total=len(videos), desc=run.name, unit="video", file=sys.stderr
    ):
        predictions.append(
            metrics.Prediction(
                label=video.label,
                verdict=row["verdict"],
                fake_probability=row["fake_probability"],
                method=video.method,
            )
        )
        rows.append({**row, "label": video.label, "method": video.method})
    return predictions, rows


def _slug(name: str) -> str:
    """A folder name made of ``name``'s letters, digits, dots and dashes."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.") or "run"


def write_run(
    out: Path,
    run: Run,
    predictions: list[metrics.Prediction],
    rows: list[dict],
    result: metrics.Metrics,
    seconds: float,
) -> str:
    """Save one run's files; return its Markdown section."""
    folder = out / run.folder
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "predictions.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    section = metrics.markdown_run(run.name, result) + f"\n\nTime: {seconds:.1f} s for {len(rows)} videos."
    if metrics.plot_roc(predictions, folder / "roc.png", run.name):
        section += f"\n\n![ROC]({folder.name}/roc.png)"
    if metrics.plot_reliability(predictions, folder / "reliability.png", run.name):
        section += f"\n\n![Reliability]({folder.name}/reliability.png)"
    return section


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the evaluation command."""
    parser = argparse.ArgumentParser(prog="python -m inference.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "dataset",
        help="folder (real/+fake/, DFDC metadata.json, FaceForensics++ tree) "
        "or CSV/TSV file with path and label columns",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        choices=registry.names(),
        help="registered checkpoint to evaluate (repeat to compare)",
    )
    parser.add_argument("--weights", action="append", default=[], help="local checkpoint file (repeatable)")
    parser.add_argument(
        "--frames", action="append", type=int, default=[], help="frames per video (repeatable)"
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=list(PROFILES),
        help="preprocessing profile (repeat to compare, e.g. --profile training --profile app)",
    )
    parser.add_argument(
        "--second-opinion",
        action="append",
        default=[],
        choices=[*registry.names(registry.EFFICIENTNET), OFF],
        help="also judge with this second opinion and score the combined verdicts (repeat to compare; "
        "default: off, the weights alone)",
    )
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder")
    ray_runner.add_argument(parser, "score")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        videos = datasets.load(args.dataset)
        settings = Settings.from_env()
        runs = plan_runs(
            settings, args.checkpoint, args.weights, args.frames, args.profile, args.second_opinion
        )
    except (datasets.DatasetError, DeepfakeDetectorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not videos:
        print(f"error: no labelled videos found in {args.dataset}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, metrics.Metrics] = {}
    sections = []
    on_ray = args.ray is not None
    try:
        with ray_runner.session(args.ray or settings.ray_address) if on_ray else nullcontext():
            for run in runs:
                started = time.perf_counter()
                try:
                    predictions, rows = evaluate_run(run, videos, on_ray)
                except DeepfakeDetectorError as exc:
                    print(f"error: {run.name}: {exc}", file=sys.stderr)
                    return 2
                results[run.name] = metrics.compute(predictions)
                sections.append(
                    write_run(
                        args.out, run, predictions, rows, results[run.name], time.perf_counter() - started
                    )
                )
    except ray_runner.ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = metrics.comparison_table(results)
    summary = (
        f"# Evaluation of {args.dataset}\n\n{len(videos)} labelled videos.\n\n{table}\n\n"
        + "\n\n".join(sections)
    )
    (args.out / "summary.md").write_text(summary + "\n", encoding="utf-8")
    print(table)
    print(f"\nsummary: {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
