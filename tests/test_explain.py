"""Explanations (mmempathy.explain): what they hold, that they mean what they say, and where they are refused."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

import mmempathy.cli as cli
from mmempathy.errors import InputError
from mmempathy.explain import explain_samples
from mmempathy.media.timeline import Timeline
from mmempathy.sample import Sample

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
TEXT = "I can't believe you did that to me!"


def test_off_by_default(tiny):
    result = tiny.predict(text=TEXT)
    assert result.why == {} and "why" not in result.to_dict()


def test_every_modality_is_explained(tiny, wave, face_crops):
    result = tiny.predict(text=TEXT, audio=wave, sample_rate=16000, faces=face_crops, explain=True)
    why = result.why
    assert why["label"] == result.label
    assert why["shares"] == pytest.approx(result.weights, abs=1e-4)
    assert [w["word"] for w in why["words"]] == TEXT.split()  # words as a person reads them ("can't" is one)
    assert [f["frame"] for f in why["face"]] == [0, 1, 2]
    assert all(np.isfinite(r["score"]) for rows in (why["words"], why["face"], why["speech"]) for r in rows)
    spans = why["speech"]  # one second of audio in half-second spans, end to end
    assert [(s["start"], s["end"]) for s in spans] == [(0.0, 0.5), (0.5, 1.0)]
    pictured = [f for f in why["face"] if "image" in f]
    assert len(pictured) == 3
    data = base64.b64decode(pictured[0]["image"].split(",", 1)[1])
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (64, 64)
    assert json.loads(json.dumps(result.to_dict()))["why"] == why


def test_word_scores_add_up_to_what_the_text_moved(tiny):
    """Integrated gradients' completeness: the words' scores sum to the fused probability of the label
    minus that probability for a text of padding (the baseline), so a score is in probability points."""
    sample = Sample(text="I cannot believe you did that to me")
    why = explain_samples(tiny, [sample])[0]
    label = tiny.labels.index(why["label"])
    batch = tiny.processor.collate([sample])
    with torch.no_grad():
        full = float(tiny(batch).probs[0, label])
        ids = batch["text"]["input_ids"]
        special = tiny.processor.tokenizer.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True)
        batch["text"]["input_ids"] = torch.where(
            torch.tensor(special).bool(), ids, tiny.processor.tokenizer.pad_token_id
        )
        empty = float(tiny(batch).probs[0, label])
    assert abs(full - empty) > 1e-3  # else the check below would hold for all-zero scores
    assert sum(w["score"] for w in why["words"]) == pytest.approx(full - empty, abs=2e-3)


def test_a_frame_score_is_what_the_face_reading_loses_without_it(tiny, face_crops, rng):
    crops = np.concatenate([face_crops, rng.integers(0, 256, size=(1, 40, 40, 3), dtype=np.uint8)])
    result = tiny.predict(text=TEXT, faces=crops, explain=True)
    label = result.why["label"]
    for row in result.why["face"]:
        rest = np.delete(crops, row["frame"], axis=0)
        without = tiny.predict(text=TEXT, faces=rest).modalities["face"][label]
        assert row["score"] == pytest.approx(result.modalities["face"][label] - without, abs=2e-4)


def test_the_lite_models_top_word_matters_more_than_its_least(recwarn):
    """Deleting the word with the highest score lowers the reading more than deleting the word whose score
    is closest to zero (benchmarks/explain_deletion.py measures this on MELD test lines)."""
    from mmempathy import EmotionFuser

    fuser = EmotionFuser.from_pretrained("lite", device="cpu")
    for text in ("I hate you so much, get out of here!", "Oh my god, this is the best day of my life!"):
        result = fuser.predict(text=text, explain=True)
        words = result.why["words"]
        top = max(range(len(words)), key=lambda i: words[i]["score"])
        least = min(range(len(words)), key=lambda i: abs(words[i]["score"]))

        def without(i: int, words=words, label=result.why["label"]) -> float:
            kept = " ".join(w["word"] for j, w in enumerate(words) if j != i)
            return fuser.predict(text=kept).probs[label]

        assert without(top) < without(least), (text, words)


def test_segments_of_a_video_are_explained(tiny):
    timeline = tiny.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt", asr="off", explain=True)
    assert len(timeline) > 0
    for seg in timeline:
        assert seg.why["label"] == seg.dominant  # tiny has no person baseline: the reading explained is the one shown
        assert " ".join(w["word"] for w in seg.why["words"]) == " ".join(seg.text.split())
        assert seg.why["speech"][-1]["end"] <= seg.end - seg.start + 1e-6
    again = Timeline.from_json(timeline.to_json())
    assert [s.why for s in again] == [s.why for s in timeline] == [s.why for s in timeline.smooth(3)]
    frame = timeline.to_dataframe()
    assert list(frame.columns[-4:]) == ["why_label", "why_words", "why_face", "why_speech"]
    assert (frame["why_label"] == frame["dominant"]).all()
    assert "why_words" not in tiny.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt").to_dataframe()


def test_pre_extracted_features_get_shares_and_frames_only():
    """Features have no words to weigh and no seconds to cut: the why says what it can (the face's frames)."""
    from train_helpers import feature_fuser, feature_samples

    why = explain_samples(feature_fuser(), feature_samples(1))[0]
    assert set(why) == {"label", "shares", "face"} and [f["frame"] for f in why["face"]] == [0, 1]
    assert sum(why["shares"].values()) == pytest.approx(1, abs=1e-3)


def test_a_model_of_values_is_refused_in_one_line(tiny, monkeypatch):
    monkeypatch.setattr(tiny.config, "task", "regression")
    with pytest.raises(InputError, match="predicts values"):
        tiny.predict(text=TEXT, explain=True)


def test_an_onnx_fuser_cannot_explain():
    with pytest.raises(InputError, match="ONNX"):
        explain_samples(object(), [Sample(text="hi")])


def test_cli_explain_with_onnx_is_one_line(capsys, no_model, tmp_path):
    assert cli.main(["predict", str(DEMO / "demo.mp4"), "--onnx", str(tmp_path), "--explain"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmempathy: error:") and err.count("\n") == 1 and "--explain" in err, err


def test_cli_explain_without_captum_says_what_to_install(capsys, no_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "captum", None)  # import captum now fails as if it were not installed
    assert cli.main(["predict", str(DEMO / "demo.mp4"), "--explain"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mmempathy[explain]" in err, err


def test_cli_explain_writes_why_to_json_and_csv(tmp_path, capsys):
    out_json, out_csv = tmp_path / "out.json", tmp_path / "out.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args = ["predict", str(DEMO / "demo.mp4"), "--subtitles", str(DEMO / "demo.srt"), "--model", "tiny"]
        assert cli.main([*args, "--explain", "--quiet", "--json", str(out_json), "--csv", str(out_csv)]) == 0
    segments = json.loads(out_json.read_text())["segments"]
    assert segments and all(seg["why"]["words"] for seg in segments)
    assert "why_words" in out_csv.read_text().splitlines()[0]


@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED_DATA / "meld").is_dir(), reason="no shared MELD data")
def test_benchmark_smoke_run(tmp_path):
    """benchmarks/explain.py on a slice with the tiny model, so that the recipe cannot rot."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "explain.py"
    args = ["--model", "tiny", "--lines", "3", "--random", "2", "--repeats", "1", "--cost-lines", "1"]
    args += ["--steps-lines", "1", "--data", str(SHARED_DATA), "--json", str(tmp_path / "r.json")]
    subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True)
    report = json.loads((tmp_path / "r.json").read_text())
    assert [row["k"] for row in report["deletion"]["rows"]] == ["1", "2", "3", "half"]
    assert report["deletion"]["lines"] == 3 and report["steps"]["lines"] == 1
    assert report["cost"]["demo segments (text+speech+face)"]["items"] == 6
