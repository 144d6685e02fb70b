"""One dlib build's side of ``benchmarks.dlib_builds``: a process that answers requests on stdin.

Which dlib it runs is whatever ``import dlib`` finds first (the driver puts a source build's
folder first on PYTHONPATH). Each request is one JSON line ``{"do": ..., ...}``; each answer is
one JSON line on stdout (logging goes to stderr). Floats travel as JSON numbers, which round-trip
float64 exactly, so the driver can compare boxes, scores and encodings bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Decoded frames per (clip, count): the timing requests reuse the frames the face request decoded.
_FRAMES: dict[tuple[str, int], list[np.ndarray]] = {}
# Detectors per settings (loading the network costs seconds; one per profile serves every clip).
_DETECTORS: dict[str, Any] = {}


def info() -> dict[str, Any]:
    """Which dlib this process imported, and how it was built."""
    import dlib

    flags = ("DLIB_USE_CUDA", "DLIB_USE_BLAS", "DLIB_USE_LAPACK", "USE_AVX_INSTRUCTIONS")
    return {
        "file": dlib.__file__,
        "extension": sys.modules["_dlib_pybind11"].__file__,
        "version": dlib.__version__,
        "compiled": dlib.__time_compiled__,
        **{flag: getattr(dlib, flag, None) for flag in flags},
    }


def frames_of(clip: str, count: int) -> list[np.ndarray]:
    """``count`` frames spread over the whole clip, (H, W, 3) uint8 BGR, as the box benchmark samples."""
    from inference.video.probe import probe
    from inference.video.read import sample_frames
    from inference.video.window import analysis_window

    key = (clip, count)
    if key not in _FRAMES:
        info_ = probe(clip)
        window = analysis_window(info_, None, None, 1e9)
        _FRAMES[key] = [frame.image for frame in sample_frames(clip, window, count, info_.decoder)]
    return _FRAMES[key]


def faces(clip: str, frames: int, cnn_frames: int) -> dict[str, Any]:
    """The engine's HOG boxes (and dlib's scores) on every sampled frame, the CNN's on the first
    ``cnn_frames``, and face_recognition's 128-d encoding of every HOG face (full-resolution RGB).
    """
    from inference.faces.detect import detect_scored, face_encoding

    images = frames_of(clip, frames)
    found: dict[str, Any] = {"frames_sha256": [], "hog": [], "cnn": [], "encodings": [], "cnn_seconds": []}
    for number, image in enumerate(images):
        found["frames_sha256"].append(hashlib.sha256(image.tobytes()).hexdigest())
        hog = detect_scored(image, "hog")
        found["hog"].append([[list(box), score] for box, score in hog])
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        found["encodings"].append([face_encoding(rgb, box).tolist() for box, _ in hog])
        if number < cnn_frames:
            # Timed too (the CNN takes seconds a frame): this is the first of the timing rounds.
            started, cpu = time.perf_counter(), time.process_time()
            cnn = detect_scored(image, "cnn")
            found["cnn_seconds"].append([time.perf_counter() - started, time.process_time() - cpu])
            found["cnn"].append([[list(box), score] for box, score in cnn])
    return found


def timed(clip: str, frames: int, model: str) -> list[list[float]]:
    """Seconds dlib's ``model`` detector takes on each frame's 480-pixel RGB copy (upsampled once),
    the engine's default search; the copy is made before the clock starts.

    Returns:
        Per frame [wall-clock seconds, this process's CPU seconds]: on a shared machine the CPU
        time counts only while the process runs, so it is the steadier of the two.
    """
    from inference.faces import dlib_models
    from inference.faces.detect import _scaled_rgb, hog_run

    seconds = []
    for image in frames_of(clip, frames):
        rgb = _scaled_rgb(image, min(1.0, 480 / max(image.shape[:2])))
        started, cpu = time.perf_counter(), time.process_time()
        if model == "cnn":
            dlib_models.cnn_face_detector()(rgb, 1)
        else:
            hog_run(rgb, 1)
        seconds.append([time.perf_counter() - started, time.process_time() - cpu])
    return seconds


def analyze(clip: str, frames: int, weights: str, env: dict[str, str]) -> dict[str, Any]:
    """The engine's whole result for ``clip`` (random checkpoint ``weights``), less what varies by run."""
    from inference import Detector, Settings

    fixed = {"DEEPFAKE_WEIGHTS_PATH": weights, "DEEPFAKE_DEVICE": "cpu", "DEEPFAKE_SECOND_OPINION": "off"}
    key = json.dumps({**fixed, **env}, sort_keys=True)
    if key not in _DETECTORS:
        _DETECTORS[key] = Detector.from_settings(Settings.from_env({**fixed, **env}))
    result = _DETECTORS[key].analyze(clip, frames=frames).to_dict()
    for varying in ("analysed_at", "timings_s"):
        result.pop(varying)
    return result


HANDLERS = {"info": info, "faces": faces, "timed": timed, "analyze": analyze}


def main() -> None:
    """Answer requests until stdin closes."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for line in sys.stdin:
        request = json.loads(line)
        answer = HANDLERS[request.pop("do")](**request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
