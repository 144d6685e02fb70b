"""Links: fetch the video behind a URL safely, to judge it like an uploaded file.

A direct link to a video file is downloaded by :mod:`inference.links.download`; the page of a video
site that yt-dlp knows (YouTube, X, TikTok, Instagram, Facebook, Reddit, Vimeo ...) is read by
:mod:`inference.links.sites`. Either way every connection goes to an address that
:mod:`inference.links.guard` vetted as public, the bytes and time are capped, the file's content is
checked by probing it, and the file lives in a private temporary folder that is deleted after any
failure, and by the caller after use.

Typical use::

    from inference.links import LinkError, fetch_link

    with fetch_link(url, max_bytes=200_000_000, max_duration_s=600) as fetched:
        result = detector.analyze(fetched.path)
        source = fetched.to_dict()  # link, final URL, extractor, size, sha256
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from inference.errors import VideoError
from inference.links import download as to_disk
from inference.links import fetch, guard
from inference.links.connection import Deadline
from inference.links.errors import (
    UPLOAD_INSTEAD,
    AddressNotAllowedError,
    LinkError,
    NoSuitableFormatError,
    NotAVideoError,
    SiteRefusedError,
    TimedOutError,
    TooLargeError,
    TooLongError,
    UnreachableError,
    UnsupportedLinkError,
)
from inference.links.fetch import DEFAULT_TIMEOUT_S, SOCKET_TIMEOUT_S
from inference.links.guard import looks_like_link
from inference.video import probe as video_probe

logger = logging.getLogger(__name__)

# Prefix of the private folders; cleanup() deletes only folders so named.
TEMP_PREFIX = "deepfake-link-"
DIRECT = "direct"

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DIRECT",
    "SOCKET_TIMEOUT_S",
    "TEMP_PREFIX",
    "AddressNotAllowedError",
    "Fetched",
    "LinkError",
    "NoSuitableFormatError",
    "NotAVideoError",
    "SiteRefusedError",
    "TimedOutError",
    "TooLargeError",
    "TooLongError",
    "UnreachableError",
    "UnsupportedLinkError",
    "fetch_link",
    "looks_like_link",
]


@dataclass(frozen=True)
class Fetched:
    """A video fetched from a link, in a private temporary folder until :meth:`cleanup`.

    Use it as a context manager to delete the folder when done.

    Attributes:
        path: The video file (its extension from its first bytes).
        link: The link as given.
        final_url: Where the bytes came from after redirects for a direct link; for a video
            site, the page's address (the media URL carries signatures, and sometimes this
            server's address, so it is not kept).
        extractor: "direct", or yt-dlp's extractor key ("Youtube", "Twitter", ...).
        size_bytes: Size of the file.
        sha256: Hex sha256 of the file.
    """

    path: Path
    link: str
    final_url: str
    extractor: str
    size_bytes: int
    sha256: str

    @property
    def folder(self) -> Path:
        """The private folder holding the file (deleted by :meth:`cleanup`)."""
        return self.path.parent

    def to_dict(self) -> dict[str, str | int]:
        """The record for a report: everything but the temporary path."""
        return {
            "link": self.link,
            "final_url": self.final_url,
            "extractor": self.extractor,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
        }

    def cleanup(self) -> None:
        """Delete the private folder and the file in it (again: nothing happens)."""
        if self.folder.name.startswith(TEMP_PREFIX):
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Fetched:
        """The fetched video itself; its folder is deleted when the ``with`` block ends."""
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Delete the folder, whatever ended the block."""
        self.cleanup()


def fetch_link(
    link: str,
    *,
    max_bytes: int,
    max_duration_s: float | None = None,
    max_pixels: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    allow_private: bool = False,
    socket_timeout: float = SOCKET_TIMEOUT_S,
    temp_dir: str | Path | None = None,
    stop: Callable[[], None] | None = None,
) -> Fetched:
    """Fetch the video behind ``link`` into a new private temporary folder.

    A page that a yt-dlp extractor (other than the generic one) recognises is read with yt-dlp;
    anything else is downloaded as a file. The file is then probed with the engine's decoders.
    After any failure the folder is gone; after success the caller deletes it (``with`` or
    :meth:`Fetched.cleanup`).

    Args:
        link: An http or https link (surrounding spaces are ignored).
        max_bytes: Largest file accepted, bytes (the upload limit, typically).
        max_duration_s: Longest video accepted, seconds; None for no limit. A site's own figure
            is checked before downloading, the file's after. With a limit, a file whose length
            cannot be read (no valid frame rate) is refused rather than let through.
        max_pixels: Largest frame accepted, pixels (DEEPFAKE_MAX_PIXELS); None for no limit.
        timeout_s: Overall time limit for the lookups, requests and download, seconds.
        allow_private: Also fetch from loopback and private addresses, on any port but 0. The
            test-only setting (DEEPFAKE_ALLOW_PRIVATE_URLS), for a local server on a random port:
            it turns off the protection against reaching internal services, and logs a warning.
        socket_timeout: Longest wait for any one network operation, seconds.
        temp_dir: Where the private folder is made; the system's temporary folder by default.
        stop: Called between requests and between chunks of the download; what it raises (the
            caller's Stop or time limit) ends the fetch there, and is raised again.

    Raises:
        UnsupportedLinkError: Not an http(s) link, or one with a user name or password.
        AddressNotAllowedError: The host is, resolves to, or redirects to a non-public address,
            or the port is not 80, 443, 8080 or 8443.
        UnreachableError: The host does not resolve, cannot be reached, or answers an error.
        TimedOutError: Past ``timeout_s``.
        TooLargeError: Over ``max_bytes``.
        TooLongError: Over ``max_duration_s``, or of a length that cannot be read when there is
            a limit.
        NotAVideoError: A web page, playlist, text, image or undecodable file; a live stream.
        NoSuitableFormatError: The site offers no single-file format of at most 720p.
        SiteRefusedError: The site would not give the video (bot check, sign-in, private ...).
        LimitExceededError: Frames over ``max_pixels``.
    """
    link = link.strip()
    guard.parse_link(link)
    if allow_private:
        logger.warning(
            "fetching links from private and loopback addresses is allowed "
            "(DEEPFAKE_ALLOW_PRIVATE_URLS): for tests only, never on a public server"
        )
    deadline = Deadline(timeout_s, stop)
    folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=temp_dir))
    try:
        return _fetch_into(
            link,
            folder,
            deadline,
            max_bytes=max_bytes,
            max_duration_s=max_duration_s,
            max_pixels=max_pixels,
            allow_private=allow_private,
            socket_timeout=socket_timeout,
        )
    except BaseException as exc:
        # Whatever went wrong (our errors, yt-dlp's, an interrupt), nothing stays on disk.
        shutil.rmtree(folder, ignore_errors=True)
        # The caller's stop may come back wrapped (yt-dlp turns what its requests raise into
        # its own errors): it is what ended the fetch.
        if isinstance(exc, Exception) and deadline.stopped is not None and exc is not deadline.stopped:
            raise deadline.stopped from exc
        raise


def _fetch_into(
    link: str,
    folder: Path,
    deadline: Deadline,
    *,
    max_bytes: int,
    max_duration_s: float | None,
    max_pixels: int | None,
    allow_private: bool,
    socket_timeout: float,
) -> Fetched:
    """Download the video behind ``link`` into ``folder`` (as a file, or with yt-dlp for a site's
    page) and probe it; the arguments and errors are those of :func:`fetch_link`."""
    # yt-dlp (about 0.2 s to import, with its extractors) only when a link is fetched.
    from inference.links import sites

    extractor = sites.extractor_for(link)
    logger.info("fetching %s (%s)", fetch.shown_url(link), extractor or DIRECT)
    if extractor is None:
        download = to_disk.download(
            link,
            folder,
            max_bytes=max_bytes,
            deadline=deadline,
            allow_private=allow_private,
            socket_timeout=socket_timeout,
        )
        final_url = download.final_url
    else:
        got = sites.fetch_site(
            link,
            folder,
            max_bytes=max_bytes,
            deadline=deadline,
            allow_private=allow_private,
            max_duration_s=max_duration_s,
            socket_timeout=socket_timeout,
        )
        download, extractor, final_url = got.download, got.extractor, got.page_url
    _check_file(download.path, max_pixels, max_duration_s)
    return Fetched(
        path=download.path,
        link=link,
        final_url=final_url,
        extractor=extractor or DIRECT,
        size_bytes=download.size_bytes,
        sha256=download.sha256,
    )


def _check_file(path: Path, max_pixels: int | None, max_duration_s: float | None) -> None:
    """Probe the file with the engine's decoders: it must be a video, within the duration limit.

    The duration is the frame count over the frame rate. A file without a valid frame rate
    (missing, zero, absurd) has no known duration: with a limit it is refused, since its frame
    count alone says nothing about how long it lasts.

    Raises:
        NotAVideoError: If no decoder reads it as a video.
        TooLongError: If it lasts longer than ``max_duration_s``, or its duration is unknown
            while ``max_duration_s`` is set.
        LimitExceededError: If its frames have more than ``max_pixels`` pixels.
    """
    try:
        info = video_probe.probe(path, max_pixels)
    except VideoError as exc:
        # The decoders' text may quote the file's own metadata: logged, not shown.
        logger.info("the fetched file does not decode: %s", exc)
        raise NotAVideoError(
            "the link gives a file that cannot be decoded as a video; if it plays elsewhere, "
            "re-encode it as H.264 (for example: ffmpeg -i IN -c:v libx264 OUT.mp4) and upload it"
        ) from exc
    if max_duration_s is None:
        return
    if info.duration_s is None:
        logger.info("fetched video: %d frames at an unknown frame rate (%r)", info.frame_count, info.fps)
        raise TooLongError(
            f"the video's length cannot be read from the file (it gives no valid frame rate), so it "
            f"cannot be checked against the {max_duration_s:g} s limit; {UPLOAD_INSTEAD}"
        )
    if info.duration_s > max_duration_s:
        raise TooLongError(
            f"the video lasts {info.duration_s:.0f} s, longer than the {max_duration_s:g} s limit; cut "
            "the part to check and upload it"
        )
