"""The app served for real, called through gradio_client as a developer would."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from conftest import serve, shared_clip
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from loopback import api

from inference import Settings


@pytest.fixture(scope="module")
def client(app_url: str) -> Client:
    return api(app_url)


def test_api_schema(client: Client):
    api = client.view_api(return_format="dict", print_info=False)
    endpoints = api["named_endpoints"]
    assert set(endpoints) >= {"/predict", "/report"}
    params = {name: [p["parameter_name"] for p in endpoints[name]["parameters"]] for name in endpoints}
    assert params["/predict"] == ["video", "frames", "checkpoint", "url"]
    assert params["/report"] == [
        "video",
        "frames",
        "checkpoint",
        "explain",
        "profile",
        "second_opinion",
        "url",
    ]
    defaults = [p["parameter_has_default"] for p in endpoints["/report"]["parameters"]]
    assert defaults == [False, True, True, True, True, True, True]
    assert len(endpoints["/predict"]["returns"]) == 1
    assert endpoints["/predict"]["returns"][0]["component"] == "Label"


@pytest.fixture(scope="module")
def default_report(client: Client, genuine_clip: Path) -> dict:
    """/report on the genuine example with every parameter left at its default."""
    report, _ = client.predict(handle_file(str(genuine_clip)), api_name="/report")
    return report


def test_predict_on_example(client: Client, genuine_clip: Path, default_report: dict):
    label = client.predict(handle_file(str(genuine_clip)), api_name="/predict")
    # Random weights score every face about 0.5: UNCERTAIN, with the confidences kept.
    assert label["label"] == "UNCERTAIN"
    confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(confidences) == {"FAKE", "REAL"}
    assert confidences["FAKE"] + confidences["REAL"] == pytest.approx(1.0)
    assert confidences["FAKE"] == pytest.approx(default_report["fake_probability"])


def test_api_defaults_are_the_engines(client: Client, detector, genuine_clip: Path, default_report: dict):
    """/report with no frames or profile samples what the CLI and the engine sample by default."""
    # What gradio_client sends for a parameter left out: no value, as a caller may send.
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/report"]
    defaults = {p["parameter_name"]: p["parameter_default"] for p in parameters["parameters"]}
    assert defaults["frames"] is None and defaults["profile"] is None, defaults
    engine = detector.analyze(genuine_clip)
    assert default_report["frames_sampled"] == engine.frames_sampled > 20
    assert default_report["profile"] == engine.profile


def test_report_endpoint(client: Client, manipulated_clip: Path, checkpoint_file: Path):
    report, _ = client.predict(handle_file(str(manipulated_clip)), 8, api_name="/report")
    assert report["frames_sampled"] == 8
    assert report["frames_with_face"] == len(report["frames"]) >= 6
    assert report["verdict"] in ("FAKE", "REAL", "UNCERTAIN")
    assert report["weights"]["repo_id"] == "ishandutta/mukh-models"
    assert report["weights"]["sha256"] == hashlib.sha256(checkpoint_file.read_bytes()).hexdigest()
    assert "heatmap" not in report["frames"][0]
    assert report["profile"] == "training"
    explained, _ = client.predict(
        handle_file(str(manipulated_clip)), 4, None, True, "app", api_name="/report"
    )
    assert all(len(frame["heatmap"]) == 7 for frame in explained["frames"])
    assert explained["profile"] == "app"


def test_no_face_example_cannot_judge(client: Client, no_face_clip: Path):
    label = client.predict(handle_file(str(no_face_clip)), 4, api_name="/predict")
    assert label["label"] == "CANNOT JUDGE"
    report, _ = client.predict(handle_file(str(no_face_clip)), 4, api_name="/report")
    assert "face found in 0 of 4 sampled frames" in report["message"]


def test_broken_upload_gives_clear_error(client: Client, tmp_path: Path):
    bad = tmp_path / "holiday.mp4"
    bad.write_text("not a video")
    with pytest.raises(AppError, match="holiday.mp4 is not a video that can be decoded"):
        client.predict(handle_file(str(bad)), api_name="/predict")


def test_shared_1080p_clip(client: Client):
    clip = shared_clip("aaronchong888__DeepFake-Detect__abqwwspghj.mp4")
    started = time.perf_counter()
    label = client.predict(handle_file(str(clip)), 6, api_name="/predict")
    print(f"/predict on 1080p clip, 6 frames: {time.perf_counter() - started:.1f} s")
    assert label["label"] in ("FAKE", "REAL", "UNCERTAIN")


def test_unreachable_weights_still_serve_a_clear_message(
    genuine_clip: Path, caplog: pytest.LogCaptureFixture
):
    settings = Settings.from_env({"DEEPFAKE_WEIGHTS_REPO": "nobody/missing-weights"})
    for url in serve(settings):
        client = api(url)
        with pytest.raises(AppError, match="weights are not available on this server") as refused:
            client.predict(handle_file(str(genuine_clip)), api_name="/predict")
        # Visitors are told what they can do; what to set is for the operator, in the log.
        assert "DEEPFAKE_" not in str(refused.value)
        assert any(
            "DEEPFAKE_WEIGHTS_PATH" in r.getMessage() and "nobody/missing-weights" in r.getMessage()
            for r in caplog.records
        )
