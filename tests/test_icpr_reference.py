"""Production ICPR 2020 modules equal an independent re-implementation of the original pipeline.

The reference lives in tests/icpr_reference.py: BlazeFace tiling, decoding and weighted NMS; the
training-data crops of extract_faces.py + isplutils; fornet's EfficientNetB4 / EfficientNetAutoAttB4
on the efficientnet_pytorch version the weights were trained with (0.6.3, run in a subprocess).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from icpr_reference import (
    EFFICIENTNET_063_DIR,
    EFFICIENTNET_063_INSTALL,
    RefCrop,
    RefDetector,
    normalise,
    read_frames_rgb,
    reference_crop,
    run_fornet,
    tile_layout,
)
from torch import nn

from inference.errors import CheckpointFormatError, WeightsIntegrityError
from inference.faces.blazeface import BlazeFace, FaceFinder
from inference.faces.icpr_crops import PaperCrop, paper_crop
from inference.models.efficientnet import ARCHITECTURES, build, load_network, to_tensor

log = logging.getLogger(__name__)

SHARED = Path(__file__).resolve().parents[2] / "shared"
BLAZEFACE_WEIGHTS = SHARED / "models" / "blazeface" / "blazeface.pth"
BLAZEFACE_ANCHORS = SHARED / "models" / "blazeface" / "anchors.npy"
MEDIA = SHARED / "media"
CLIPS = (
    "aaronchong888__DeepFake-Detect__abqwwspghj.mp4",  # 1920 x 1080
    "polimi-ispl__icpr2020dfdc__brtujopkby.mp4",  # 1080 x 1920 portrait
    "polimi-ispl__icpr2020dfdc__lynaeydofd.mp4",  # 1920 x 1080
)
FRAMES_PER_CLIP = 4
AUTOATT = "EfficientNetAutoAttB4"

Sample = tuple[str, int, np.ndarray, np.ndarray]  # clip, frame index, RGB frame, reference detections


class CropPair(NamedTuple):
    """One reference detection, its reference crop and the production PaperCrop."""

    where: str
    frame: np.ndarray
    det: np.ndarray
    ref: RefCrop
    prod: PaperCrop


# ======================================================================================================
# Helpers
# ======================================================================================================


def calibrate(
    model: nn.Module, seed: int, inputs: torch.Tensor | None = None, spread: bool = False
) -> nn.Module:
    """Non-trivial BN running stats and, with ``spread``, a classifier whose logits spread over units.

    With PyTorch's default init and running_var = 1, activations vanish through B4 (logits ~1e-13):
    the BN statistics are measured in one train-mode pass (cumulative average) over ``inputs`` (random
    if None), then jittered. With ``spread`` the classifier is rescaled so that the logits of
    ``inputs`` have a standard deviation of 2 around 0, so that small input changes show in the sigmoid.
    """
    gen = torch.Generator().manual_seed(seed)
    if inputs is None:
        inputs = torch.randn(2, 3, 224, 224, generator=gen)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms, "no BatchNorm2d in the network"
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(inputs)
    model.eval()
    with torch.no_grad():
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
            m.running_mean += 0.05 * torch.randn(m.running_mean.shape, generator=gen) * m.running_var.sqrt()
            m.running_var *= 1.0 + 0.2 * torch.rand(m.running_var.shape, generator=gen)
            m.weight.mul_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
            m.bias.add_(0.05 * torch.randn(m.bias.shape, generator=gen))
        if spread:
            logits = model(inputs).flatten()
            head = model.classifier
            head.weight.mul_(2.0 / float(logits.std().clamp_min(1e-6)))
            head.bias.zero_()
            head.bias.sub_(model(inputs).flatten().mean())
    return model


def public_state_dict(arch: str, seed: int) -> dict[str, torch.Tensor]:
    """A random state_dict in the public ICPR .pth layout, its keys taken from efficientnet_pytorch itself.

    The parameterless padding modules are the only difference between library versions, so the
    main environment's efficientnet_pytorch gives the keys of the published files.
    """
    from efficientnet_pytorch import EfficientNet

    gen = torch.Generator().manual_seed(seed)
    base = EfficientNet.from_name("efficientnet-b4").state_dict()
    shapes = {f"efficientnet.{k}": v for k, v in base.items() if not k.startswith("_fc.")}
    if arch == AUTOATT:
        shapes["efficientnet.attconv.weight"] = torch.empty(1, 56, 1, 1)
        shapes["efficientnet.attconv.bias"] = torch.empty(1)
    shapes["classifier.weight"] = torch.empty(1, 1792)
    shapes["classifier.bias"] = torch.empty(1)
    state: dict[str, torch.Tensor] = {}
    for key, like in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(int(torch.randint(1, 10_000, (1,), generator=gen)), dtype=torch.long)
        elif key.endswith("running_var"):
            state[key] = torch.rand(like.shape, generator=gen) + 0.5
        else:
            state[key] = 0.05 * torch.randn(like.shape, generator=gen)
    return state


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def match_rows(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Index into ``theirs`` of the row nearest (max abs coordinate) to each row of ``ours``, greedily."""
    free = list(range(len(theirs)))
    picks = []
    for row in ours:
        best = min(free, key=lambda j: float(np.abs(theirs[j, :16] - row[:16]).max()))
        free.remove(best)
        picks.append(best)
    return np.array(picks, dtype=int)


# ======================================================================================================
# Fixtures
# ======================================================================================================


@pytest.fixture(scope="module")
def ref_detector() -> RefDetector:
    """The reference BlazeFace on the shared weights, or skip."""
    if not (BLAZEFACE_WEIGHTS.exists() and BLAZEFACE_ANCHORS.exists()):
        pytest.skip(f"BlazeFace weights not present under {BLAZEFACE_WEIGHTS.parent}")
    return RefDetector.load(BLAZEFACE_WEIGHTS, BLAZEFACE_ANCHORS)


@pytest.fixture(scope="module")
def samples(ref_detector: RefDetector) -> list[Sample]:
    """4 evenly spaced frames of each shared clip, with the reference detections; skip without clips."""
    found = [MEDIA / name for name in CLIPS if (MEDIA / name).exists()]
    if not found:
        pytest.skip(f"none of the shared clips is present under {MEDIA}")
    out: list[Sample] = []
    for path in found:
        frames, indices = read_frames_rgb(path, FRAMES_PER_CLIP)
        assert frames, f"no frame could be read from {path}"
        for frame, index in zip(frames, indices, strict=True):
            out.append((path.name, index, frame, ref_detector.detect(frame)))
    return out


@pytest.fixture(scope="module")
def crop_pairs(samples: list[Sample]) -> list[CropPair]:
    """For every reference detection: the reference crop and the production PaperCrop."""
    pairs = []
    for clip, index, frame, dets in samples:
        for det in dets:
            where = f"{clip}#{index}"
            pairs.append(CropPair(where, frame, det, reference_crop(frame, det), paper_crop(frame, det)))
    if not pairs:
        pytest.skip("no face detected on the shared frames")
    return pairs


# ======================================================================================================
# 1. Network
# ======================================================================================================


@pytest.fixture(scope="module")
def fornet_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Seeded production networks (calibrated BN), their state_dicts run by fornet on 0.6.3 and on 0.7.1."""
    if not (EFFICIENTNET_063_DIR / "efficientnet_pytorch" / "__init__.py").exists():
        pytest.skip(f"efficientnet_pytorch 0.6.3 not installed; run: {EFFICIENTNET_063_INSTALL}")
    workdir = tmp_path_factory.mktemp("fornet")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
    inputs = workdir / "x.pth"
    torch.save(x, inputs)
    jobs: dict[str, Path] = {}
    ours: dict[str, dict[str, torch.Tensor]] = {}
    for seed, arch in enumerate(ARCHITECTURES):
        torch.manual_seed(1234 + seed)
        model = calibrate(build(arch), seed=99 + seed)
        jobs[arch] = workdir / f"{arch}.pth"
        torch.save(model.state_dict(), jobs[arch])
        with torch.no_grad():
            ours[arch] = {"logits": model(x)}
            if arch == AUTOATT:
                ours[arch]["attention"] = model.attention(x)
    runs = run_fornet(jobs, inputs, workdir, {"original": EFFICIENTNET_063_DIR, "default": None})
    return {"ours": ours, **runs}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_efficientnet_equals_original_fornet_on_063(arch: str, fornet_runs: dict):
    """Production build(arch) == fornet on efficientnet_pytorch 0.6.3 (logits and attention within 1e-5);
    the same weights on 0.7.1's default padding give other logits."""
    ours = fornet_runs["ours"][arch]
    original = fornet_runs["original"][arch]
    default = fornet_runs["default"][arch]
    assert original["version"] == "0.6.3", original["file"]
    log.info(
        "%s logits: production %s, original %s", arch, ours["logits"].flatten(), original["logits"].flatten()
    )
    assert ours["logits"].shape == original["logits"].shape == (2, 1)
    assert float(original["logits"].abs().max()) > 1e-3, "logits too small for the test to mean anything"
    problems = []
    for name in ("logits", "attention") if arch == AUTOATT else ("logits",):
        mine, theirs = ours[name], original[name]
        if mine.shape != theirs.shape:
            problems.append(f"{name}: production shape {tuple(mine.shape)}, original {tuple(theirs.shape)}")
            continue
        diff = float((mine - theirs).abs().max())
        log.info("%s %s: max |production - original| = %.3g", arch, name, diff)
        if diff > 1e-5:
            problems.append(f"{name}: differs from the original by {diff:.3g} (> 1e-5)")
    assert not problems, f"{arch}: " + "; ".join(problems)
    if arch == AUTOATT:
        assert float(ours["attention"].min()) >= 0.0 and float(ours["attention"].max()) <= 1.0

    # The same weights on 0.7.1's own padding give other logits: the padding fix is observable.
    assert default["version"] != "0.6.3"
    moved = float((default["logits"] - original["logits"]).abs().max())
    log.info("%s: 0.7.1 default padding moves the logits by %.3g", arch, moved)
    assert moved > 1e-3, f"0.7.1 default padding should change the logits, moved only {moved:.3g}"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_load_network_reads_public_format_key_for_key(arch: str, tmp_path: Path):
    """A random .pth in the public layout loads strictly: same keys, same tensors, eval mode."""
    state = public_state_dict(arch, seed=3)
    path = tmp_path / f"{arch}.pth"
    torch.save(state, path)
    net = load_network(path, arch)
    loaded = net.state_dict()
    assert set(loaded) == set(state), (
        f"missing {sorted(set(state) - set(loaded))[:5]}, unexpected {sorted(set(loaded) - set(state))[:5]}"
    )
    for key, value in state.items():
        assert loaded[key].shape == value.shape, key
        assert torch.equal(loaded[key].cpu(), value.to(loaded[key].dtype)), key
    assert not net.training
    # The pinned hash of the very file is accepted.
    load_network(path, arch, sha256=sha256_of(path))


def test_load_network_rejects_a_resnext_checkpoint(tmp_path: Path):
    """The ResNeXt-LSTM app's checkpoint is not an ICPR network: CheckpointFormatError naming keys."""
    resnext = {
        "model.0.conv1.weight": torch.zeros(64, 3, 7, 7),
        "lstm.weight_ih_l0": torch.zeros(8192, 2048),
        "linear1.weight": torch.zeros(2, 2048),
    }
    path = tmp_path / "resnext.pth"
    torch.save(resnext, path)
    with pytest.raises(CheckpointFormatError) as caught:
        load_network(path, "EfficientNetB4")
    message = str(caught.value)
    assert any(key in message for key in resnext), f"no unexpected key named in: {message}"
    assert "efficientnet." in message or "classifier." in message, f"no missing key named in: {message}"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_load_network_names_a_renamed_key(arch: str, tmp_path: Path):
    """One renamed key: the error names the missing key and the unexpected one."""
    state = public_state_dict(arch, seed=5)
    state["efficientnet._conv_top.weight"] = state.pop("efficientnet._conv_head.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointFormatError) as caught:
        load_network(path, arch)
    message = str(caught.value)
    assert "efficientnet._conv_head.weight" in message, message
    assert "efficientnet._conv_top.weight" in message, message


def test_load_network_rejects_an_autoatt_file_for_b4_and_back(tmp_path: Path):
    """The attention keys are what tells the two architectures apart."""
    att = tmp_path / "att.pth"
    torch.save(public_state_dict(AUTOATT, seed=6), att)
    with pytest.raises(CheckpointFormatError) as caught:
        load_network(att, "EfficientNetB4")
    assert "attconv" in str(caught.value)
    plain = tmp_path / "plain.pth"
    torch.save(public_state_dict("EfficientNetB4", seed=6), plain)
    with pytest.raises(CheckpointFormatError) as caught:
        load_network(plain, AUTOATT)
    assert "attconv" in str(caught.value)


def test_load_network_checks_the_sha256_pin(tmp_path: Path):
    """A file whose hash differs from the pin raises WeightsIntegrityError."""
    path = tmp_path / "b4.pth"
    torch.save(public_state_dict("EfficientNetB4", seed=4), path)
    wrong = hashlib.sha256(b"not these weights").hexdigest()
    assert wrong != sha256_of(path)
    with pytest.raises(WeightsIntegrityError):
        load_network(path, "EfficientNetB4", sha256=wrong)


# ======================================================================================================
# 2. BlazeFace
# ======================================================================================================


@pytest.mark.parametrize(
    ("height", "width", "side", "origins"),
    [
        (1080, 1920, 720, [(x, y) for y in (0, 180, 360) for x in (0, 600, 1200)]),
        (1920, 1080, 720, [(x, y) for y in (0, 600, 1200) for x in (0, 180, 360)]),
        (720, 1280, 720, [(0, 0), (280, 0), (560, 0)]),
        (480, 640, 480, [(0, 0), (80, 0), (160, 0)]),
        (512, 512, 512, [(0, 0)]),
        (721, 720, 720, [(0, 0)]),
        (722, 720, 720, [(0, 0), (0, 1), (0, 2)]),
    ],
)
def test_reference_tiling_is_the_originals(height: int, width: int, side: int, origins: list):
    """The reference tiling as the original get_tiles_params computes it (portrait clips get 3 x 3 tiles
    too, whatever the original docstring says)."""
    assert tile_layout(height, width) == (side, origins)


def test_blazeface_state_dict_keys_are_the_published_ones():
    """Production BlazeFace has exactly blazeface.pth's keys and shapes."""
    if not BLAZEFACE_WEIGHTS.exists():
        pytest.skip(f"{BLAZEFACE_WEIGHTS} not present")
    published = torch.load(BLAZEFACE_WEIGHTS, map_location="cpu", weights_only=True)
    ours = BlazeFace().state_dict()
    assert list(ours) == list(published)
    assert all(ours[k].shape == published[k].shape for k in published)


def test_facefinder_equals_the_original_detection(samples: list[Sample]):
    """Same detections as the original tiling + decoding + weighted NMS: count, boxes 1 px, scores 1e-4."""
    finder = FaceFinder.load(BLAZEFACE_WEIGHTS, BLAZEFACE_ANCHORS, device="cpu")
    total = 0
    problems: list[str] = []
    for clip, index, frame, ref in samples:
        got = np.asarray(finder.detect(frame))
        where = f"{clip} frame {index} ({frame.shape[1]}x{frame.shape[0]})"
        if got.dtype != np.float32 or got.ndim != 2 or got.shape[1] != 17:
            problems.append(f"{where}: output {got.dtype} {got.shape}, expected float32 (n, 17)")
            continue
        if len(got) != len(ref):
            problems.append(f"{where}: {len(got)} detections, original {len(ref)}")
            continue
        total += len(ref)
        if len(ref) == 0:
            continue
        if not np.all(np.diff(got[:, 16]) <= 0):
            problems.append(f"{where}: not sorted by score: {got[:, 16]}")
        order = match_rows(ref, got)
        matched = got[order]
        coord = np.abs(matched[:, :16] - ref[:, :16]).max()
        score = np.abs(matched[:, 16] - ref[:, 16]).max()
        log.info(
            "%s: %d faces, max coordinate diff %.3g px, max score diff %.3g", where, len(ref), coord, score
        )
        if coord > 1.0:
            problems.append(
                f"{where}: coordinates differ by up to {coord:.3f} px\nours {matched}\norig {ref}"
            )
        if score > 1e-4:
            problems.append(f"{where}: scores differ by up to {score:.3g}")
    assert not problems, "\n".join(problems)
    assert total > 0, "no face found on any frame: the comparison would be vacuous"


# ======================================================================================================
# 3. Crops
# ======================================================================================================


def test_paper_crop_box_equals_the_original(crop_pairs: list[CropPair]):
    """paper_crop(...).box is the int16 box the original stored, plus its 512 region's offset."""
    problems = [
        f"{where} det {det[:4]}: production {tuple(prod.box)}, original {ref.box} "
        f"(region {ref.region}, stored {ref.stored_box})"
        for where, _frame, det, ref, prod in crop_pairs
        if tuple(int(v) for v in prod.box) != ref.box
    ]
    assert not problems, "\n".join(problems)


def test_paper_crop_pixels_equal_the_original(crop_pairs: list[CropPair]):
    """The 224 faces are the original's pixel for pixel (same PIL crop, JPEG round trip and resize)."""
    problems = []
    for where, _frame, _det, ref, prod in crop_pairs:
        face = np.asarray(prod.face)
        if face.shape != (224, 224, 3) or face.dtype != np.uint8:
            problems.append(f"{where}: face {face.dtype} {face.shape}")
            continue
        diff = np.abs(face.astype(int) - ref.face.astype(int))
        if diff.max() > 0:
            problems.append(f"{where}: pixels differ, max {diff.max()}, mean {diff.mean():.4f}")
    assert not problems, "\n".join(problems)


def test_paper_crop_probabilities_equal_the_original(crop_pairs: list[CropPair]):
    """sigmoid(logit) of a seeded random AutoAtt B4 on production vs reference crops agree within 1e-4."""
    pairs = crop_pairs[:: max(1, len(crop_pairs) // 6)]  # B4 on CPU is slow: about 6 faces
    ours = to_tensor([np.asarray(pair.prod.face) for pair in pairs])
    theirs = normalise([pair.ref.face for pair in pairs])
    assert ours.shape == theirs.shape == (len(pairs), 3, 224, 224)
    assert ours.dtype == torch.float32
    torch.manual_seed(2020)
    model = calibrate(build(AUTOATT), seed=11, inputs=theirs if len(pairs) > 1 else None, spread=True)
    naive = normalise([reference_crop(pair.frame, pair.det, jpeg=False).face for pair in pairs])
    with torch.no_grad():
        p_ours = torch.sigmoid(model(ours)).flatten()
        p_theirs = torch.sigmoid(model(theirs)).flatten()
        p_naive = torch.sigmoid(model(naive)).flatten()
    log.info("probabilities: production %s, original %s, without JPEG %s", p_ours, p_theirs, p_naive)
    diff = float((p_ours - p_theirs).abs().max())
    assert diff <= 1e-4, f"probabilities differ by up to {diff:.3g}: {p_ours} vs {p_theirs}"
    # The comparison is sensitive: skipping only the JPEG round trip moves some probability by more.
    assert float((p_naive - p_theirs).abs().max()) > 1e-4, "the probability comparison is not sensitive"


def test_the_jpeg_round_trip_changes_the_crops(samples: list[Sample]):
    """The reference's JPEG round trip is not a no-op: a naive crop without it differs measurably."""
    means = []
    for _clip, _index, frame, dets in samples:
        for det in dets:
            saved = reference_crop(frame, det).face.astype(int)
            naive = reference_crop(frame, det, jpeg=False).face.astype(int)
            means.append(float(np.abs(saved - naive).mean()))
    if not means:
        pytest.skip("no face detected on the shared frames")
    log.info("mean |JPEG round trip - naive| per crop: %s", np.round(means, 3))
    if max(means) == 0.0:
        pytest.skip("the JPEG round trip happened to be lossless on these crops")
    assert float(np.mean(means)) > 0.05, f"the crops barely change through JPEG: {means}"
