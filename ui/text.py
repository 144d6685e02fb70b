"""Text from outside (file names, links, Content Credentials, error messages) made safe and plain
for the page's Markdown, and the engine's progress put in words a visitor reads."""

from __future__ import annotations

import html
import re

# A link as a Markdown renderer would make it clickable: a scheme and "//", or "www." (GFM autolinks).
LINK = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~="

# The engine's progress messages (inference/pipeline.py) and the stage each belongs to.
STAGES = (
    (re.compile(r"^frame (\d+) of (\d+)$"), "Reading frames and finding faces: frame {} of {}"),
    (re.compile(r"^scoring faces: (\d+) of (\d+)$"), "Scoring faces: {} of {}"),
    (re.compile(r"^second opinion faces: (\d+) of (\d+)$"), "Second opinion: face {} of {}"),
    (re.compile(r"^explaining faces: (\d+) of (\d+)$"), "Explaining (heatmaps): face {} of {}"),
    (re.compile(r"^scoring faces$"), "Scoring faces"),
    (re.compile(r"^fetching the video behind the link$"), "Fetching the video behind the link"),
    (re.compile(r"^done$"), "Preparing the result"),
)


def code(value: str) -> str:
    """``value`` as one Markdown code span: shown as typed, never a link, emphasis or HTML.

    Backticks become quotes and whitespace runs one space, so the span cannot be closed early or
    spread over lines; the renderer escapes HTML inside code spans itself.
    """
    flat = " ".join(value.replace("`", "'").split())
    return f"`{flat}`" if flat else "''"


def markdown_text(value: str) -> str:
    """Text from outside (a file's Content Credentials, an error quoting a link) as plain Markdown.

    Links go in code spans (plain, not clickable, no escapes shown in them); the rest is
    HTML-escaped with every Markdown special character backslash-escaped and line breaks
    flattened, so that no link, image, emphasis or heading can be smuggled in.
    """
    flat = " ".join(value.split())
    parts, start = [], 0
    for match in LINK.finditer(flat):
        # Punctuation that ends a sentence after a link is not part of it.
        link = match.group().rstrip(".,:;!?'\")")
        parts.append(_escaped(flat[start : match.start()]))
        parts.append(code(link))
        start = match.start() + len(link)
    parts.append(_escaped(flat[start:]))
    return "".join(parts)


def sentence(message: str) -> str:
    """``message`` ending with a full stop (unless it already ends a sentence: . ! ? …)."""
    message = message.rstrip()
    return message if not message or message.endswith((".", "!", "?", "…")) else message + "."


def _escaped(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return "".join("\\" + char if char in MARKDOWN_SPECIAL else char for char in escaped)


def plain(name: str) -> str:
    """A file name or link, as typed, in a code span (see :func:`code`): ``[`` ``]`` ``(`` ``)`` ``!``
    and every other character show as themselves and make no link."""
    return code(name)


def stage(message: str) -> str:
    """The engine's progress ``message`` as the stage in words (frames, faces, scoring, second
    opinion, explaining); a message it does not know, capitalised as it is."""
    for pattern, words in STAGES:
        match = pattern.match(message)
        if match:
            return words.format(*match.groups())
    return message[:1].upper() + message[1:]


# Content Credentials codes a visitor meets, in words (C2PA validation codes and IPTC digital
# source types); the JSON report keeps the codes themselves.
CODE_WORDS = {
    "assertion.bmffHash.mismatch": "the video's content no longer matches what was signed",
    "assertion.dataHash.mismatch": "the file's content no longer matches what was signed",
    "assertion.hashedURI.mismatch": "a signed part of the credentials was changed",
    "claimSignature.mismatch": "the signature does not match the credentials",
    "signingCredential.expired": "the signer's certificate had expired",
    "signingCredential.revoked": "the signer's certificate was revoked",
    "signingCredential.invalid": "the signer's certificate is not valid",
    "compositeWithTrainedAlgorithmicMedia": "partly made by a trained AI model",
    "trainedAlgorithmicMedia": "made by a trained AI model",
    "algorithmicMedia": "made by an algorithm",
    "compositeSynthetic": "a composite with synthetic parts",
    "digitalCapture": "captured by a camera",
}
_CODE = re.compile("|".join(re.escape(code) for code in sorted(CODE_WORDS, key=len, reverse=True)))


def words_for_codes(text: str) -> str:
    """``text`` with each Content Credentials code it knows said in words."""
    return _CODE.sub(lambda match: CODE_WORDS[match.group()], text)
