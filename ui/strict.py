"""One validation of an analysis's settings for every entry point: the page, the API and MCP.

The page's own event is a route like any other (any client can call it), so its inputs pass
their values as sent, like the API's, and are checked by :func:`checked_settings`: Gradio's
slider would round ``1.5``, its checkbox pass the string ``"false"`` on (true), and its
dropdown echo a refused value whole in its error.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr

from inference.faces import profiles
from ui.guards import choice, flag, whole_number


class Checked(NamedTuple):
    """An analysis's settings, checked: frames, checkpoint, explain, crop profile, second opinion."""

    frames: int | None
    checkpoint: str | None
    explain: bool
    profile: str | None
    second_opinion: str | None


def checked_settings(
    frames: Any,
    checkpoint: Any,
    explain: Any,
    profile: Any,
    second_opinion: Any,
    checkpoints: list[str],
    second_opinions: list[str],
) -> Checked:
    """The settings as sent, checked strictly (types and choices; nothing rounded or coerced).

    Raises:
        InputTypeError: Naming the first wrong setting and what it was (never its value).
    """
    return Checked(
        whole_number(frames, "frames"),
        choice(checkpoint, "checkpoint", checkpoints),
        flag(explain, "explain"),
        choice(profile, "profile", list(profiles.PROFILES)),
        choice(second_opinion, "second_opinion", second_opinions),
    )


class AsSentSlider(gr.Slider):
    """The page's frames slider: its value passed as sent, for :func:`checked_settings`."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own slider."""
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent."""
        return payload


class AsSentDropdown(gr.Dropdown):
    """A page dropdown (weights, second opinion): its value passed as sent."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own dropdown."""
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent."""
        return payload


class AsSentRadio(gr.Radio):
    """The page's crop profile: its value passed as sent."""

    def get_block_name(self) -> str:
        """Rendered by Gradio's own radio group."""
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        """The value as sent."""
        return payload
