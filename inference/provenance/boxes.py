"""Walking an ISO-BMFF file's boxes before the C2PA library reads it, to keep its memory and time bounded.

The library reads the file through a stream, but loads some boxes whole (the manifest box, any
other ``uuid`` box, and ``moov`` when a manifest is present), and its time grows with the square
of the number of boxes under one parent. Before handing it an ISO-BMFF file (MP4, MOV, M4V, or
anything whose first box looks like one), the boxes are walked with small reads. A file without
a manifest box where the library looks (the top level) is "absent" without the library; one with
a manifest box and over the caps (:data:`MAX_UUID_BOX_BYTES`, :data:`MAX_MOOV_BYTES`,
:data:`MAX_SIBLING_COST`, :data:`MAX_BOXES`) is "unreadable", not read.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import IO

from inference.provenance.claims import UNREADABLE, Provenance

# The largest ``uuid`` box (the manifest box, XMP, anything else) and ``moov`` box handed to the
# library, which loads them whole (a 150 MB manifest box adds about 290 MB of memory). Real
# manifests are kilobytes to a few megabytes; the moov of a ten-hour 60 fps video is about 20 MB.
MAX_UUID_BOX_BYTES = 16 * 1024 * 1024
MAX_MOOV_BYTES = 64 * 1024 * 1024
# The library's time grows with the square of the number of boxes under one parent (20,000
# eight-byte boxes, a 160 kB file, take it 3.5 s; 200,000 take it 9 minutes), so a file is not
# handed to it when the sum over parents of (children)^2 is over MAX_SIBLING_COST (one parent
# with 10,000 children, 0.7 s: a fragmented MP4 of 5,000 fragments) or it has more than
# MAX_BOXES boxes in all. Only the library's container boxes are descended into, at most
# MAX_DEPTH deep (it refuses deeper files itself).
MAX_SIBLING_COST = 10_000**2
MAX_BOXES = 200_000
MAX_DEPTH = 32
# When those are exceeded, the top level is still scanned for a manifest box, up to this many boxes.
MAX_SCANNED = 2_000_000
CONTAINERS = frozenset(
    {
        b"moov", b"trak", b"edts", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
        b"mfra", b"udta", b"meta", b"tref", b"sinf", b"schi", b"iprp", b"ipco", b"strk",
    }
)  # fmt: skip
TOO_LARGE = "reader.boxTooLarge"
TOO_MANY_BOXES = "reader.tooManyBoxes"
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
# First box types that mark a file as ISO-BMFF (MP4, MOV, M4V...) whatever its name: the library
# sniffs the bytes, so a renamed MP4 is read as one, and an AVI named .mp4 is not.
BMFF_FIRST_BOXES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pnot", b"sidx", b"moof"}
)


@dataclass
class _Layout:
    """What a walk of an ISO-BMFF file's boxes found."""

    manifest: bool = False  # a top-level C2PA manifest box
    oversized: list[str] = field(default_factory=list)  # the boxes over the caps
    crowded: str | None = None  # why the library would take too long
    scanned: bool = True  # whether every top-level box was seen


def _walk_boxes(stream: IO[bytes]) -> Provenance | None:
    """Walk the boxes of an ISO-BMFF file with small reads (8 to 40 bytes a box), before the
    library loads any, and decide whether it may read the file.

    Returns:
        None to let the library read it (a file with a manifest box within the caps, or one
        that does not start like ISO-BMFF); "absent" when there is no manifest box at the top
        level, the only place the library looks (not read: nothing to find); "unreadable" when
        there is one but a box the library would load whole is over the caps, or its boxes would
        take the library too long.
    """
    end = os.fstat(stream.fileno()).st_size
    stream.seek(0)
    first = stream.read(8)
    if len(first) < 8 or first[4:8] not in BMFF_FIRST_BOXES:
        return None
    layout = _walk(stream, end)
    if layout.scanned and not layout.manifest:
        return Provenance()
    if not layout.oversized and layout.crowded is None:
        return None
    if layout.oversized:
        caps = f"caps: uuid {MAX_UUID_BOX_BYTES} bytes, moov {MAX_MOOV_BYTES} bytes"
        found = ", ".join(layout.oversized[:3])
        return Provenance(
            status=UNREADABLE, codes=(f"{TOO_LARGE}: {found} over the reading {caps}; not read",)
        )
    return Provenance(status=UNREADABLE, codes=(f"{TOO_MANY_BOXES}: {layout.crowded}; not read",))


def _walk(stream: IO[bytes], end: int) -> _Layout:
    """The box tree as the library would build it: sizes, manifest box, crowding (see the caps)."""
    layout = _Layout()
    boxes = cost = 0
    levels = [(0, end, 0)]  # (first byte, end, depth) of each list of sibling boxes to walk
    while levels:
        offset, stop, depth = levels.pop()
        siblings = 0
        while offset + 8 <= stop:
            stream.seek(offset)
            header = stream.read(40)
            size, kind = struct.unpack(">I4s", header[:8])
            start = 8
            if size == 1 and len(header) >= 16:
                size, start = struct.unpack(">Q", header[8:16])[0], 16
            elif size == 0 and depth == 0:
                size = end - offset
            if size < start or (depth and offset + size > stop):
                break  # malformed: the library reports it
            boxes, siblings = boxes + 1, siblings + 1
            cost += 2 * siblings - 1  # the sum of squares, one box at a time
            if layout.crowded is None and (boxes > MAX_BOXES or cost > MAX_SIBLING_COST):
                layout.crowded = (
                    f"more than {MAX_BOXES} boxes"
                    if boxes > MAX_BOXES
                    else f"{siblings}+ boxes under one parent"
                )
                if depth:
                    return layout  # the top level, walked first, was seen whole
            if kind == b"uuid":
                usertype = header[start : start + 16]
                layout.manifest |= depth == 0 and usertype == C2PA_UUID
                if size > MAX_UUID_BOX_BYTES:
                    name = {C2PA_UUID: "manifest", XMP_UUID: "XMP"}.get(usertype, "uuid")
                    layout.oversized.append(f"{name} box of {size} bytes at {offset}")
            elif kind == b"moov" and size > MAX_MOOV_BYTES:
                layout.oversized.append(f"moov box of {size} bytes at {offset}")
            if layout.crowded is None and kind in CONTAINERS and depth < MAX_DEPTH:
                inner = offset + start
                if kind == b"meta" and header[start + 4 : start + 8] != b"hdlr":
                    inner += 4  # ISO meta is a full box; QuickTime's is not
                levels.append((inner, offset + size, depth + 1))
            if layout.crowded is not None and boxes > MAX_SCANNED:
                layout.scanned = False
                return layout
            offset += size
        if layout.crowded is not None:
            return layout
    return layout
