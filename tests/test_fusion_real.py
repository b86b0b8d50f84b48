"""What the shipped late fusion does on real inputs: the README example (words, voice, face)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmempathy import EmotionFuser
from mmempathy.data import get_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.shared_data
@pytest.mark.skipif(not (DATA / "fer2013").is_dir() or not (DATA / "ravdess").is_dir(), reason="needs ../shared/data")
def test_readme_example_fuses_to_what_voice_and_face_agree_on():
    """ "I can't believe you did that!" reads as surprise; a test actor's angry voice and a PrivateTest angry
    face read as anger. The fusion follows the two that agree (the old gate fused this to fear, a class no
    modality chose), and the incongruity says the modalities did not all agree."""
    fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    anger = fuser.labels.index("anger")
    voices = get_dataset("ravdess", DATA / "ravdess", split="test")
    faces = get_dataset("fer2013", DATA / "fer2013", split="private_test")
    voice = next(voices[i] for i in range(len(voices)) if voices.targets()[i] == anger)
    face = next(faces[i] for i in range(len(faces)) if faces.targets()[i] == anger)
    result = fuser.predict(
        text="I can't believe you did that!", audio=voice.audio, sample_rate=voice.sample_rate, faces=face.faces
    )
    tops = {m: max(p, key=p.get) for m, p in result.modalities.items()}
    assert tops["audio"] == tops["face"] == "anger" and tops["text"] != "anger"
    assert result.label == "anger"
    assert result.label in tops.values()  # never a class that no present modality put first, here
    assert 0.2 < result.incongruity < 0.8


def test_a_neutral_sentence_is_no_evidence_for_an_emotion():
    """RAVDESS's two sentences say nothing about emotion. The text head, trained on class-balanced dialogue,
    read "Kids are talking by the door" as fear (0.355) and the other as disgust (0.376). Its calibration now
    holds what people say (benchmarks/person_baseline.py --calibrate-video): a temperature fitted with neutral
    lines as no evidence, and class biases fitted on MELD dev's labels (most lines are neutral), so both read
    neutral and no emotion gets more than 0.15."""
    fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    for sentence in ("Kids are talking by the door.", "Dogs are sitting by the door."):
        result = fuser.predict(text=sentence)
        for probs in (result.probs, result.modalities["text"]):
            assert max(probs, key=probs.get) == "neutral", (sentence, probs)
            assert max(v for k, v in probs.items() if k != "neutral") < 0.15, (sentence, probs)
