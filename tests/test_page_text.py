"""What the page writes from outside text: links and names plain, codes in words, stages in words."""

from __future__ import annotations

from inference import Settings
from inference.provenance.claims import Provenance
from ui import render
from ui.text import markdown_text, plain, stage, words_for_codes


def test_a_link_in_a_message_is_plain_code_without_backslashes():
    shown = markdown_text("cannot fetch http://127.0.0.1:8080/a_b.mp4: HTTP 404 [x](y)!")
    assert "`http://127.0.0.1:8080/a_b.mp4`:" in shown  # the link whole, the colon after it
    assert r"\[x\]\(y\)\!" in shown


def test_a_file_name_that_is_markdown_shows_as_typed():
    name = "[Verified REAL by moderators](https:evil.example)!.mp4"
    assert plain(name) == f"`{name}`"
    assert plain("a`b` **c**\n# d") == "`a'b' **c** # d`"


def test_validation_codes_and_source_types_in_words():
    said = words_for_codes("broken (assertion.bmffHash.mismatch); c2pa.created (trainedAlgorithmicMedia)")
    assert "assertion.bmffHash" not in said and "trainedAlgorithmicMedia" not in said
    assert "no longer matches what was signed" in said and "made by a trained AI model" in said


def test_the_content_credentials_line_speaks_to_the_visitor():
    untrusted = Provenance(status="valid", signer="Someone", trusted=False, generator="Cam")
    panel = render.provenance_panel(type("R", (), {"provenance": untrusted})())
    assert "you configured" not in panel and "your trust list" not in panel
    assert "not on this server's trust list" in panel


def test_stages_in_words():
    assert stage("frame 3 of 12") == "Reading frames and finding faces: frame 3 of 12"
    assert stage("second opinion faces: 2 of 8") == "Second opinion: face 2 of 8"
    assert stage("explaining faces: 1 of 4") == "Explaining (heatmaps): face 1 of 4"
    assert stage("scoring faces: 5 of 6") == "Scoring faces: 5 of 6"


def test_the_people_table_says_why_a_trusted_declaration_makes_the_video_fake():
    declared = Provenance(
        status="valid",
        signer="Org",
        trusted=True,
        generator="Sora",
        ai_generated=True,
        ai_declared_by_signer=True,
    )
    table = render.people_table(type("R", (), {"provenance": declared, "people": []})())
    assert "The video is FAKE because its Content Credentials declare it AI-generated" in table
    plain_file = Provenance(status="absent")
    assert "Content Credentials" not in render.people_table(
        type("R", (), {"provenance": plain_file, "people": []})()
    )


def test_the_weights_choice_names_the_operators_own_file():
    from ui.file_tab import weights_choices

    names = ["resnext-lstm-100f-ff", "resnext-lstm-60f-ff"]
    own = Settings.from_env({"DEEPFAKE_WEIGHTS_PATH": "/srv/w/random.pt"})
    assert weights_choices(own, names) == [
        ("random.pt (this server's own file)", "resnext-lstm-100f-ff"),
        ("resnext-lstm-60f-ff", "resnext-lstm-60f-ff"),
    ]
    assert weights_choices(Settings.from_env({}), names) == [(n, n) for n in names]
