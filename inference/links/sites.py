"""Pages of video sites, read with yt-dlp embedded as a library, every request it makes guarded.

:func:`fetch_site` has yt-dlp read the page and pick a format (``extract_info(download=False)``),
then downloads the video itself with :func:`inference.links.download.download`, which checks size and
content as it streams. Where the work is done:

- :mod:`inference.links.ytdlp_requests`: yt-dlp's only request handler, :class:`GuardedRH`, each
  request vetted and bounded like a direct link's (no other handler is registered, so a request
  it cannot serve fails). Each answer yt-dlp reads is capped at ``PAGE_MAX_BYTES`` (2 MiB) after
  decompression, more only for the extractors in :data:`PAGE_MAX_BYTES_BY_EXTRACTOR`.
- :mod:`inference.links.ytdlp_options`: the extractors (the generic one and those that can run
  PhantomJS off, no plugins) and yt-dlp's options: one item (``noplaylist``; a post with several
  videos gives its first), no cache, no config files, no cookies but the session's own, no proxy,
  output only in the caller's private folder.
- :mod:`inference.links.formats`: only progressive formats (one http/https file) of at most 720p,
  so ffmpeg never merges or remuxes anything; HLS/DASH-only videos are refused with a message.

Messages never repeat yt-dlp's error text (it quotes the site); the site's refusal is matched
(YouTube's bot check) and told in our own words, and yt-dlp's text goes to the log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from yt_dlp.utils import DownloadError, ExtractorError

from inference.links import download as to_disk
from inference.links import fetch
from inference.links.connection import Deadline
from inference.links.errors import (
    UPLOAD_INSTEAD,
    AddressNotAllowedError,
    LinkError,
    NoSuitableFormatError,
    SiteRefusedError,
    TimedOutError,
    TooLargeError,
    UnreachableError,
    UnsupportedLinkError,
)
from inference.links.formats import _check_video_info, _first_video, _no_format
from inference.links.ytdlp_options import _GuardedYoutubeDL, _params, extractor_for
from inference.links.ytdlp_requests import PAGE_MAX_BYTES, _Session

logger = logging.getLogger(__name__)

# Extractors that need more, by the key of the extractor of the link. YouTube: the player script
# (base.js, about 2.5-3 MB) that yt-dlp reads to work out the media URLs is over 2 MiB, and the
# watch page itself runs to 1-2 MB.
PAGE_MAX_BYTES_BY_EXTRACTOR = {"Youtube": 4 * 1024 * 1024}
# YouTube's answer to data-center addresses, in its curly- and straight-quote spellings.
_BOT_CHECK = re.compile(r"confirm you(?:['’]re| are) not a bot|sign in to confirm", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class SiteDownload:
    """A video fetched from a site's page.

    Attributes:
        download: The downloaded file.
        extractor: yt-dlp's extractor key ("Youtube", "Twitter", ...).
        page_url: The page's address as yt-dlp gives it (``webpage_url``), used as the final URL:
            the media URL is not kept, it carries signatures and sometimes this server's address.
    """

    download: to_disk.Download
    extractor: str
    page_url: str


def fetch_site(
    url: str,
    folder: Path,
    *,
    max_bytes: int,
    deadline: Deadline,
    allow_private: bool = False,
    max_duration_s: float | None = None,
    socket_timeout: float = fetch.SOCKET_TIMEOUT_S,
) -> SiteDownload:
    """Read a video site's page with yt-dlp, then download the chosen format into ``folder``.

    Args:
        url: The page (one :func:`extractor_for` recognises).
        folder: The private folder to write into (the caller deletes it).
        max_bytes: Largest video accepted, bytes; a size the site announces is checked first.
        deadline: The overall time limit, for the page requests and the download together.
        allow_private: Allow non-public addresses (tests against a local server only).
        max_duration_s: Longest video accepted, seconds, when the site says how long it is;
            None for no limit (the caller probes the file too).
        socket_timeout: Longest wait for any one network operation, seconds.

    Raises:
        SiteRefusedError: If the site does not give the video (bot check, sign-in, private,
            removed); the message is ours (yt-dlp's text is logged) and suggests uploading the file.
        NoSuitableFormatError: If the site offers no single-file format of at most 720p.
        NotAVideoError: If the link is a live stream or a post without a video, or the file is not one.
        TooLongError: If the site says the video is longer than ``max_duration_s``.
        TooLargeError, TimedOutError, AddressNotAllowedError, UnreachableError: As for direct links,
            for the page requests as for the download.
    """
    page_max_bytes = PAGE_MAX_BYTES_BY_EXTRACTOR.get(extractor_for(url) or "", PAGE_MAX_BYTES)
    session = _Session(deadline=deadline, allow_private=allow_private, page_max_bytes=page_max_bytes)
    with _GuardedYoutubeDL(_params(folder, socket_timeout), session) as ydl:
        try:
            info = ydl.extract_info(url, download=False)
        except (DownloadError, ExtractorError) as exc:
            raise _failure(session, str(exc)) from exc
        # Broad on purpose: yt-dlp's ~1800 extractors parse whatever a site sends and, on an
        # unexpected page, fail with any error (KeyError, TypeError, AttributeError, IndexError
        # ...) that extract_info lets through unwrapped. Each is the site's failure: logged with
        # its traceback, reported as a refusal. BaseException (KeyboardInterrupt) is not caught.
        except Exception as exc:
            logger.warning("yt-dlp failed on %s", fetch.shown_url(url), exc_info=True)
            raise _failure(session, f"{type(exc).__name__}: {exc}") from exc
        deadline.check()
        video = _first_video(info)
        extractor = str(video.get("extractor_key") or info.get("extractor_key") or "unknown")
        _check_video_info(video, extractor, max_bytes, max_duration_s)
        chunk = (video.get("downloader_options") or {}).get("http_chunk_size")
        if not (isinstance(chunk, int) and chunk > 0):
            chunk = None
        logger.info(
            "%s: format %s (%sx%s, %s, %s)",
            extractor,
            video.get("format_id"),
            video.get("width"),
            video.get("height"),
            video.get("vcodec"),
            video.get("ext"),
        )
        download = to_disk.download(
            video["url"],
            folder,
            max_bytes=max_bytes,
            deadline=deadline,
            allow_private=allow_private,
            headers=video.get("http_headers") or {},
            cookiejar=ydl.cookiejar,
            chunk_bytes=chunk,
            socket_timeout=socket_timeout,
        )
    page_url = str(video.get("webpage_url") or info.get("webpage_url") or url)
    return SiteDownload(download=download, extractor=extractor, page_url=page_url)


def _failure(session: _Session, message: str) -> LinkError:
    """The error to raise when yt-dlp could not read the page.

    A refusal of the guard (address, deadline, size) is reported as itself, whatever yt-dlp made
    of it; otherwise yt-dlp's message (which quotes the site) is matched against the cases known
    here and logged, and the person gets a fixed message.
    """
    for kind in (TimedOutError, AddressNotAllowedError, UnsupportedLinkError, TooLargeError):
        for error in session.errors:
            if isinstance(error, kind):
                return error
    if session.deadline.expired():
        return session.deadline.error()
    text = _ANSI.sub("", message).strip()
    logger.info("yt-dlp could not read the page: %s", text[:2000])
    if _BOT_CHECK.search(text):
        return SiteRefusedError(
            "the site asks this server to sign in to confirm it is not a bot (YouTube does this for "
            "data-center addresses such as this app's), so the video cannot be fetched here; "
            f"{UPLOAD_INSTEAD}"
        )
    if "requested format is not available" in text.lower():
        return NoSuitableFormatError(_no_format("the site"))
    for error in session.errors:
        if isinstance(error, UnreachableError):
            return error
    return SiteRefusedError(
        "the site did not give the video (it may be private, removed, region-locked or need a "
        f"sign-in); if it plays in your browser, {UPLOAD_INSTEAD}"
    )
