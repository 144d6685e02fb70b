"""The "Check a video" tab's events: an analysis started (Analyze, Enter in the link box, an
example), shown or refused in the page; Stop, a new video and a page that leaves ending it.

The layout is ``ui/file_tab.py``; the analysis itself, shared with the API, ``ui/api.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from inference import DeepfakeDetectorError
from ui import render, reports, text
from ui.api import STOPPED, Analyses, accept
from ui.file_tab import FileTab
from ui.guards import ANALYSIS, link_text, visitor, waiting
from ui.limits import Admissions, page_moves_on, waiting_ids
from ui.live_streams import LiveStreams
from ui.public import public_report
from ui.route_path import arrived

logger = logging.getLogger(__name__)

NOTHING_GIVEN = "Upload or record a video, or paste a link, first."
UPLOAD_GONE = (
    "this upload is no longer on the server (it was replaced or cleared, or not analysed in time). "
    "Upload the video again."
)
# Both given: the finished page still says which one was judged (the link stays in its box).
LINK_NOT_USED = "The link was not used: the uploaded video was judged. Clear the video to check the link."


class FileEvents:
    """The tab's handlers, for one served app.

    Args:
        demo: The app (its queue tells whether a page's event waits).
        analyses: The analyses, shared with the API.
        admissions: Who may join the queue (the page is told before its join is refused).
        streams: The live streams (a page that leaves ends its stream too).
    """

    def __init__(
        self, demo: gr.Blocks, analyses: Analyses, admissions: Admissions, streams: LiveStreams
    ) -> None:
        self.demo = demo
        self.analyses = analyses
        self.admissions = admissions
        self.streams = streams
        self.settings = analyses.settings
        self.runs = analyses.runs
        self.uploads = analyses.uploads

    def analyze_page(
        self,
        video: str | None,
        link: str | None,
        frames: int,
        checkpoint: str | None,
        explain: bool,
        profile: str | None,
        second_opinion: str | None,
        token: str | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        """The page's analysis: every output at once, or the reason in the page when it fails.
        ``token``: the one its step before gave the page (``busy``)."""
        session = request.session_hash or ""
        if not self.runs.may_start(session, token):
            # Superseded, or the page said it did not start: the page shows what it said.
            return _unchanged()
        if not video and not link_of(link):
            return (*_empty(), NOTHING_GIVEN, *idle())
        if video and self.uploads.gone(video):
            return (*_empty(), f"**Cannot analyse {_name(video)}:** {UPLOAD_GONE}", *idle())
        try:  # the same checks as the API's: any client can call this event too
            checked = self.analyses.checked(frames, checkpoint, explain, profile, second_opinion)
        except DeepfakeDetectorError as exc:
            return (*_empty(), f"**Cannot analyse:** {text.sentence(text.markdown_text(str(exc)))}", *idle())
        # The page's video was held when it arrived or when this run was asked for (busy): an
        # analysis that waited while the page moved on must not take it back from the new one.
        try:
            result = self.analyses.run(video, *checked, request, progress, link_of(link), page=True)
        except gr.Error as exc:
            if exc.title == STOPPED:  # Stop, a new video or an example said what to show
                # Every output: the results, the status line, Analyze, Stop and the progress.
                return _unchanged()
            what = _name(video) if video else text.plain(link_of(link) or "")
            return (
                *_empty(),
                f"**Cannot analyse {what}:** {text.sentence(text.markdown_text(exc.message))}",
                *idle(),
            )
        finally:
            # Stopped because the page moved on (a new video, or it left): nothing holds it now.
            if video and not self.uploads.shows(session, video):
                self.uploads.done(video, by_request=True)
        report = render.write_json(result.file_name, "report", public_report(result.to_dict()))
        return (
            render.label_file(result),
            render.summary(result),
            render.provenance_panel(result),
            render.people_table(result),
            render.gallery(result),
            render.timeline(result, self.settings.uncertain_margin),
            report,
            # The HTML report shares the JSON's name: the two downloads of one run go together.
            reports.download(result, self.settings, Path(report).stem),
            LINK_NOT_USED if video and link_of(link) else "",
            *idle(),
        )

    def busy(self, video: str | None, link: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Before the analysis joins the queue: outputs cleared, the page busy or told why not,
        and the token its Stop sends for this analysis."""
        session = request.session_hash or ""
        token = self.runs.asked(session)
        # A run this page still has (an example clicked during one) ends before this one starts.
        page_moves_on(self.demo, self.runs, self.admissions, session)
        # The page's video from now on (an example or the upload shown), or none (a link): a
        # Clear or an upload event that arrived before this request changes nothing after it.
        if video:
            self.uploads.hold(session, video, arrived(request))
        else:
            self.uploads.leave(session, arrived(request))
        if not video and not link_of(link):
            self.runs.refuse(session)
            return (*_empty(), NOTHING_GIVEN, *idle(), token)
        refused_now = self.admissions.refusal(
            ANALYSIS,
            visitor(request, self.settings.trusted_proxies),
            session,
            self.demo._queue.event_ids_to_events,
            waiting_ids(self.demo, ANALYSIS),
        )
        if refused_now:
            # The join will be refused (the chain's .failure step keeps this line): the page is
            # left ready here. (Admission itself is ui.limits.guard_queue's, at the join; a join
            # the page holds back and admitted later does not run: Runs.may_start.)
            self.runs.refuse(session)
            return (*_empty(), f"**Not started:** {text.markdown_text(refused_now)}", *idle(), token)
        return (*_empty(), working_text(video, link), *working(), token)

    def stop(self, token: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Stop: the page's analysis (``token``: the one the page showed) ends at its next check."""
        session = request.session_hash or ""
        if not self.runs.halt(session, waiting(self.demo, session), token or ""):
            # Clicked for an analysis before the page's latest: the page shows the latest as it is.
            return _unchanged()
        self.admissions.forget_page(session)
        return (*_empty(), "Stopped.", *idle())

    def new_video(self, video: str | None, request: gr.Request) -> tuple[Any, ...]:
        """A new or cleared video: the old one's analysis ends, and the old upload goes.

        The new upload is the page's from now on, analysed or not: clearing it, replacing it or
        leaving the page deletes it and gives the visitor's upload back.
        """
        session = request.session_hash or ""
        unchanged = _unchanged()
        if video and self.uploads.shows(session, video):
            return unchanged  # the page's Analyze of this video came first: its run goes on
        if video and self.uploads.gone(video):
            return unchanged  # let go already (this event, stale, came before): it changes nothing
        # A busy server can run the page's requests out of the order the page sent them: one
        # that arrived before the page's last change (an Analyze, an example, a Clear, another
        # upload, leaving) is stale and changes nothing.
        changed = (
            self.uploads.hold(session, video, arrived(request), first_shown=True)
            if video
            else self.uploads.leave(session, arrived(request))
        )
        if not changed:
            self.uploads.done(video)  # an upload the page no longer shows goes
            return unchanged
        self.runs.halt(session, waiting(self.demo, session))
        self.admissions.forget_page(session)
        return (*_empty(), "", *idle())

    def left(self, request: gr.Request) -> None:
        """The page left: its analysis, live stream, upload and place in the queue end."""
        if self.runs.leave(request.session_hash or ""):
            logger.info("a visitor left during an analysis; it was stopped")
        self.streams.leave(request.session_hash or "")
        self.uploads.leave(request.session_hash or "")
        self.admissions.forget_page(request.session_hash or "")


def wire(tab: FileTab, events: FileEvents) -> None:
    """Wire the tab's events (inside the app's Blocks, after every tab is laid out)."""
    shown = [
        tab.label,
        tab.summary,
        tab.provenance,
        tab.people,
        tab.gallery,
        tab.timeline,
        tab.report_file,
        tab.html_button,
        tab.status,
    ]
    buttons = [tab.analyze_button, tab.stop_button, tab.progress_box]
    inputs = [
        tab.video,
        tab.link,
        tab.frames,
        tab.checkpoint,
        tab.explain,
        tab.profile,
        tab.second_opinion,
        tab.run_token,
    ]
    # An analysis starts from the button, Enter in the link box, or an example once it is loaded
    # (with the page's frames and Explain settings); either way with the outputs cleared first.
    # Each run's last step sets the buttons back (a stopped run leaves all to what stopped it).
    # Progress shows on one block only (the stage in words), not as a bar over every output.
    # One click starts one run: see ui/clicks.py for why trigger_mode alone cannot ensure it.
    for start in (tab.analyze_button.click, tab.link.submit, tab.examples.load_input_event.then):
        start(
            events.busy,
            [tab.video, tab.link],
            [*shown, *buttons, tab.run_token],
            queue=False,
            api_visibility="private",
            show_progress="hidden",
        ).then(
            events.analyze_page,
            inputs,
            [*shown, *buttons],
            concurrency_id=ANALYSIS,
            api_visibility="private",
            validator=accept,
            trigger_mode="always_last",
            show_progress_on=[tab.progress_box],
        ).failure(refused, tab.status, [tab.status, *buttons], queue=False, api_visibility="private")
    # A new or cleared video, Stop, or leaving the page ends the analysis of the old one. The
    # run is told to stop and ends at its next check, so its event completes like any other:
    # Gradio's `cancels` would drop the event while its thread ran on, and the page then
    # sometimes kept the outputs' spinners going for good.
    # Each of these must reach the server, which orders them by arrival: Gradio's default
    # trigger mode ("once") drops an upload or a clear while the page's previous one is still
    # unanswered (a busy server), and the upload it dropped stayed the visitor's, shown by no
    # page, for the TTL; a Stop dropped that way let the run it was clicked for go on.
    ends = {
        "queue": False,
        "api_visibility": "private",
        "show_progress": "hidden",
        "trigger_mode": "multiple",
    }
    for event in (tab.video.upload, tab.video.clear, tab.video.stop_recording):
        event(events.new_video, tab.video, [*shown, *buttons], **ends)
    tab.stop_button.click(events.stop, tab.run_token, [*shown, *buttons], **ends)
    events.demo.unload(events.left)


def working_text(video: str | None, link: str | None) -> str:
    """What the status line says while ``video`` (or the video behind ``link``) is analysed."""
    if video:
        # Both given: say which one is judged, and how to judge the other.
        unused = " (the uploaded video; the link is not used: clear the video to check the link)"
        return f"Analysing {_name(video)}…" + (unused if link_of(link) else "")
    return f"Analysing {text.plain(link_of(link) or '')}…"


def working() -> tuple[Any, ...]:
    """Analyze disabled, Stop and the progress shown."""
    return gr.update(interactive=False), gr.update(visible=True), gr.update(visible=True)


def refused(said: str | None) -> tuple[Any, ...]:
    """After the server refused or failed the page's analysis (its message is in a toast); a
    refusal the page's own check told already (``said``, the status line) stays."""
    return (said if (said or "").startswith("**Not started:**") else ""), *idle()


def idle() -> tuple[Any, ...]:
    """Analyze enabled, Stop and the progress hidden."""
    return gr.update(interactive=True), gr.update(visible=False), gr.update(visible=False)


def link_of(value: Any) -> str | None:
    """The page's link text, or None (the page sends what was typed, as text)."""
    try:
        return link_text(value, "link")
    except DeepfakeDetectorError:
        return None


def _empty() -> tuple[Any, ...]:
    """Every result output cleared: verdict, summary, provenance, people, gallery, plot, reports."""
    return None, "", "", "", [], None, None, reports.hidden()


def _unchanged() -> tuple[Any, ...]:
    """Every output of the tab's steps left as the page shows it."""
    return tuple(gr.skip() for _ in (*_empty(), "", *idle()))


def _name(video: str | None) -> str:
    return text.plain(Path(video).name) if video else "the video"
