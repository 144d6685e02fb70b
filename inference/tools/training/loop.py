"""The training loop: AdamW, one-cycle schedule, class balancing, AMP on CUDA, resume, best kept.

Hugging Face Accelerate places the model and batches (CPU, one GPU, or several GPUs and nodes
under ``accelerate launch``), runs mixed precision, and saves and restores the whole state
(weights, optimiser, schedule, random generators) so that a stopped run goes on exactly where
it stopped. Validation scores each video with the engine's own classifier code
(:class:`inference.models.classifier.Classifier`), so validation AUC is what the app would measure.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, WeightedRandomSampler
from tqdm import tqdm

from inference.models.classifier import Classifier
from inference.models.network import ResNeXtLSTM
from inference.result import FAKE, REAL
from inference.tools import metrics
from inference.tools.training import TrainingError
from inference.tools.training.crops import CachedVideo
from inference.tools.training.data import CropDataset, item_length
from inference.tools.training.export import save_weights
from inference.weights.config import PER_FRAME, ModelConfig

logger = logging.getLogger(__name__)

STATE = "state"
PROGRESS = "progress.json"
METRICS_LOG = "metrics.jsonl"
BEST = "best"


@dataclass(frozen=True)
class TrainOptions:
    """How to train.

    Attributes:
        epochs: Passes over the training items; also sets the length of the LR schedule.
        batch_size: Items per step (per process).
        learning_rate: Peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay.
        freeze_backbone: Train only the LSTM and the head (ResNeXt fixed, in eval mode).
        balance: Draw FAKE and REAL items equally often (weighted sampling with replacement).
        max_steps: Stop after this many steps in all (the state is saved; run again to go on).
        seed: Seeds the weights' random parts, the sampling order and the augmentation.
        mixed_precision: "auto" (fp16 on CUDA, none on CPU), "no", "fp16" or "bf16".
        cpu: Train on the CPU even when a GPU is present.
    """

    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    freeze_backbone: bool = False
    balance: bool = True
    max_steps: int | None = None
    seed: int = 0
    mixed_precision: str = "auto"
    cpu: bool = False


@dataclass(frozen=True)
class EpochLog:
    """One line of ``metrics.jsonl``."""

    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_auc: float | None
    val_accuracy: float | None
    learning_rate: float
    seconds: float
    samples_per_s: float


@dataclass
class _Progress:
    """Where a run stands; saved beside Accelerate's state."""

    epoch: int = 0
    step_in_epoch: int = 0
    step: int = 0
    best_score: float = -math.inf
    best_epoch: int | None = None


class Trainer:
    """Trains one network on cached crops and keeps its best weights.

    Args:
        network: The network to train (initialised by the caller).
        config: The config the weights will be saved with (kind, frames, profile, labels).
        train: Cached crops of the training videos.
        validation: Cached crops of the validation videos (may be empty).
        options: How to train.
        out: Folder for the state, the metrics log and the best weights.
    """

    def __init__(
        self,
        network: ResNeXtLSTM,
        config: ModelConfig,
        train: list[CachedVideo],
        validation: list[CachedVideo],
        options: TrainOptions,
        out: Path,
    ) -> None:
        self.config, self.options, self.out = config, options, out
        self.validation = [video for video in validation if video.count]
        precision = options.mixed_precision
        if precision == "auto":
            precision = "fp16" if torch.cuda.is_available() and not options.cpu else "no"
        self.accelerator = Accelerator(mixed_precision=precision, cpu=options.cpu)
        set_seed(options.seed)
        self.dataset = CropDataset(train, config, item_length(config))
        if len(self.dataset) == 0:
            raise TrainingError("no training video has a face crop; check the videos and the profile")
        self.generator = torch.Generator().manual_seed(options.seed)
        loader = DataLoader(
            self.dataset, batch_size=options.batch_size, sampler=self._sampler(), drop_last=False
        )
        if options.freeze_backbone:
            network.model.requires_grad_(False)
        trainable = [p for p in network.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=options.weight_decay)
        self.steps_per_epoch = len(loader)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=options.learning_rate,
            total_steps=max(2, options.epochs * self.steps_per_epoch),
            pct_start=0.1,
        )
        self.network, self.optimizer, self.loader, self.schedule = self.accelerator.prepare(
            network, optimizer, loader, schedule
        )
        self.loss = nn.CrossEntropyLoss()
        self.progress = _Progress()

    def _sampler(self) -> torch.utils.data.Sampler:
        if not self.options.balance:
            return RandomSampler(self.dataset, generator=self.generator)
        labels = self.dataset.labels()
        counts = Counter(labels)
        weights = [1.0 / counts[label] for label in labels]
        return WeightedRandomSampler(weights, len(labels), replacement=True, generator=self.generator)

    def resume(self) -> bool:
        """Load the saved state when the run folder has one; returns whether it did."""
        state = self.out / STATE
        if not (state / PROGRESS).is_file():
            return False
        self.accelerator.load_state(str(state))
        self.progress = _Progress(**json.loads((state / PROGRESS).read_text()))
        logger.info("resumed at epoch %d, step %d", self.progress.epoch + 1, self.progress.step)
        return True

    def fit(self) -> list[EpochLog]:
        """Train until ``epochs`` (or ``max_steps``); returns the log lines written this time."""
        logs = []
        while self.progress.epoch < self.options.epochs:
            finished, log = self._epoch()
            if log is not None:
                logs.append(log)
            if not finished:
                break
        self.accelerator.wait_for_everyone()
        return logs

    def _epoch(self) -> tuple[bool, EpochLog | None]:
        """One epoch from where the progress stands; returns (finished, its log line)."""
        epoch = self.progress.epoch
        self._train_mode()
        # The order of each epoch depends on the seed and the epoch alone, so a resumed run
        # draws the same batches; the batches already done are skipped.
        self.generator.manual_seed(self.options.seed * 1_000_003 + epoch)
        batches = self.accelerator.skip_first_batches(self.loader, self.progress.step_in_epoch)
        started, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
        bar = tqdm(
            batches,
            desc=f"epoch {epoch + 1}/{self.options.epochs}",
            unit="step",
            file=sys.stderr,
            disable=not self.accelerator.is_local_main_process,
        )
        for items, labels in bar:
            loss, hits = self._step(items, labels)
            seen += len(labels) * self.accelerator.num_processes
            correct += hits
            total_loss += loss * len(labels) * self.accelerator.num_processes
            bar.set_postfix(loss=f"{loss:.4f}")
            self.progress.step += 1
            self.progress.step_in_epoch += 1
            if self.options.max_steps is not None and self.progress.step >= self.options.max_steps:
                self._save_state()
                return False, None
        seconds = time.perf_counter() - started
        self.progress.epoch, self.progress.step_in_epoch = epoch + 1, 0
        log = self._end_epoch(epoch + 1, total_loss / max(1, seen), correct / max(1, seen), seconds, seen)
        self._save_state()
        return True, log

    def _step(self, items: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
        logits = self._forward(self._augment(items))
        loss = self.loss(logits.float(), labels)
        self.accelerator.backward(loss)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        predicted, truth = self.accelerator.gather_for_metrics((logits.argmax(dim=1), labels))
        return float(loss.detach()), int((predicted == truth).sum())

    def _augment(self, items: torch.Tensor) -> torch.Tensor:
        """Mirror about half the items left-right.

        The coin flips come from a generator seeded by the run's seed and the step number
        (not the global one), so a resumed run flips the same items as an unbroken one.
        """
        seed = (self.options.seed * 1_000_003 + self.progress.step) * self.accelerator.num_processes
        coins = torch.Generator().manual_seed(seed + self.accelerator.process_index)
        flip = (torch.rand(len(items), generator=coins) < 0.5).to(items.device)
        shape = (-1,) + (1,) * (items.dim() - 1)
        return torch.where(flip.view(shape), items.flip(-1), items)

    def _forward(self, items: torch.Tensor) -> torch.Tensor:
        if self.config.kind == PER_FRAME:
            return self.network(items)
        return self.accelerator.unwrap_model(self.network).forward_sequences(items)

    def _train_mode(self) -> None:
        self.network.train()
        if self.options.freeze_backbone:
            # A fixed backbone keeps its batch-norm statistics too.
            self.accelerator.unwrap_model(self.network).model.eval()

    def _end_epoch(self, epoch: int, loss: float, accuracy: float, seconds: float, seen: int) -> EpochLog:
        val_auc, val_accuracy = None, None
        if self.accelerator.is_main_process:
            val_auc, val_accuracy = self.evaluate()
            score = val_auc if val_auc is not None else (val_accuracy if val_accuracy is not None else -loss)
            if score > self.progress.best_score:
                self.progress.best_score, self.progress.best_epoch = score, epoch
                save_weights(self.accelerator.unwrap_model(self.network), self.config, self.out / BEST)
        log = EpochLog(
            epoch=epoch,
            step=self.progress.step,
            train_loss=loss,
            train_accuracy=accuracy,
            val_auc=val_auc,
            val_accuracy=val_accuracy,
            learning_rate=float(self.schedule.get_last_lr()[0]),
            seconds=seconds,
            samples_per_s=seen / seconds if seconds else 0.0,
        )
        if self.accelerator.is_main_process:
            with (self.out / METRICS_LOG).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(asdict(log)) + "\n")
            logger.info("epoch %d: %s", epoch, asdict(log))
        return log

    def evaluate(self) -> tuple[float | None, float | None]:
        """(ROC AUC, accuracy) over the validation videos; None where they cannot be computed."""
        if not self.validation:
            return None, None
        predictions = self.predictions(self.validation)
        result = metrics.compute(predictions)
        self._train_mode()
        return result.roc_auc, result.accuracy

    def predictions(
        self, videos: list[CachedVideo], network: ResNeXtLSTM | None = None
    ) -> list[metrics.Prediction]:
        """Each video's mean fake probability, scored by the engine's classifier code.

        Args:
            videos: Cached crops to score (videos without a face are left out).
            network: Weights to score with; default the ones being trained.
        """
        network = network or self.accelerator.unwrap_model(self.network)
        classifier = Classifier(network, self.config, None, self.accelerator.device)
        found = []
        for video in (v for v in videos if v.count):
            crops = [np.asarray(crop) for crop in video.load()]
            if self.config.kind == PER_FRAME:
                scores = classifier.fake_probabilities(crops)
            else:
                scores = classifier.window_probabilities(crops)
            probability = float(np.mean(scores))
            verdict = FAKE if probability >= 0.5 else REAL
            found.append(metrics.Prediction(video.video.label, verdict, probability, video.video.method))
        return found

    def _save_state(self) -> None:
        state = self.out / STATE
        self.accelerator.save_state(str(state))
        if self.accelerator.is_main_process:
            (state / PROGRESS).write_text(json.dumps(asdict(self.progress)))
