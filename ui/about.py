"""The page's words around the tabs: its heading, and the About section under both tabs (how to
read the result, the two detectors, Content Credentials, limits, privacy, the server's weights)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from inference import CANNOT_JUDGE, FAKE, REAL, UNCERTAIN, Settings
from inference.result import MEANING

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


def weights_text(settings: Settings) -> str:
    """The server's weights in words (Markdown): a file's name, or the Hub location and mirrors."""
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


def heading() -> None:
    """The page's title and what it does, above the tabs."""
    gr.Markdown(
        "# 🕵️ Deepfake video detector\nDrop in or record a video with a face. The app samples "
        "frames, follows every face, and two detectors (a ResNeXt50 + LSTM trained on FaceForensics++ "
        "and, as a second opinion, an EfficientNet-B4 trained on DFDC) say whether each looks **REAL** "
        "or **FAKE** (or that they cannot tell), and show why. **Live camera** judges your camera "
        "while it plays."
    )


def about(settings: Settings) -> None:
    """The About section, under the tabs, for the server's margin and weights."""
    gr.Markdown(
        ABOUT.format(
            fake=MEANING[FAKE],
            real=MEANING[REAL],
            uncertain=MEANING[UNCERTAIN],
            cannot=MEANING[CANNOT_JUDGE],
            margin=settings.uncertain_margin,
            weights=weights_text(settings),
        ),
        elem_id="about",
    )
