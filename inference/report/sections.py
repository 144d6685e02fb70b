"""The report's sections as plain values for the template: the file, the answer, the credentials,
how the answer was made. Every string from outside (a file name, a link, a manifest) stays a
plain string here; the template escapes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference.result import LABELS, MEANING, THRESHOLD, UNCERTAIN, AnalysisResult
from inference.settings import OFF, Settings
from inference.verdict import needed_frames
from inference.weights import registry
from inference.weights.hub import WeightsInfo

Scrub = Callable[[str], str]
Row = tuple[str, str]


@dataclass(frozen=True)
class Options:
    """How a report is written.

    Attributes:
        show_paths: Show where the weights were read from (local paths included): true for the
            CLI on the operator's own machine, false for the page and the API.
        scrub: Applied to every engine message shown (notes, verdicts), e.g. to leave out the
            names of the server's settings on the page; identity by default.
    """

    show_paths: bool = True
    scrub: Scrub = str


def size_text(size: int) -> str:
    """``size`` bytes in words, e.g. "1,234,567 bytes (1.2 MB)"."""
    return f"{size:,} bytes ({size / 1e6:.1f} MB)" if size >= 100_000 else f"{size:,} bytes"


def file_rows(result: AnalysisResult) -> list[Row]:
    """What the report is about: the file (or link, or stream), its bytes, its video stream."""
    rows: list[Row] = []
    source = result.source or {}
    if source.get("live"):
        rows.append(("Source", f"live stream {result.file_name!s}"))
        rows.append(
            (
                "Frames",
                f"{source.get('frames_received')} received, {source.get('frames_scored')} scored, "
                f"{source.get('frames_dropped')} dropped",
            )
        )
    elif "link" in source:
        rows += [
            ("Link", str(source.get("link"))),
            ("Final URL", str(source.get("final_url"))),
            ("Extractor", str(source.get("extractor") or "direct download")),
        ]
    else:
        rows.append(("File name", result.file_name))
    if result.file is not None:
        rows.append(("Size", size_text(result.file.size_bytes)))
        rows.append(("SHA-256 of the analysed bytes", result.file.sha256))
    video = result.video
    if video.duration_s is not None:
        rows.append(("Duration", f"{video.duration_s:.2f} s ({video.frame_count} frames)"))
    rows.append(("Resolution", f"{video.width} × {video.height} px"))
    rows.append(("Frame rate", f"{video.fps:g} frames/s" if video.fps else "unknown"))
    rows.append(("Codec", f"{video.codec or 'unknown'} (decoded with {video.decoder})"))
    return rows


def how_to_read(uncertain_margin: float) -> list[Row]:
    """What each label means, and how the detectors' verdicts are combined."""
    rows = [(label, MEANING[label]) for label in LABELS]
    rows[2] = (
        UNCERTAIN,
        f"{MEANING[UNCERTAIN]}: the mean fake probability is within {THRESHOLD} ± {uncertain_margin:g}, "
        "or the detectors disagree",
    )
    rows.append(
        (
            "Fake probability",
            "each detector's probability, from 0 to 1, that a face is manipulated; a person's is the mean "
            "over the frames they are seen in. The confidence is the probability of the more likely label.",
        )
    )
    rows.append(
        (
            "Two detectors",
            "a person is FAKE when a detector says FAKE and none says REAL, REAL when one says REAL and none "
            "says FAKE, UNCERTAIN when they disagree or neither leans either way. The video is FAKE when "
            "anyone is FAKE, REAL only when everyone is REAL.",
        )
    )
    return rows


def thresholds(margin: float) -> str:
    """The verdict's thresholds on a mean fake probability, as the app's page says them."""
    return (
        f"FAKE at a mean fake probability of at least {THRESHOLD} + margin ({THRESHOLD + margin:g}), "
        f"REAL at most {THRESHOLD} − margin ({THRESHOLD - margin:g}), UNCERTAIN in between "
        f"(margin {margin:g})"
    )


def print_head(result: AnalysisResult) -> str:
    """The line atop every printed page: the file's name and short sha256, as a CSS string's content.

    Every character but letters and digits is a CSS escape, so that no name can end the string
    or the ``<style>`` element it stands in.
    """
    text = result.file_name + (f" · sha256 {result.file.sha256[:16]}…" if result.file is not None else "")
    return "".join(c if c.isascii() and c.isalnum() else f"\\{ord(c):x} " for c in text)


def caveats(result: AnalysisResult, settings: Settings, options: Options) -> list[str]:
    """What the reader must keep in mind: unverified weights, the band, what was not analysed."""
    said = []
    pins = pinned_hashes(settings)
    for detector in result.detectors:
        if detector.weights is not None and detector.weights.sha256 not in pins:
            said.append(
                f"The weights of {detector.name} were not verified: no pinned sha256 matches theirs "
                f"({detector.weights.sha256[:16]}…), so nobody vouches that they are the published ones."
            )
    label = result.verdict.label
    if label == UNCERTAIN:
        said.append(
            "UNCERTAIN is no evidence either way: the fake probability is near 0.5, or detectors disagree."
        )
    said += [options.scrub(note) for note in result.notes]
    said.append(
        "A detector's score is evidence, not proof: REAL means no manipulation the models can see, not "
        "that the video is authentic; new forgery methods can fool them."
    )
    return said


def pinned_hashes(settings: Settings) -> set[str]:
    """Every sha256 pinned by the registry, DEEPFAKE_PINS or DEEPFAKE_WEIGHTS_SHA256 (lower case)."""
    specs = [registry.get(name) for name in registry.names() + registry.names(registry.EFFICIENTNET)]
    hashes = {spec.sha256 for spec in specs} | {pin.sha256 for pin in settings.pins}
    hashes.add(settings.weights_sha256)
    return {value.lower() for value in hashes if value}


def credentials_rows(result: AnalysisResult, options: Options) -> list[Row]:
    """The file's Content Credentials in words (every value from the file is a plain string)."""
    provenance = result.provenance
    rows: list[Row] = [("What they mean", options.scrub(provenance.message()))]
    if not provenance.present:
        return [("Present", "no"), *rows]
    rows.insert(0, ("Present", f"yes, {provenance.status}"))
    if provenance.status in ("valid", "invalid"):
        rows += [
            ("Signed by", provenance.signer or "unknown"),
            ("Signer trusted", "yes, on this installation's trust list" if provenance.trusted else "no"),
            ("Generator", provenance.generator or "unknown"),
        ]
        if provenance.signed_at:
            rows.append(("Signed at", provenance.signed_at))
        if provenance.actions:
            rows.append(("Declared actions", "; ".join(provenance.actions)))
        if provenance.ai_generated:
            who = "the signer itself" if provenance.ai_declared_by_signer else "only an ingredient"
            rows.append(("AI generation declared", f"yes, by {who}: {'; '.join(provenance.ai_declared_in)}"))
        else:
            rows.append(("AI generation declared", "no"))
    if provenance.codes:
        rows.append(("Validation codes", ", ".join(provenance.codes)))
    return rows


def weights_rows(weights: WeightsInfo | None, options: Options) -> list[Row]:
    """A detector's weights: name, where from (only with ``show_paths``), sha256."""
    if weights is None:
        return []
    rows: list[Row] = [("Weights", weights.filename or weights.name)]
    if weights.repo_id:
        rows.append(
            ("Repository", f"{weights.repo_id}" + (f" at {weights.revision}" if weights.revision else ""))
        )
    if options.show_paths:
        rows.append(("Read from", weights.location))
    rows.append(("SHA-256", weights.sha256))
    if weights.config_sha256:
        rows.append(("config.json SHA-256", weights.config_sha256))
    return rows


def how_made(result: AnalysisResult, settings: Settings, options: Options) -> dict[str, Any]:
    """Frames, profile, each detector and its weights, the deciding settings and the timings."""
    detectors = [
        {
            "name": d.name,
            "summary": f"{d.role}, {d.family}: {d.status}"
            + (f" ({options.scrub(d.reason)})" if d.reason else "")
            + (f", {d.frames_scored} faces scored" if d.status == "used" else ""),
            "weights": weights_rows(d.weights, options),
        }
        for d in result.detectors
    ]
    needed = needed_frames(result.frames_sampled, settings.min_face_fraction)
    second = next((d.name for d in result.detectors[1:] if d.status == "used"), OFF)
    deciding = [
        ("Thresholds", thresholds(settings.uncertain_margin)),
        ("Uncertain band", f"{THRESHOLD} ± {settings.uncertain_margin:g}"),
        (
            "Frames with a face needed",
            f"{settings.min_face_fraction:g} of those sampled: {needed} of {result.frames_sampled}",
        ),
        ("People followed at most", str(settings.max_people)),
        ("Face crops", f"{result.profile} profile"),
        ("Second opinion", second),
    ]
    return {
        "counts": [
            ("Frames sampled", str(result.frames_sampled)),
            ("Frames with a face", str(result.frames_with_face)),
            ("People seen / judged", f"{len(result.people)} / {result.people_judged}"),
        ],
        "detectors": detectors,
        "deciding": deciding,
        "timings": [(k.replace("_", " "), f"{v:.2f} s") for k, v in result.timings.items()],
    }
