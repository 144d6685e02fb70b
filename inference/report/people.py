"""Each person of the report: face, when seen, every detector's verdict, the chart, the scored faces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.report.chart import Chart, chart
from inference.report.images import explained_uri, jpeg_uri
from inference.report.sections import Options
from inference.result import AnalysisResult, Person, Verdict

# A person with more faces shown than this gets pages of their own when printed.
LONG_PERSON_FACES = 6


@dataclass(frozen=True)
class Face:
    """One scored face as shown: the picture and its caption."""

    image: str  # data: URI
    caption: str
    wide: bool  # the face with its heatmap beside it


def label_class(label: str) -> str:
    """The CSS class of a verdict label ("FAKE" -> "fake", "CANNOT JUDGE" -> "cannot-judge")."""
    return label.lower().replace(" ", "-")


def probability(verdict: Verdict) -> str:
    """The verdict's fake probability and confidence in words, or "" when nothing was scored."""
    if verdict.fake_probability is None:
        return ""
    text = f"fake probability {verdict.fake_probability:.2f}"
    return text + (f", confidence {verdict.confidence:.0%}" if verdict.confidence is not None else "")


def person_context(result: AnalysisResult, person: Person, margin: float, options: Options) -> dict[str, Any]:
    """Everything the template shows of ``person``."""
    mine = [
        (crop, frame)
        for crop, frame in zip(result.crops, result.frames, strict=True)
        if frame.person == person.id
    ]
    first_name = result.detectors[0].name if result.detectors else result.weights.name
    opinions = [
        {
            "detector": o.detector,
            "label": o.verdict.label,
            "css": label_class(o.verdict.label),
            "probability": probability(o.verdict),
            "message": options.scrub(o.verdict.message),
        }
        for o in person.opinions
    ]
    faces = [
        Face(
            explained_uri(crop, frame.heatmap) if frame.heatmap is not None else jpeg_uri(crop),
            f"{frame.timestamp_s:.2f} s, frame {frame.frame_index}: {frame.fake_probability:.2f}",
            frame.heatmap is not None,
        )
        for crop, frame in mine
    ]
    shown_second = second_faces(result, person)
    return {
        "id": person.id,
        "label": person.verdict.label,
        "css": label_class(person.verdict.label),
        "probability": probability(person.verdict),
        "message": options.scrub(person.verdict.message),
        "seen": (
            f"seen in {person.seen} of {result.frames_sampled} sampled frames, "
            f"from {person.first_seen_s:.2f} s to {person.last_seen_s:.2f} s"
        ),
        "thumbnail": jpeg_uri(result.crops[person.representative]) if result.crops else None,
        "opinions": opinions,
        "chart": person_chart(result, person, first_name, margin),
        "faces": faces,
        "first_detector": first_name,
        "second_faces": shown_second,
        "long": len(faces) + len(shown_second) > LONG_PERSON_FACES,
    }


def person_chart(result: AnalysisResult, person: Person, first_name: str, margin: float) -> Chart:
    """The person's fake probability over time, one line per detector, with the uncertain band."""
    mine = [frame for frame in result.frames if frame.person == person.id]
    when = {frame.frame_index: frame.timestamp_s for frame in mine}
    fps = result.video.fps
    lines = [(first_name, [(frame.timestamp_s, frame.fake_probability) for frame in mine])]
    for opinion in person.opinions[1:]:
        points = []
        for seen in opinion.frames:
            if seen.frame_index in when:
                points.append((when[seen.frame_index], seen.fake_probability))
            elif fps:
                points.append((seen.frame_index / fps, seen.fake_probability))
        lines.append((opinion.detector, sorted(points)))
    return chart(lines, result.video.duration_s or 0.0, margin)


def second_faces(result: AnalysisResult, person: Person) -> list[Face]:
    """The second opinion's faces of ``person`` with their attention maps, when explained."""
    faces = []
    when = {frame.frame_index: frame.timestamp_s for frame in result.frames if frame.person == person.id}
    fps = result.video.fps
    for opinion in person.opinions[1:]:
        for seen in opinion.frames:
            face = result.second_crops.get((person.id, seen.frame_index))
            if face is None or seen.attention is None:
                continue
            # The time as the first detector's captions give it (from the frame's own timestamp).
            at = when.get(seen.frame_index, seen.frame_index / fps if fps else None)
            time = f"{at:.2f} s, " if at is not None else ""
            faces.append(
                Face(
                    explained_uri(face, seen.attention),
                    f"{time}{opinion.detector}, frame {seen.frame_index}: {seen.fake_probability:.2f}",
                    True,
                )
            )
    return faces
