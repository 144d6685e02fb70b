"""Why a link was not fetched: one exception per case, each with a message a person can act on.

Every class derives from :class:`LinkError` and so from
:class:`inference.errors.DeepfakeDetectorError`; the size, duration and content cases also derive
from the engine's :class:`~inference.errors.LimitExceededError` or
:class:`~inference.errors.VideoError`, so code that already reports those reports these too.
"""

from __future__ import annotations

from inference.errors import DeepfakeDetectorError, LimitExceededError, VideoError

# The advice given whenever a site cannot be read here but the person can still get the file.
UPLOAD_INSTEAD = "download the video on your device and upload the file instead"


class LinkError(DeepfakeDetectorError):
    """Base class of the errors raised while fetching a link."""


class UnsupportedLinkError(LinkError):
    """The text is not an http or https link (another scheme, no host, or a user name and password)."""


class AddressNotAllowedError(LinkError):
    """The link's host is, or resolves to, an address that is not public (loopback, private, ...),
    or the link's port is not a web port (80, 443, 8080, 8443)."""


class UnreachableError(LinkError):
    """The server could not be reached or answered with an error status (404, 500, ...)."""


class TimedOutError(LinkError):
    """Fetching the link took longer than the overall time limit."""


class TooLargeError(LinkError, LimitExceededError):
    """The video is larger than the byte limit (known from Content-Length or counted while streaming)."""


class TooLongError(LinkError, LimitExceededError):
    """The video lasts longer than the duration limit."""


class NotAVideoError(LinkError, VideoError):
    """The link gives something that is not a video (a web page, a playlist, text, an image ...)."""


class NoSuitableFormatError(LinkError):
    """The video site offers no format fetched here: only streams (HLS/DASH) or only above 720p."""


class SiteRefusedError(LinkError):
    """The video site would not give the video (sign-in or bot check, private, removed, geo-blocked)."""
