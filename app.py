"""Deepfake video detector: the Gradio app (UI, API and MCP tool). Engine: ``inference/``."""

from __future__ import annotations

import base64
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import gradio as gr
import spaces
from gradio.themes.utils import colors
from matplotlib.figure import Figure

from inference import (
    CANNOT_JUDGE,
    FAKE,
    REAL,
    UNCERTAIN,
    AnalysisResult,
    DeepfakeDetectorError,
    Detector,
    ModelConfig,
    Settings,
    profiles,
    registry,
)
from inference.explain import side_by_side
from inference.result import MEANING

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
REPORT_DIR = Path(tempfile.gettempdir()) / "deepfake-detector-reports"
REPORT_MAX_AGE_S = 3600
EXAMPLE_FRAMES = 20
# Mid-tone colours, readable on the light and the dark page alike.
PLOT_LINES = ("#d946ef", "#06b6d4", "#f59e0b", "#22c55e")
PLOT_MUTED = "#7c8aa5"

# The seed product's look: deep navy, neon magenta and cyan, glowing controls. Every colour is
# set for light and dark mode so that both stay readable.
THEME = gr.themes.Base(
    primary_hue=colors.fuchsia,
    secondary_hue=colors.cyan,
    neutral_hue=colors.slate,
    radius_size="lg",
    font=("ui-sans-serif", "system-ui", "sans-serif"),
    font_mono=("ui-monospace", "SFMono-Regular", "monospace"),
).set(
    body_background_fill="*neutral_50",
    body_background_fill_dark="#070a17",
    block_background_fill_dark="#0e1326",
    block_border_color="*primary_200",
    block_border_color_dark="*primary_800",
    block_shadow="0 0 0 1px *primary_100, 0 4px 18px rgba(192, 38, 211, 0.10)",
    block_shadow_dark="0 0 0 1px *primary_900, 0 0 22px rgba(217, 70, 239, 0.22)",
    block_label_text_color="*primary_700",
    block_label_text_color_dark="*secondary_300",
    block_title_text_color_dark="*secondary_200",
    button_primary_background_fill="linear-gradient(90deg, *primary_600, *secondary_500)",
    button_primary_background_fill_dark="linear-gradient(90deg, *primary_500, *secondary_400)",
    button_primary_background_fill_hover="linear-gradient(90deg, *secondary_500, *primary_600)",
    button_primary_background_fill_hover_dark="linear-gradient(90deg, *secondary_400, *primary_500)",
    button_primary_text_color="white",
    button_primary_text_color_dark="#070a17",
    button_primary_shadow="0 0 12px rgba(217, 70, 239, 0.45)",
    button_primary_shadow_hover="0 0 22px rgba(34, 211, 238, 0.75)",
    button_transition="all 0.35s ease",
    slider_color="*primary_500",
    slider_color_dark="*secondary_400",
    loader_color="*secondary_500",
    link_text_color="*primary_600",
    link_text_color_dark="*secondary_300",
)

ABOUT = """
**How to read the result.** The model looks at the face in each sampled frame and gives the
probability that it was manipulated; the verdict comes from the average over all frames with a
face:

| label | average fake probability | meaning |
|---|---|---|
| **FAKE** | at least 0.5 + margin | {fake} |
| **UNCERTAIN** | within 0.5 ± margin (margin {margin:g}) | {uncertain}: near 0.5 is no evidence |
| **REAL** | at most 0.5 − margin | {real} |
| **CANNOT JUDGE** | — | {cannot} |

The gallery shows every face the model scored (with **Explain**: next to a heatmap of where the
model saw signs of manipulation) and the plot shows how the score moves through the clip: a swap
that fails in a few frames shows up as spikes.

**Limits.** It is one model (ResNeXt50 + LSTM) trained on FaceForensics++-style face swaps; it can
be wrong, especially on heavily compressed re-uploads, faces that are small, dark, turned away or
partly hidden, and manipulation methods it never saw. When too few frames show a face it says
*cannot judge* rather than guess. Treat the score as one piece of evidence, not proof.

**Weights.** {weights}
"""


def _weights_text(settings: Settings) -> str:
    spec = settings.checkpoint_spec()
    accuracy = (
        f" Reported accuracy {spec.reported_accuracy:g} % on {spec.training_data} ({spec.accuracy_source})."
        if spec.reported_accuracy
        else ""
    )
    mirrors = f" Mirrors: {', '.join(f'`{m.location}`' for m in spec.mirrors)}." if spec.mirrors else ""
    return f"`{spec.location}`.{mirrors}{accuracy}"


def _settings_for(base: Settings, checkpoint: str | None) -> Settings:
    if not checkpoint or checkpoint == base.checkpoint:
        return base
    return base.with_checkpoint(checkpoint)


@spaces.GPU
def _analyze(
    settings: Settings, video: str, frames: int, explain: bool, profile: str | None, progress: gr.Progress
) -> AnalysisResult:
    detector = Detector.from_settings(settings)
    return detector.analyze(
        video,
        frames=int(frames),
        explain=explain,
        profile=profile or None,
        progress=lambda f, m: progress(f, desc=m),
    )


def _label(result: AnalysisResult) -> str:
    """The verdict for ``gr.Label``: the label, and FAKE/REAL confidences once faces were scored.

    Returned as a ``.json`` file, the one form in which ``gr.Label`` shows a label (UNCERTAIN)
    that is not simply the most confident class.
    """
    verdict = result.verdict
    confidences = []
    if verdict.fake_probability is not None:
        fake = verdict.fake_probability
        confidences = sorted(
            [{"label": FAKE, "confidence": fake}, {"label": REAL, "confidence": 1.0 - fake}],
            key=lambda c: -c["confidence"],
        )
    return _temp_json(result.file_name, "label", {"label": verdict.label, "confidences": confidences})


def _gallery(result: AnalysisResult) -> list[tuple[Any, str]]:
    """Every scored face, grouped by person, each next to its heatmap when there is one."""
    entries = []
    for person in result.people:
        for crop, frame in zip(result.crops, result.frames, strict=True):
            if frame.person != person.id:
                continue
            image = crop if frame.heatmap is None else side_by_side(crop, frame.heatmap)
            caption = f"P{frame.person} {frame.timestamp_s:.1f}s {frame.fake_probability:.2f}"
            entries.append((image, caption))
    return entries


def _people(result: AnalysisResult) -> str:
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


def _timeline(result: AnalysisResult, margin: float) -> Figure:
    """Fake probability per scored frame over time, one line per person, the UNCERTAIN band shaded.

    A Matplotlib figure in ``gr.Plot`` rather than ``gr.LinePlot``: Gradio 6.31 cannot replay a
    cached example into a ``LinePlot`` (its cache keeps the plot as unparsed JSON text, and the
    page throws), which left the examples' outputs pending forever.
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


def _report_file(result: AnalysisResult) -> str:
    return _temp_json(result.file_name, "report", result.to_dict())


def _temp_json(file_name: str, kind: str, data: dict[str, Any]) -> str:
    """Write ``data`` to a new JSON file in the app's temp folder (files older than an hour go)."""
    REPORT_DIR.mkdir(exist_ok=True)
    cutoff = time.time() - REPORT_MAX_AGE_S
    for old in REPORT_DIR.glob("*.json"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=REPORT_DIR, prefix=f"{Path(file_name).stem}-{kind}-", suffix=".json", delete=False
    ) as handle:
        json.dump(data, handle, indent=2)
    return handle.name


def _summary(result: AnalysisResult) -> str:
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    weights = result.weights
    served = f"`{weights.location}` (sha256 `{weights.sha256[:16]}…`)"
    if weights.unavailable:
        served += f", a mirror: {len(weights.unavailable)} earlier source(s) could not be used"
    notes = "".join(f"\n\n⚠️ {note}" for note in result.notes)
    return f"**{result.verdict.message}**\n\nWeights: {served}. Time: {timings}.{notes}"


def build_demo(settings: Settings) -> gr.Blocks:
    """Build the app for ``settings`` (weights are loaded on the first request, then reused)."""
    spec = settings.checkpoint_spec()
    default_frames = min(spec.frames or ModelConfig().frames, settings.max_frames)

    default_profile = settings.profile or profiles.DEFAULT

    def run(
        video: str | None,
        frames: int,
        checkpoint: str | None,
        explain: bool,
        progress: gr.Progress,
        profile: str | None = None,
    ) -> AnalysisResult:
        if not video:
            raise gr.Error("Upload or record a video first.")
        try:
            return _analyze(_settings_for(settings, checkpoint), video, frames, explain, profile, progress)
        except DeepfakeDetectorError as exc:
            raise gr.Error(str(exc), title="Cannot analyse this video") from exc

    def predict(
        video: str | None,
        frames: int = default_frames,
        checkpoint: str | None = settings.checkpoint,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ) -> str:
        """Tell whether the face in a video is a deepfake: FAKE, REAL, UNCERTAIN or CANNOT JUDGE.

        Samples frames evenly over the video, finds and follows every person's face, scores each
        face with a ResNeXt50 + LSTM classifier and averages the scores per person. FAKE: some
        person shows strong signs of manipulation; REAL: nobody shows a sign the model can see;
        UNCERTAIN: the average is too close to 0.5 to tell; CANNOT JUDGE: no face was seen in
        enough frames.

        Args:
            video: The video file to check (mp4, mov, webm, avi, mkv), at most a few minutes.
            frames: How many frames to sample evenly over the video (more is slower and steadier).
            checkpoint: Which registered model weights to use.

        Returns:
            The label, with the FAKE and REAL confidences when faces were scored.
        """
        return _label(run(video, frames, checkpoint, False, progress))

    def report(
        video: str | None,
        frames: int = default_frames,
        checkpoint: str | None = settings.checkpoint,
        explain: bool = False,
        profile: str = default_profile,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict[str, Any]:
        """Full JSON report of a deepfake check: verdict, per-frame scores, face boxes, weights, timings.

        Args:
            video: The video file to check (mp4, mov, webm, avi, mkv).
            frames: How many frames to sample evenly over the video.
            checkpoint: Which registered model weights to use.
            explain: Also return, per frame, a 7x7 Grad-CAM heatmap of where the model saw
                signs of manipulation (slower).
            profile: How face crops are made: "training" (like the weights' training data, the
                default) or "app" (like the original app; faster).

        Returns:
            The report: verdict (FAKE, REAL, UNCERTAIN or CANNOT JUDGE) for the video, its
            fake_probability, confidence and message; people (per person: id, verdict,
            fake_probability, confidence, message, seen_in_frames, first/last_seen_s, frames);
            frames (person, frame_index, timestamp_s, box_top_right_bottom_left,
            fake_probability, heatmap); weights (location, sha256); video; timings_s.
        """
        return run(video, frames, checkpoint, explain, progress, profile).to_dict()

    def analyze(
        video: str | None,
        frames: int,
        checkpoint: str | None,
        explain: bool,
        profile: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str, AnalysisResult]:
        result = run(video, frames, checkpoint, explain, progress, profile)
        return _label(result), result

    def details(
        result: AnalysisResult,
    ) -> tuple[str, str, list[tuple[Any, str]], Figure, str]:
        return (
            _summary(result),
            _people(result),
            _gallery(result),
            _timeline(result, settings.uncertain_margin),
            _report_file(result),
        )

    def example(video: str, progress: gr.Progress = gr.Progress()):  # noqa: B008
        label, result = analyze(video, EXAMPLE_FRAMES, settings.checkpoint, True, None, progress)
        return (label, *details(result))

    with gr.Blocks(title="Deepfake video detector", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# 🕵️ Deepfake video detector\nDrop in or record a video with a face. The app samples "
            "frames, follows every face, and a ResNeXt50 + LSTM model says whether each looks **REAL** or "
            "**FAKE** (or that it cannot tell), and shows why."
        )
        result_state = gr.State()
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                video = gr.Video(label="Video", sources=["upload", "webcam"], height=320)
                explain = gr.Checkbox(
                    value=False, label="Explain: show where the model looked (about twice as slow)"
                )
                analyze_button = gr.Button("Analyze", variant="primary", size="lg")
                label = gr.Label(label="Verdict", num_top_classes=2)
                summary = gr.Markdown()
                people = gr.HTML(elem_id="people")
                with gr.Accordion("Frames and model weights", open=False):
                    frames = gr.Slider(
                        1,
                        settings.max_frames,
                        value=default_frames,
                        step=1,
                        label="Frames to sample",
                        info="More frames: slower, steadier.",
                    )
                    checkpoint = gr.Dropdown(
                        registry.names(), value=settings.checkpoint, label="Model weights"
                    )
                    profile = gr.Radio(
                        [(f"{p.name}: {p.summary}", p.name) for p in profiles.PROFILES.values()],
                        value=default_profile,
                        label="Face crops",
                    )
            with gr.Column(scale=1, min_width=300):
                timeline = gr.Plot(label="Fake probability across the clip", format="png")
                gallery = gr.Gallery(
                    label="Faces the model scored (person, time, fake probability)",
                    columns=4,
                    height="auto",
                    object_fit="contain",
                )
                report_file = gr.File(label="JSON report")
        gr.Examples(
            examples=[
                [str(EXAMPLES_DIR / "genuine_astronaut.mp4")],
                [str(EXAMPLES_DIR / "manipulated_astronaut.mp4")],
                [str(EXAMPLES_DIR / "no_face_coffee.mp4")],
            ],
            example_labels=["Genuine (camera motion)", "Manipulated (pasted face)", "No face"],
            inputs=[video],
            outputs=[label, summary, people, gallery, timeline, report_file],
            fn=example,
            cache_examples=True,
            cache_mode="lazy",
            api_visibility="private",
        )
        gr.Markdown(
            ABOUT.format(
                fake=MEANING[FAKE],
                real=MEANING[REAL],
                uncertain=MEANING[UNCERTAIN],
                cannot=MEANING[CANNOT_JUDGE],
                margin=settings.uncertain_margin,
                weights=_weights_text(settings),
            )
        )
        analyze_button.click(
            analyze,
            inputs=[video, frames, checkpoint, explain, profile],
            outputs=[label, result_state],
            api_visibility="private",
        ).success(
            details,
            inputs=result_state,
            outputs=[summary, people, gallery, timeline, report_file],
            api_visibility="private",
        )
        # The API and MCP endpoints, on buttons nobody sees.
        predict_label = gr.Label(visible=False)
        gr.Button(visible=False).click(
            predict, inputs=[video, frames, checkpoint], outputs=predict_label, api_name="predict"
        )
        report_json = gr.JSON(label="report", visible=False)
        gr.Button(visible=False).click(
            report,
            inputs=[video, frames, checkpoint, explain, profile],
            outputs=report_json,
            api_name="report",
        )
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    return demo


SETTINGS = Settings.from_env()
demo = build_demo(SETTINGS)


def warm_up(settings: Settings) -> None:
    """Load (and on the Space, download) the weights before the first visitor.

    On failure the app still starts, and every request says what to set.
    """
    try:
        Detector.from_settings(settings)
    except DeepfakeDetectorError as exc:
        logger.warning("weights not loaded, every request will say so: %s", exc)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    warm_up(SETTINGS)
    demo.launch(mcp_server=True, max_file_size=f"{SETTINGS.max_upload_mb:g}mb", theme=THEME)
