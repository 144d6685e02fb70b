"""The HTML report: one self-contained page (no script, no request) built from a result with Jinja2."""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from inference.report.people import label_class, person_context, probability
from inference.report.sections import (
    Options,
    caveats,
    credentials_rows,
    file_rows,
    how_made,
    how_to_read,
    print_head,
)
from inference.report.version import git_commit, software_version
from inference.result import AnalysisResult
from inference.settings import Settings
from inference.video.identity import utc_now

TEMPLATE = "report.html.j2"
# Nothing may load: no script, no style sheet, no font, no frame, no form; images only from the
# page itself (data: URIs), styles only from its own <style>.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)


@cache
def environment() -> jinja2.Environment:
    """The template engine: the package's templates, every value HTML-escaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("inference.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _common(title: str) -> dict[str, Any]:
    commit = git_commit()
    return {
        "title": title,
        "csp": CONTENT_SECURITY_POLICY,
        "version": software_version() + (f", commit {commit}" if commit else ""),
        "made_at": utc_now(),
    }


def html_report(result: AnalysisResult, settings: Settings, options: Options | None = None) -> str:
    """The report of ``result`` as one HTML page.

    Args:
        result: The analysis (of a file, a link or a live stream).
        settings: The settings the analysis ran with (the uncertain band, the pins, ...).
        options: What to show and how to clean messages; default: everything, as for the CLI.
    """
    options = options or Options()
    margin = settings.uncertain_margin
    verdict = result.verdict
    context = {
        **_common(f"Deepfake check: {result.file_name}"),
        "failed": None,
        "analysed_at": result.analysed_at,
        "file": file_rows(result),
        "answer": {
            "label": verdict.label,
            "css": label_class(verdict.label),
            "probability": probability(verdict),
            "message": options.scrub(verdict.message),
            "opinions": [
                {"detector": o.detector, "label": o.verdict.label, "probability": probability(o.verdict)}
                for o in result.opinions
            ],
        },
        "how_to_read": how_to_read(margin),
        "caveats": caveats(result, settings, options),
        "people": [person_context(result, person, margin, options) for person in result.people],
        "credentials": credentials_rows(result, options),
        "how_made": how_made(result, settings, options),
        "print_head": print_head(result),
    }
    return environment().get_template(TEMPLATE).render(context)


def failure_report(subject: str, reason: str, rows: list[tuple[str, str]] | None = None) -> str:
    """The report of an analysis that could not be made: what was asked, and why it failed, in words.

    Args:
        subject: The file name or link asked about.
        reason: Why it failed (the engine's message).
        rows: What is known of the file (e.g. its size and sha256), as (name, value).
    """
    context = {
        **_common(f"Deepfake check: {subject}"),
        "failed": reason,
        "analysed_at": utc_now(),
        "file": [("Asked about", subject), *(rows or [])],
    }
    return environment().get_template(TEMPLATE).render(context)


def write_report(path: str | Path, page: str) -> Path:
    """Write ``page`` to ``path`` (UTF-8), through a temporary file renamed into place.

    Raises:
        OSError: If the folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(name, 0o644)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
    return path
