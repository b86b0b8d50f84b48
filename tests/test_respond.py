"""mmempathy.respond: strategy rules, wording that never claims feelings, safety, templates, local LM."""

from __future__ import annotations

import re

import pytest

from mmempathy.errors import CheckpointError, InputError
from mmempathy.media.timeline import Segment
from mmempathy.output import EmotionResult
from mmempathy.respond import (
    REGULATION_FAMILIES,
    SAFETY_MESSAGE,
    STRATEGIES,
    TEMPLATES,
    LMGenerator,
    Responder,
    claims_feeling,
    mentions_self_harm,
    respond,
)
from mmempathy.respond.templates import REGULATION_TEMPLATES

LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def dist(top: str, p: float) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {k: (p if k == top else rest) for k in LABELS}


def result(top: str, p: float, channels: dict[str, str] | None = None) -> EmotionResult:
    channels = channels if channels is not None else {"text": top, "audio": top, "face": top}
    n = max(1, len(channels))
    return EmotionResult(
        probs=dist(top, p),
        modalities={m: dist(e, 0.8) for m, e in channels.items()},
        weights={m: 1 / n for m in channels},
        present=list(channels),
    )


def test_the_eight_esconv_strategies_and_gross_families():
    assert len(STRATEGIES) == 8 and "Reflection of feelings" in STRATEGIES and "Others" in STRATEGIES
    assert set(REGULATION_TEMPLATES) == set(REGULATION_FAMILIES)
    assert all(len(t) >= 2 for k, t in TEMPLATES.items()), "several templates per strategy"


def test_low_confidence_asks_rather_than_asserts():
    r = respond(result("anger", 0.3))
    assert r.strategy == "Question"
    assert "0.30" in r.reason and "ask" in r.reason
    assert not any(w in r.text.lower() for w in ("angry", "anger"))
    assert r.regulation is None


def test_disagreeing_channels_reflect_the_mix_and_ask():
    r = respond(result("joy", 0.55, {"text": "joy", "audio": "anger", "face": "anger"}), utterance="Great, just great.")
    assert r.strategy == "Reflection of feelings"
    assert r.reading.conflict and r.reading.disagree == {"audio": "anger", "face": "anger"}
    assert "your words come across as happy" in r.text and "your voice and your face come across as angry" in r.text
    assert r.text.rstrip().endswith("?")
    assert "disagree" in r.reason
    assert r.regulation is None  # no advice on an uncertain reading


def test_strong_negative_reflects_and_suggests_regulation_with_reason():
    r = respond(result("sadness", 0.8), utterance="I lost my job today.")
    assert r.strategy == "Reflection of feelings"
    assert "sad" in r.text and "your words, your voice and your face" in r.text
    assert r.regulation is not None and r.regulation.family in REGULATION_FAMILIES
    assert "0.80" in r.regulation.reason and "Gross" in r.regulation.reason
    assert "text, audio and face agreed" in r.reason


def test_moderate_negative_or_disagreeing_channel_gets_no_regulation():
    assert respond(result("anger", 0.5)).regulation is None
    assert respond(result("anger", 0.9, {"text": "anger", "face": "neutral"})).regulation is None


def test_joy_is_affirmed_and_neutral_restated():
    joy = respond(result("joy", 0.9), utterance="I passed my exam!")
    assert joy.strategy == "Affirmation and Reassurance" and joy.regulation is None
    neutral = respond(result("neutral", 0.8), utterance="I moved to a new flat last week.")
    assert neutral.strategy == "Restatement or Paraphrasing"
    assert "you moved to a new flat last week" in neutral.text


def test_conversation_moves_from_reflection_to_affirmation_to_suggestion():
    responder = Responder()
    said = [responder.respond(result("sadness", 0.7)).strategy for _ in range(5)]
    assert said[:2] == ["Reflection of feelings", "Affirmation and Reassurance"]
    assert "Providing Suggestions" in said


@pytest.mark.parametrize("words", ["I want to kill myself", "sometimes I think about suicide", "I don't want to live"])
def test_self_harm_words_with_strong_sadness_or_fear_give_the_safety_message(words):
    for emotion in ("sadness", "fear"):
        r = respond(result(emotion, 0.85), utterance=words)
        assert r.safety and r.text == SAFETY_MESSAGE and r.source == "safety"
        assert r.regulation is None, "never advice"
        assert "human help" in r.reason and f"strong {emotion}" in r.reason
        assert re.search(r"crisis line|emergency", r.text)


def test_self_harm_in_recent_history_also_counts_and_ordinary_words_do_not():
    assert respond(result("sadness", 0.6), utterance="ok", history=["I keep wanting to hurt myself"]).safety
    assert not mentions_self_harm("this exam is killing me", "I could die laughing")
    assert not respond(result("sadness", 0.9), utterance="My cat died yesterday.").safety


def test_no_response_claims_to_know_what_the_person_feels():
    # expressed is not felt: every template and every produced response speaks of how things come across
    for templates in (*TEMPLATES.values(), *REGULATION_TEMPLATES.values()):
        for t in templates:
            assert not claims_feeling(t), t
    responder = Responder()
    for emotion in LABELS:
        for p in (0.3, 0.6, 0.9):
            text = responder.respond(result(emotion, p), utterance="It happened again.").text
            assert not claims_feeling(text), text
    for bad in ("You are sad.", "I know how you feel", "You feel angry", "you're feeling low"):
        assert claims_feeling(bad)


def test_templates_do_not_repeat_within_a_conversation_and_restart_after_reset():
    responder = Responder()
    texts = [responder.respond(result("anger", 0.3)).text for _ in range(len(TEMPLATES["Question"]))]
    assert len(set(texts)) == len(texts)
    responder.reset()
    assert responder.respond(result("anger", 0.3)).text == texts[0]  # deterministic


def test_timeline_segment_works_and_its_text_is_the_utterance():
    seg = Segment(0.0, 3.0, probs=dist("neutral", 0.9), modalities={"text": dist("neutral", 0.9)},
                  weights={"text": 1.0}, present=["text"], text="I started a new job")  # fmt: skip
    r = respond(seg)
    assert r.strategy == "Restatement or Paraphrasing" and "you started a new job" in r.text
    assert respond(Segment(0, 1, probs=dist("sadness", 0.9), text="I want to end my life")).safety


def test_bad_input_is_refused():
    with pytest.raises(InputError):
        respond(EmotionResult(probs={}, modalities={}, weights={}))
    with pytest.raises(InputError):
        Responder(confidence=0.9, strong=0.5)
    with pytest.raises(CheckpointError):
        LMGenerator("/nonexistent/model")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A random 2-layer GPT-2 with a word-level tokenizer, saved to a temporary directory."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    words = "you sound sad angry happy what is it like for how comes across i am here listening . ? ,".split()
    vocab = {w: i for i, w in enumerate(["[UNK]", "[EOS]", *dict.fromkeys(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]")
    path = tmp_path_factory.mktemp("tiny-lm")
    fast.save_pretrained(path)
    cfg = GPT2Config(vocab_size=len(vocab), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=1, eos_token_id=1)  # fmt: skip
    GPT2LMHeadModel(cfg).eval().save_pretrained(path)
    return LMGenerator(path, max_new_tokens=8)


def test_local_lm_words_the_rules_choice_deterministically(tiny_lm):
    reading = result("sadness", 0.8)
    a = Responder(generator=tiny_lm).respond(reading, utterance="I lost my job")
    b = Responder(generator=tiny_lm).respond(reading, utterance="I lost my job")
    assert a.strategy == "Reflection of feelings" and a.regulation is not None  # the rules still decide
    assert a.text == b.text and a.text and a.source in ("lm", "template")
    assert not claims_feeling(a.text)
    assert "sad" in tiny_lm.prompt(a.strategy, a.reading, "I lost my job")
    # the safety message never comes from the model
    assert Responder(generator=tiny_lm).respond(reading, utterance="I want to die").text == SAFETY_MESSAGE


def test_lm_output_that_claims_feelings_is_replaced_by_a_template(tiny_lm, monkeypatch):
    monkeypatch.setattr(tiny_lm, "generate", lambda *a: "You are sad, I know how you feel.")
    r = Responder(generator=tiny_lm).respond(result("sadness", 0.8))
    assert r.source == "template" and "rejected" in r.reason and not claims_feeling(r.text)
