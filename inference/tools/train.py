"""Train or fine-tune weights for this app: ``python -m inference.train DATASET --out runs/NAME``.

Reads a labelled set (any layout :mod:`inference.tools.datasets` knows), splits it by person, makes
face crops with the engine's own crop code (cached, resumable, in parallel), trains (resuming
when ``--out`` already holds a stopped run), and exports the best weights to ``--out/model``
(``model.safetensors``, ``config.json``, model card); ``--push-to-hub REPO`` uploads them.
Runs unchanged under ``accelerate launch`` on several GPUs or nodes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from accelerate import PartialState
from torch import nn

from inference.errors import DeepfakeDetectorError
from inference.faces.profiles import PROFILES
from inference.models.network import ResNeXtLSTM, build_network, read_state_dict
from inference.settings import Settings
from inference.tools import datasets, metrics
from inference.tools.training import TrainingError
from inference.tools.training.crops import CropRecipe, preprocess
from inference.tools.training.export import push_to_hub, save_weights, write_card
from inference.tools.training.loop import BEST, Trainer, TrainOptions
from inference.tools.training.split import split
from inference.weights import hub
from inference.weights.config import KINDS, PER_FRAME, ModelConfig

logger = logging.getLogger(__name__)

INITS = ("imagenet", "public", "scratch")


def init_kind(init: str) -> str:
    """How training started, for the model card: one of :data:`INITS`, or "a checkpoint file"."""
    return init if init in INITS else "a checkpoint file"


def initial_network(init: str, settings: Settings) -> ResNeXtLSTM:
    """The network to start from.

    Args:
        init: "imagenet" (torchvision's ImageNet ResNeXt50, downloaded), "public" (the
            configured public checkpoint: fine-tuning), "scratch" (random), or a checkpoint file.
        settings: Where the public checkpoint comes from.

    Raises:
        TrainingError: If the ImageNet weights cannot be downloaded.
        WeightsUnavailableError, CheckpointFormatError: For "public" or a file.
    """
    if init == "scratch":
        return ResNeXtLSTM()
    if init == "public":
        resolved = hub.resolve(settings.checkpoint_spec())
        return build_network(read_state_dict(resolved.weights_file, resolved.info.sha256))
    if init == "imagenet":
        from torchvision.models import ResNeXt50_32X4D_Weights, resnext50_32x4d

        try:
            backbone = resnext50_32x4d(weights=ResNeXt50_32X4D_Weights.IMAGENET1K_V2)
        except OSError as exc:  # URLError and friends: no internet, blocked, full disk
            raise TrainingError(
                f"cannot download torchvision's ImageNet weights ({exc}); use --init scratch, "
                "--init public or --init PATH"
            ) from exc
        network = ResNeXtLSTM()
        # The same layers the public checkpoints keep (all but pooling and the classifier).
        network.model = nn.Sequential(*list(backbone.children())[:-2])
        return network
    return build_network(read_state_dict(init))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the training command."""
    parser = argparse.ArgumentParser(prog="python -m inference.train", description=__doc__.splitlines()[0])
    parser.add_argument(
        "dataset", help="labelled set: real/+fake/ folders, DFDC, FaceForensics++, or CSV/TSV"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder (state, logs, crops, exported model)"
    )
    parser.add_argument("--kind", choices=KINDS, default=PER_FRAME, help="model kind (default: per-frame)")
    parser.add_argument(
        "--frames", type=int, default=20, help="frames sampled per video; temporal sequence length"
    )
    parser.add_argument("--profile", choices=list(PROFILES), default="training", help="crop preprocessing")
    parser.add_argument("--init", default="imagenet", help=f"{', '.join(INITS)}, or a checkpoint file")
    parser.add_argument("--freeze-backbone", action="store_true", help="train only the LSTM and the head")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (AdamW, one-cycle)")
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--no-balance", action="store_true", help="do not draw both classes equally often")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (run again to go on)")
    parser.add_argument("--validation", type=float, default=0.2, help="share of people held out (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes making crops")
    parser.add_argument("--cache", type=Path, help="crop cache folder (default: OUT/crops)")
    parser.add_argument("--mixed-precision", choices=("auto", "no", "fp16", "bf16"), default="auto")
    parser.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    parser.add_argument("--push-to-hub", metavar="REPO", help="upload the exported model to this Hub repo")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def run(args: argparse.Namespace) -> Path | None:
    """Every stage of a training run; returns the exported folder (None when stopped early)."""
    settings = Settings.from_env()
    config = replace(ModelConfig(), frames=args.frames, preprocessing=args.profile, kind=args.kind)
    videos = datasets.load(args.dataset)
    if not videos:
        raise TrainingError(f"no labelled videos found in {args.dataset}")
    train_videos, validation_videos = split(videos, args.validation, args.seed)
    logger.info("%d training and %d validation videos", len(train_videos), len(validation_videos))
    options = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        freeze_backbone=args.freeze_backbone,
        balance=not args.no_balance,
        max_steps=args.max_steps,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        cpu=args.cpu,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    recipe = CropRecipe(args.frames, args.profile, config.image_size)
    cache = args.cache or args.out / "crops"
    train = preprocess(train_videos, cache, recipe, settings, args.workers)
    validation = preprocess(validation_videos, cache, recipe, settings, args.workers)
    trainer = Trainer(initial_network(args.init, settings), config, train, validation, options, args.out)
    trainer.resume()
    trainer.fit()
    if trainer.progress.epoch < args.epochs or not trainer.accelerator.is_main_process:
        logger.info("stopped after step %d", trainer.progress.step)
        return None
    best = build_network(read_state_dict(args.out / BEST / "model.safetensors"))
    export = args.out / "model"
    save_weights(best, config, export)
    # The card's table is the exported weights' own validation.
    result = metrics.compute(trainer.predictions(validation, best)) if validation else None
    write_card(
        export,
        config,
        result,
        {
            # Named by folder or file name and kind, never the trainer's absolute local paths.
            "Data": f"{Path(args.dataset).name}: {len(train)} training, {len(validation)} validation videos",
            "Split": "by person (no one in both)",
            "Initialisation": init_kind(args.init) + (" (backbone frozen)" if args.freeze_backbone else ""),
            "Schedule": f"{args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr:g}, one-cycle",
            "Best epoch": str(trainer.progress.best_epoch),
        },
    )
    if args.push_to_hub:
        push_to_hub(export, args.push_to_hub)
    return export


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        export = run(args)
    except (DeepfakeDetectorError, datasets.DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not PartialState().is_main_process:
        return 0
    if export is None:
        print("stopped before the last epoch; run the same command again to go on")
    else:
        print(f"weights: {export}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
