"""The analyses behind the page and the public API alike: what visitors may choose, one run per
request (its time limit, Stop, its turn), the engine's errors turned into messages, and the API's
strict inputs.

No page layout here (``ui/render.py``, ``ui/theme.py``, the tabs): the API's two functions,
``predict`` and ``report`` in ``app.py``, shape their answers from what :meth:`Analyses.api_run`
returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import spaces

from inference import AnalysisResult, DeepfakeDetectorError, Detector, Settings
from inference.faces import profiles
from inference.weights import hub
from ui import text
from ui.guards import (
    ANALYSIS,
    AnalysisStoppedError,
    InputTypeError,
    Run,
    Runs,
    StrictCheckbox,
    StrictNumber,
    link_text,
    turn,
    visitor_message,
)
from ui.limits import LOG_CHARS, current_event, run_key
from ui.strict import checked_settings
from ui.uploads import UploadedVideo, Uploads

logger = logging.getLogger(__name__)

STOPPED = "Stopped"


def settings_for(base: Settings, checkpoint: str | None) -> Settings:
    """``base`` on the weights ``checkpoint`` (a registered name), or ``base`` itself when None."""
    return base if not checkpoint else base.with_checkpoint(checkpoint)


def defaults(settings: Settings) -> tuple[int, str]:
    """The frames and crop profile a request gets when it does not choose: the checkpoint's.

    The same rule as the engine's (:attr:`Detector.default_frames`, :meth:`Detector.profile`),
    read from the loaded checkpoint; before the weights can be loaded, from its registry entry.
    """
    try:
        detector = Detector.from_settings(settings)
    except DeepfakeDetectorError as exc:
        logger.warning("defaults from the registry, the weights are not loaded yet: %s", exc)
        frames = settings.checkpoint_spec().frames or settings.max_frames
        return min(frames, settings.max_frames), settings.profile or profiles.DEFAULT
    return detector.default_frames, detector.profile().name


def offered(settings: Settings) -> list[str]:
    """The weights visitors may choose: allowed by the operator's pins and loadable now."""
    offered = [
        name
        for name in settings.allowed_checkpoints()
        if name == settings.checkpoint or hub.available(settings.with_checkpoint(name).checkpoint_spec())
    ]
    left_out = set(settings.allowed_checkpoints()) - set(offered)
    if left_out:
        logger.warning(
            "not offered to visitors, their weights cannot be had now: %s", ", ".join(sorted(left_out))
        )
    return offered


def offered_second(settings: Settings) -> list[str]:
    """The second opinions visitors may choose: the configured one, "off", and those loadable now.

    Others would make a visitor's request download weights while every other analysis waits.
    """
    blazeface = settings.blazeface_specs()
    offered = []
    for name in settings.second_opinions():
        spec = settings.second_opinion_spec(name)
        if spec is None or name == settings.second_opinion or all(map(hub.available, (spec, *blazeface))):
            offered.append(name)
    return offered


@spaces.GPU
def _analyze(
    settings: Settings,
    video: str,
    frames: int | None,
    explain: bool,
    profile: str | None,
    second_opinion: str | None,
    run: Run,
    progress: gr.Progress,
    link: str | None = None,
) -> AnalysisResult:
    def report(fraction: float, message: str) -> None:
        run.check()
        progress(fraction, desc=text.stage(message))

    detector = Detector.from_settings(settings)
    options = {
        "frames": frames,
        "explain": explain,
        "profile": profile,
        "second_opinion": second_opinion,
        "progress": report,
    }
    with turn(run):
        if link:
            progress(0.0, desc=text.stage("fetching the video behind the link"))
            return detector.analyze_link(link, **options)
        return detector.analyze(video, **options)


class Analyses:
    """The served app's analyses, for the page and the API alike.

    Args:
        settings: The server's settings.
        runs: The runs going on (Stop, time limits, one per page).
        uploads: The uploaded videos (an API's upload is deleted once its analysis ends).
        choices: The weights visitors may choose (:func:`offered`).
        second_choices: The second opinions visitors may choose (:func:`offered_second`).
    """

    def __init__(
        self, settings: Settings, runs: Runs, uploads: Uploads, choices: list[str], second_choices: list[str]
    ) -> None:
        self.settings = settings
        self.runs = runs
        self.uploads = uploads
        self.choices = choices
        self.second_choices = second_choices

    def run(
        self,
        video: str | None,
        frames: int | None,
        checkpoint: str | None,
        explain: bool,
        profile: str | None,
        second_opinion: str | None,
        request: gr.Request | None,
        progress: gr.Progress,
        link: str | None = None,
        page: bool = False,
    ) -> AnalysisResult:
        """Analyse ``video`` (or the video behind ``link``) for one request; the engine's errors
        become messages for the visitor."""
        if not video and not link:
            raise gr.Error("Upload or record a video, or paste a link, first.")
        current = self.runs.start(run_key(request, page), self.settings.request_timeout_s, current_event())
        try:
            chosen = settings_for(self.settings, checkpoint)
            return _analyze(
                chosen,
                video,
                frames,
                explain,
                profile,
                second_opinion,
                current,
                progress,
                None if video else link,
            )
        except AnalysisStoppedError as exc:
            raise gr.Error(str(exc), title=STOPPED) from exc
        except DeepfakeDetectorError as exc:
            raise gr.Error(visitor_message(exc), title="Cannot analyse this video") from exc
        finally:
            self.runs.finish(current)

    def checked(
        self, frames: Any, checkpoint: Any, explain: Any, profile: Any, second_opinion: Any
    ) -> tuple[Any, ...]:
        """The request's settings checked strictly (types and choices): see :func:`checked_settings`."""
        return checked_settings(
            frames, checkpoint, explain, profile, second_opinion, self.choices, self.second_choices
        )

    def api_run(
        self,
        video: str | None,
        frames: Any,
        checkpoint: Any,
        explain: Any,
        profile: Any,
        second_opinion: Any,
        url: Any,
        request: gr.Request | None,
        progress: gr.Progress,
    ) -> AnalysisResult:
        """Check the API's inputs strictly (types and choices), then :meth:`run`."""
        try:
            link = link_text(url)
            if link and video:
                raise InputTypeError("give a video file or a url, not both")
            checked = self.checked(frames, checkpoint, explain, profile, second_opinion)
        except DeepfakeDetectorError as exc:
            self.uploads.done(video, by_request=True)
            logger.info("API input refused: %s", str(exc)[:LOG_CHARS])
            raise gr.Error(str(exc), title="Wrong input", print_exception=False) from exc
        try:
            return self.run(video, *checked, request, progress, link)
        finally:
            self.uploads.done(video, by_request=True)


def endpoints(
    predict: Callable[..., Any], report: Callable[..., Any], choices: list[str], second: list[str]
) -> None:
    """Wire the public API (and MCP tools) ``predict`` and ``report`` inside the current Blocks.

    Their inputs are components nobody sees: strict types, no rounding, and labels that say what
    each is (Gradio's /info shows the labels, its MCP tools the docstrings).
    """
    api_video = UploadedVideo(visible=False, label="video file to check, uploaded (links are refused)")
    api_frames = StrictNumber(
        visible=False, label="frames to sample evenly, a whole number (default: the checkpoint's)"
    )
    api_checkpoint = gr.Textbox(
        visible=False, label=f"model weights, one of {', '.join(choices)} (default: the server's)"
    )
    api_explain = StrictCheckbox(visible=False, label="explain: true adds a Grad-CAM heatmap per frame")
    api_profile = gr.Textbox(
        visible=False, label="face crops: 'training' or 'app' (default: the checkpoint's)"
    )
    api_second = gr.Textbox(
        visible=False,
        label=f"second opinion, one of {', '.join(second)} (default: the server's)",
    )
    api_url = gr.Textbox(
        visible=False,
        label="or a link to the video: a video file or a video site's page (instead of the file)",
    )
    gr.Button(visible=False).click(
        predict,
        inputs=[api_video, api_frames, api_checkpoint, api_url],
        outputs=gr.Label(visible=False),
        api_name="predict",
        concurrency_id=ANALYSIS,
        validator=accept,
    )
    gr.Button(visible=False).click(
        report,
        inputs=[api_video, api_frames, api_checkpoint, api_explain, api_profile, api_second, api_url],
        outputs=[gr.JSON(visible=False), gr.File(visible=False, label="HTML report")],
        api_name="report",
        concurrency_id=ANALYSIS,
        validator=accept,
    )


def accept(*inputs: Any) -> list[Any]:
    """Every input valid. Gradio preprocesses an event's inputs for its validator while the
    request joins the queue: a link given as the file is refused before it takes a place.
    (Who may join is decided by ``ui.limits.guard_queue``, in the same step that counts it.)"""
    return [gr.validate(True, "") for _ in inputs]
