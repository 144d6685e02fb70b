"""Train/validation split by person: no face seen in training is judged in validation."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from inference.tools.datasets import LabelledVideo
from inference.tools.training import TrainingError


def identity_groups(videos: list[LabelledVideo]) -> list[int]:
    """Group number per video: videos that share a person, directly or through others, share one.

    An FF++ fake ``519_515`` joins the originals ``519`` and ``515``; a DFDC fake joins its
    original. (Union-find over the people named by :attr:`LabelledVideo.people`.)
    """
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for video in videos:
        first, *others = video.people
        for other in others:
            parent[root(other)] = root(first)
    numbers: dict[str, int] = {}
    return [numbers.setdefault(root(video.people[0]), len(numbers)) for video in videos]


def split(
    videos: list[LabelledVideo], validation: float, seed: int = 0
) -> tuple[list[LabelledVideo], list[LabelledVideo]]:
    """Split into (training, validation), about ``validation`` of the people in validation.

    Both classes are kept in proportion where the groups allow (scikit-learn's
    StratifiedGroupKFold; its first fold is the validation set).

    Raises:
        TrainingError: If there are too few separate people for the requested split.
    """
    if validation <= 0:
        return list(videos), []
    groups = identity_groups(videos)
    folds = max(2, round(1 / validation))
    if len(set(groups)) < folds:
        raise TrainingError(
            f"only {len(set(groups))} separate people in {len(videos)} videos: too few to hold out "
            f"{validation:.0%} of them for validation; add videos of other people or lower --validation"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    labels = [video.label for video in videos]
    train_index, validation_index = next(splitter.split(np.zeros(len(videos)), labels, groups))
    return [videos[i] for i in train_index], [videos[i] for i in validation_index]
