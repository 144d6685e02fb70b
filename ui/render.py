"""Turning an :class:`AnalysisResult` into what the page shows: verdict, people, gallery, plot, files."""

from __future__ import annotations

import base64
import html
import json
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import cv2
from matplotlib.figure import Figure

from inference import FAKE, REAL, AnalysisResult
from inference.models.explain import side_by_side
from ui.guards import for_visitors
from ui.theme import PLOT_LINES, PLOT_MUTED

REPORT_MAX_AGE_S = 3600


@cache
def report_dir() -> Path:
    """This process's own folder for the JSON files it serves (mode 0700, a fresh random name).

    A fixed name in the shared temp folder could be planted as a link by another user and
    turn the hourly clean-up against the link's target.
    """
    return Path(tempfile.mkdtemp(prefix="deepfake-detector-reports-"))


def label_file(result: AnalysisResult) -> str:
    """The verdict for ``gr.Label``: the label, and FAKE/REAL confidences once faces were scored.

    Returned as a ``.json`` file, the one form in which ``gr.Label`` shows a label (UNCERTAIN)
    that is not simply the most confident class.
    """
    return write_json(result.file_name, "label", label_data(result))


def label_data(result: AnalysisResult) -> dict[str, Any]:
    """``gr.Label``'s value: {"label": verdict, "confidences": [FAKE and REAL, likelier first]}."""
    verdict = result.verdict
    confidences = []
    if verdict.fake_probability is not None:
        fake = verdict.fake_probability
        confidences = sorted(
            [{"label": FAKE, "confidence": fake}, {"label": REAL, "confidence": 1.0 - fake}],
            key=lambda c: -c["confidence"],
        )
    return {"label": verdict.label, "confidences": confidences}


def gallery(result: AnalysisResult) -> list[tuple[Any, str]]:
    """Every scored face (RGB), grouped by person, each next to its heatmap when there is one."""
    entries = []
    for person in result.people:
        for crop, frame in zip(result.crops, result.frames, strict=True):
            if frame.person != person.id:
                continue
            image = crop if frame.heatmap is None else side_by_side(crop, frame.heatmap)
            caption = f"P{frame.person} {frame.timestamp_s:.1f}s {frame.fake_probability:.2f}"
            entries.append((image, caption))
    return entries


def people_table(result: AnalysisResult) -> str:
    """One table row per person: their largest face, verdict, confidence and when seen (HTML)."""
    rows = []
    for person in result.people:
        verdict = person.verdict
        face = cv2.imencode(".png", cv2.cvtColor(result.crops[person.representative], cv2.COLOR_RGB2BGR))[1]
        image = f'<img src="data:image/png;base64,{base64.b64encode(face).decode()}" width="56" height="56">'
        judged = (
            f"<b>{verdict.label}</b> {verdict.confidence:.0%}"
            if person.judged
            else "seen briefly, not judged"
        )
        span = f"{person.first_seen_s:.1f}–{person.last_seen_s:.1f} s"
        seen = f"{person.seen} of {result.frames_sampled} frames, {span}"
        rows.append(f"<tr><td>{image}</td><td>Person {person.id}</td><td>{judged}</td><td>{seen}</td></tr>")
    if not rows:
        return "<p><b>People in the clip:</b> nobody was seen.</p>"
    return f"<table><caption>People in the clip</caption><tbody>{''.join(rows)}</tbody></table>"


def timeline(result: AnalysisResult, margin: float) -> Figure:
    """Fake probability per scored frame over time, one line per person, the UNCERTAIN band shaded.

    A Matplotlib figure in ``gr.Plot`` rather than ``gr.LinePlot``: Gradio 6.31 cannot replay a
    cached example into a ``LinePlot``.
    """
    figure = Figure(figsize=(6, 2.4), dpi=110, layout="constrained")
    figure.patch.set_alpha(0)
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    axes.axhspan(0.5 - margin, 0.5 + margin, color=PLOT_MUTED, alpha=0.18, lw=0, label="uncertain band")
    for person in result.people:
        mine = [f for f in result.frames if f.person == person.id]
        axes.plot(
            [f.timestamp_s for f in mine],
            [f.fake_probability for f in mine],
            color=PLOT_LINES[(person.id - 1) % len(PLOT_LINES)],
            marker="o",
            markersize=3,
            lw=1.6,
            label=f"person {person.id}",
        )
    if len(result.people) > 1:
        axes.legend(loc="upper right", fontsize=7, frameon=False, labelcolor=PLOT_MUTED)
    axes.set_ylim(0, 1)
    axes.set_xlabel("time (s)", color=PLOT_MUTED)
    axes.set_ylabel("fake probability", color=PLOT_MUTED)
    axes.tick_params(colors=PLOT_MUTED)
    axes.grid(alpha=0.25, color=PLOT_MUTED)
    for spine in axes.spines.values():
        spine.set_color(PLOT_MUTED)
    return figure


def report_file(result: AnalysisResult) -> str:
    """The full JSON report as a file to download."""
    return write_json(result.file_name, "report", result.to_dict())


def write_json(file_name: str, kind: str, data: dict[str, Any]) -> str:
    """Write ``data`` to a new JSON file in :func:`report_dir` (files older than an hour go)."""
    folder = report_dir()
    cutoff = time.time() - REPORT_MAX_AGE_S
    for old in folder.glob("*.json"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=folder, prefix=f"{Path(file_name).stem}-{kind}-", suffix=".json", delete=False
    ) as handle:
        json.dump(data, handle, indent=2)
    return handle.name


def summary(result: AnalysisResult) -> str:
    """The verdict's message, which file and crop profile it is about, weights, time and notes (Markdown)."""
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    weights = result.weights
    # The file name and hash, never a local path: visitors need not see the server's folders.
    name = weights.filename or weights.name
    config = f", config.json sha256 `{weights.config_sha256[:16]}…`" if weights.config_sha256 else ""
    served = f"`{name}` (sha256 `{weights.sha256[:16]}…`{config})"
    if weights.unavailable:
        served += f", a mirror: {len(weights.unavailable)} earlier source(s) could not be used"
    notes = "".join(f"\n\n⚠️ {html.escape(for_visitors(note))}" for note in result.notes)
    return (
        f"**{plain(result.file_name)}**: **{result.verdict.message}**\n\n"
        f"Face crops: `{result.profile}` profile. Weights: {served}. Time: {timings}.{notes}"
    )


def plain(text: str) -> str:
    """A file name safe to put in Markdown (no markup from a visitor's file name)."""
    return html.escape(text).replace("*", "\\*").replace("_", "\\_").replace("`", "'")
