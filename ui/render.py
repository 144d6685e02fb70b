"""Turning an :class:`AnalysisResult` into what the page shows: verdict, people, gallery, plot, files."""

from __future__ import annotations

import atexit
import base64
import html
import json
import shutil
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from matplotlib.figure import Figure

from inference import CANNOT_JUDGE, FAKE, REAL, UNCERTAIN, AnalysisResult
from inference.models.explain import side_by_side
from inference.provenance.claims import NOT_TRUSTED
from inference.result import DISAGREE, Verdict
from ui.guards import for_visitors
from ui.text import code, markdown_text, words_for_codes
from ui.theme import PLOT_LINES, PLOT_MUTED

REPORT_MAX_AGE_S = 3600


@cache
def report_dir() -> Path:
    """This process's own folder for the JSON files it serves (mode 0700, a fresh random name).

    A fixed name in the shared temp folder could be planted as a link by another user and
    turn the hourly clean-up against the link's target. Removed when the process exits.
    """
    folder = Path(tempfile.mkdtemp(prefix="deepfake-detector-reports-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def label_file(result: AnalysisResult) -> str:
    """The verdict for ``gr.Label``: the label, and FAKE/REAL confidences once faces were scored.

    Returned as a ``.json`` file, the one form in which ``gr.Label`` shows a label (UNCERTAIN)
    that is not simply the most confident class.
    """
    return write_json(result.file_name, "label", label_data(result))


def label_data(result: AnalysisResult) -> dict[str, Any]:
    """``gr.Label``'s value: {"label": verdict, "confidences": [FAKE and REAL, likelier first]}.

    No bars when the detectors disagree: the mean of a FAKE and a REAL score would show a lean
    that neither detector has.
    """
    verdict = result.verdict
    confidences = []
    if verdict.fake_probability is not None and DISAGREE not in verdict.message:
        fake = verdict.fake_probability
        confidences = sorted(
            [{"label": FAKE, "confidence": fake}, {"label": REAL, "confidence": 1.0 - fake}],
            key=lambda c: -c["confidence"],
        )
    return {"label": verdict.label, "confidences": confidences}


def gallery(result: AnalysisResult) -> list[tuple[Any, str]]:
    """Every scored face (RGB), grouped by person in time order, each next to its heatmap when there is one.

    With explanations, the second opinion's faces stand among the first detector's at their
    time, next to the map of where its own attention went (AutoAtt networks), at the first
    detector's crop size, their captions marked "2nd".
    """
    when = {frame.frame_index: frame.timestamp_s for frame in result.frames}
    entries = []
    for person in result.people:
        mine: list[tuple[float, int, Any, str]] = []
        for crop, frame in zip(result.crops, result.frames, strict=True):
            if frame.person != person.id:
                continue
            image = crop if frame.heatmap is None else side_by_side(crop, frame.heatmap)
            caption = f"P{frame.person} {frame.fake_probability:.2f}"
            mine.append((frame.timestamp_s, 0, image, caption))
        for opinion in person.opinions[1:]:
            for seen in opinion.frames:
                face = result.second_crops.get((person.id, seen.frame_index))
                if face is None or seen.attention is None:
                    continue
                side = result.crops[person.representative].shape[0]
                small = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
                at = when.get(seen.frame_index, 0.0)
                caption = f"P{person.id} 2nd {seen.fake_probability:.2f}"
                mine.append((at, 1, side_by_side(small, seen.attention), caption))
        if len(result.people) > 1 and mine:
            entries.append(
                (heading(person.id, result.crops[person.representative].shape[0]), f"Person {person.id}")
            )
        entries += [(image, caption) for _, _, image, caption in sorted(mine, key=lambda e: e[:2])]
    return entries


def heading(person: int, side: int) -> Any:
    """A tile that starts person ``person``'s faces in the gallery: their name on their plot colour.

    Returns:
        A (side, side, 3) uint8 RGB image.
    """
    colour = PLOT_LINES[(person - 1) % len(PLOT_LINES)].lstrip("#")
    tile = np.full((side, side, 3), [int(colour[i : i + 2], 16) for i in (0, 2, 4)], np.uint8)
    scale = side / 160
    for text, y in ((f"Person {person}", 0.45), ("faces ->", 0.7)):
        (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, round(2 * scale)))
        origin = ((side - width) // 2, int(side * y))
        cv2.putText(
            tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), max(1, round(2 * scale))
        )
    return tile


def people_table(result: AnalysisResult) -> str:
    """One row per person: their largest face, each detector's verdict, the combined one, when seen (HTML).

    The table fits a desktop's column: cells wrap at spaces (never inside a word; a detector's
    name may break after its hyphens), the face is 40 px. Where it is wider than its column (a
    phone at 390 px) it scrolls sideways, and a hint above it, on its own line, says so (shown only
    then: the page script in ui/hints.py, the CSS in ui/theme.py).
    """
    if not result.people:
        return _declared(result) + "<p><b>People in the clip:</b> nobody was seen.</p>"
    pad = 'style="padding:4px"'
    names = [opinion.detector for opinion in result.people[0].opinions]
    roles = ("first detector", "second opinion")
    heads = (
        "".join(
            f"<th {pad}>{html.escape(name).replace('-', '-<wbr>')} ({role})</th>"
            for name, role in zip(names, roles, strict=False)
        )
        if len(names) > 1
        else ""
    )
    rows = []
    for person in result.people:
        face = cv2.imencode(".png", cv2.cvtColor(result.crops[person.representative], cv2.COLOR_RGB2BGR))[1]
        image = (
            f'<img src="data:image/png;base64,{base64.b64encode(face).decode()}" width="40" height="40" '
            f'alt="person {person.id}" style="width:40px;height:40px;min-width:40px;max-width:none">'
        )
        said = [f"<td {pad}>{_said(o.verdict)}</td>" for o in person.opinions]
        cells = "".join(said) if len(names) > 1 else ""
        span = (
            f"at {person.first_seen_s:.1f} s"
            if person.seen == 1
            else f"{person.first_seen_s:.1f}–{person.last_seen_s:.1f} s"
        )
        seen = f"{person.seen} of {result.frames_sampled} frames, {span}"
        rows.append(
            f'<tr><td style="min-width:40px;padding:4px">{image}</td>'
            f'<td style="padding:4px;white-space:nowrap">Person {person.id}</td>'
            f"<td {pad}>{_said(person.verdict, combined=True)}</td>{cells}<td {pad}>{seen}</td></tr>"
        )
    header = "".join(f"<th {pad}>{name}</th>" for name in ("Face", "Who", "Verdict"))
    header = f"<tr>{header}{heads}<th {pad}>Seen</th></tr>"
    return (
        f'{_declared(result)}<div class="people-wrap">'
        '<p class="scroll-hint">The table is wider than the screen: scroll it sideways for more →</p>'
        '<div class="people-scroll"><table><caption style="text-align:left">People in the clip</caption>'
        f"<thead>{header}</thead><tbody>{''.join(rows)}</tbody></table></div></div>"
    )


def _declared(result: AnalysisResult) -> str:
    """Why the video is FAKE while its people's rows may say otherwise: a trusted AI declaration."""
    if not result.provenance.decides:
        return ""
    return (
        "<p>The video is FAKE because its Content Credentials declare it AI-generated "
        f"({html.escape(result.provenance.declaration())}); the verdicts below are the detectors' own "
        "view of the faces.</p>"
    )


def _said(verdict: Verdict, combined: bool = False) -> str:
    """A verdict in a table cell: the label and confidence, or why there is none.

    A combined UNCERTAIN from detectors that disagree says so instead of a confidence: the mean
    of a FAKE and a REAL score would look like a lean that neither detector has.
    """
    title = html.escape(verdict.message)
    if verdict.label == CANNOT_JUDGE:
        reason = "seen briefly, not judged" if "seen briefly" in verdict.message else "could not judge"
        if "face not found" in verdict.message:
            reason = "face not found"
        return f'<span title="{title}">{reason}</span>'
    strong = "b" if combined else "span"
    if combined and DISAGREE in verdict.message:
        return f'<{strong} title="{title}">{verdict.label}</{strong}>: {DISAGREE}'
    if verdict.label == UNCERTAIN and verdict.fake_probability is not None:
        # Its confidence is in the likelier side, which UNCERTAIN does not name: say the fake side.
        probability = f'<span style="white-space:nowrap">({verdict.fake_probability:.0%} fake)</span>'
        return f'<{strong} title="{title}">{verdict.label}</{strong}> {probability}'
    return f'<{strong} title="{title}">{verdict.label}</{strong}> {verdict.confidence:.0%}'


def timeline(result: AnalysisResult, margin: float) -> Figure:
    """Fake probability per scored frame over time, per person and detector, the UNCERTAIN band shaded.

    The first detector is a solid line, the second opinion a dashed one in the same colour. A
    Matplotlib figure in ``gr.Plot`` rather than ``gr.LinePlot``: Gradio 6.31 cannot replay a
    cached example into a ``LinePlot``.
    """
    two = any(opinion.frames for person in result.people for opinion in person.opinions[1:])
    rows = len(result.people) if two else 0  # legend rows below the plot
    # Small enough in inches that its text stays readable when a phone shrinks it to 360 px.
    figure = Figure(figsize=(3.8, 2.2 + 0.2 * rows), dpi=160, layout="constrained")
    figure.patch.set_alpha(0)
    axes = figure.add_subplot()
    axes.set_facecolor("none")
    axes.axhspan(0.5 - margin, 0.5 + margin, color=PLOT_MUTED, alpha=0.18, lw=0, label="uncertain band")
    when = {frame.frame_index: frame.timestamp_s for frame in result.frames}
    lines = 0
    for person in result.people:
        colour = PLOT_LINES[(person.id - 1) % len(PLOT_LINES)]
        mine = [f for f in result.frames if f.person == person.id]
        axes.plot(
            [f.timestamp_s for f in mine],
            [f.fake_probability for f in mine],
            color=colour,
            marker="o",
            markersize=3,
            lw=1.6,
            label=f"person {person.id}",
        )
        lines += 1
        for opinion in person.opinions[1:]:
            seen = [s for s in opinion.frames if s.frame_index in when]
            if not seen:
                continue
            axes.plot(
                [when[s.frame_index] for s in seen],
                [s.fake_probability for s in seen],
                color=colour,
                marker="s",
                markersize=3,
                lw=1.2,
                ls="--",
                label=f"person {person.id}, 2nd opinion",
            )
            lines += 1
    if lines > 1:
        # Below the plot, where it hides no line (the second opinion's often runs along the top).
        figure.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False, labelcolor=PLOT_MUTED)
    axes.set_ylim(0, 1)
    axes.set_xlabel("time (s)", color=PLOT_MUTED, fontsize=9)
    axes.set_ylabel("fake probability", color=PLOT_MUTED, fontsize=9)
    axes.tick_params(colors=PLOT_MUTED, labelsize=8)
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
    timings = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in result.timings.items())
    weights = result.weights
    # The file name and hash, never a local path: visitors need not see the server's folders.
    name = weights.filename or weights.name
    config = f", config.json sha256 `{weights.config_sha256[:16]}…`" if weights.config_sha256 else ""
    served = f"`{name}` (sha256 `{weights.sha256[:16]}…`{config})"
    if weights.unavailable:
        served += f", a mirror: {len(weights.unavailable)} earlier source(s) could not be used"
    notes = "".join(f"\n\nNote: {markdown_text(for_visitors(note))}" for note in result.notes)
    return (
        f"**{_shown_name(result)}**: **{markdown_text(result.verdict.message)}**\n\n"
        f"{_detectors(result)}"
        f"Face crops: `{result.profile}` profile. Weights: {served}. Time: {timings}.{notes}"
    )


def _detectors(result: AnalysisResult) -> str:
    """Each detector's own verdict on the video, and a second opinion that is off."""
    lines = [f"- `{o.detector}`: {o.verdict.label}" + _probability(o.verdict) for o in result.opinions]
    # An unavailable second opinion is told by the notes below, with its reason.
    lines += ["- second opinion: off" for d in result.detectors if d.status == "off"]
    return "Detectors:\n" + "\n".join(lines) + "\n\n" if lines else ""


def _probability(verdict: Verdict) -> str:
    if verdict.fake_probability is None:
        return ""
    return f" (fake probability {verdict.fake_probability:.2f})"


def _shown_name(result: AnalysisResult) -> str:
    """The file's name, or for a video fetched from a link the link, in a code span (Markdown would
    turn either into a live link, or show the escapes in it)."""
    return code(result.file_name)


def provenance_panel(result: AnalysisResult) -> str:
    """The file's Content Credentials in a few lines (Markdown): what they declare, who signed, trust.

    Everything that comes from the file (generator, signer, actions, time, titles in the message)
    is shown as plain text (see :func:`markdown_text`). Spoken to the visitor: the trust list is
    the server's, and validation codes are said in words (the JSON report keeps the codes).
    """
    text = markdown_text

    provenance = result.provenance
    if not provenance.present:
        return f"**Content Credentials:** {text(provenance.message())}"
    icon = "⚠️" if provenance.status != "valid" or provenance.ai_generated else "🔏"
    message = for_page(provenance.message())
    lines = [f"{icon} **Content Credentials:** {text(words_for_codes(message))}"]
    if provenance.status in ("valid", "invalid"):
        trust = "on this server's trust list" if provenance.trusted else "not on this server's trust list"
        details = [
            f"signed by {text(provenance.signer or 'unknown')} ({trust})",
            f"generator {text(provenance.generator or 'unknown')}",
        ]
        if provenance.signed_at:
            details.append(f"signed {text(provenance.signed_at)}")
        if provenance.actions:
            details.append("actions: " + text(words_for_codes(", ".join(provenance.actions))))
        if provenance.ai_generated and not provenance.ai_declared_by_signer:
            details.append("AI generation declared only by an ingredient, not by the signer")
        lines.append("; ".join(details) + ".")
    return "\n\n".join(lines)


def for_page(message: str) -> str:
    """The engine's Content Credentials message (worded for the operator, as the CLI shows it) as
    the page says it to a visitor, who did not configure the trust list."""
    return message.replace(NOT_TRUSTED, "not on this server's trust list").replace(
        "(on your trust list)", "(on this server's trust list)"
    )
