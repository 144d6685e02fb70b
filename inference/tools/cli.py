"""Command line: ``python -m inference VIDEO_OR_FOLDER [...]``."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from inference.errors import DeepfakeDetectorError
from inference.tools import live_args
from inference.tools.cli_args import build_parser

if TYPE_CHECKING:
    from inference.result import AnalysisResult
    from inference.settings import Settings
    from inference.tools.batch import RowFile

# The engine (torch, OpenCV, the weights) is imported inside the functions that run it, not here:
# ``--help`` and usage errors answer without it, and a plain file's analysis loads no more than
# it needs (no Ray, no link fetcher, no report templates, no Captum).

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_CANNOT_RUN = 2


def explain_folder(root: Path, video: Path | str) -> Path:
    """The folder of one video's heatmaps: ``root/<name>-<8 hex digits of its resolved path>``
    (of a link: ``root/link-<8 hex digits of the link>``).

    The digits keep apart same-named videos of different folders, and stay the same for a
    video from run to run.
    """
    if isinstance(video, str):
        digest = hashlib.sha1(video.encode("utf-8"), usedforsecurity=False).hexdigest()
        return root / f"link-{digest[:8]}"
    digest = hashlib.sha1(str(video.resolve()).encode("utf-8"), usedforsecurity=False).hexdigest()
    return root / f"{video.stem}-{digest[:8]}"


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment settings with the command line's checkpoint choices on top."""
    from inference.settings import Settings

    settings = Settings.from_env()
    if args.checkpoint:
        settings = settings.with_checkpoint(args.checkpoint)
    if args.weights:
        settings = replace(settings, weights_path=args.weights)
    if args.profile:
        settings = replace(settings, profile=args.profile)
    if args.second_opinion:
        settings = replace(settings, second_opinion=args.second_opinion)
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    live_args.check_arguments(parser, args)
    if args.live is not None:
        return run_live(args)
    check_file_options(parser, args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    return analyse_files(args)


def check_file_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse the options of a file analysis that do not go together (exits with a usage error)."""
    from inference.video.window import InvalidWindowError, check_window

    if not args.inputs:
        parser.error("the following arguments are required: inputs (or --live SOURCE)")
    try:
        check_window(args.start, args.end)
    except InvalidWindowError as exc:
        parser.error(f"--start/--end: {exc}")
    if args.skip_failed and not args.output:
        parser.error("--skip-failed needs --output")
    if args.ray is not None and not args.output:
        parser.error("--ray needs --output: the rows come back to that file")
    if args.ray is not None and (args.json or args.explain or args.html):
        parser.error("--ray writes rows to --output; --json, --explain and --html are for one machine")


def analyse_files(args: argparse.Namespace) -> int:
    """Analyse the videos of ``args.inputs`` (here, or on Ray with ``--ray``); returns the exit code."""
    from tqdm import tqdm

    from inference.pipeline import Detector
    from inference.tools.batch import RowFile, analyze_all, describe, find_videos

    html_reports = None
    if args.html:  # the report templates (Jinja2) only when a report is asked for
        from inference.tools import html_reports
    try:
        paths = find_videos(args.inputs)
        many = html_reports is not None and html_reports.one_per_video(args.html, args.inputs, len(paths))
        rows = RowFile(args.output) if args.output else None
        settings = settings_from_args(args)
        if args.ray is None:
            detector = Detector.from_settings(settings)
        else:
            settings.checkpoint_spec()  # the actors load the weights; this checks the settings' choice
        if rows is not None:
            paths = pending(rows, paths, retry_failed=not args.skip_failed)
        if args.ray is not None:
            assert rows is not None
            return run_on_ray(args, settings, paths, rows)
    except (DeepfakeDetectorError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    failed = 0
    outcomes = analyze_all(
        detector, paths, frames=args.frames, start_s=args.start, end_s=args.end, explain=bool(args.explain)
    )
    bar = tqdm(outcomes, total=len(paths), unit="video", disable=len(paths) < 2, file=sys.stderr)
    for outcome in bar:
        failed += outcome.error is not None
        row = outcome.row()
        if html_reports is not None:
            target = html_reports.report_path(args.html, many, explain_folder(args.html, outcome.path))
            row["report"] = str(html_reports.write_outcome(outcome, target, settings))
        if rows is not None:
            rows.append(row)
        if args.explain and outcome.result is not None:
            save_explanations(outcome.result, explain_folder(args.explain, outcome.path))
        if args.json:
            payload = outcome.result.to_dict() if outcome.result else row
            print(json.dumps(payload), flush=True)
        else:
            stream = sys.stderr if outcome.error else sys.stdout
            bar.write(describe(outcome), file=stream)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def run_live(args: argparse.Namespace) -> int:
    """Judge ``args.live`` while it plays (see :mod:`inference.tools.live_cli`); returns the exit code."""
    from inference.pipeline import Detector
    from inference.tools import live_cli

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        live_cli.run(Detector.from_settings(settings_from_args(args)), args)
    except (DeepfakeDetectorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return EXIT_OK


def run_on_ray(args: argparse.Namespace, settings: Settings, paths: list[Path | str], rows: RowFile) -> int:
    """Analyse ``paths`` on Ray (see :mod:`inference.tools.ray_runner`), appending each row to
    ``rows`` as it comes back; returns the exit code.

    Raises:
        ClusterError: If Ray cannot be started or reached, or its pipeline fails.
        OSError: If a row cannot be written.
    """
    from tqdm import tqdm

    from inference.tools import ray_runner

    failed = 0
    with ray_runner.session(args.ray or settings.ray_address):
        scored = ray_runner.score(settings, paths, frames=args.frames, start_s=args.start, end_s=args.end)
        bar = tqdm(scored, total=len(paths), unit="video", disable=len(paths) < 2, file=sys.stderr)
        for item in bar:
            failed += item.failed
            rows.append(item.row)
            bar.write(item.line, file=sys.stderr if item.failed else sys.stdout)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def pending(rows: RowFile, paths: list[Path | str], retry_failed: bool = True) -> list[Path | str]:
    """The videos of ``paths`` still to analyse, given the rows already written.

    Args:
        rows: The output file of an earlier, possibly stopped, run.
        paths: Every video of this run.
        retry_failed: Analyse again the videos whose rows hold an error; their old rows are
            removed from the file first, so that each video keeps one row.

    Raises:
        ValueError: If the file cannot be read as rows.
        OSError: If it cannot be rewritten.
    """
    if retry_failed:
        removed = rows.forget_failed({str(p) for p in paths})
        if removed:
            logger.info("%s: retrying %d videos that failed before", rows.path, removed)
    done = rows.done(include_failed=not retry_failed)
    return [p for p in paths if str(p) not in done]


def save_explanations(result: AnalysisResult, folder: Path) -> list[Path]:
    """Write one PNG per explained face (crop | overlay) into ``folder``; returns the files.

    Names say the frame, its time and its fake probability, e.g.
    ``frame_000123_t4.10s_fake0.87.png``; the second opinion's attention maps are
    ``attention_frame_000123_person1_fake0.64.png``.
    """
    import cv2

    from inference.models.explain import side_by_side

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for crop, frame in zip(result.crops, result.frames, strict=True):
        if frame.heatmap is None:
            continue
        path = folder / (
            f"frame_{frame.frame_index:06d}_t{frame.timestamp_s:.2f}s_fake{frame.fake_probability:.2f}.png"
        )
        cv2.imwrite(str(path), cv2.cvtColor(side_by_side(crop, frame.heatmap), cv2.COLOR_RGB2BGR))
        written.append(path)
    for person in result.people:
        for opinion in person.opinions[1:]:
            for seen in opinion.frames:
                face = result.second_crops.get((person.id, seen.frame_index))
                if seen.attention is None or face is None:
                    continue
                path = folder / (
                    f"attention_frame_{seen.frame_index:06d}_person{person.id}_fake{seen.fake_probability:.2f}.png"
                )
                cv2.imwrite(str(path), cv2.cvtColor(side_by_side(face, seen.attention), cv2.COLOR_RGB2BGR))
                written.append(path)
    return written
