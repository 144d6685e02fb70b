"""The ResNeXt50 + LSTM network of the public checkpoints, and loading its weights."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from torch import nn

from inference.errors import CheckpointFormatError, WeightsIntegrityError, WeightsUnavailableError
from inference.models.resnext import resnext50_backbone

FEATURES = 2048


class ResNeXtLSTM(nn.Module):
    """ResNeXt50 backbone, one-layer LSTM and a linear head, as in the public checkpoints.

    Attribute names match the checkpoint keys (``model.*``, ``lstm.*``, ``linear1.*``) so that
    ``load_state_dict(..., strict=True)`` accepts the files unchanged.
    """

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.model = resnext50_backbone()
        self.lstm = nn.LSTM(FEATURES, FEATURES, 1, bias=False)
        self.linear1 = nn.Linear(FEATURES, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Score every crop on its own.

        The original app passed one video as ``(1, N, C, H, W)`` to an LSTM that is
        sequence-first, so the LSTM saw N sequences of length 1, each from a zero state. This
        computes exactly that for all N frames at once.

        Args:
            crops: Normalised face crops, shape (N, 3, H, W), BGR channel order.

        Returns:
            Logits, shape (N, num_classes).
        """
        return self.head(self.features(crops))

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """The backbone's pooled features (N, 2048) of crops (N, 3, H, W); the costly part."""
        return self.avgpool(self.model(crops)).flatten(1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes) of each crop's features (N, 2048) on its own (see :meth:`forward`)."""
        hidden, _ = self.lstm(features.unsqueeze(0))
        return self.linear1(hidden[0])

    def forward_sequences(self, clips: torch.Tensor) -> torch.Tensor:
        """Score whole sequences: the LSTM runs over each clip's frames in order.

        The ``temporal`` model kind: one score per sequence, from the LSTM outputs averaged
        over time (what the original training code meant to compute; its LSTM was
        sequence-first but fed batch-first tensors).

        Args:
            clips: Normalised crops, shape (B, T, 3, H, W), BGR channel order.

        Returns:
            Logits, shape (B, num_classes).
        """
        batch, steps = clips.shape[:2]
        return self.head_sequences(self.features(clips.flatten(0, 1)).view(batch, steps, -1))

    def head_sequences(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of sequences of features (B, T, 2048) (see :meth:`forward_sequences`)."""
        hidden, _ = self.lstm(features.transpose(0, 1))  # (T, B, F)
        return self.linear1(hidden.mean(dim=0))


def read_checked(path: Path, sha256: str | None) -> bytes:
    """A weights file's bytes, read once; with ``sha256``, only if they have that hash.

    Raises:
        WeightsUnavailableError: If the file cannot be read.
        WeightsIntegrityError: If the bytes read do not have ``sha256`` (the file changed after it
            was checked).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsUnavailableError(f"cannot read weights file {path}: {exc.strerror or exc}") from exc
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256.lower():
            raise WeightsIntegrityError(
                f"{path} changed after it was checked: it now has sha256 {digest}, but "
                f"{sha256.lower()} was checked and reported; it was not loaded. Try again, and "
                "find out what rewrites the file",
                reason=f"sha256 {digest} is not the checked {sha256.lower()}",
            )
    return data


def read_state_dict(
    path: str | Path, sha256: str | None = None, data: bytes | None = None
) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into memory without executing any code from it.

    The file is read once; the tensors are parsed from those bytes, not from a memory map of
    the file, so a file rewritten or truncated later cannot change (or crash) a loaded model.
    ``.safetensors`` files are parsed with safetensors; anything else with
    ``torch.load(weights_only=True)``, which refuses pickles that would run code.

    Args:
        path: The weights file.
        sha256: The hex SHA-256 the file had when it was checked (and matched its pin); the
            bytes read must have it, so what is loaded is what was checked and reported.
        data: The file's bytes, already read and hashed by the caller (``hub.resolve`` with
            ``keep_bytes``): parsed as they are, without reading or hashing the file again.

    Raises:
        WeightsUnavailableError: If the file cannot be read.
        WeightsIntegrityError: If the bytes read do not have ``sha256``.
        CheckpointFormatError: If the file is truncated, corrupted, or not a plain state_dict.
    """
    path = Path(path)
    if data is None:
        data = read_checked(path, sha256)
    try:
        if path.suffix == ".safetensors":
            state = load_safetensors(data)
        else:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        SafetensorError,
        ValueError,
    ) as exc:
        raise CheckpointFormatError(
            f"{path.name} is not a readable checkpoint (truncated, corrupted, or a pickle that "
            f"is not a plain state_dict; nothing in it was executed): {_first_line(exc)}"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointFormatError(f"{path.name} does not hold a state_dict of tensors")
    return state


def build_network(state: dict[str, torch.Tensor]) -> ResNeXtLSTM:
    """Create the network and load ``state`` into it key for key.

    Raises:
        CheckpointFormatError: Naming missing, unexpected or mis-shaped keys.
    """
    # Built on the meta device: no time or memory spent on a random init that is overwritten.
    with torch.device("meta"):
        network = ResNeXtLSTM()
    mismatch = key_mismatch(network.state_dict(), state)
    if mismatch:
        raise CheckpointFormatError(f"checkpoint does not match the ResNeXt50 + LSTM format: {mismatch}")
    network.load_state_dict(as_float32(state), strict=True, assign=True)
    return network.eval()


def as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with floating tensors in float32: assigned (not copied) into a network, a half-
    precision file would otherwise leave the network in half precision."""
    return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}


def key_mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str | None:
    """How ``state`` differs from a network's ``expected`` state_dict, or None when it fits.

    Returns:
        "N missing keys [...], N unexpected keys [...], N wrong shapes [...]" (the first few
        of each named), or None.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or wrong_shape):
        return None
    return (
        f"{len(missing)} missing keys {_some(missing)}, "
        f"{len(unexpected)} unexpected keys {_some(unexpected)}, "
        f"{len(wrong_shape)} wrong shapes {_some(wrong_shape)}"
    )


def _some(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
