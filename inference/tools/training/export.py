"""Trained weights as this app loads them, with a model card, and their upload to the Hub.

A folder holds ``model.safetensors`` (the network's state_dict, keys as in the public
checkpoints), ``config.json`` (:class:`inference.weights.config.ModelConfig`: kind, frames, profile,
labels, normalisation) and ``README.md`` (a model card with the evaluation table). The engine
loads it with ``DEEPFAKE_WEIGHTS_PATH=<folder>/model.safetensors`` or from a Hub repo with
``DEEPFAKE_WEIGHTS_REPO`` / a registry entry.
"""

from __future__ import annotations

import logging
from pathlib import Path

import huggingface_hub
from safetensors.torch import save_file
from torch import nn

from inference.tools import metrics
from inference.tools.training import TrainingError
from inference.weights.config import ModelConfig

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "README.md"


def save_weights(network: nn.Module, config: ModelConfig, folder: Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``folder``; returns the weights file."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    config.save(folder / CONFIG)
    return folder / WEIGHTS


def write_card(
    folder: Path, config: ModelConfig, result: metrics.Metrics | None, details: dict[str, str]
) -> Path:
    """Write the model card ``README.md``: what the model is, how it was trained, how it scored.

    Args:
        folder: The exported folder.
        config: The saved config.
        result: Validation metrics of the exported weights, or None without validation.
        details: Training facts to list (data set, split, epochs, init, ...).
    """
    facts = "\n".join(f"- **{key}**: {value}" for key, value in details.items())
    if config.kind == "per-frame":
        kind = "each frame scored on its own, from a zero LSTM state"
    else:
        kind = f"the LSTM runs over {config.frames} crops in a row; windows of that length are scored"
    if result:
        evaluation = (
            metrics.comparison_table({"validation": result})
            + "\n\n"
            + metrics.markdown_run("Validation details", result).replace("## ", "### ", 1)
        )
    else:
        evaluation = "No validation set was held out."
    text = f"""---
library_name: pytorch
pipeline_tag: video-classification
tags:
- deepfake-detection
- resnext
- lstm
---

# Deepfake detector weights (ResNeXt50 + LSTM, {config.kind})

Weights for the [deepfake video detector](https://huggingface.co/spaces) app: a ResNeXt50
backbone, a one-layer LSTM and a linear head scoring {config.image_size} px face crops
(labels by output index: {", ".join(config.labels)}).

- **Model kind**: `{config.kind}` ({kind}).
- **Crops**: preprocessing profile `{config.preprocessing}`, {config.frames} frames per video.

Use with the app or its engine:

```bash
DEEPFAKE_WEIGHTS_PATH=path/to/{WEIGHTS} python -m inference video.mp4
```

## Training

{facts}

## Evaluation

{evaluation}
"""
    (folder / CARD).write_text(text, encoding="utf-8")
    return folder / CARD


def push_to_hub(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload the exported folder to a Hub model repo (created when missing).

    Returns:
        The URL of the commit.

    Raises:
        TrainingError: If no Hugging Face token is set.
    """
    if huggingface_hub.get_token() is None:
        raise TrainingError("--push-to-hub needs a Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = huggingface_hub.HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        allow_patterns=[WEIGHTS, CONFIG, CARD],
        commit_message="Upload deepfake detector weights",
    )
    logger.info("uploaded %s to %s", folder, commit.commit_url)
    return commit.commit_url
