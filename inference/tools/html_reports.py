"""The CLI's HTML reports (``--html``): one page per video, or per failed video the reason."""

from __future__ import annotations

import logging
from pathlib import Path

from inference.links import looks_like_link
from inference.report import failure_report, html_report, write_report
from inference.report.sections import size_text
from inference.settings import Settings
from inference.tools.batch import Outcome
from inference.video.identity import identify

logger = logging.getLogger(__name__)


def one_per_video(target: Path, inputs: list[str], videos: int) -> bool:
    """Whether ``--html target`` is a folder of reports (one per video) rather than one file.

    A folder when it already is one, when it ends in a slash, or when the inputs are a folder
    or more than one video.
    """
    folder_input = any(not looks_like_link(raw) and Path(raw).is_dir() for raw in inputs)
    return target.is_dir() or str(target).endswith(("/", "\\")) or folder_input or videos > 1


def report_path(target: Path, many: bool, folder_of: Path) -> Path:
    """Where a video's report goes: ``target`` itself, or ``folder_of`` + ".html" in it.

    Args:
        target: The ``--html`` argument.
        many: See :func:`one_per_video`.
        folder_of: The video's per-video name in ``target`` (as ``--explain`` names its folder:
            ``<name>-<8 hex digits>``), without the suffix.
    """
    if not many:
        return target
    return folder_of.parent / f"{folder_of.name}.html"


def write_outcome(outcome: Outcome, path: Path, settings: Settings) -> Path:
    """Write the report of ``outcome`` to ``path``: the analysis, or why it failed (in words).

    Raises:
        OSError: If the file cannot be written.
    """
    if outcome.result is not None:
        page = html_report(outcome.result, settings)
    else:
        rows = []
        video = outcome.path
        if isinstance(video, Path) and video.is_file():
            identity = identify(video)
            rows = [("Size", size_text(identity.size_bytes)), ("SHA-256 of the file", identity.sha256)]
        page = failure_report(str(video), f"{outcome.error}", rows)
    written = write_report(path, page)
    logger.info("report of %s written to %s", outcome.path, written)
    return written
