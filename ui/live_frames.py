"""The Live tab's camera: a frame's size read from its header and refused before it is decoded.

Gradio decodes every streamed frame (a base64 data URL from the browser's webcam, or a file a
client of its own sent) before the handler sees it, so a 300 KB PNG of 10000x10000 became a
300 MB array before DEEPFAKE_MAX_PIXELS could say no. :class:`CheckedCamera` reads the size
from the image's header (PNG, JPEG, WebP: Pillow's ``open`` parses the header only) and refuses
an oversized frame before Gradio's own preprocessing decodes it.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import PIL.Image
from gradio.data_classes import ImageData
from gradio.processing_utils import extract_base64_data

from ui.guards import for_visitors

logger = logging.getLogger(__name__)


class FrameRefusedError(gr.Error):
    """A camera frame refused from its header: too many pixels, or not an image."""


def header_size(payload: ImageData) -> tuple[int, int]:
    """The (width, height) of the image ``payload`` carries, read from its header, not decoded.

    Raises:
        FrameRefusedError: If the payload is not an image Pillow can read the header of.
        PIL.Image.DecompressionBombError: If the header announces more pixels than Pillow opens
            (twice ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    try:
        if payload.url and payload.url.startswith("data:"):
            data = base64.b64decode(extract_base64_data(payload.url), validate=False)
            source: Any = io.BytesIO(data)
        elif payload.path:
            source = Path(payload.path)
        else:
            raise FrameRefusedError("the camera sent a frame without an image", title="Frame refused")
        with PIL.Image.open(source) as image:  # lazy: only the header is parsed
            return image.size
    except PIL.Image.DecompressionBombError:
        raise  # too many pixels, said by check_frame
    except (OSError, ValueError, binascii.Error) as exc:
        # Pillow's text names the object it read (a memory address): for the log, not the visitor.
        logger.info("a camera frame was not a readable image: %s", exc)
        raise FrameRefusedError(
            "the camera sent a frame that is not a readable image (PNG, JPEG or WebP)", title="Frame refused"
        ) from exc


def check_frame(payload: ImageData, max_pixels: int) -> None:
    """Refuse a frame of more than ``max_pixels`` pixels from its header.

    Raises:
        FrameRefusedError: If the frame is too large or not an image.
    """
    try:
        width, height = header_size(payload)
    except PIL.Image.DecompressionBombError:
        width = height = 0
        too_many = f"camera frames of more than {2 * PIL.Image.MAX_IMAGE_PIXELS} pixels"
    else:
        too_many = f"camera frames of {width}x{height} ({width * height} pixels)"
    if width * height > max_pixels or not width:
        text = (
            f"{too_many} exceed the limit of "
            f"{max_pixels} pixels per frame (DEEPFAKE_MAX_PIXELS); send smaller frames, 640x480 is plenty"
        )
        raise FrameRefusedError(for_visitors(text), title="Frame refused")


class CheckedCamera(gr.Image):
    """``gr.Image`` whose frames are refused above ``max_pixels`` before Gradio decodes them.

    Shown by the browser exactly as ``gr.Image`` (a template of it).

    Args:
        max_pixels: Largest frame accepted, pixels (DEEPFAKE_MAX_PIXELS).
        **options: As for ``gr.Image``.
    """

    is_template = True  # the page draws it with gr.Image's own front end

    def __init__(self, max_pixels: int, **options: Any) -> None:
        self.max_pixels = max_pixels
        super().__init__(**options)

    def get_config(self, cls: type[gr.blocks.Block] | None = None) -> dict[str, Any]:
        """``gr.Image``'s configuration for the page: its own arguments, read from its signature."""
        return super().get_config(cls or gr.Image)

    def preprocess(self, payload: ImageData | None) -> np.ndarray | PIL.Image.Image | str | None:
        """Check the frame's header, then hand it to ``gr.Image``'s own preprocessing.

        Raises:
            FrameRefusedError: If the frame is larger than ``max_pixels`` or not an image.
        """
        if payload is not None:
            check_frame(payload, self.max_pixels)
        return super().preprocess(payload)
