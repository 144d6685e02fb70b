"""The "Check a video" tab's layout: the video, its link and settings on the left, the verdict and
why on the right, the examples under both. Its events are ``ui/file_events.py``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from inference import Settings
from inference.faces import profiles
from ui.guards import StrictCheckbox
from ui.strict import AsSentDropdown, AsSentRadio, AsSentSlider
from ui.uploads import UploadedVideo

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = {
    "genuine_astronaut.mp4": "Genuine (camera motion)",
    "manipulated_astronaut.mp4": "Manipulated (pasted face)",
    "no_face_coffee.mp4": "No face",
}


@dataclass
class FileTab:
    """The tab's components, for its events."""

    video: Any
    link: Any
    explain: Any
    analyze_button: Any
    stop_button: Any
    status: Any
    progress_box: Any
    run_token: Any
    label: Any
    summary: Any
    provenance: Any
    people: Any
    frames: Any = None
    checkpoint: Any = None
    profile: Any = None
    second_opinion: Any = None
    timeline: Any = None
    gallery: Any = None
    report_file: Any = None
    html_button: Any = None
    examples: Any = None


def tab(
    settings: Settings,
    choices: list[str],
    second_choices: list[str],
    default_frames: int,
    default_profile: str,
) -> FileTab:
    """Build the tab's components inside the current ``gr.Tab``; its events are wired apart."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            built = _video_and_verdict()
            with gr.Accordion("Frames and model weights", open=False):
                built.frames = AsSentSlider(
                    1,
                    settings.max_frames,
                    value=default_frames,
                    step=1,
                    label="Frames to sample",
                    info="More frames: slower, steadier.",
                )
                built.checkpoint = AsSentDropdown(
                    weights_choices(settings, choices), value=settings.checkpoint, label="Model weights"
                )
                built.profile = AsSentRadio(
                    [(f"{p.name}: {p.summary}", p.name) for p in profiles.PROFILES.values()],
                    value=default_profile,
                    label="Face crops",
                )
                built.second_opinion = AsSentDropdown(
                    second_choices,
                    value=settings.second_opinion,
                    label="Second opinion",
                    info="An EfficientNet-B4 trained on DFDC (ICPR 2020), on its own face finder.",
                )
        with gr.Column(scale=1, min_width=300):
            built.timeline = gr.Plot(
                label="Fake probability across the clip", format="png", elem_id="timeline"
            )
            built.gallery = gr.Gallery(
                label="Faces scored, by person (2nd: second opinion)",
                columns=4,
                height="auto",
                object_fit="contain",
                elem_id="gallery",
            )
            built.report_file = gr.File(label="JSON report")
            built.html_button = gr.DownloadButton("Download report (HTML)", visible=False)
    built.examples = gr.Examples(
        examples=[[str(EXAMPLES_DIR / name)] for name in EXAMPLES],
        example_labels=list(EXAMPLES.values()),
        inputs=[built.video],
        cache_examples=False,
        api_visibility="private",
    )
    built.examples.dataset.elem_id = "examples"  # for the page's one-run-per-click script
    return built


def _video_and_verdict() -> FileTab:
    """The left column's top: the video, its link, Explain, Analyze and Stop, and the verdict."""
    video = UploadedVideo(label="Video", sources=["upload", "webcam"], height=320)
    # One compact line, so that on a phone the verdict stays close under the video.
    link = gr.Textbox(
        label="Link to the video",
        show_label=False,
        placeholder="…or paste a link: a video file or a post on a video site (https://…)",
        max_lines=1,
        container=False,
        elem_id="link",
    )
    explain = StrictCheckbox(value=False, label="Explain: show where the model looked (about twice as slow)")
    with gr.Row():
        analyze_button = gr.Button("Analyze", variant="primary", size="lg", scale=3, elem_id="analyze")
        stop_button = gr.Button("Stop", variant="stop", size="lg", scale=1, visible=False)
    # The analysis the page shows, sent with its Stop (ui.guards.Runs.halt).
    run_token = gr.Textbox(visible=False)
    status = gr.Markdown(elem_id="status")
    # The one place an analysis shows its progress, the stage in words.
    progress_box = gr.Markdown(elem_id="progress", visible=False)
    return FileTab(
        video=video,
        link=link,
        explain=explain,
        analyze_button=analyze_button,
        stop_button=stop_button,
        status=status,
        progress_box=progress_box,
        run_token=run_token,
        label=gr.Label(label="Verdict", num_top_classes=2),
        summary=gr.Markdown(elem_id="summary"),
        provenance=gr.Markdown(elem_id="provenance"),
        people=gr.HTML(elem_id="people"),
    )


def weights_choices(settings: Settings, names: list[str]) -> list[tuple[str, str]]:
    """The weights dropdown's (label, value) pairs: the value is the registry name the API takes;
    the one in use is labelled with the operator's own file or repo when one replaces its file
    (DEEPFAKE_WEIGHTS_PATH, DEEPFAKE_WEIGHTS_REPO/FILE/SUBFOLDER/REVISION), so the page names
    the weights that will judge the video."""
    if settings.weights_path:
        own = f"{Path(settings.weights_path).name} (this server's own file)"
    elif settings.weights_repo:
        own = f"{settings.weights_repo} (this server's own choice)"
    elif settings.weights_file or settings.weights_subfolder or settings.weights_revision:
        own = f"{settings.checkpoint}, another file (this server's own choice)"
    else:
        own = settings.checkpoint
    return [(own if name == settings.checkpoint else name, name) for name in names]
