"""The Live tab: the visitor's camera judged while it plays, with Gradio's own streaming.

The browser sends a camera frame every ``STREAM_EVERY`` seconds once the previous one is
answered; the engine's :class:`LiveAnalyser` keeps only the freshest frame and scores it in its
own thread, so the page always shows the verdict on the latest frame it could score, never a
backlog. When the frames stop (the visitor stopped the camera) or the server's time limit is
reached, a one-second timer sees it and shows the whole stream as a report of the same shape as
a file's.

The streams themselves (the cap, the time limit, pages that vanish) are ``ui/live_streams.py``.
"""

from __future__ import annotations

import html
from typing import Any

import cv2
import gradio as gr
import numpy as np

from inference import FAKE, REAL, UNCERTAIN, AnalysisResult, DeepfakeDetectorError, Settings
from inference.faces import profiles
from inference.stream import LivePerson, LiveState
from ui import render, reports
from ui.guards import visitor_message
from ui.live_frames import CheckedCamera
from ui.live_streams import REFUSED_AT_ONCE, LiveRefusedError, LiveStreams
from ui.theme import PLOT_MUTED

# Seconds between two frames the browser sends (when the last one is answered): 10 a second is
# more than the 2 cores score, so the analyser always has a fresh frame to take.
STREAM_EVERY = 0.1
# Frames with a longer side than this are shrunk before they are judged: a camera may send up to
# 1920x1440 when asked for 640x480, and a client of its own any size DEEPFAKE_MAX_PIXELS allows.
MAX_SIDE = 1280
# The preview sent back ten times a second: small, so that it costs little to send and to store
# (each is a file in Gradio's cache until it is swept).
PREVIEW_SIDE = 640
# A person's box stays on the preview this long after their latest scored frame (no flicker).
BOX_HOLD_S = 1.0
# The verdicts' colours, RGB, readable on a camera picture; the same as the page's labels.
COLOURS = {FAKE: (239, 68, 68), REAL: (34, 197, 94), UNCERTAIN: (245, 158, 11)}


def fit(image: np.ndarray, side: int) -> np.ndarray:
    """``image``, (H, W, 3), shrunk (INTER_AREA) so that its longer side is at most ``side`` pixels."""
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def preview(frame_rgb: np.ndarray, state: LiveState) -> np.ndarray:
    """The camera frame, (H, W, 3) uint8 RGB, with each person's box and rolling verdict drawn on it."""
    picture = np.ascontiguousarray(frame_rgb)
    if picture is frame_rgb:
        picture = frame_rgb.copy()
    latest = state.scored_s or 0.0
    thickness = max(2, round(max(picture.shape[:2]) / 300))
    for person in state.people:
        if latest - person.seen_s > BOX_HOLD_S:
            continue
        top, right, bottom, left = person.box
        colour = COLOURS.get(person.verdict, COLOURS[UNCERTAIN])
        cv2.rectangle(picture, (left, top), (right, bottom), colour, thickness)
        text = f"{person.person}: {person.verdict} {person.fake_probability:.2f}"
        scale = thickness / 3
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = max(top - 4, height + 4)
        cv2.rectangle(picture, (left, y - height - 4), (left + width + 4, y + 2), colour, -1)
        ink = (255, 255, 255) if person.verdict == FAKE else (0, 0, 0)  # readable on red, green, amber
        cv2.putText(picture, text, (left + 2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1)
    return picture


def people_now(state: LiveState, window_s: float, margin: float) -> str:
    """The rolling verdict of each person seen in the last seconds, with a small plot (HTML)."""
    if not state.scored:
        return "<p><b>Live:</b> looking for faces…</p>"
    if not state.people:
        return "<p><b>Live:</b> no face in the last seconds: face the camera, in good light.</p>"
    pad = 'style="padding:6px"'
    rows = [
        f"<tr><td {pad}>Person {p.person}</td>"
        f'<td {pad}><b style="color:rgb{COLOURS.get(p.verdict, COLOURS[UNCERTAIN])}" title="'
        f'{html.escape(p.message)}">{p.verdict}</b> {p.fake_probability:.2f}</td>'
        f"<td {pad}>{_sparkline(p, state.scored_s or p.seen_s, window_s, margin)}</td></tr>"
        for p in state.people
    ]
    head = "".join(f"<th {pad}>{name}</th>" for name in ("Who", "Verdict now", f"Last {window_s:g} s"))
    return (
        '<div style="overflow-x:auto"><table><caption style="text-align:left">People on camera now'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _sparkline(person: LivePerson, now: float, window_s: float, margin: float) -> str:
    """The person's fake probability over the window, as a small SVG line over the uncertain band."""
    width, height = 140, 36

    def y(probability: float) -> float:
        return round(height - probability * height, 1)

    points = " ".join(f"{round(width * (1 - (now - t) / window_s), 1)},{y(p)}" for t, p in person.history)
    colour = COLOURS.get(person.verdict, COLOURS[UNCERTAIN])
    band = y(0.5 + margin), y(0.5 - margin) - y(0.5 + margin)
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="fake probability of person {person.person} over the last {window_s:g} s">'
        f'<rect x="0" y="{band[0]}" width="{width}" height="{band[1]}" fill="{PLOT_MUTED}" opacity="0.2"/>'
        f'<polyline points="{points}" fill="none" stroke="rgb{colour}" stroke-width="2"/></svg>'
    )


def counts(state: LiveState, limit_s: float) -> str:
    """The stream's progress in words: time, frames received, scored and dropped, latency."""
    latency = "" if state.latency_s is None else f", {state.latency_s * 1000:.0f} ms behind"
    return (
        f"Live for {state.elapsed_s:.0f} of {limit_s:g} s: {state.received} frames received, "
        f"{state.scored} scored, {state.dropped} dropped{latency}."
    )


def time_up(limit_s: float) -> str:
    """Why a stream ended while the camera still ran: the server's time limit (Markdown)."""
    return (
        f"**A live stream is judged for at most {limit_s:g} s on this server.** For a new one, stop "
        "the camera, wait a few seconds and start it again. "
    )


def stopped(result: AnalysisResult, why: str = "stopped") -> str:
    """The finished stream's figures in words: frames received, scored, dropped, frames per second.

    Args:
        result: The stream's report.
        why: "stopped" (the camera was stopped) or "time" (the time limit was reached).
    """
    live = result.source or {}
    rate = live.get("scored_frames_per_s")
    again = " To judge a new stream, start the camera again." if why == "stopped" else ""
    return (
        f"{'Ended' if why == 'time' else 'Stopped'}: {live.get('frames_received', 0)} frames received, "
        f"{live.get('frames_scored', 0)} scored{'' if rate is None else f' ({rate:.1f} a second)'}, "
        f"{live.get('frames_dropped', 0)} dropped. The whole stream's report is beside the camera "
        f"(below it on a phone).{again}"
    )


def tab(settings: Settings, streams: LiveStreams, default_profile: str) -> None:
    """Build the Live tab's components and events inside the current ``gr.Tab``."""
    gr.Markdown(
        "Start the camera: every face is followed and judged while it plays, with a rolling verdict "
        f"over the last {settings.live_window_s:g} seconds. Stop the camera for the whole stream's "
        f"report. Streams last at most {settings.live_time_limit_s:g} s; frames the server cannot "
        "keep up with are skipped, never queued, so what you see is always the latest frame judged."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            camera = CheckedCamera(
                settings.max_pixels,
                sources=["webcam"],
                streaming=True,
                type="numpy",
                label="Camera",
                elem_id="live-camera",
                # Not mirrored: the model judges faces the way cameras record them. 640x480 is
                # plenty for faces at a desk and keeps each frame's trip and decoding short.
                webcam_options=gr.WebcamOptions(
                    mirror=False, constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}
                ),
            )
            seen = gr.Image(label="Judged now", interactive=False, format="jpeg", elem_id="live-preview")
            now = gr.HTML(elem_id="live-now")
            status = gr.Markdown(elem_id="live-status")
            profile = gr.Radio(
                [(f"{p.name}: {p.summary}", p.name) for p in profiles.PROFILES.values()],
                value=default_profile,
                label="Face crops (chosen before the camera starts)",
                info="app is faster on a busy server; training crops like the training data.",
            )
        with gr.Column(scale=1, min_width=300):
            label = gr.Label(label="Verdict of the whole stream", num_top_classes=2, elem_id="live-verdict")
            summary = gr.Markdown(elem_id="live-summary")
            people = gr.HTML(elem_id="live-people")
            report_file = gr.File(label="JSON report of the stream", elem_id="live-report")
            html_button = gr.DownloadButton(
                "Download report (HTML)", visible=False, elem_id="live-report-html"
            )
    timer = gr.Timer(1.0, active=False)

    handlers = _Handlers(settings, streams)
    camera.stream(
        handlers.frame,
        [camera, profile],
        [seen, now, status, timer, label, summary, people, report_file, html_button],
        stream_every=STREAM_EVERY,
        # Gradio's own limit backs ours, a little later, so that ours says why.
        time_limit=int(settings.live_time_limit_s) + 2,
        concurrency_id="live",
        # Beyond the cap, so that visitors over it are told, not left waiting in the queue (their
        # frames are answered at once: ignored).
        concurrency_limit=settings.live_max_streams + REFUSED_AT_ONCE,
        show_progress="hidden",
        api_visibility="private",
    )
    timer.tick(
        handlers.tick,
        None,
        [label, summary, people, report_file, html_button, status, timer],
        queue=False,
        api_visibility="private",
    )


class _Handlers:
    """The tab's two events: a camera frame in, and the timer that sees a stream end."""

    def __init__(self, settings: Settings, streams: LiveStreams) -> None:
        self.settings = settings
        self.streams = streams

    def frame(self, picture: np.ndarray | None, crops: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A camera frame, (H, W, 3) uint8 RGB, handed to the page's stream; its preview and counts."""
        if picture is None:
            return tuple(gr.skip() for _ in range(9))
        picture = fit(picture, MAX_SIDE)
        try:
            state = self.streams.feed(request.session_hash or "", picture, crops)
        except LiveRefusedError as exc:
            # Said once, in the page and as a notice; the camera's later frames are ignored.
            gr.Warning(str(exc), title="Live stream refused")
            return gr.skip(), gr.skip(), f"**{exc}**", *(gr.skip() for _ in range(6))
        except DeepfakeDetectorError as exc:
            raise gr.Error(visitor_message(exc), title="Cannot judge the camera") from exc
        if state is None:
            return tuple(gr.skip() for _ in range(9))
        # A new stream's first frame clears the report of the page's previous one.
        fresh = state.received == 1
        return (
            fit(preview(picture, state), PREVIEW_SIDE),
            people_now(state, self.settings.live_window_s, self.settings.uncertain_margin),
            counts(state, self.settings.live_time_limit_s),
            gr.Timer(active=True),
            *((None, "", "", None, reports.hidden()) if fresh else (gr.skip(),) * 5),
        )

    def tick(self, request: gr.Request) -> tuple[Any, ...]:
        """Once a second while a stream runs: its whole report when it stopped or ran out of time."""
        session = request.session_hash or ""
        why = self.streams.due(session)
        if why is None:
            return tuple(gr.skip() for _ in range(7))
        try:
            result = self.streams.finish(session)
        except DeepfakeDetectorError as exc:
            message = f"**The stream ended without a report:** {render.markdown_text(visitor_message(exc))}"
            return None, "", "", None, reports.hidden(), message, gr.Timer(active=False)
        if result is None:
            return (*(gr.skip() for _ in range(6)), gr.Timer(active=False))
        return (
            render.label_file(result),
            render.summary(result),
            render.people_table(result),
            render.report_file(result),
            reports.download(result, self.settings),
            (time_up(self.settings.live_time_limit_s) if why == "time" else "") + stopped(result, why),
            gr.Timer(active=False),
        )
