"""Detection metrics, plots and the Markdown summary of an evaluation (scikit-learn, matplotlib).

UNCERTAIN and CANNOT JUDGE are abstentions: the engine declined to say FAKE or REAL. They are
counted apart (as are errors), never turned into REAL or into wrong answers. Coverage is the
share of all videos that got FAKE or REAL; accuracy, balanced accuracy, precision, recall, F1
and the confusion matrix are over those judged videos only. ROC AUC and the reliability plot
use the fake probability wherever there is one: judged and UNCERTAIN videos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    RocCurveDisplay,
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from inference.result import CANNOT_JUDGE, FAKE, REAL, UNCERTAIN


@dataclass(frozen=True)
class Prediction:
    """The engine's answer for one labelled video.

    ``fake_probability`` is None when the engine could not judge the video or failed on it.
    """

    label: str
    verdict: str | None
    fake_probability: float | None
    method: str | None = None


@dataclass
class Metrics:
    """Scores over the judged videos; abstentions and failures are counted, never dropped.

    Attributes:
        videos: Every video of the set.
        judged: Videos with a FAKE or REAL verdict.
        uncertain: Videos with an UNCERTAIN verdict (an abstention; their probability is in the
            ROC AUC).
        cannot_judge: Videos with a CANNOT JUDGE verdict (an abstention, no probability).
        errors: Videos the engine failed on.
        coverage: ``judged / videos``.
        accuracy: Share of the judged videos whose verdict is their label.
        roc_auc: From the fake probabilities of the judged and UNCERTAIN videos.
        confusion: Over the judged videos; rows = true label, columns = verdict, (REAL, FAKE).
    """

    videos: int
    judged: int
    uncertain: int
    cannot_judge: int
    errors: int
    coverage: float | None = None
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    roc_auc: float | None = None
    precision_fake: float | None = None
    recall_fake: float | None = None
    f1_fake: float | None = None
    confusion: list[list[int]] = field(default_factory=list)
    per_method: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


def _judged(predictions: Sequence[Prediction]) -> list[Prediction]:
    """The videos with a FAKE or REAL verdict."""
    return [p for p in predictions if p.verdict in (FAKE, REAL)]


def _scored(predictions: Sequence[Prediction]) -> list[Prediction]:
    """The videos with a fake probability (judged or UNCERTAIN)."""
    return [p for p in predictions if p.fake_probability is not None]


def compute(predictions: Sequence[Prediction]) -> Metrics:
    """Compute every metric of the summary; FAKE is the positive class.

    UNCERTAIN and CANNOT JUDGE are abstentions (see the module's doc): counted, and left out
    of accuracy and the confusion matrix. The confusion matrix has rows = true label, columns =
    verdict, order (REAL, FAKE). ROC AUC needs both classes among the videos with a fake
    probability, balanced accuracy among the judged ones; otherwise they are None.
    """
    judged = _judged(predictions)
    scored = _scored(predictions)
    metrics = Metrics(
        videos=len(predictions),
        judged=len(judged),
        uncertain=sum(p.verdict == UNCERTAIN for p in predictions),
        cannot_judge=sum(p.verdict == CANNOT_JUDGE for p in predictions),
        errors=sum(p.verdict is None for p in predictions),
        coverage=len(judged) / len(predictions) if predictions else None,
    )
    metrics.per_method = _per_method(predictions)
    score_truth = [p.label == FAKE for p in scored]
    if len(set(score_truth)) > 1:
        metrics.roc_auc = float(roc_auc_score(score_truth, [p.fake_probability for p in scored]))
    if not judged:
        return metrics
    truth = np.array([p.label == FAKE for p in judged], dtype=int)
    predicted = np.array([p.verdict == FAKE for p in judged], dtype=int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=[1], average=None, zero_division=0
    )
    metrics.accuracy = float(accuracy_score(truth, predicted))
    metrics.balanced_accuracy = (
        float(balanced_accuracy_score(truth, predicted)) if len(set(truth)) > 1 else None
    )
    metrics.precision_fake, metrics.recall_fake, metrics.f1_fake = (
        float(precision[0]),
        float(recall[0]),
        float(f1[0]),
    )
    metrics.confusion = confusion_matrix(truth, predicted, labels=[0, 1]).tolist()
    return metrics


def _per_method(predictions: Sequence[Prediction]) -> dict[str, dict[str, float | int | None]]:
    """Per manipulation method: videos, judged, coverage, accuracy (judged), mean fake probability."""
    table: dict[str, dict[str, float | int | None]] = {}
    methods = sorted({p.method for p in predictions if p.method})
    for method in methods:
        group = [p for p in predictions if p.method == method]
        judged = _judged(group)
        scored = _scored(group)
        table[method] = {
            "videos": len(group),
            "judged": len(judged),
            "coverage": len(judged) / len(group),
            "accuracy": float(np.mean([p.verdict == p.label for p in judged])) if judged else None,
            "mean_fake_probability": float(np.mean([p.fake_probability for p in scored])) if scored else None,
        }
    return table


def plot_roc(predictions: Sequence[Prediction], path: Path, title: str) -> bool:
    """Save the ROC curve (videos with a fake probability) as PNG; False (no file) when a class is missing."""
    scored = _scored(predictions)
    truth = [p.label == FAKE for p in scored]
    if len(set(truth)) < 2:
        return False
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    RocCurveDisplay.from_predictions(truth, [p.fake_probability for p in scored], ax=axes, name=title)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_title(f"ROC, FAKE positive: {title}")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return True


def plot_reliability(predictions: Sequence[Prediction], path: Path, title: str, bins: int = 5) -> bool:
    """Save the reliability (calibration) plot as PNG; False when no video has a fake probability."""
    scored = _scored(predictions)
    if not scored:
        return False
    truth = [p.label == FAKE for p in scored]
    scores = [p.fake_probability for p in scored]
    observed, predicted = calibration_curve(truth, scores, n_bins=bins, strategy="uniform")
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    axes.plot(predicted, observed, marker="o", label=title)
    axes.set_xlabel("mean predicted fake probability")
    axes.set_ylabel("share of videos that are fake")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left")
    axes.set_title("Reliability")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return True


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


SUMMARY_ROWS = (
    ("videos", "videos"),
    ("judged (FAKE or REAL)", "judged"),
    ("coverage (judged / videos)", "coverage"),
    ("uncertain (abstained; in the ROC AUC only)", "uncertain"),
    ("cannot judge (abstained; not in the scores)", "cannot_judge"),
    ("errors (not in the scores)", "errors"),
    ("accuracy (of judged)", "accuracy"),
    ("balanced accuracy", "balanced_accuracy"),
    ("ROC AUC", "roc_auc"),
    ("precision (FAKE)", "precision_fake"),
    ("recall (FAKE)", "recall_fake"),
    ("F1 (FAKE)", "f1_fake"),
)


def comparison_table(runs: dict[str, Metrics]) -> str:
    """Markdown table with one column per run (checkpoint / frame count)."""
    names = list(runs)
    lines = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for title, attribute in SUMMARY_ROWS:
        lines.append(f"| {title} | " + " | ".join(_fmt(getattr(runs[n], attribute)) for n in names) + " |")
    return "\n".join(lines)


def markdown_run(name: str, metrics: Metrics) -> str:
    """Markdown section for one run: confusion matrix and per-method breakdown."""
    parts = [f"## {name}"]
    if metrics.confusion:
        (tn, fp), (fn, tp) = metrics.confusion
        parts.append(
            f"Confusion matrix of the {metrics.judged} judged videos (rows: truth, columns: verdict; "
            f"{metrics.videos - metrics.judged} abstentions and errors left out)\n\n"
            f"| | {REAL} | {FAKE} |\n|---|---|---|\n| {REAL} | {tn} | {fp} |\n| {FAKE} | {fn} | {tp} |"
        )
    else:
        parts.append("No video was judged FAKE or REAL, so there is no confusion matrix.")
    if metrics.per_method:
        rows = [
            "| method | videos | judged | coverage | accuracy (of judged) | mean fake probability |",
            "|---|---|---|---|---|---|",
        ]
        for method, row in metrics.per_method.items():
            rows.append(
                f"| {method} | {row['videos']} | {row['judged']} | {_fmt(row['coverage'])} | "
                f"{_fmt(row['accuracy'])} | {_fmt(row['mean_fake_probability'])} |"
            )
        parts.append("By manipulation method\n\n" + "\n".join(rows))
    return "\n\n".join(parts)
