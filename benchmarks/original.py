"""A re-implementation of the original app's path, as the reference for fidelity and speed.

The model class and transform are the original project's; ``run_original`` follows the
original app: read the whole video into memory, run face_recognition's HOG on every
full-resolution frame from the start until N faces are found, crop ``faces[0]`` (or keep the
whole frame when there is none, as the original's bare ``except: pass`` did), and score.
"""

from __future__ import annotations

import time

import cv2
import face_recognition
import torch
from torch import nn
from torchvision import models, transforms

ORIGINAL_TRANSFORM = transforms.Compose(
    [
        transforms.ToPILImage(),
        transforms.Resize((112, 112)),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
)


class OriginalModel(nn.Module):
    """The original project's model class, with its forward pass unchanged."""

    def __init__(self, num_classes=2, latent_dim=2048, lstm_layers=1, hidden_dim=2048, bidirectional=False):
        super().__init__()
        model = models.resnext50_32x4d(weights=None)
        self.model = nn.Sequential(*list(model.children())[:-2])
        # The 4th positional argument of nn.LSTM is `bias`: this is why the files have none.
        self.lstm = nn.LSTM(latent_dim, hidden_dim, lstm_layers, bidirectional)
        self.relu = nn.LeakyReLU()
        self.dp = nn.Dropout(0.4)
        self.linear1 = nn.Linear(2048, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        batch_size, seq_length, c, h, w = x.shape
        x = x.view(batch_size * seq_length, c, h, w)
        fmap = self.model(x)
        x = self.avgpool(fmap)
        x = x.view(batch_size, seq_length, 2048)
        x_lstm, _ = self.lstm(x, None)
        return fmap, self.dp(self.linear1(x_lstm[:, -1, :]))


def run_original(model: OriginalModel, video: str, count: int) -> dict[str, float]:
    """Time the original path on one video; returns seconds per stage and the last-frame score."""
    started = time.perf_counter()
    capture = cv2.VideoCapture(video)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    decoded = time.perf_counter()
    crops, with_face = [], 0
    for frame in frames:
        faces = face_recognition.face_locations(frame)
        if faces:
            top, right, bottom, left = faces[0]
            frame = frame[top:bottom, left:right, :]
            with_face += 1
        crops.append(ORIGINAL_TRANSFORM(frame))
        if len(crops) == count:
            break
    found = time.perf_counter()
    with torch.inference_mode():
        _, logits = model(torch.stack(crops).unsqueeze(0))
        fake = torch.softmax(logits, 1)[0, 0].item()
    done = time.perf_counter()
    return {
        "decode": decoded - started,
        "faces": found - decoded,
        "model": done - found,
        "total": done - started,
        "frames_with_face": with_face,
        "fake_probability_last_frame": fake,
    }
