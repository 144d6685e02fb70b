"""Live camera frames refused from their header before Gradio decodes them (issue 29, item 6):
the Live tab's camera reads the size of a PNG, JPEG or WebP frame, sent as the browser's data
URL or as a file, and refuses it above DEEPFAKE_MAX_PIXELS without decoding its pixels."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.Image
import pytest
from gradio.data_classes import ImageData

from inference import Settings
from ui.live_frames import CheckedCamera

LIMIT = 1_000_000


def encoded(width: int, height: int, format: str) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format=format)
    return buffer.getvalue()


def data_url(data: bytes, mime: str) -> ImageData:
    return ImageData(url=f"data:{mime};base64,{base64.b64encode(data).decode()}")


def huge_png(width: int, height: int) -> bytes:
    """A valid PNG header of ``width`` x ``height`` followed by one row of data: decoding it would
    allocate width*height*3 bytes (and fail), reading its header costs nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\0" * (1 + 3 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


FORMATS = [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]


@pytest.mark.parametrize(("format", "mime"), FORMATS)
def test_an_oversized_frame_is_refused_from_its_header(format: str, mime: str):
    camera = CheckedCamera(LIMIT, sources=["webcam"], streaming=True, type="numpy")
    with pytest.raises(gr.Error, match="1500x1000 .1500000 pixels. exceed the limit of 1000000"):
        camera.preprocess(data_url(encoded(1500, 1000, format), mime))
    small = camera.preprocess(data_url(encoded(640, 480, format), mime))
    assert isinstance(small, np.ndarray) and small.shape[:2] == (480, 640)


def test_a_frame_that_would_take_gigabytes_is_refused_without_decoding():
    camera = CheckedCamera(LIMIT, sources=["webcam"], streaming=True, type="numpy")
    with pytest.raises(gr.Error, match="12000x12000"):  # 432 MB once decoded
        camera.preprocess(data_url(huge_png(12_000, 12_000), "image/png"))
    with pytest.raises(gr.Error, match="more than .* pixels exceed the limit"):  # 4.8 GB
        camera.preprocess(data_url(huge_png(40_000, 40_000), "image/png"))


def test_a_frame_sent_as_a_file_is_checked_too(tmp_path: Path):
    camera = CheckedCamera(LIMIT, sources=["webcam"], streaming=True, type="numpy")
    path = tmp_path / "frame.png"
    path.write_bytes(encoded(2000, 1000, "PNG"))
    with pytest.raises(gr.Error, match="2000x1000"):
        camera.preprocess(ImageData(path=str(path), orig_name="frame.png"))
    with pytest.raises(gr.Error, match="not a readable image") as refused:
        camera.preprocess(data_url(b"not an image at all", "image/png"))
    # Pillow's own text named the object it read, with its memory address.
    assert "0x" not in refused.value.message and "BytesIO" not in refused.value.message


def test_the_live_tab_camera_is_checked_with_the_server_limit(hub_cache: Path):
    import app

    settings = Settings.from_env({"DEEPFAKE_MAX_PIXELS": str(LIMIT)})
    demo = app.build_demo(settings)
    cameras = [block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "live-camera"]
    assert len(cameras) == 1 and isinstance(cameras[0], CheckedCamera)
    assert cameras[0].max_pixels == LIMIT
    assert cameras[0].get_block_name() == "image"  # drawn by gr.Image's front end
    config = cameras[0].get_config()  # with gr.Image's own arguments, as the page needs them
    assert config["sources"] == ["webcam"] and config["streaming"] is True and "max_pixels" not in config
    with pytest.raises(gr.Error, match="exceed the limit"):
        cameras[0].preprocess(data_url(encoded(1500, 1000, "JPEG"), "image/jpeg"))
