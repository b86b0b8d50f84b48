"""predict_video end to end on clips made inside the tests, with the random ``tiny`` model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mmempathy import EmotionFuser
from mmempathy.errors import InputError
from mmempathy.media import pipeline
from mmempathy.media.pipeline import VideoConfig, iter_samples, predict_video
from mmempathy.media.timeline import Timeline
from mmempathy.testing import draw_face, tone, write_clip

FPS = 10
SRT = """1
00:00:00,200 --> 00:00:02,500
I am so happy to see you!

2
00:00:03,200 --> 00:00:05,500
<i>Leave me alone.</i>
"""


def video_frames(seconds: float, face_until: float):
    """320x180 frames with a (slowly moving) face until ``face_until`` seconds, blank after."""
    for i in range(round(seconds * FPS)):
        image = np.full((180, 320, 3), 90, np.uint8)
        if i / FPS < face_until:
            draw_face(image, (150 + i, 90), 40, smile=np.sin(i / 5))
        yield image


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    (root / "clip.srt").write_text(SRT)
    return {
        "clip": write_clip(root / "clip.mp4", video_frames(6.0, 3.0), fps=FPS, audio=tone(6.0)),
        "srt": root / "clip.srt",
        "audio_only": write_clip(root / "voice.m4a", None, audio=tone(4.0, 330.0)),
        "silent": write_clip(root / "silent.mp4", video_frames(4.0, 4.0), fps=FPS),
        "root": root,
    }


@pytest.fixture(scope="module")
def fuser():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        model = EmotionFuser.from_pretrained("tiny")
        model.warn_if_untrained()
    return model


def check_probs(timeline: Timeline) -> None:
    for seg in timeline:
        assert sum(seg.probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert set(seg.probs) == set(timeline.labels)
        assert set(seg.modalities) == set(seg.present)
        for probs in seg.modalities.values():
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)


def test_subtitled_clip_gives_one_segment_per_cue(fuser, media):
    # The clips hold tones, not speech: the voice activity check (tested below) would set their audio aside.
    timeline = predict_video(fuser, media["clip"], subtitles=media["srt"], vad=False)
    assert [(s.start, s.end) for s in timeline] == [(0.2, 2.5), (3.2, 5.5)]
    assert [s.text for s in timeline] == ["I am so happy to see you!", "Leave me alone."]
    check_probs(timeline)
    # The face is only on screen for the first three seconds.
    assert timeline[0].present == ["text", "audio", "face"]
    assert timeline[1].present == ["text", "audio"]
    assert timeline.labels == fuser.labels and timeline.meta["segmentation"] == "subtitles"
    assert timeline.meta["config"]["face_size"] == fuser.processor.face_size


def test_windows_without_text_and_the_delegating_method(fuser, media):
    timeline = fuser.predict_video(media["clip"], window=2.0, hop=2.0, vad=False)
    assert [(s.start, s.end) for s in timeline] == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert [s.present for s in timeline] == [["audio", "face"], ["audio", "face"], ["audio"]]
    check_probs(timeline)


def test_samples_carry_the_right_slices(media):
    samples = list(
        iter_samples(media["clip"], config=VideoConfig(window=2.0, hop=1.0, max_faces=3, vad=False), face_size=24)
    )
    assert [s.meta["start"] for s in samples] == [0.0, 1.0, 2.0, 3.0, 4.0]  # the 1 s tail window is dropped
    assert samples[-1].meta["end"] == 6.0
    assert all(len(s.audio) == pytest.approx(32000, abs=32) and s.sample_rate == 16000 for s in samples)
    assert samples[0].faces.shape == (3, 24, 24, 3) and samples[0].faces.dtype == np.uint8  # 4 frames thinned
    assert [s.meta["frames"] for s in samples] == [4] * 5
    assert [s.meta["face_frames"] for s in samples] == [4, 4, 2, 0, 0]
    assert samples[3].faces is None


def test_transcript_is_spread_over_the_windows(fuser, media):
    words = "one two three four five six seven eight nine ten eleven twelve"
    timeline = predict_video(fuser, media["clip"], transcript=words)
    texts = [s.text for s in timeline]
    assert len(texts) == 2 and all(texts)
    assert " ".join(texts) == words  # every word once, in order
    assert all("text" in s.present for s in timeline)


def test_audio_only_file(fuser, media):
    timeline = predict_video(fuser, media["audio_only"], vad=False)
    assert [(s.start, s.end) for s in timeline] == [(0.0, 3.0), (3.0, pytest.approx(4.0, abs=0.1))]
    assert all(s.present == ["audio"] for s in timeline)
    check_probs(timeline)


def test_video_without_audio(fuser, media):
    timeline = predict_video(fuser, media["silent"], window=2.0, hop=2.0)
    assert len(timeline) == 2 and all(s.present == ["face"] for s in timeline)


def test_cues_after_the_end_are_dropped_and_cues_across_it_clipped(fuser, media):
    srt = media["root"] / "long.srt"
    srt.write_text(SRT + "\n3\n00:00:05,000 --> 00:00:09,000\nstill\n\n4\n00:00:07,000 --> 00:00:08,000\ngone\n")
    timeline = predict_video(fuser, media["clip"], subtitles=srt)
    assert [(s.start, s.end, s.text) for s in timeline][-1] == (5.0, 6.0, "still")
    assert len(timeline) == 3


def test_bad_inputs(fuser, media, tmp_path):
    with pytest.raises(InputError, match="not found"):
        predict_video(fuser, tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("hello")
    with pytest.raises(InputError, match="not a readable media file"):
        predict_video(fuser, tmp_path / "text.mp4")
    with pytest.raises(InputError, match="not both"):
        predict_video(fuser, media["clip"], subtitles=media["srt"], transcript="hi")
    (tmp_path / "bad.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0,000 --> x\n")
    with pytest.raises(InputError, match=r"bad\.srt:6: cannot parse"):
        predict_video(fuser, media["clip"], subtitles=tmp_path / "bad.srt")
    (tmp_path / "empty.srt").write_text("\n")
    with pytest.raises(InputError, match="no subtitle cues in .*empty.srt"):
        predict_video(fuser, media["clip"], subtitles=tmp_path / "empty.srt")
    (tmp_path / "late.srt").write_text("1\n01:00:00,000 --> 01:00:02,000\nlate\n")
    with pytest.raises(InputError, match="no subtitle cue falls within"):
        predict_video(fuser, media["clip"], subtitles=tmp_path / "late.srt")
    with pytest.raises(InputError, match="hop"):
        predict_video(fuser, media["clip"], hop=0)
    with pytest.raises(TypeError, match="windw"):
        predict_video(fuser, media["clip"], windw=2)


class RecordingFuser:
    """Stands in for the model: records each batch and how far decoding had got by then."""

    labels = ("calm", "upset")

    def __init__(self, progress: list[int]):
        self.progress = progress
        self.calls: list[tuple[int, int]] = []

    def predict_samples(self, samples, batch_size=16, progress=False):
        from mmempathy.output import EmotionResult

        self.calls.append((len(samples), self.progress[0]))
        return [EmotionResult({"calm": 0.25, "upset": 0.75}, {}, {"audio": 1.0}, ["audio"]) for _ in samples]


def test_batches_are_flushed_while_decoding(media, monkeypatch):
    consumed = [0]
    decode_all = pipeline.iter_media

    def counting(*args, **kwargs):
        for item in decode_all(*args, **kwargs):
            consumed[0] += 1
            yield item

    monkeypatch.setattr(pipeline, "iter_media", counting)
    fake = RecordingFuser(consumed)
    # Decoding in its own thread may run ahead of the segments (by run_ahead's bounded depth): this checks
    # the assembler's flushing, so the stages run in turn.
    timeline = predict_video(fake, media["clip"], window=1.0, hop=1.0, batch_size=2, vad=False, overlap=False)
    total = consumed[0]
    assert [n for n, _ in fake.calls] == [2, 2, 2]
    # The first batch went to the model when only about a third of the file had been read.
    assert fake.calls[0][1] < total / 2
    assert len(timeline) == 6 and timeline[0].dominant == "upset"


def test_buffers_stay_bounded(media, monkeypatch):
    """However long the file, the assembler holds one window of frames and audio at most."""
    sizes = []
    add = pipeline._Assembler.add

    def spy(self, item):
        yield from add(self, item)
        sizes.append((len(self.frames), sum(len(c.samples) for c in self.audio)))

    monkeypatch.setattr(pipeline._Assembler, "add", spy)
    list(iter_samples(media["clip"], config=VideoConfig(window=1.0, hop=1.0, fps=FPS)))
    most_frames = max(f for f, _ in sizes)
    most_audio = max(a for _, a in sizes)
    assert most_frames <= 1.0 * FPS + 2
    assert most_audio <= 16000 * 1.5


def test_demo_clip_matches_its_ground_truth(fuser):
    """The committed demo clip: one segment per cue, face found in every one, cues inside the truth."""
    import csv
    from pathlib import Path

    demo = Path(__file__).resolve().parents[1] / "examples" / "demo"
    with open(demo / "truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    timeline = predict_video(fuser, demo / "demo.mp4", subtitles=demo / "demo.srt")
    assert len(timeline) == len(truth) == 6
    for seg, row in zip(timeline, truth):
        assert float(row["start"]) <= seg.start < seg.end <= float(row["end"])
        assert seg.text == row["text"]
        assert seg.present == ["text", "audio", "face"]


def test_segments_with_nothing_to_read_are_left_out(fuser, media):
    silent = write_clip(media["root"] / "half_face.mp4", video_frames(4.0, 2.0), fps=FPS)  # no audio track
    timeline = predict_video(fuser, silent, window=2.0, hop=2.0)
    assert [(s.start, s.end) for s in timeline] == [(0.0, 2.0)]
    assert timeline.meta["skipped"] == [[2.0, 4.0]]


def test_only_what_the_model_reads_is_decoded(media, monkeypatch):
    calls = []
    decode_all = pipeline.iter_media

    def spy(*args, **kwargs):
        calls.append((kwargs["video"], kwargs["audio"]))
        yield from decode_all(*args, **kwargs)

    monkeypatch.setattr(pipeline, "iter_media", spy)
    samples = list(iter_samples(media["clip"], media["srt"], modalities=["text"]))
    assert calls == [(False, False)]
    assert [s.text for s in samples] == ["I am so happy to see you!", "Leave me alone."]
    assert all(s.audio is None and s.faces is None for s in samples)
    samples = list(
        iter_samples(media["clip"], media["srt"], config=VideoConfig(vad=False), modalities=["audio", "face"])
    )
    assert calls[-1] == (True, True) and all(s.text is None and s.audio is not None for s in samples)
