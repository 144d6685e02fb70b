"""Deepfake video detector: the Gradio app (UI, API and MCP tool). Engine: ``inference/``."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import spaces

from inference import (
    CANNOT_JUDGE,
    AnalysisResult,
    DeepfakeDetectorError,
    Detector,
    ModelConfig,
    Settings,
    registry,
)

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
REPORT_DIR = Path(tempfile.gettempdir()) / "deepfake-detector-reports"
REPORT_MAX_AGE_S = 3600

ABOUT = """
**How to read the result.** The model looks at the face in each sampled frame and gives the
probability that it was manipulated; the verdict is the average over all frames with a face
(FAKE at 50 % or more). The gallery shows every face the model scored and the plot shows how the
score moves through the clip: a swap that fails in a few frames shows up as spikes.

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
    return f"`{spec.location}`.{accuracy}"


def _settings_for(base: Settings, checkpoint: str | None) -> Settings:
    if not checkpoint or checkpoint == base.checkpoint:
        return base
    return base.with_checkpoint(checkpoint)


@spaces.GPU
def _analyze(settings: Settings, video: str, frames: int, progress: gr.Progress) -> AnalysisResult:
    detector = Detector.from_settings(settings)
    return detector.analyze(video, frames=int(frames), progress=lambda f, m: progress(f, desc=m))


def _label(result: AnalysisResult) -> dict[str, float] | str:
    verdict = result.verdict
    if verdict.label == CANNOT_JUDGE:
        return CANNOT_JUDGE
    return {"FAKE": verdict.fake_probability, "REAL": 1.0 - verdict.fake_probability}


def _gallery(result: AnalysisResult) -> list[tuple[Any, str]]:
    return [
        (crop, f"{frame.timestamp_s:.2f} s · fake {frame.fake_probability:.2f}")
        for crop, frame in zip(result.crops, result.frames, strict=True)
    ]


def _timeline(result: AnalysisResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time (s)": [f.timestamp_s for f in result.frames],
            "fake probability": [f.fake_probability for f in result.frames],
        }
    )


def _report_file(result: AnalysisResult) -> str:
    REPORT_DIR.mkdir(exist_ok=True)
    cutoff = time.time() - REPORT_MAX_AGE_S
    for old in REPORT_DIR.glob("*.json"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=REPORT_DIR, prefix=f"{Path(result.file_name).stem}-", suffix=".json", delete=False
    ) as handle:
        handle.write(result.to_json())
    return handle.name


def _summary(result: AnalysisResult) -> str:
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    notes = "".join(f"\n\n⚠️ {note}" for note in result.notes)
    return f"**{result.verdict.message}**\n\nWeights: `{result.weights.location}`. Time: {timings}.{notes}"


def build_demo(settings: Settings) -> gr.Blocks:
    """Build the app for ``settings`` (weights are loaded on the first request, then reused)."""
    spec = settings.checkpoint_spec()
    default_frames = min(spec.frames or ModelConfig().frames, settings.max_frames)

    def run(video: str | None, frames: int, checkpoint: str | None, progress: gr.Progress) -> AnalysisResult:
        if not video:
            raise gr.Error("Upload a video first.")
        try:
            return _analyze(_settings_for(settings, checkpoint), video, frames, progress)
        except DeepfakeDetectorError as exc:
            raise gr.Error(str(exc), title="Cannot analyse this video") from exc

    def predict(
        video: str | None,
        frames: int = default_frames,
        checkpoint: str | None = settings.checkpoint,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ) -> tuple[dict[str, float] | str, AnalysisResult]:
        """Tell whether the face in a video is a deepfake (REAL or FAKE, with confidences).

        Samples frames evenly over the video, finds the main face in each, scores every face
        with a ResNeXt50 + LSTM classifier and averages the scores. When too few frames show a
        face, the label is "CANNOT JUDGE".

        Args:
            video: The video file to check (mp4, mov, webm, avi, mkv), at most a few minutes.
            frames: How many frames to sample evenly over the video (more is slower and steadier).
            checkpoint: Which registered model weights to use.

        Returns:
            The label with the FAKE and REAL confidences.
        """
        result = run(video, frames, checkpoint, progress)
        return _label(result), result

    def report(
        video: str | None,
        frames: int = default_frames,
        checkpoint: str | None = settings.checkpoint,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict[str, Any]:
        """Full JSON report of a deepfake check: verdict, per-frame scores, face boxes, weights, timings.

        Args:
            video: The video file to check (mp4, mov, webm, avi, mkv).
            frames: How many frames to sample evenly over the video.
            checkpoint: Which registered model weights to use.

        Returns:
            The report: verdict, fake_probability, confidence, message, frames (frame_index,
            timestamp_s, box_top_right_bottom_left, fake_probability), weights, video, timings_s.
        """
        return run(video, frames, checkpoint, progress).to_dict()

    def details(result: AnalysisResult) -> tuple[str, list[tuple[Any, str]], pd.DataFrame, str]:
        return _summary(result), _gallery(result), _timeline(result), _report_file(result)

    def example(video: str, frames: int, progress: gr.Progress = gr.Progress()):  # noqa: B008
        label, result = predict(video, frames, settings.checkpoint, progress)
        return (label, *details(result))

    with gr.Blocks(title="Deepfake video detector", delete_cache=(600, 3600)) as demo:
        gr.Markdown(
            "# 🕵️ Deepfake video detector\nDrop a video with a face. The app samples frames, finds "
            "the face, and a ResNeXt50 + LSTM model says whether it looks **REAL** or **FAKE**, "
            "and shows why."
        )
        result_state = gr.State()
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload"])
                frames = gr.Slider(
                    1,
                    settings.max_frames,
                    value=default_frames,
                    step=1,
                    label="Frames to sample",
                    info="More frames: slower, steadier.",
                )
                checkpoint = gr.Dropdown(registry.names(), value=settings.checkpoint, label="Model weights")
                analyze = gr.Button("Analyze", variant="primary")
            with gr.Column(scale=1):
                label = gr.Label(label="Verdict", num_top_classes=2)
                summary = gr.Markdown()
                timeline = gr.LinePlot(
                    x="time (s)",
                    y="fake probability",
                    y_lim=[0, 1],
                    label="Fake probability across the clip",
                    height=220,
                )
                report_file = gr.File(label="JSON report")
        gallery = gr.Gallery(label="Faces the model scored", columns=8, height="auto")
        gr.Examples(
            examples=[
                [str(EXAMPLES_DIR / "genuine_astronaut.mp4"), 20],
                [str(EXAMPLES_DIR / "manipulated_astronaut.mp4"), 20],
                [str(EXAMPLES_DIR / "no_face_coffee.mp4"), 20],
            ],
            example_labels=["Genuine (camera motion)", "Manipulated (pasted face)", "No face"],
            inputs=[video, frames],
            outputs=[label, summary, gallery, timeline, report_file],
            fn=example,
            cache_examples=True,
            cache_mode="lazy",
            api_visibility="private",
        )
        gr.Markdown(ABOUT.format(weights=_weights_text(settings)))
        analyze.click(
            predict, inputs=[video, frames, checkpoint], outputs=[label, result_state], api_name="predict"
        ).success(
            details,
            inputs=result_state,
            outputs=[summary, gallery, timeline, report_file],
            api_visibility="private",
        )
        report_json = gr.JSON(label="report", visible=False)
        report_button = gr.Button(visible=False)
        report_button.click(
            report, inputs=[video, frames, checkpoint], outputs=report_json, api_name="report"
        )
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1)
    return demo


SETTINGS = Settings.from_env()
demo = build_demo(SETTINGS)


def warm_up(settings: Settings) -> None:
    """Load the weights before the first visitor; on failure the app still starts."""
    try:
        Detector.from_settings(settings)
    except DeepfakeDetectorError as exc:
        logger.warning("weights not loaded, every request will say so: %s", exc)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    warm_up(SETTINGS)
    demo.launch(mcp_server=True, max_file_size=f"{SETTINGS.max_upload_mb:g}mb")
