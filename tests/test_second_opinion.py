"""The second opinion: the combination rule, the engine with two detectors, weights sources, the CLI."""

from __future__ import annotations

import csv
import functools
import hashlib
import http.server
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, SECOND
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from loopback import api

from inference import CANNOT_JUDGE, FAKE, REAL, UNCERTAIN, Settings, SettingsError
from inference.errors import WeightsIntegrityError, WeightsUnavailableError
from inference.models.efficientnet import AUTOATT, IcprScorer, build, to_tensor
from inference.result import Opinion, Verdict
from inference.tools import cli
from inference.verdict import combine
from inference.weights import hub, registry
from inference.weights.registry import CheckpointSpec

# A short example with one face both detectors find (the tests are about the plumbing, not the scores).
CLIP = EXAMPLES / "manipulated_astronaut.mp4"
PROBABILITY = {FAKE: 0.9, REAL: 0.1, UNCERTAIN: 0.52, CANNOT_JUDGE: None}
# Every pair of verdicts -> the combined label (the rule in inference.verdict.combine).
RULE = {
    (FAKE, FAKE): FAKE,
    (FAKE, REAL): UNCERTAIN,
    (FAKE, UNCERTAIN): FAKE,
    (FAKE, CANNOT_JUDGE): FAKE,
    (REAL, FAKE): UNCERTAIN,
    (REAL, REAL): REAL,
    (REAL, UNCERTAIN): REAL,
    (REAL, CANNOT_JUDGE): REAL,
    (UNCERTAIN, FAKE): FAKE,
    (UNCERTAIN, REAL): REAL,
    (UNCERTAIN, UNCERTAIN): UNCERTAIN,
    (UNCERTAIN, CANNOT_JUDGE): UNCERTAIN,
    (CANNOT_JUDGE, FAKE): FAKE,
    (CANNOT_JUDGE, REAL): REAL,
    (CANNOT_JUDGE, UNCERTAIN): UNCERTAIN,
    (CANNOT_JUDGE, CANNOT_JUDGE): CANNOT_JUDGE,
}


def _opinion(detector: str, label: str) -> Opinion:
    fake = PROBABILITY[label]
    confidence = None if fake is None else max(fake, 1 - fake)
    return Opinion(detector, Verdict(label, fake, confidence, f"{label.lower()} by {detector}"))


@pytest.mark.parametrize(("first", "second"), sorted(RULE))
def test_combination_rule_over_every_pair(first: str, second: str):
    verdict = combine([_opinion("one", first), _opinion("two", second)])
    assert verdict.label == RULE[(first, second)]
    judged = [PROBABILITY[label] for label in (first, second) if label != CANNOT_JUDGE]
    if verdict.label in (FAKE, REAL):
        # The probability of the detectors the verdict rests on: beyond the margin like theirs.
        judged = [PROBABILITY[label] for label in (first, second) if label == verdict.label]
    if judged:
        assert verdict.fake_probability == pytest.approx(sum(judged) / len(judged))
        assert verdict.confidence == pytest.approx(
            max(verdict.fake_probability, 1 - verdict.fake_probability)
        )
    else:
        assert verdict.fake_probability is None and verdict.confidence is None
    # The message names the detector(s) the verdict rests on.
    resting = [name for name, label in (("one", first), ("two", second)) if label == verdict.label]
    for name in resting or ["one", "two"]:
        assert name in verdict.message
    if {first, second} == {FAKE, REAL}:
        assert "the detectors disagree" in verdict.message
        assert "one says" in verdict.message and "two says" in verdict.message


def test_one_detector_keeps_its_verdict_and_is_named():
    only = _opinion("resnext", FAKE)
    verdict = combine([only])
    assert (verdict.label, verdict.fake_probability) == (FAKE, 0.9)
    assert verdict.message.startswith(only.verdict.message) and "resnext" in verdict.message


@pytest.fixture(scope="module")
def two_detectors(second_detector):
    return second_detector.analyze(CLIP, frames=6)


def test_both_detectors_judge_each_person(two_detectors):
    result = two_detectors
    first, second = result.detectors
    assert (first.role, first.status) == ("first", "used")
    assert (second.name, second.status, second.role) == (SECOND, "used", "second opinion")
    assert second.frames_scored > 0
    person = result.people[0]
    assert [o.detector for o in person.opinions] == [first.name, SECOND]
    assert person.verdict == combine(list(person.opinions))
    assert [o.detector for o in result.opinions] == [first.name, SECOND]
    own = person.opinions[1]
    assert own.frames_scored == len(own.frames) > 0
    # The person's probability is the sigmoid of the mean of the frame logits (the authors' rule).
    logits = [math.log(f.fake_probability / (1 - f.fake_probability)) for f in own.frames]
    assert own.verdict.fake_probability == pytest.approx(
        1 / (1 + math.exp(-sum(logits) / len(logits))), abs=1e-6
    )
    frame_indices = {frame.frame_index for frame in result.frames if frame.person == person.id}
    for seen in own.frames:
        assert seen.frame_index in frame_indices
        left, top, right, bottom = seen.blazeface_box
        assert all(isinstance(v, float) for v in seen.blazeface_box)
        # The float32 margin box the crop was cut from (see test_second_opinion_crops.py).
        assert all(float(np.float32(v)) == v for v in seen.blazeface_box)
        assert seen.blazeface_frame_size == (result.video.width, result.video.height)
        assert 0 <= left < right <= result.video.width and 0 <= top < bottom <= result.video.height


def test_report_json_has_detectors_and_each_persons_opinions(two_detectors):
    data = json.loads(two_detectors.to_json())
    assert [d["name"] for d in data["detectors"]][1] == SECOND
    assert {"name", "family", "weights", "sha256", "frames_scored", "status"} <= set(data["detectors"][1])
    person = data["people"][0]
    second = person["detectors"][1]
    assert second["detector"] == SECOND and second["verdict"] in (FAKE, REAL, UNCERTAIN, CANNOT_JUDGE)
    frame = second["frames"][0]
    assert set(frame) == {"frame_index", "blazeface_box", "blazeface_frame_size", "fake_probability"}
    assert len(frame["blazeface_box"]) == 4 and len(frame["blazeface_frame_size"]) == 2
    assert data["verdict"] == two_detectors.verdict.label


def test_explain_gives_the_attention_map_of_the_second_opinion(second_detector):
    result = second_detector.analyze(CLIP, frames=3, explain=True)
    seen = result.people[0].opinions[1].frames
    assert seen and all(f.attention is not None and f.attention.shape == (28, 28) for f in seen)
    assert all(0.0 <= float(f.attention.min()) <= float(f.attention.max()) <= 1.0 for f in seen)
    assert {(1, f.frame_index) for f in seen} <= set(result.second_crops)


def test_a_person_blazeface_does_not_find_gets_face_not_found(second_detector, two_detectors):
    second = second_detector.load_detectors(None)[0]
    person = two_detectors.people[0]
    opinion = second.judge(person, [], looked_at=5, settings=second_detector.settings, explain=False)
    assert opinion.verdict.label == CANNOT_JUDGE
    assert "face not found" in opinion.verdict.message and opinion.verdict.fake_probability is None
    combined = combine([person.opinions[0], opinion])
    assert combined.label == person.opinions[0].verdict.label or combined.label == CANNOT_JUDGE


def test_offline_without_the_files_the_first_detector_answers_alone(detector, genuine_clip: Path):
    # The registry's second opinion is neither cached nor reachable here (HF_HUB_OFFLINE=1).
    result = detector.analyze(genuine_clip, frames=4)
    second = result.detectors[1]
    assert (second.name, second.status) == (SECOND, "unavailable")
    assert "offline" in second.reason and "/" not in second.reason and "DEEPFAKE" not in second.reason
    assert any("second opinion" in note and "unavailable" in note for note in result.notes)
    assert [o.detector for o in result.opinions] == [result.detectors[0].name]
    assert result.detectors[0].name in result.verdict.message


def test_weights_that_fail_their_pin_leave_the_second_opinion_unavailable(
    hub_cache, second_opinion_env, genuine_clip
):
    env = {k: v for k, v in second_opinion_env.items() if k != "DEEPFAKE_PINS"}
    from inference import Detector

    result = Detector.from_settings(Settings.from_env(env)).analyze(genuine_clip, frames=2)
    second = result.detectors[1]
    assert second.status == "unavailable" and "sha256" in second.reason
    assert second_opinion_env["DEEPFAKE_SECOND_OPINION_PATH"] not in second.reason


def test_second_opinion_off_and_unknown():
    assert Settings.from_env({"DEEPFAKE_SECOND_OPINION": "off"}).second_opinion_spec() is None
    with pytest.raises(SettingsError, match="DEEPFAKE_SECOND_OPINION"):
        Settings.from_env({"DEEPFAKE_SECOND_OPINION": "effnet-b7"})
    settings = Settings.from_env({})
    assert settings.second_opinions() == ["effnet-autoatt-b4-dfdc", "effnet-b4-dfdc", "off"]
    with pytest.raises(SettingsError, match="not known"):
        settings.second_opinion_spec("resnext-lstm-100f-ff")


def test_registry_entries_have_pins_and_sources_in_order():
    for name in registry.names(registry.EFFICIENTNET):
        spec = registry.get(name)
        assert spec.sha256 and spec.sha256 in spec.filename  # the tail of the name is the hash
        sources = [source.location for source in spec.all_sources()]
        assert sources[0].startswith("ishandutta/mukh-models:deepfake_detection/efficientnet/")
        assert sources[-1] == f"https://f002.backblazeb2.com/file/icpr2020/{spec.filename}"
    for name in ("blazeface", "blazeface-anchors"):
        assert len(registry.file(name).sha256) == 64


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A web server on the loopback serving ``tmp_path``."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_direct_url_source_downloads_checks_and_caches(file_server, tmp_path_factory, monkeypatch):
    base, folder = file_server
    payload = b"weights" * 1000
    (folder / "w.pth").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch")))
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", False)
    spec = CheckpointSpec(name="url-only", urls=(f"{base}/w.pth",), sha256=digest)
    resolved = hub.resolve(spec)
    assert resolved.weights_file.read_bytes() == payload and resolved.info.sha256 == digest
    assert resolved.info.location == f"{base}/w.pth" and resolved.info.repo_id is None
    # A wrong pin: refused, nothing kept.
    (folder / "other.pth").write_bytes(b"tampered")
    bad = replace(spec, urls=(f"{base}/other.pth",))
    with pytest.raises(WeightsIntegrityError, match="sha256"):
        hub.resolve(bad)
    assert not hub._url_target(bad.all_sources()[0], digest).exists()
    assert not list(hub._url_target(bad.all_sources()[0], digest).parent.glob("*.part"))
    # A cached file that lost its pinned hash is downloaded again.
    resolved.weights_file.write_bytes(b"rotten")
    assert hub.resolve(spec).weights_file.read_bytes() == payload
    # Offline: a cached file serves, a missing one is refused with the reason.
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    assert hub.resolve(spec).weights_file == resolved.weights_file
    with pytest.raises(WeightsUnavailableError, match="offline"):
        hub.resolve(replace(spec, urls=(f"{base}/missing.pth",)))


def test_cli_second_opinion_flag_and_batch_columns(
    hub_cache, second_opinion_env, tmp_path, monkeypatch, capsys
):
    for name, value in second_opinion_env.items():
        monkeypatch.setenv(name, value)
    clip = CLIP
    table = tmp_path / "rows.csv"
    assert cli.main([str(clip), "--frames", "4", "--json", "--output", str(table)]) == cli.EXIT_OK
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [d["status"] for d in report["detectors"]] == ["used", "used"]
    with table.open(newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["second_detector"] == SECOND and row["second_verdict"] in (FAKE, REAL, UNCERTAIN, CANNOT_JUDGE)
    assert row["first_verdict"] and row["verdict"] == report["verdict"]
    assert cli.main([str(clip), "--frames", "2", "--json", "--second-opinion", "off"]) == cli.EXIT_OK
    off = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert off["detectors"][1]["status"] == "off" and len(off["opinions"]) == 1
    with pytest.raises(SystemExit):
        cli.main([str(clip), "--second-opinion", "nonsense"])


def test_api_second_opinion_parameter_and_combined_label(second_opinion_url: str):
    clip = CLIP
    client = api(second_opinion_url)
    report, _ = client.predict(handle_file(str(clip)), 3, api_name="/report")
    assert [d["status"] for d in report["detectors"]] == ["used", "used"]
    label = client.predict(handle_file(str(clip)), 3, api_name="/predict")
    assert label["label"] == report["verdict"]
    off, _ = client.predict(handle_file(str(clip)), 3, None, False, None, "off", api_name="/report")
    assert off["detectors"][1]["status"] == "off" and len(off["people"][0]["detectors"]) == 1
    with pytest.raises(AppError, match="second_opinion"):
        client.predict(handle_file(str(clip)), 3, None, False, None, "effnet-b7", api_name="/report")


def test_scorer_in_channels_last_gives_the_networks_logits():
    torch.manual_seed(3)
    network = build(AUTOATT)
    faces = [np.random.default_rng(i).integers(0, 256, (224, 224, 3), dtype=np.uint8) for i in range(3)]
    with torch.inference_mode():
        expected = network(to_tensor(faces))[:, 0].double().numpy()
        attention = network.attention(to_tensor(faces))[:, 0].numpy()
    scorer = IcprScorer(build(AUTOATT), torch.device("cpu"))
    scorer.network.load_state_dict(network.state_dict())
    logits, maps = scorer.score(faces, attention=True)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    np.testing.assert_allclose(maps, attention, atol=1e-5)
    assert scorer.score(faces)[1] is None
