"""Detection metrics, plots and the Markdown summary of an evaluation (scikit-learn, matplotlib)."""

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

from inference.result import CANNOT_JUDGE, FAKE, REAL


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
    """Scores over the judged videos; CANNOT JUDGE and failures are counted, never dropped."""

    videos: int
    judged: int
    cannot_judge: int
    errors: int
    accuracy: float | None = None
    balanced_accuracy: float | None = None
    roc_auc: float | None = None
    precision_fake: float | None = None
    recall_fake: float | None = None
    f1_fake: float | None = None
    confusion: list[list[int]] = field(default_factory=list)
    per_method: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


def _judged(predictions: Sequence[Prediction]) -> list[Prediction]:
    return [p for p in predictions if p.fake_probability is not None]


def compute(predictions: Sequence[Prediction]) -> Metrics:
    """Compute every metric of the summary; FAKE is the positive class.

    The confusion matrix has rows = true label, columns = predicted label, order (REAL, FAKE).
    ROC AUC needs both classes among the judged videos, otherwise it is None.
    """
    judged = _judged(predictions)
    metrics = Metrics(
        videos=len(predictions),
        judged=len(judged),
        cannot_judge=sum(p.verdict == CANNOT_JUDGE for p in predictions),
        errors=sum(p.verdict is None for p in predictions),
    )
    if not judged:
        return metrics
    truth = np.array([p.label == FAKE for p in judged], dtype=int)
    scores = np.array([p.fake_probability for p in judged])
    predicted = np.array([p.verdict == FAKE for p in judged], dtype=int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=[1], average=None, zero_division=0
    )
    metrics.accuracy = float(accuracy_score(truth, predicted))
    metrics.balanced_accuracy = (
        float(balanced_accuracy_score(truth, predicted)) if len(set(truth)) > 1 else None
    )
    metrics.roc_auc = float(roc_auc_score(truth, scores)) if len(set(truth)) > 1 else None
    metrics.precision_fake, metrics.recall_fake, metrics.f1_fake = (
        float(precision[0]),
        float(recall[0]),
        float(f1[0]),
    )
    metrics.confusion = confusion_matrix(truth, predicted, labels=[0, 1]).tolist()
    metrics.per_method = _per_method(predictions)
    return metrics


def _per_method(predictions: Sequence[Prediction]) -> dict[str, dict[str, float | int | None]]:
    table: dict[str, dict[str, float | int | None]] = {}
    methods = sorted({p.method for p in predictions if p.method})
    for method in methods:
        group = [p for p in predictions if p.method == method]
        judged = _judged(group)
        correct = [p.verdict == p.label for p in judged]
        table[method] = {
            "videos": len(group),
            "judged": len(judged),
            "accuracy": float(np.mean(correct)) if judged else None,
            "mean_fake_probability": float(np.mean([p.fake_probability for p in judged])) if judged else None,
        }
    return table


def plot_roc(predictions: Sequence[Prediction], path: Path, title: str) -> bool:
    """Save the ROC curve as PNG; returns False (no file) when a class is missing."""
    judged = _judged(predictions)
    truth = [p.label == FAKE for p in judged]
    if len(set(truth)) < 2:
        return False
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    RocCurveDisplay.from_predictions(truth, [p.fake_probability for p in judged], ax=axes, name=title)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_title(f"ROC, FAKE positive: {title}")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return True


def plot_reliability(predictions: Sequence[Prediction], path: Path, title: str, bins: int = 5) -> bool:
    """Save the reliability (calibration) plot as PNG; False when nothing was judged."""
    judged = _judged(predictions)
    if not judged:
        return False
    truth = [p.label == FAKE for p in judged]
    scores = [p.fake_probability for p in judged]
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
    ("judged", "judged"),
    ("cannot judge (not in the scores)", "cannot_judge"),
    ("errors (not in the scores)", "errors"),
    ("accuracy", "accuracy"),
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
            "Confusion matrix (rows: truth, columns: verdict)\n\n"
            f"| | {REAL} | {FAKE} |\n|---|---|---|\n| {REAL} | {tn} | {fp} |\n| {FAKE} | {fn} | {tp} |"
        )
    if metrics.per_method:
        rows = ["| method | videos | judged | accuracy | mean fake probability |", "|---|---|---|---|---|"]
        for method, row in metrics.per_method.items():
            rows.append(
                f"| {method} | {row['videos']} | {row['judged']} | {_fmt(row['accuracy'])} | "
                f"{_fmt(row['mean_fake_probability'])} |"
            )
        parts.append("By manipulation method\n\n" + "\n".join(rows))
    return "\n\n".join(parts)
