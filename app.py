"""Deepfake video detector: the Gradio app (page, API and MCP tools). Engine: ``inference/``.

Read from the top: the public API's two functions (``predict``, ``report``), the page built from
one builder per tab (``ui/file_tab.py``, ``ui/live_tab.py``), then ``launch``. README's "Layout"
says what each module of ``ui/`` holds.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from inference import DeepfakeDetectorError, Detector, Settings
from inference import second_opinion as opinions
from inference.stream import LiveSlots
from ui import about, file_tab, live_streams, live_tab, render, reports
from ui.api import Analyses, defaults, endpoints, offered, offered_second
from ui.file_events import FileEvents, wire
from ui.guards import PAGES_KEPT, Runs, check_gradio, poll_less
from ui.hints import all_page_js
from ui.limits import Admissions, guard_queue, trust_no_forwarding_peer
from ui.live_streams import REFUSED_AT_ONCE, LiveStreams, make_analyser
from ui.public import public_report, public_text
from ui.routes import McpCallers, Routes
from ui.theme import CSS, THEME
from ui.upload_quota import UploadQuota
from ui.uploads import Uploads

logger = logging.getLogger(__name__)


class Api:
    """The public API (and MCP tools): :meth:`predict` and :meth:`report`, for one served app.

    Their inputs are checked strictly, then analysed like the page's (:class:`ui.api.Analyses`).
    """

    def __init__(self, analyses: Analyses) -> None:
        self.analyses = analyses

    def predict(
        self,
        video: str | None,
        frames: int | None = None,
        checkpoint: str | None = None,
        url: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  (Gradio injects it)
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ) -> str:
        """Tell whether the faces in a video are deepfakes: FAKE, REAL, UNCERTAIN or CANNOT JUDGE.

        Samples frames evenly over the video, finds and follows every person's face, scores each
        face with a ResNeXt50 + LSTM classifier (FaceForensics++) and, as a second opinion, an
        EfficientNet-B4 of ICPR 2020 (DFDC), and combines both per person. FAKE: some person
        shows strong signs of manipulation and no detector says REAL; REAL: nobody shows a sign
        and no detector says FAKE; UNCERTAIN: the detectors disagree or cannot tell; CANNOT
        JUDGE: no face was seen in enough frames.

        Args:
            video: The video file to check, uploaded with the request (or null with a url); a link
                given as the file is refused.
            frames: How many frames to sample evenly, a whole number; default: the checkpoint's.
            checkpoint: Which registered model weights to use; default: the server's.
            url: Instead of a file, a link to the video: a video file or a video site's page
                (fetched safely by the server, at most the upload size, 720p).

        Returns:
            The combined label, with the FAKE and REAL confidences when faces were scored.
        """
        return render.label_file(
            self.analyses.api_run(video, frames, checkpoint, False, None, None, url, request, progress)
        )

    def report(
        self,
        video: str | None,
        frames: int | None = None,
        checkpoint: str | None = None,
        explain: bool = False,
        profile: str | None = None,
        second_opinion: str | None = None,
        url: str | None = None,
        request: gr.Request = None,  # type: ignore[assignment]  (Gradio injects it)
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[dict[str, Any], str]:
        """Full report of a deepfake check, as JSON and as a self-contained HTML page to keep or print.

        Args:
            video: The video file to check, uploaded with the request; links to other sites are refused.
            frames: How many frames to sample evenly, a whole number; default: the checkpoint's.
            checkpoint: Which registered model weights to use; default: the server's.
            explain: true: add a 7x7 Grad-CAM heatmap per frame, where the model saw signs (slower).
            profile: Face crops: "training" (like the training data) or "app" (faster); default: own.
            second_opinion: The second detector, an ICPR 2020 entry or "off"; default: the server's.
            url: Instead of a file, a link to the video (a video file or a video site's page).

        Returns:
            JSON: verdict (combined), fake_probability, confidence, message, file (name, size,
            sha256), people (each with every detector's verdict), frames, detectors, opinions,
            provenance (Content Credentials), weights, timings_s; and the HTML report's file.
        """
        result = self.analyses.api_run(
            video, frames, checkpoint, explain, profile, second_opinion, url, request, progress
        )
        return public_report(result.to_dict()), reports.html_file(result, self.analyses.settings)


def build_demo(settings: Settings) -> gr.Blocks:
    """Build the app for ``settings`` (weights are loaded on the first request, then reused)."""
    default_frames, default_profile = defaults(settings)
    runs = Runs()
    streams = LiveStreams(
        LiveSlots(settings.live_max_streams), settings.live_time_limit_s, make_analyser(settings)
    )
    choices, second_choices = offered(settings), offered_second(settings)
    admissions = Admissions(
        settings.max_queued_per_visitor, settings.queue_size, settings.live_max_streams + REFUSED_AT_ONCE
    )
    with gr.Blocks(title="Deepfake video detector", delete_cache=(600, 3600)) as demo:
        uploads = Uploads(
            demo, settings.upload_ttl_s, int(settings.upload_quota_mb * 1_000_000), settings.max_uploads
        )
        analyses = Analyses(settings, runs, uploads, choices, second_choices)
        about.heading()
        with gr.Tabs():
            with gr.Tab("Check a video", id="file"):
                files = file_tab.tab(settings, choices, second_choices, default_frames, default_profile)
            with gr.Tab("Live camera", id="live"):
                live_tab.tab(settings, streams, default_profile)
        about.about(settings)
        wire(files, FileEvents(demo, analyses, admissions, streams))
        public = Api(analyses)
        endpoints(public.predict, public.report, choices, second_choices)
    # api_open=False: /run/<api> and /api/<api> (direct calls, outside the queue and its limits)
    # refuse every queued event; the page's quick events (queue=False) still use them.
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1, api_open=False)
    check_gradio(demo)
    poll_less(demo)
    callers = McpCallers(settings.trusted_proxies)
    guard_queue(demo, admissions, callers.who, public_text)
    demo.runs, demo.uploads, demo.callers = runs, uploads, callers  # for launch_options' middleware
    return demo


def launch_options(demo: gr.Blocks, settings: Settings) -> dict[str, Any]:
    """What ``demo.launch`` needs beside the page: the upload limits (bytes), cancels, MCP."""
    quota = Middleware(
        UploadQuota,
        uploads=demo.uploads,
        max_file_bytes=int(settings.max_upload_mb * 1_000_000),
        timeout_s=settings.upload_timeout_s,
        settings=settings,
    )
    routes = Middleware(Routes, blocks=demo, runs=demo.runs, callers=demo.callers)
    trust_no_forwarding_peer()  # DEEPFAKE_TRUSTED_PROXIES alone decides, not uvicorn's default
    return {
        "max_file_size": int(settings.max_upload_mb * 1_000_000),
        "app_kwargs": {"middleware": [routes, quota]},
        "theme": THEME,
        "css": CSS,
        "js": all_page_js(),
        "mcp_server": True,
        "run_history": False,  # its routes could use the host's saved HF token for a local request
        "enable_monitoring": settings.monitoring,  # its summary answers anyone with every route's timings
        "state_session_capacity": PAGES_KEPT,  # Gradio's default 10,000 took 1.4 GB of made-up sessions
    }


SETTINGS = Settings.from_env()
demo = build_demo(SETTINGS)


def warm_up(settings: Settings) -> None:
    """Load (and on the Space, download) both detectors' weights before the first visitor, and
    run the live path once.

    On failure the app still starts and every request says so (a second opinion's failure is
    remembered for a while: requests do not each wait on unreachable sources).
    """
    spec = settings.second_opinion_spec()
    if spec is not None:
        try:
            opinions.load(
                spec,
                settings.blazeface_specs(),
                settings.device,
                settings.torch_threads,
                settings.network_runtime(),
            )
        except DeepfakeDetectorError as exc:
            opinions.unavailable_reason(exc)
    try:
        detector = Detector.from_settings(settings)
    except DeepfakeDetectorError as exc:
        logger.warning("weights not loaded, every request will say so: %s", exc)
        return
    live_streams.warm_up(detector, file_tab.EXAMPLES_DIR / next(iter(file_tab.EXAMPLES)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # SIGTERM (a Space's or `docker stop`) closes like Ctrl-C: the process's folders are removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    warm_up(SETTINGS)
    demo.launch(**launch_options(demo, SETTINGS))
