"""Making new weights for this app: ``python -m inference.train`` (see the README).

Stages, one module each:

- :mod:`~inference.tools.training.split`: train/validation split by person, never by frame.
- :mod:`~inference.tools.training.crops`: face-crop sequences made by the engine's own crop code
  (:func:`inference.collect.collect_faces`, the chosen profile), cached on disk.
- :mod:`~inference.tools.training.data`: PyTorch datasets of single crops or crop sequences.
- :mod:`~inference.tools.training.loop`: the training loop (Accelerate: CPU, one or many GPUs).
- :mod:`~inference.tools.training.export`: ``model.safetensors`` + ``config.json`` + model card, and
  the upload to the Hugging Face Hub.
"""

from __future__ import annotations

from inference.errors import DeepfakeDetectorError


class TrainingError(DeepfakeDetectorError):
    """Training cannot start or go on; the message says what to change."""
