"""Deepfake video detector: the Gradio app (UI, API and MCP tool). Engine: ``inference/``.

One page: layout, event wiring, and the engine's errors turned into messages. Rendering lives in
``ui/render.py``, the look in ``ui/theme.py``, and the guards of the served app (stop, limits,
strict API inputs) in ``ui/guards.py``, ``ui/limits.py`` (who may join the queue),
``ui/routes.py`` (cancels, body caps, MCP callers), ``ui/strict.py`` and ``ui/public.py``, uploads
in ``ui/uploads.py``.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import gradio as gr
import spaces
from starlette.middleware import Middleware

from inference import (
    CANNOT_JUDGE,
    FAKE,
    REAL,
    UNCERTAIN,
    AnalysisResult,
    DeepfakeDetectorError,
    Detector,
    Settings,
)
from inference import second_opinion as opinions
from inference.faces import profiles
from inference.result import MEANING
from inference.stream import LiveSlots
from inference.weights import hub
from ui import live, render, reports, text
from ui.clicks import PAGE_JS
from ui.guards import (
    ANALYSIS,
    AnalysisStoppedError,
    InputTypeError,
    Run,
    Runs,
    StrictCheckbox,
    StrictNumber,
    check_gradio,
    link_text,
    turn,
    visitor,
    visitor_message,
    waiting,
)
from ui.limits import (
    LOG_CHARS,
    Admissions,
    current_event,
    guard_queue,
    page_moves_on,
    run_key,
    trust_no_forwarding_peer,
    waiting_ids,
)
from ui.public import public_report, public_text
from ui.routes import McpCallers, Routes
from ui.strict import AsSentDropdown, AsSentRadio, AsSentSlider, checked_settings
from ui.theme import CSS, THEME
from ui.uploads import UploadedVideo, UploadQuota, Uploads

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
STOPPED = "Stopped"
NOTHING_GIVEN = "Upload or record a video, or paste a link, first."
EXAMPLES = {
    "genuine_astronaut.mp4": "Genuine (camera motion)",
    "manipulated_astronaut.mp4": "Manipulated (pasted face)",
    "no_face_coffee.mp4": "No face",
}

ABOUT = """
**How to read the result.** Each detector looks at a person's face in the sampled frames and
gives the probability that it was manipulated; its verdict on the person comes from the average
over the frames with their face (for the second opinion, of its logits), by one scale:

| label | average fake probability | meaning |
|---|---|---|
| **FAKE** | at least 0.5 + margin | {fake} |
| **UNCERTAIN** | within 0.5 ± margin (margin {margin:g}) | {uncertain}: near 0.5 is no evidence |
| **REAL** | at most 0.5 − margin | {real} |
| **CANNOT JUDGE** | — | {cannot} |

**Two detectors.** Each person is judged by a ResNeXt50 + LSTM trained on FaceForensics++ and,
as a second opinion, by an EfficientNet-B4 of ICPR 2020 trained on DFDC (on faces its own
BlazeFace finder cut; a person it does not find gets *face not found*, not a guess). The
combined verdict: **FAKE** when a detector says FAKE and none says REAL; **REAL** when one says
REAL and none says FAKE; **UNCERTAIN** when they disagree or neither leans either way; **CANNOT
JUDGE** when neither could judge. The video is FAKE when anyone's combined verdict is FAKE, REAL
only when everyone's is REAL.

**Content Credentials (C2PA).** Some generators (Sora, Firefly, ...) and cameras sign what they
make. Valid credentials from a signer on the server's trust list whose own actions declare the
video AI-generated make the verdict **FAKE**, whatever the face models say (a declaration carried
in by an ingredient does not); from a signer not on the
list they are shown but do not change the verdict (anyone can sign a file as "AI"); broken
credentials mean the file was changed after it was signed; most videos have none, which is not
evidence either way.

The gallery shows every face the first detector scored (with **Explain**: next to a heatmap of
where it saw signs of manipulation, then the second opinion's faces next to its own attention
map) and the plot shows how the scores move through the clip (second opinion dashed): a swap that
fails in a few frames shows up as spikes.

**Limits.** Both detectors learned from face-swap datasets; they can be wrong, especially on
heavily compressed re-uploads, faces that are small, dark, turned away or partly hidden, and
manipulation methods they never saw. When too few frames show a face they say *cannot judge*
rather than guess. Treat the scores as evidence, not proof.

**Stop and privacy.** *Stop* ends an analysis; uploading another video, clearing it or
closing the page ends it too. Your uploaded video is deleted once you replace or clear it or
leave the page (a video sent through the API, as soon as its analysis ends).

**Weights.** {weights}
"""


def _weights_text(settings: Settings) -> str:
    spec = settings.checkpoint_spec()
    accuracy = (
        f" Reported accuracy {spec.reported_accuracy:g} % on {spec.training_data} ({spec.accuracy_source})."
        if spec.reported_accuracy
        else ""
    )
    if spec.local_path:
        return f"a file chosen by this server's operator (`{Path(spec.local_path).name}`).{accuracy}"
    mirrors = f" Mirrors: {', '.join(f'`{m.location}`' for m in spec.mirrors)}." if spec.mirrors else ""
    return f"`{spec.location}`.{mirrors}{accuracy}"


def _settings_for(base: Settings, checkpoint: str | None) -> Settings:
    return base if not checkpoint else base.with_checkpoint(checkpoint)


def _defaults(settings: Settings) -> tuple[int, str]:
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


def _offered(settings: Settings) -> list[str]:
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


def _offered_second(settings: Settings) -> list[str]:
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


def build_demo(settings: Settings) -> gr.Blocks:
    """Build the app for ``settings`` (weights are loaded on the first request, then reused)."""
    default_frames, default_profile = _defaults(settings)
    runs = Runs()
    streams = live.LiveStreams(
        LiveSlots(settings.live_max_streams), settings.live_time_limit_s, live.make_analyser(settings)
    )
    choices = _offered(settings)
    second_choices = _offered_second(settings)
    admissions = Admissions(
        settings.max_queued_per_visitor, settings.queue_size, settings.live_max_streams + live.REFUSED_AT_ONCE
    )

    def run(
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
        current = runs.start(run_key(request, page), settings.request_timeout_s, current_event())
        try:
            chosen = _settings_for(settings, checkpoint)
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
            runs.finish(current)

    def api_run(
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
        """Check the API's inputs strictly (types and choices), then :func:`run`."""
        try:
            link = link_text(url)
            if link and video:
                raise InputTypeError("give a video file or a url, not both")
            checked = checked_settings(
                frames, checkpoint, explain, profile, second_opinion, choices, second_choices
            )
        except DeepfakeDetectorError as exc:
            uploads.done(video, by_request=True)
            logger.info("API input refused: %s", str(exc)[:LOG_CHARS])
            raise gr.Error(str(exc), title="Wrong input", print_exception=False) from exc
        try:
            return run(video, *checked, request, progress, link)
        finally:
            uploads.done(video, by_request=True)

    def predict(
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
            api_run(video, frames, checkpoint, False, None, None, url, request, progress)
        )

    def report(
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
        result = api_run(video, frames, checkpoint, explain, profile, second_opinion, url, request, progress)
        return public_report(result.to_dict()), reports.html_file(result, settings)

    def analyze_page(
        video: str | None,
        link: str | None,
        frames: int,
        checkpoint: str | None,
        explain: bool,
        profile: str | None,
        second_opinion: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        """The page's analysis: every output at once, or the reason in the page when it fails."""
        session = request.session_hash or ""
        if not video and not link_of(link):
            return (*_empty(), NOTHING_GIVEN, *idle())
        try:  # the same checks as the API's: any client can call this event too
            checked = checked_settings(
                frames, checkpoint, explain, profile, second_opinion, choices, second_choices
            )
        except DeepfakeDetectorError as exc:
            return (*_empty(), f"**Cannot analyse:** {text.markdown_text(str(exc))}", *idle())
        if video:
            uploads.hold(session, video)
        try:
            result = run(video, *checked, request, progress, link_of(link), page=True)
        except gr.Error as exc:
            if exc.title == STOPPED:  # Stop, a new video or an example said what to show
                # Every output: the results, the status line, Analyze, Stop and the progress.
                return tuple(gr.skip() for _ in range(len(_empty()) + 1 + len(idle())))
            what = _name(video) if video else text.plain(link_of(link) or "")
            return (*_empty(), f"**Cannot analyse {what}:** {text.markdown_text(exc.message)}", *idle())
        finally:
            # Stopped because the page moved on (a new video, or it left): nothing holds it now.
            if video and not uploads.shows(session, video):
                uploads.done(video, by_request=True)
        return (
            render.label_file(result),
            render.summary(result),
            render.provenance_panel(result),
            render.people_table(result),
            render.gallery(result),
            render.timeline(result, settings.uncertain_margin),
            render.write_json(result.file_name, "report", public_report(result.to_dict())),
            reports.download(result, settings),
            "",
            *idle(),
        )

    def busy(video: str | None, link: str | None, request: gr.Request) -> tuple[Any, ...]:
        session = request.session_hash or ""
        # A run this page still has (an example clicked during one) ends before this one starts.
        page_moves_on(demo, runs, admissions, session)
        if not video and not link_of(link):
            return (*_empty(), NOTHING_GIVEN, *idle())
        refused_now = admissions.refusal(
            ANALYSIS,
            visitor(request, settings.trusted_proxies),
            session,
            demo._queue.event_ids_to_events,
            waiting_ids(demo, ANALYSIS),
        )
        if refused_now:
            # The join will be refused (the chain's .failure step keeps this line): the page is
            # left ready here. (Admission itself is ui.limits.guard_queue's, at the join.)
            return (*_empty(), f"**Not started:** {text.markdown_text(refused_now)}", *idle())
        return (*_empty(), working_text(video, link), *working())

    def working_text(video: str | None, link: str | None) -> str:
        if video:
            # Both given: say which one is judged, and how to judge the other.
            unused = " (the uploaded video; the link is not used: clear the video to check the link)"
            return f"Analysing {_name(video)}…" + (unused if link_of(link) else "")
        return f"Analysing {text.plain(link_of(link) or '')}…"

    def working() -> tuple[Any, ...]:
        return gr.update(interactive=False), gr.update(visible=True), gr.update(visible=True)

    def refused(said: str | None) -> tuple[Any, ...]:
        """After the server refused or failed the page's analysis (its message is in a toast); a
        refusal the page's own check told already (``said``, the status line) stays."""
        return (said if (said or "").startswith("**Not started:**") else ""), *idle()

    def idle() -> tuple[Any, ...]:
        return gr.update(interactive=True), gr.update(visible=False), gr.update(visible=False)

    def stop(request: gr.Request) -> tuple[Any, ...]:
        session = request.session_hash or ""
        runs.halt(session, waiting(demo, session))
        admissions.forget_page(session)
        return (*_empty(), "Stopped.", *idle())

    def new_video(request: gr.Request) -> tuple[Any, ...]:
        session = request.session_hash or ""
        runs.halt(session, waiting(demo, session))
        admissions.forget_page(session)
        uploads.leave(session)
        return (*_empty(), "", *idle())

    def left(request: gr.Request) -> None:
        if runs.forget(request.session_hash or ""):
            logger.info("a visitor left during an analysis; it was stopped")
        streams.leave(request.session_hash or "")
        uploads.leave(request.session_hash or "")
        admissions.forget_page(request.session_hash or "")

    def accept(*inputs: Any) -> list[Any]:
        """Every input valid. Gradio preprocesses an event's inputs for its validator while the
        request joins the queue: a link given as the file is refused before it takes a place.
        (Who may join is decided by ``ui.limits.guard_queue``, in the same step that counts it.)"""
        return [gr.validate(True, "") for _ in inputs]

    def link_of(value: Any) -> str | None:
        """The page's link text, or None (the page sends what was typed, as text)."""
        try:
            return link_text(value, "link")
        except DeepfakeDetectorError:
            return None

    with gr.Blocks(title="Deepfake video detector", delete_cache=(600, 3600)) as demo:
        uploads = Uploads(
            demo, settings.upload_ttl_s, int(settings.upload_quota_mb * 1_000_000), settings.max_uploads
        )
        gr.Markdown(
            "# 🕵️ Deepfake video detector\nDrop in or record a video with a face. The app samples "
            "frames, follows every face, and two detectors (a ResNeXt50 + LSTM trained on FaceForensics++ "
            "and, as a second opinion, an EfficientNet-B4 trained on DFDC) say whether each looks **REAL** "
            "or **FAKE** (or that they cannot tell), and show why. **Live camera** judges your camera "
            "while it plays."
        )
        with gr.Tabs():
            with gr.Tab("Check a video", id="file"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=1, min_width=300):
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
                        explain = StrictCheckbox(
                            value=False, label="Explain: show where the model looked (about twice as slow)"
                        )
                        with gr.Row():
                            analyze_button = gr.Button(
                                "Analyze", variant="primary", size="lg", scale=3, elem_id="analyze"
                            )
                            stop_button = gr.Button("Stop", variant="stop", size="lg", scale=1, visible=False)
                        status = gr.Markdown(elem_id="status")
                        # The one place an analysis shows its progress, the stage in words.
                        progress_box = gr.Markdown(elem_id="progress", visible=False)
                        label = gr.Label(label="Verdict", num_top_classes=2)
                        summary = gr.Markdown(elem_id="summary")
                        provenance = gr.Markdown(elem_id="provenance")
                        people = gr.HTML(elem_id="people")
                        with gr.Accordion("Frames and model weights", open=False):
                            frames = AsSentSlider(
                                1,
                                settings.max_frames,
                                value=default_frames,
                                step=1,
                                label="Frames to sample",
                                info="More frames: slower, steadier.",
                            )
                            checkpoint = AsSentDropdown(
                                choices, value=settings.checkpoint, label="Model weights"
                            )
                            profile = AsSentRadio(
                                [(f"{p.name}: {p.summary}", p.name) for p in profiles.PROFILES.values()],
                                value=default_profile,
                                label="Face crops",
                            )
                            second_opinion = AsSentDropdown(
                                second_choices,
                                value=settings.second_opinion,
                                label="Second opinion",
                                info="An EfficientNet-B4 trained on DFDC (ICPR 2020), on its own "
                                "face finder.",
                            )
                    with gr.Column(scale=1, min_width=300):
                        timeline = gr.Plot(
                            label="Fake probability across the clip", format="png", elem_id="timeline"
                        )
                        gallery = gr.Gallery(
                            label="Faces scored, by person (2nd: second opinion)",
                            columns=4,
                            height="auto",
                            object_fit="contain",
                            elem_id="gallery",
                        )
                        report_file = gr.File(label="JSON report")
                        html_button = gr.DownloadButton("Download report (HTML)", visible=False)
                examples = gr.Examples(
                    examples=[[str(EXAMPLES_DIR / name)] for name in EXAMPLES],
                    example_labels=list(EXAMPLES.values()),
                    inputs=[video],
                    cache_examples=False,
                    api_visibility="private",
                )
                examples.dataset.elem_id = "examples"  # for the page's one-run-per-click script
            with gr.Tab("Live camera", id="live"):
                live.tab(settings, streams, default_profile)
        gr.Markdown(
            ABOUT.format(
                fake=MEANING[FAKE],
                real=MEANING[REAL],
                uncertain=MEANING[UNCERTAIN],
                cannot=MEANING[CANNOT_JUDGE],
                margin=settings.uncertain_margin,
                weights=_weights_text(settings),
            ),
            elem_id="about",
        )
        shown = [label, summary, provenance, people, gallery, timeline, report_file, html_button, status]
        buttons = [analyze_button, stop_button, progress_box]
        inputs = [video, link, frames, checkpoint, explain, profile, second_opinion]
        # An analysis starts from the button, Enter in the link box, or an example once it is loaded
        # (with the page's frames and Explain settings); either way with the outputs cleared first.
        # Each run's last step sets the buttons back (a stopped run leaves all to what stopped it).
        # Progress shows on one block only (the stage in words), not as a bar over every output.
        # One click starts one run: see ui/clicks.py for why trigger_mode alone cannot ensure it.
        for start in (analyze_button.click, link.submit, examples.load_input_event.then):
            start(
                busy,
                [video, link],
                [*shown, *buttons],
                queue=False,
                api_visibility="private",
                show_progress="hidden",
            ).then(
                analyze_page,
                inputs,
                [*shown, *buttons],
                concurrency_id=ANALYSIS,
                api_visibility="private",
                validator=accept,
                trigger_mode="always_last",
                show_progress_on=[progress_box],
            ).failure(refused, status, [status, *buttons], queue=False, api_visibility="private")
        # A new or cleared video, Stop, or leaving the page ends the analysis of the old one. The
        # run is told to stop and ends at its next check, so its event completes like any other:
        # Gradio's `cancels` would drop the event while its thread ran on, and the page then
        # sometimes kept the outputs' spinners going for good.
        ends = {"queue": False, "api_visibility": "private", "show_progress": "hidden"}
        for event in (video.upload, video.clear, video.stop_recording):
            event(new_video, None, [*shown, *buttons], **ends)
        stop_button.click(stop, None, [*shown, *buttons], **ends)
        demo.unload(left)
        # The API and MCP endpoints, on inputs nobody sees: strict types, no rounding, and labels
        # that say what each is (Gradio's /info shows the labels, its MCP tools the docstrings).
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
            label=f"second opinion, one of {', '.join(second_choices)} (default: the server's)",
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
    # api_open=False: /run/<api> and /api/<api> (direct calls, outside the queue and its limits)
    # refuse every queued event; the page's quick events (queue=False) still use them.
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=1, api_open=False)
    check_gradio(demo)
    callers = McpCallers(settings.trusted_proxies)
    guard_queue(demo, admissions, callers.who, public_text)
    demo.runs, demo.uploads, demo.callers = runs, uploads, callers  # for launch_options' middleware
    return demo


def _empty() -> tuple[Any, ...]:
    """Every result output cleared: verdict, summary, provenance, people, gallery, plot, reports."""
    return None, "", "", "", [], None, None, reports.hidden()


def _name(video: str | None) -> str:
    return text.plain(Path(video).name) if video else "the video"


def launch_options(demo: gr.Blocks, settings: Settings) -> dict[str, Any]:
    """What ``demo.launch`` needs beside the page: the upload limits (bytes), cancels, MCP."""
    quota = Middleware(
        UploadQuota,
        uploads=demo.uploads,
        max_file_bytes=int(settings.max_upload_mb * 1_000_000),
        timeout_s=settings.upload_timeout_s,
    )
    routes = Middleware(Routes, blocks=demo, runs=demo.runs, callers=demo.callers)
    trust_no_forwarding_peer()  # DEEPFAKE_TRUSTED_PROXIES alone decides, not uvicorn's default
    return {
        "max_file_size": int(settings.max_upload_mb * 1_000_000),
        "app_kwargs": {"middleware": [routes, quota]},
        "theme": THEME,
        "css": CSS,
        "js": PAGE_JS,
        "mcp_server": True,
        # Gradio's run history (/gradio_api/runs, run-history routes) could fall back to the
        # host's saved Hugging Face token for a local request; the app has no use for it.
        "run_history": False,
        # Gradio's /monitoring/summary answers anyone with every endpoint's counts and timings.
        "enable_monitoring": settings.monitoring,
    }


SETTINGS = Settings.from_env()
demo = build_demo(SETTINGS)


def warm_up(settings: Settings) -> None:
    """Load (and on the Space, download) both detectors' weights before the first visitor, and
    run the live path once.

    On failure the app still starts, and every request says so (the second opinion's failure
    is remembered for a while, so requests do not each wait on unreachable sources).
    """
    spec = settings.second_opinion_spec()
    if spec is not None:
        try:
            opinions.load(spec, settings.blazeface_specs(), settings.device, settings.torch_threads)
        except DeepfakeDetectorError as exc:
            opinions.unavailable_reason(exc)
    try:
        detector = Detector.from_settings(settings)
    except DeepfakeDetectorError as exc:
        logger.warning("weights not loaded, every request will say so: %s", exc)
        return
    live.warm_up(detector, EXAMPLES_DIR / next(iter(EXAMPLES)))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # A stop (SIGTERM, as a Space or `docker stop` sends) closes the server like Ctrl-C, so that
    # the process's folders (reports, uploads) are removed at exit.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    warm_up(SETTINGS)
    demo.launch(**launch_options(demo, SETTINGS))
