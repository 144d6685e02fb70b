"""Judging a live stream while it plays: an analyser fed frames one by one, with their timestamps.

Where things are: :mod:`~inference.stream.analyser` (:class:`LiveAnalyser`, its two threads),
:mod:`~inference.stream.frames` (a frame checked, received, its faces found),
:mod:`~inference.stream.state` (the rolling state: counts, each person's recent scores, the
rolling verdicts), :mod:`~inference.stream.report` (the finished stream reported like a file),
:mod:`~inference.stream.slots` (:class:`LiveSlots`, the streams a server judges at once).

The frames come from the app's camera, from ``python -m inference --live`` (a camera, a stream or
a file played back at its own frame rate), or from anything else that decodes video. They are
judged like the frames of a file: the engine's tracker follows the faces (one tracker step per
scored frame), the preprocessing profile crops them and the checkpoint scores them, by the same
code as :meth:`Detector.analyze`; for the public (per-frame) checkpoints each face is scored
from a zero LSTM state, so a frame's boxes and fake probabilities are those a file analysis of
the same frames gives.

Always the freshest frame: :meth:`LiveAnalyser.offer` keeps one frame waiting; one that arrives
before the waiting one was taken up replaces it, and the replaced one counts as dropped. So
when scoring is slower than the stream, frames are dropped, never queued, and the delay between
a frame's arrival and its score stays within about two frames' work. Two threads share that work:
one finds and crops the faces of a frame while the other scores the faces of the frame before.

While the stream plays, :meth:`LiveAnalyser.state` gives each person's rolling verdict over the
last ``window_s`` seconds (DEEPFAKE_LIVE_WINDOW_S), with the labels and the margin of a file's
verdict. :meth:`LiveAnalyser.finish` turns the whole stream into an :class:`AnalysisResult` of
the same shape as a file's.
"""

from inference.stream.analyser import LiveAnalyser, LiveError
from inference.stream.slots import LiveSlots
from inference.stream.state import LivePerson, LiveState

__all__ = ["LiveAnalyser", "LiveError", "LivePerson", "LiveSlots", "LiveState"]
