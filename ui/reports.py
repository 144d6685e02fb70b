"""The HTML report as a file the page offers for download (see :mod:`inference.report`)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import gradio as gr

from inference import AnalysisResult, Settings
from inference.report import Options, html_report, write_report
from ui.public import scrubbed
from ui.render import REPORT_MAX_AGE_S, report_dir

# A visitor's report names the weights by file name, repository and sha256, never by a path on
# this server; its texts are cleaned as /report's JSON is (no setting names, server paths or
# inner URLs).
FOR_VISITORS = Options(show_paths=False, scrub=scrubbed)


def html_file(result: AnalysisResult, settings: Settings, shared: str | None = None) -> str:
    """Write the HTML report of ``result`` into :func:`report_dir` and return its path.

    Named ``<shared>.html`` when given (the JSON report's of the same run, so that both downloads
    share a name), else ``<file name>-report-<16 random hex digits>.html`` (not guessable); reports
    older than an hour are removed first.

    Raises:
        OSError: If the file cannot be written.
    """
    folder = report_dir()
    cutoff = time.time() - REPORT_MAX_AGE_S
    for old in folder.glob("*.html"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    stem = (
        "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(result.file_name).stem)[:60] or "video"
    )
    path = folder / f"{stem}-report-{secrets.token_hex(8)}.html"
    if shared:
        path = folder / f"{Path(shared).name}.html"
    return str(write_report(path, html_report(result, settings, FOR_VISITORS)))


def download(result: AnalysisResult, settings: Settings, shared: str | None = None) -> gr.DownloadButton:
    """The page's "Download report (HTML)" button, showing, with the report of ``result``
    (named ``<shared>.html`` when given: see :func:`html_file`)."""
    return gr.DownloadButton(value=html_file(result, settings, shared), visible=True)


def hidden() -> gr.DownloadButton:
    """The "Download report (HTML)" button, emptied and hidden (no report yet)."""
    return gr.DownloadButton(value=None, visible=False)
