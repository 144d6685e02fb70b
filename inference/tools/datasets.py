"""Labelled video sets in the common layouts, read into one list of (path, label, method)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from inference.result import FAKE, REAL
from inference.tools.batch import VIDEO_SUFFIXES

LABEL_WORDS = {"fake": FAKE, "real": REAL, "1": FAKE, "0": REAL, "manipulated": FAKE, "original": REAL}


class DatasetError(ValueError):
    """The folder or file is not a labelled set in a supported layout."""


@dataclass(frozen=True)
class LabelledVideo:
    """One video with its true label and, when the layout says, the manipulation method.

    Attributes:
        path: The video file.
        label: FAKE or REAL.
        method: Manipulation method (FF++ folder, ``fake/<method>/``), or None.
        identities: The people whose faces are in the video, as far as the layout tells:
            FF++ ``519_515.mp4`` shows 519 and 515, ``519.mp4`` shows 519; a DFDC fake shows the
            people of its ``original``; a table's ``source`` column; else the video alone. Used
            to split without leaking a person from training into validation.
    """

    path: Path
    label: str
    method: str | None = None
    identities: tuple[str, ...] = ()

    @property
    def people(self) -> tuple[str, ...]:
        """:attr:`identities`, or the video's own path when the layout tells nothing."""
        return self.identities or (str(self.path),)


def load(source: str | Path) -> list[LabelledVideo]:
    """Read a labelled set, recognising its layout.

    Supported: a CSV/TSV file with ``path`` (or ``file``) and ``label`` columns (optional
    ``method``); a folder with a DFDC ``metadata.json``; a FaceForensics++ tree
    (``original_sequences/``, ``manipulated_sequences/<method>/``); a folder with ``real/`` and
    ``fake/`` subfolders (``fake/<method>/`` gives the method).

    Raises:
        DatasetError: If the layout is not recognised or a label is unknown.
    """
    source = Path(source)
    if source.is_file():
        return _from_table(source)
    if not source.is_dir():
        raise DatasetError(f"{source} does not exist")
    if (source / "metadata.json").is_file():
        return _from_dfdc(source)
    if (source / "original_sequences").is_dir() or (source / "manipulated_sequences").is_dir():
        return _from_ffpp(source)
    subfolders = {p.name.lower(): p for p in source.iterdir() if p.is_dir()}
    if "real" in subfolders or "fake" in subfolders:
        return _from_real_fake(subfolders)
    raise DatasetError(
        f"{source} is not a labelled set: expected real/ and fake/ subfolders, a DFDC metadata.json, "
        "a FaceForensics++ tree, or a CSV/TSV file with path and label columns"
    )


def _label(word: str, where: str) -> str:
    label = LABEL_WORDS.get(word.strip().lower())
    if label is None:
        raise DatasetError(f"unknown label {word!r} in {where}; use FAKE or REAL")
    return label


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)


def _from_table(table: Path) -> list[LabelledVideo]:
    with table.open(encoding="utf-8", newline="") as handle:
        delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
        rows = list(csv.DictReader(handle, delimiter=delimiter))
    if not rows or "label" not in rows[0] or not ({"path", "file"} & set(rows[0])):
        raise DatasetError(f"{table.name} needs a header with 'path' (or 'file') and 'label' columns")
    return [
        LabelledVideo(
            path=table.parent / (row.get("path") or row["file"]),
            label=_label(row["label"], table.name),
            method=row.get("method") or None,
            identities=tuple(filter(None, (row.get("source") or "").split("+"))),
        )
        for row in rows
    ]


def _from_dfdc(folder: Path) -> list[LabelledVideo]:
    metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    return [
        LabelledVideo(
            folder / name,
            _label(entry["label"], "metadata.json"),
            "DFDC",
            # A fake is made from its original's people; an original is its own source.
            (Path(entry.get("original") or name).stem,),
        )
        for name, entry in sorted(metadata.items())
        if (folder / name).is_file()
    ]


def _from_ffpp(folder: Path) -> list[LabelledVideo]:
    found = [LabelledVideo(p, REAL, "original", _ffpp_ids(p)) for p in _videos(folder / "original_sequences")]
    manipulated = folder / "manipulated_sequences"
    if manipulated.is_dir():
        for method in sorted(p for p in manipulated.iterdir() if p.is_dir()):
            found += [LabelledVideo(p, FAKE, method.name, _ffpp_ids(p)) for p in _videos(method)]
    return found


def _ffpp_ids(path: Path) -> tuple[str, ...]:
    """FF++ names: ``519.mp4`` (YouTube video 519), ``519_515.mp4`` (target 519, source 515)."""
    return tuple(f"ffpp:{part}" for part in path.stem.split("_"))


def _from_real_fake(subfolders: dict[str, Path]) -> list[LabelledVideo]:
    found: list[LabelledVideo] = []
    for name, label in (("real", REAL), ("fake", FAKE)):
        folder = subfolders.get(name)
        for path in _videos(folder) if folder else []:
            nested = path.relative_to(folder).parts
            found.append(LabelledVideo(path, label, nested[0] if len(nested) > 1 else None))
    return found
