"""Independent reference re-implementation of the ICPR 2020 (polimi-ispl/icpr2020dfdc) face pipeline.

Written from the original sources (blazeface/blazeface.py, blazeface/face_extract.py,
blazeface/read_video.py, extract_faces.py, isplutils/utils.py, isplutils/data.py,
architectures/fornet.py), in other words and structure but with the same arithmetic, so that the
production modules (inference.faces.blazeface, inference.faces.icpr_crops,
inference.models.efficientnet) can be checked against it:

* frames: evenly spaced indices (``np.linspace(..., dtype=int)`` then ``np.unique``), read by
  grabbing every frame in turn and retrieving the wanted ones, BGR -> RGB (VideoReader);
* detection: square tiles of side ``min(H, W, 720)``, steps ``(W - s) // 2`` and ``(H - s) // 2``,
  ``cv2.resize(..., INTER_AREA)`` to 128, BlazeFace on ``x / 127.5 - 1``, anchor decoding, score
  clamp to +-100, sigmoid, ``>= 0.75``, projection to the tile then the frame (float32 torch
  arithmetic), weighted NMS (IoU > 0.3, averaged score) over all tiles of a frame, then sorted by
  descending score (``np.argsort(scores)[::-1]``, FaceExtractor);
* training crop (extract_faces.py + isplutils): margin ``round(0.2 * h)`` (twice above), clamped;
  ``adapt_bb`` on the float32 box to a 512 x 512 region, PIL crop, JPEG quality 95 4:4:4 and back;
  box relative to that region truncated to int16; ``extract_bb(..., 'scale', 224)``: isotropic
  square, ``adapt_bb`` again, PIL BILINEAR resize to 224;
* normalisation: albumentations ``Normalize`` (float32 ``(x - 255 mean) * (1 / (255 std))``);
* networks (fornet.py) on efficientnet_pytorch 0.6.3, run in a subprocess (``FORNET_SCRIPT``)
  because the main environment holds 0.7.1.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

log = logging.getLogger(__name__)

# --- BlazeFace settings (MediaPipe front model, as in the original) ---------------------------------
TILE_INPUT = 128
MAX_TILE = 720
NUM_ANCHORS = 896
SCORE_CLIP = 100.0
MIN_SCORE = 0.75
MIN_SUPPRESSION = 0.3
COORD_SCALE = 128.0  # x_scale = y_scale = w_scale = h_scale

# --- Training-data crops -------------------------------------------------------------------------------
MARGIN = 0.2
REGION = 512
FACE_SIZE = 224
JPEG_QUALITY = 95
JPEG_SUBSAMPLING = "4:4:4"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

EFFICIENTNET_063_DIR = Path(__file__).resolve().parent / ".reference" / "efficientnet_pytorch_0_6_3"
EFFICIENTNET_063_INSTALL = (
    "python -m pip install --no-deps --target tests/.reference/efficientnet_pytorch_0_6_3 "
    "efficientnet_pytorch==0.6.3"
)


# ======================================================================================================
# Frames
# ======================================================================================================


def read_frames_rgb(path: Path, num_frames: int = 4) -> tuple[list[np.ndarray], list[int]]:
    """Evenly spaced RGB frames of a clip, read the way the original VideoReader.read_frames did."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            return [], []
        wanted = np.unique(np.linspace(0, count - 1, num_frames, endpoint=True).astype(int))
        frames: list[np.ndarray] = []
        read: list[int] = []
        for index in range(int(wanted[0]), int(wanted[-1]) + 1):
            if not capture.grab():
                break
            if index == wanted[len(read)]:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                read.append(index)
        return frames, read
    finally:
        capture.release()


# ======================================================================================================
# BlazeFace network (state_dict keys as blazeface.pth)
# ======================================================================================================


class RefBlazeBlock(nn.Module):
    """Depthwise + pointwise residual block; stride 2 pads (0, 2, 0, 2) like TFLite and max-pools the skip."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = cout - cin
        pad = 0 if stride == 2 else 1
        self.convs = nn.Sequential(
            nn.Conv2d(cin, cin, kernel_size=3, stride=stride, padding=pad, groups=cin, bias=True),
            nn.Conv2d(cin, cout, kernel_size=1, stride=1, padding=0, bias=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual output."""
        if self.stride == 2:
            branch = F.pad(x, (0, 2, 0, 2), "constant", 0.0)
            skip = F.max_pool2d(x, kernel_size=2, stride=2)
        else:
            branch = x
            skip = x
        if self.extra_channels > 0:
            skip = F.pad(skip, (0, 0, 0, 0, 0, self.extra_channels), "constant", 0.0)
        return F.relu(self.convs(branch) + skip)


class RefBlazeFace(nn.Module):
    """The BlazeFace front model; forward returns raw (N, 896, 16) regressions and (N, 896, 1) scores."""

    def __init__(self) -> None:
        super().__init__()
        plan1 = [(24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2)]
        plan1 += [(48, 56, 1), (56, 64, 1), (64, 72, 1), (72, 80, 1), (80, 88, 1)]
        plan2 = [(88, 96, 2)] + [(96, 96, 1)] * 4
        self.backbone1 = nn.Sequential(
            nn.Conv2d(3, 24, kernel_size=5, stride=2, padding=0, bias=True),
            nn.ReLU(inplace=True),
            *[RefBlazeBlock(a, b, s) for a, b, s in plan1],
        )
        self.backbone2 = nn.Sequential(*[RefBlazeBlock(a, b, s) for a, b, s in plan2])
        self.classifier_8 = nn.Conv2d(88, 2, 1, bias=True)
        self.classifier_16 = nn.Conv2d(96, 6, 1, bias=True)
        self.regressor_8 = nn.Conv2d(88, 32, 1, bias=True)
        self.regressor_16 = nn.Conv2d(96, 96, 1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw box regressions and raw scores, anchors in NHWC order (16x16x2 then 8x8x6)."""
        n = x.shape[0]
        fine = self.backbone1(F.pad(x, (1, 2, 1, 2), "constant", 0.0))
        coarse = self.backbone2(fine)

        def flat(t: torch.Tensor, width: int) -> torch.Tensor:
            return t.permute(0, 2, 3, 1).reshape(n, -1, width)

        scores = torch.cat((flat(self.classifier_8(fine), 1), flat(self.classifier_16(coarse), 1)), dim=1)
        boxes = torch.cat((flat(self.regressor_8(fine), 16), flat(self.regressor_16(coarse), 16)), dim=1)
        return boxes, scores


@dataclass
class RefDetector:
    """The reference BlazeFace with its anchors."""

    net: RefBlazeFace
    anchors: torch.Tensor

    @classmethod
    def load(cls, weights: Path, anchors: Path) -> RefDetector:
        """Loads blazeface.pth (strict) and anchors.npy (896 x 4)."""
        net = RefBlazeFace()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        net.eval()
        table = torch.tensor(np.load(anchors), dtype=torch.float32)
        if tuple(table.shape) != (NUM_ANCHORS, 4):
            raise ValueError(f"anchors must be {NUM_ANCHORS}x4, got {tuple(table.shape)}")
        return cls(net, table)

    def detect(self, frame_rgb: np.ndarray) -> np.ndarray:
        """(n, 17) float32 detections in frame pixels, no margin, highest score first."""
        return reference_detect(self, frame_rgb)


def tile_layout(height: int, width: int) -> tuple[int, list[tuple[int, int]]]:
    """Tile side and the (x, y) origin of each tile, row by row (FaceExtractor.get_tiles_params)."""
    side = min(height, width, MAX_TILE)
    step_x = (width - side) // 2
    step_y = (height - side) // 2
    rows = (height - side) // step_y + 1 if step_y > 0 else 1
    cols = (width - side) // step_x + 1 if step_x > 0 else 1
    return side, [(c * step_x, r * step_y) for r in range(rows) for c in range(cols)]


def decode_detections(
    raw_boxes: torch.Tensor, raw_scores: torch.Tensor, anchors: torch.Tensor
) -> list[torch.Tensor]:
    """Per tile, the (k, 17) detections in [0, 1] tile units whose sigmoid score is >= 0.75."""
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    decoded = torch.zeros_like(raw_boxes)
    cx = raw_boxes[..., 0] / COORD_SCALE * aw + ax
    cy = raw_boxes[..., 1] / COORD_SCALE * ah + ay
    w = raw_boxes[..., 2] / COORD_SCALE * aw
    h = raw_boxes[..., 3] / COORD_SCALE * ah
    decoded[..., 0] = cy - h / 2.0
    decoded[..., 1] = cx - w / 2.0
    decoded[..., 2] = cy + h / 2.0
    decoded[..., 3] = cx + w / 2.0
    for k in range(6):
        col = 4 + 2 * k
        decoded[..., col] = raw_boxes[..., col] / COORD_SCALE * aw + ax
        decoded[..., col + 1] = raw_boxes[..., col + 1] / COORD_SCALE * ah + ay
    scores = raw_scores.clamp(-SCORE_CLIP, SCORE_CLIP).sigmoid().squeeze(-1)
    keep = scores >= MIN_SCORE
    return [
        torch.cat((decoded[i, keep[i]], scores[i, keep[i]].unsqueeze(-1)), dim=-1)
        for i in range(raw_boxes.shape[0])
    ]


def tile_to_frame(dets: torch.Tensor, side: int, origin: tuple[int, int]) -> torch.Tensor:
    """Tile units -> tile pixels (x 128 then x side / 128, float32) -> frame pixels (+ tile origin)."""
    out = dets.clone()
    scale = side / TILE_INPUT
    ys = [0, 2, 5, 7, 9, 11, 13, 15]  # ymin, ymax, keypoint y
    xs = [1, 3, 4, 6, 8, 10, 12, 14]  # xmin, xmax, keypoint x
    for col in range(16):  # target_w == target_h and scale_w == scale_h; the offsets are 0
        out[:, col] = out[:, col] * TILE_INPUT * scale
    if out.shape[0] > 0:
        x0, y0 = origin
        for col in ys:
            out[:, col] += y0
        for col in xs:
            out[:, col] += x0
    return out


def iou_one_to_many(box: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """IoU of one (ymin, xmin, ymax, xmax) box with each of the others."""
    lo = torch.maximum(box[:2].unsqueeze(0), others[:, :2])
    hi = torch.minimum(box[2:].unsqueeze(0), others[:, 2:])
    wh = torch.clamp(hi - lo, min=0)
    inter = wh[:, 0] * wh[:, 1]
    area_box = (box[2] - box[0]) * (box[3] - box[1])
    area_others = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area_box + area_others - inter)


def weighted_nms(dets: torch.Tensor) -> list[torch.Tensor]:
    """BlazeFace blending NMS: score-weighted mean of the overlapping boxes, their mean score."""
    faces: list[torch.Tensor] = []
    if dets.shape[0] == 0:
        return faces
    order = torch.argsort(dets[:, 16], descending=True)
    while order.numel() > 0:
        lead = dets[order[0]]
        overlap = iou_one_to_many(lead[:4], dets[order, :4]) > MIN_SUPPRESSION
        group = order[overlap]
        order = order[~overlap]
        merged = lead.clone()
        if group.numel() > 1:
            weights = dets[group, 16:17]
            total = weights.sum()
            merged[:16] = (dets[group, :16] * weights).sum(dim=0) / total
            merged[16] = total / group.numel()
        faces.append(merged)
    return faces


def reference_detect(detector: RefDetector, frame_rgb: np.ndarray) -> np.ndarray:
    """The original detection for one frame: tiles, BlazeFace, decoding, untiling, weighted NMS, sort."""
    height, width = frame_rgb.shape[:2]
    side, origins = tile_layout(height, width)
    tiles = np.zeros((len(origins), TILE_INPUT, TILE_INPUT, 3), dtype=np.uint8)
    for i, (x0, y0) in enumerate(origins):
        tiles[i] = cv2.resize(
            frame_rgb[y0 : y0 + side, x0 : x0 + side, :],
            (TILE_INPUT, TILE_INPUT),
            interpolation=cv2.INTER_AREA,
        )
    batch = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        raw_boxes, raw_scores = detector.net(batch)
        per_tile = decode_detections(raw_boxes, raw_scores, detector.anchors)
        in_frame = torch.cat([tile_to_frame(d, side, o) for d, o in zip(per_tile, origins, strict=True)])
        faces = weighted_nms(in_frame)
    if not faces:
        return np.zeros((0, 17), dtype=np.float32)
    rows = torch.stack(faces).numpy().astype(np.float32)
    return rows[np.argsort(rows[:, 16])[::-1]]


# ======================================================================================================
# Training-data crops
# ======================================================================================================


def add_margin(detection: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """FaceExtractor._add_margin_to_detections(margin=0.2) in float32 torch arithmetic."""
    row = torch.from_numpy(np.asarray(detection, dtype=np.float32).reshape(1, 17).copy())
    offset = torch.round(MARGIN * (row[:, 2] - row[:, 0]))
    out = row.clone()
    out[:, 0] = torch.clamp(row[:, 0] - offset * 2, min=0)
    out[:, 1] = torch.clamp(row[:, 1] - offset, min=0)
    out[:, 2] = torch.clamp(row[:, 2] + offset, max=frame_h)
    out[:, 3] = torch.clamp(row[:, 3] + offset, max=frame_w)
    return out.numpy()[0]


def adapt_bb(frame_h: int, frame_w: int, bb_h: int, bb_w: int, left, top, right, bottom) -> tuple:
    """isplutils.utils.adapt_bb: a bb_w x bb_h box centred on the given one, clipped to the frame.

    Arithmetic is left to the operands' own types (float32 scalars for the 512 region, int16 for
    extract_bb), as in the original.
    """
    x_ctr = (left + right) // 2
    y_ctr = (bottom + top) // 2
    new_top = max(y_ctr - bb_h // 2, 0)
    new_bottom = min(new_top + bb_h, frame_h)
    new_left = max(x_ctr - bb_w // 2, 0)
    new_right = min(new_left + bb_w, frame_w)
    return new_left, new_top, new_right, new_bottom


def jpeg_round_trip(image: Image.Image) -> Image.Image:
    """Saved as extract_faces.save_jpg did (quality 95, 4:4:4) and read back as load_face did."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def extract_bb_scale(frame: Image.Image, bb: tuple, size: int = FACE_SIZE) -> Image.Image:
    """isplutils.utils.extract_bb(frame, bb, scale='scale', size): isotropic square, BILINEAR resize."""
    left, top, right, bottom = bb
    bb_w = int(right) - int(left)
    bb_h = int(bottom) - int(top)
    ratio = min(size / bb_h, size / bb_w) if (bb_w > 0 and bb_h > 0) else 1.0
    side_w = int(size / ratio)
    side_h = int(size / ratio)
    box = adapt_bb(frame.height, frame.width, side_h, side_w, left, top, right, bottom)
    return frame.crop(tuple(int(v) for v in box)).resize((size, size), Image.BILINEAR)


@dataclass(frozen=True)
class RefCrop:
    """A reference training crop and its intermediate products."""

    face: np.ndarray  # (224, 224, 3) uint8 RGB
    box: tuple[int, int, int, int]  # (left, top, right, bottom) in frame pixels
    region: tuple[int, int, int, int]  # the 512 region (left, top, right, bottom) in frame pixels
    stored_box: tuple[int, int, int, int]  # int16 box relative to the region, as the dataframe held it
    region_image: np.ndarray  # the region as cropped from the frame, before the JPEG round trip


def reference_crop(frame_rgb: np.ndarray, detection: np.ndarray, jpeg: bool = True) -> RefCrop:
    """One detection (no margin) -> the 224 face exactly as the ICPR training pipeline produced it.

    ``jpeg=False`` skips the JPEG round trip (the "naive" crop, for comparison only).
    """
    frame_h, frame_w = frame_rgb.shape[:2]
    with_margin = add_margin(detection, frame_w, frame_h)
    ymin, xmin, ymax, xmax = (with_margin[i] for i in range(4))  # np.float32 scalars, as in face_dict
    fullframe = Image.fromarray(frame_rgb)
    region = adapt_bb(fullframe.height, fullframe.width, REGION, REGION, xmin, ymin, xmax, ymax)
    region_int = tuple(int(v) for v in region)
    for v in region:
        if float(v) != int(v):
            raise AssertionError(f"the 512 region is not integral: {region}")
    cropped = fullframe.crop(region_int)
    region_image = np.asarray(cropped).copy()
    # face_dict[key] -= cropping_bb[...] then .astype(np.int16): float32 subtraction, truncation to zero.
    rel = np.array(
        [xmin - region[0], ymin - region[1], xmax - region[0], ymax - region[1]], dtype=np.float32
    ).astype(np.int16)
    stored = tuple(int(v) for v in rel)
    saved = jpeg_round_trip(cropped) if jpeg else cropped
    face = extract_bb_scale(saved, tuple(rel))  # int16 scalars, as read from the dataframe
    box = (
        stored[0] + region_int[0],
        stored[1] + region_int[1],
        stored[2] + region_int[0],
        stored[3] + region_int[1],
    )
    return RefCrop(np.asarray(face).copy(), box, region_int, stored, region_image)


def normalise(faces_rgb: list[np.ndarray]) -> torch.Tensor:
    """albumentations Normalize(ImageNet mean/std, max 255) + ToTensorV2, stacked to (N, 3, H, W)."""
    mean = np.array(IMAGENET_MEAN, dtype=np.float32) * np.float32(255.0)
    inv_std = np.reciprocal(np.array(IMAGENET_STD, dtype=np.float32) * np.float32(255.0))
    out = []
    for face in faces_rgb:
        img = face.astype(np.float32)
        img -= mean
        img *= inv_std
        out.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
    return torch.stack(out)


# ======================================================================================================
# fornet on the original efficientnet_pytorch (subprocess)
# ======================================================================================================

FORNET_SCRIPT = r'''
"""fornet.EfficientNetB4 / EfficientNetAutoAttB4 on whatever efficientnet_pytorch is importable."""
import sys

import efficientnet_pytorch
import torch
from efficientnet_pytorch import EfficientNet
from torch import nn


class AttentionEfficientNet(EfficientNet):
    def init_att(self):
        self.att_block_idx = 9
        self.attconv = nn.Conv2d(kernel_size=1, in_channels=56, out_channels=1)

    def _run_blocks(self, x, stop_at_attention):
        x = self._swish(self._bn0(self._conv_stem(x)))
        for idx, block in enumerate(self._blocks):
            rate = self._global_params.drop_connect_rate
            if rate:
                rate *= float(idx) / len(self._blocks)
            x = block(x, drop_connect_rate=rate)
            if idx == self.att_block_idx:
                att = torch.sigmoid(self.attconv(x))
                if stop_at_attention:
                    return att
                x = x * att
        return self._swish(self._bn1(self._conv_head(x)))

    def get_attention(self, x):
        return self._run_blocks(x, True)

    def extract_features(self, x):
        return self._run_blocks(x, False)


class Head(nn.Module):
    def __init__(self, attention):
        super().__init__()
        if attention:
            self.efficientnet = AttentionEfficientNet.from_name("efficientnet-b4")
            self.efficientnet.init_att()
        else:
            self.efficientnet = EfficientNet.from_name("efficientnet-b4")
        self.classifier = nn.Linear(self.efficientnet._conv_head.out_channels, 1)
        del self.efficientnet._fc

    def forward(self, x):
        x = self.efficientnet.extract_features(x)
        x = self.efficientnet._avg_pooling(x).flatten(start_dim=1)
        x = self.efficientnet._dropout(x)
        return self.classifier(x)


def main():
    """argv: threads, inputs, output, then (arch, weights) pairs; output maps arch -> results."""
    threads, inputs, output, *jobs = sys.argv[1:]
    torch.set_num_threads(int(threads))
    batches = torch.load(inputs, map_location="cpu", weights_only=True)
    results = {}
    for arch, weights in zip(jobs[0::2], jobs[1::2]):
        model = Head(arch == "EfficientNetAutoAttB4")
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        model.eval()
        result = {"version": efficientnet_pytorch.__version__, "file": efficientnet_pytorch.__file__}
        with torch.no_grad():
            result["logits"] = model(batches)
            if arch == "EfficientNetAutoAttB4":
                result["attention"] = model.efficientnet.get_attention(batches)
        results[arch] = result
    torch.save(results, output)


main()
'''


def run_fornet(
    jobs: dict[str, Path], inputs: Path, workdir: Path, libraries: dict[str, Path | None]
) -> dict[str, dict[str, dict]]:
    """Runs FORNET_SCRIPT once per library, in parallel fresh interpreters (one thread each).

    ``jobs`` maps an architecture to its state_dict file; ``inputs`` holds the (N, 3, H, W) float32
    batch; ``libraries`` maps a label to a folder put first on PYTHONPATH (None: the main
    environment's efficientnet_pytorch). Returns label -> arch -> results: ``version``, ``file`` (the
    efficientnet_pytorch used), ``logits`` and, for the AutoAtt network, ``attention``.
    """
    pairs = [str(v) for arch, weights in jobs.items() for v in (arch, weights)]
    running = {}
    for label, folder in libraries.items():
        env = dict(os.environ)
        if folder is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
        output = workdir / f"fornet_{label}.pth"
        command = [sys.executable, "-c", FORNET_SCRIPT, "1", str(inputs), str(output), *pairs]
        process = subprocess.Popen(
            command, env=env, cwd=str(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        running[label] = (process, output)
    outcomes = {}
    try:
        for label, (process, _) in running.items():
            outcomes[label] = process.communicate(timeout=600)
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    results = {}
    for label, (process, output) in running.items():
        if process.returncode != 0:
            stderr = outcomes[label][1]
            raise RuntimeError(f"fornet subprocess {label} failed ({process.returncode}):\n{stderr[-4000:]}")
        results[label] = torch.load(output, map_location="cpu", weights_only=True)
        version = next(iter(results[label].values()))["version"]
        log.info("fornet %s ran on efficientnet_pytorch %s", label, version)
    return results
