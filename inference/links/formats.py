"""Which of a video site's formats is taken, and what the site's description of the video rules out.

Only progressive formats (one http/https file) of at most 720p are taken, so ffmpeg never merges
or remuxes anything; HLS/DASH-only videos, live streams, and videos the site says are too long or
too large are refused with a message, before anything is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from inference.links.errors import (
    UPLOAD_INSTEAD,
    NoSuitableFormatError,
    NotAVideoError,
    TooLargeError,
    TooLongError,
)

logger = logging.getLogger(__name__)

# Largest side of the frames wanted: 720p, landscape or portrait (yt-dlp's "res" is the smaller side).
MAX_RES = 720
# Progressive formats only (http/https; not DASH segments, HLS, ISM ...): one file, no ffmpeg.
FORMAT = "bv*[protocol^=http][protocol!*=dash]"
# Within that: 720p or the nearest below it, then H.264, then MP4 (all read by OpenCV or PyAV).
FORMAT_SORT = [f"res:{MAX_RES}", "vcodec:h264", "ext:mp4:m4a"]


def _first_video(info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The video itself, or the first video of a playlist or multi-video post.

    Raises:
        NotAVideoError: If there is no video (an empty playlist or post).
    """
    while info is not None and info.get("_type") in ("playlist", "multi_video"):
        entries = [entry for entry in info.get("entries") or [] if entry]
        if not entries:
            raise NotAVideoError(f"the link is a post or playlist without any video; {UPLOAD_INSTEAD}")
        logger.info("the link holds several items; the first is fetched")
        info = entries[0]
    if not info:
        raise NotAVideoError("the site gave no video for this link")
    return info


def _check_video_info(
    video: Mapping[str, Any], site: str, max_bytes: int, max_duration_s: float | None
) -> None:
    """Refuse what the site's own description already rules out, before downloading anything."""
    live = video.get("live_status")
    if video.get("is_live") or live in ("is_live", "is_upcoming"):
        raise NotAVideoError(
            f"this {site} link is a live stream (or one not started yet), which cannot be judged; "
            f"wait for the recording, or {UPLOAD_INSTEAD}"
        )
    duration = video.get("duration")
    if max_duration_s is not None and isinstance(duration, int | float) and duration > max_duration_s:
        raise TooLongError(
            f"the video lasts {duration:.0f} s, longer than the {max_duration_s:g} s limit; cut the "
            "part to check and upload it"
        )
    size = video.get("filesize") or video.get("filesize_approx")
    if isinstance(size, int | float) and size > max_bytes:
        raise TooLargeError(
            f"the video is about {size / 1e6:.0f} MB, larger than the {max_bytes / 1e6:g} MB limit; "
            "pick a shorter part of the clip and upload it"
        )
    if not video.get("url") or video.get("requested_formats"):
        raise NoSuitableFormatError(_no_format(site))
    protocol = str(video.get("protocol") or "")
    if protocol not in ("http", "https"):
        raise NoSuitableFormatError(_no_format(site))
    sides = [side for side in (video.get("width"), video.get("height")) if isinstance(side, int)]
    if len(sides) == 2 and min(sides) > MAX_RES:
        raise NoSuitableFormatError(
            f"{site} offers this video only above {MAX_RES}p, which is not downloaded here; {UPLOAD_INSTEAD}"
        )


def _no_format(site: str) -> str:
    """The message for a video offered only as streams or separate parts."""
    return (
        f"{site} offers this video only as a stream (HLS or DASH) or in separate parts, which are "
        f"not downloaded here; {UPLOAD_INSTEAD}"
    )
