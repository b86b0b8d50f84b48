"""The person baseline (mmempathy.baseline): estimation, the model's person= argument, and the video pipeline."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import benchmark

from mmempathy.baseline import BaselineSettings, people_by_modality, person_shifts
from mmempathy.errors import InputError
from mmempathy.media.pipeline import BASELINE_SPEECH, informs_of, people_of
from mmempathy.modality import Modality
from mmempathy.sample import Sample
from mmempathy.testing import draw_face, write_clip

C, NEUTRAL, ANGER = 4, 1, 0
REF = {"mean": [0.0] * C, "spread": 1.0}


def person(rng, offset, labels, *, sure: float = 3.0) -> torch.Tensor:
    """Log-probabilities of a person's segments: ``sure`` nats of evidence for each label, plus the
    person's own ``offset`` (their resting face or voice) and a little noise."""
    logits = rng.normal(0, 0.1, (len(labels), C)) + np.asarray(offset)
    logits[np.arange(len(labels)), labels] += sure
    return torch.log_softmax(torch.tensor(logits, dtype=torch.float32), -1)


def test_varied_person_offset_is_removed(rng):
    labels = np.arange(12) % C  # every emotion, as a varied recording shows
    logp = person(rng, [0, 0, 3.5, 0], labels)  # the model reads this person's rest as label 2
    settings = BaselineSettings(gate=(0.3, 0.5))
    adapted = person_shifts(logp, ["p"] * 12, REF, neutral=NEUTRAL, settings=settings)
    assert (logp.argmax(-1).numpy() == labels).mean() < 0.5
    assert ((logp - adapted.shift).argmax(-1).numpy() == labels).all()
    assert adapted.segments == [12] * 12 and adapted.strength == [1.0] * 12


def test_angry_throughout_stays_angry(rng):
    labels = np.full(10, ANGER)
    logp = person(rng, [0, 0, 0, 0], labels, sure=2.0)
    settings = BaselineSettings(gate=(0.3, 0.5))
    plain_mean = person_shifts(logp, ["p"] * 10, REF, neutral=NEUTRAL, settings=BaselineSettings(gate=(0.0, 1e-9)))
    assert ((logp - plain_mean.shift).argmax(-1) == ANGER).float().mean() < 0.5  # an ungated mean erases it
    adapted = person_shifts(logp, ["p"] * 10, REF, neutral=NEUTRAL, settings=settings)
    assert adapted.strength[0] == 0.0 and adapted.segments[0] == 10  # a baseline, judged uniform: not applied
    assert ((logp - adapted.shift).argmax(-1) == ANGER).all()


def test_each_person_own_baseline_and_too_few_fall_back(rng):
    labels = np.arange(8) % C
    a, b = person(rng, [2.5, 0, 0, 0], labels), person(rng, [0, 0, 0, 2.5], labels)
    logp = torch.cat([a, b, person(rng, [0, 2, 0, 0], labels[:2])])
    people = ["a"] * 8 + ["b"] * 8 + ["c", "c"]
    adapted = person_shifts(logp, people, REF, neutral=NEUTRAL, settings=BaselineSettings(gate=(0.3, 0.5)))
    shift_a, shift_b = adapted.shift[0], adapted.shift[8]
    assert shift_a.argmax() == 0 and shift_b.argmax() == 3  # each removes its own person's offset
    assert torch.equal(adapted.shift[16:], torch.zeros(2, C))  # two segments: fewer than min_segments
    assert adapted.segments[16:] == [0, 0] and adapted.segments[:16] == [8] * 16


def test_bound_limits_the_shift(rng):
    labels = np.arange(12) % C
    logp = person(rng, [0, 0, 9.0, 0], labels)
    adapted = person_shifts(logp, ["p"] * 12, REF, neutral=NEUTRAL, settings=BaselineSettings(gate=(0.1, 0.2), bound=2))
    assert adapted.shift.abs().max() <= 2 + 1e-6


@pytest.mark.parametrize(
    ("person_arg", "message"),
    [("abc", "one id per sample"), (["a"], "1 ids for 2 samples"), ([{"voice": 1}, None], "unknown modality")],
)
def test_person_argument_errors(person_arg, message):
    with pytest.raises(InputError, match=message):
        people_by_modality(person_arg, 2, ["audio", "face"])


def test_settings_checked():
    with pytest.raises(InputError, match="gate"):
        BaselineSettings(gate=(0.8, 0.5))
    with pytest.raises(InputError, match="unknown baseline settings"):
        BaselineSettings.from_dict({"keeps": 1})
    with pytest.raises(InputError, match="reference for face"):
        BaselineSettings(reference={"face": {"mean": [0.0], "spread": 0}})
    with pytest.raises(InputError, match="reference for face"):
        BaselineSettings(reference={"face": {"mean": [0.0], "spread": 1, "feature": [0.0]}})
    with pytest.raises(InputError, match="centre"):
        BaselineSettings(centre="tokens")


@pytest.fixture
def calibrated(tiny):
    """The tiny model with person-baseline references (a copy: the session's model stays as it is)."""
    fuser = copy.deepcopy(tiny)
    ref = {"mean": [0.0] * len(fuser.labels), "spread": 1e-3}  # any spread at all counts as varied
    fuser.set_calibration({"baseline": {"reference": {"audio": ref, "face": ref}}})
    return fuser


def samples(rng, n):
    return [
        Sample(
            audio=rng.uniform(-0.3, 0.3, 16000).astype(np.float32),
            sample_rate=16000,
            faces=rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
        )
        for _ in range(n)
    ]


def test_predict_samples_person(calibrated, rng):
    items = samples(rng, 6)
    plain = calibrated.predict_samples(items)
    adapted = calibrated.predict_samples(items, person=["a"] * 4 + ["b", None])
    assert adapted[0].baseline == {"audio": {"segments": 4, "strength": 1.0}, "face": {"segments": 4, "strength": 1.0}}
    assert adapted[4].baseline == adapted[5].baseline == {}  # one item of b: read plainly, as is None
    for i in (4, 5):
        assert adapted[i].probs == pytest.approx(plain[i].probs, abs=1e-5)
    assert any(abs(adapted[0].modalities["audio"][k] - plain[0].modalities["audio"][k]) > 1e-3 for k in plain[0].probs)
    assert sum(adapted[0].probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert adapted[0].to_dict()["baseline"]["face"]["segments"] == 4
    # face and voice of different people: a mapping per item
    split = calibrated.predict_samples(items, person=[{"face": "x", "audio": None}] * 6)
    assert set(split[0].baseline) == {"face"}


def test_feature_offset_is_the_person_mean_less_the_reference(rng):
    labels = np.arange(9) % C
    logp = torch.cat([person(rng, [0, 0, 0, 0], labels), person(rng, [0, 0, 0, 0], labels[:2])])
    pooled = torch.tensor(rng.normal(0, 1, (11, 5)), dtype=torch.float32)
    ref = {**REF, "features": [0.5] * 5}
    settings = BaselineSettings(gate=(0.3, 0.5), centre="features")
    adapted = person_shifts(logp, ["p"] * 9 + ["q"] * 2, ref, neutral=NEUTRAL, settings=settings, pooled=pooled)
    assert torch.equal(adapted.shift, torch.zeros_like(logp))  # the voice is centred instead of its reading
    assert torch.allclose(adapted.features[:9], (pooled[:9].mean(0) - 0.5).expand(9, 5))
    assert torch.equal(adapted.features[9:], torch.zeros(2, 5))  # two segments: read plainly
    angry = person(rng, [0, 0, 0, 0], np.full(9, ANGER), sure=2.0)  # one emotion throughout: gated off
    still = person_shifts(angry, ["p"] * 9, ref, neutral=NEUTRAL, settings=settings, pooled=pooled[:9])
    assert still.strength[0] == 0.0 and torch.equal(still.features, torch.zeros(9, 5))
    logits_only = person_shifts(logp, ["p"] * 11, REF, neutral=NEUTRAL, settings=settings, pooled=pooled)
    assert logits_only.features is None and logits_only.shift.abs().sum() > 0  # no features reference: logits


def test_predict_samples_centres_voice_features(calibrated, rng):
    items = samples(rng, 5)
    voice = calibrated.fusion.project["audio"][0].normalized_shape[0]
    ref_features = torch.tensor(rng.normal(0, 0.1, voice), dtype=torch.float32)
    calibration = copy.deepcopy(calibrated.config.calibration)
    calibration["baseline"]["reference"]["audio"]["features"] = ref_features.tolist()
    calibration["baseline"]["centre"] = "features"
    calibrated.set_calibration(calibration)
    adapted = calibrated.predict_samples(items, person=["p"] * 5)
    assert adapted[0].baseline["audio"] == {"segments": 5, "strength": 1.0}
    # by hand: the person's mean encoder output less the reference, taken off every voice token
    calibrated.eval()
    batch = calibrated.processor.collate(items)
    with torch.no_grad():
        encoded = calibrated.encode(batch)
        tokens, mask = encoded[Modality.AUDIO]
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        encoded[Modality.AUDIO] = (tokens - (pooled.mean(0) - ref_features), mask)
        face = person_shifts(
            torch.log(calibrated.fuse(calibrated.encode(batch)).modality_probs[Modality.FACE]),
            ["p"] * 5,
            calibration["baseline"]["reference"]["face"],
            neutral=calibrated.labels.index("neutral") if "neutral" in calibrated.labels else None,
            settings=calibrated.baseline,
        )
        expected = calibrated.fuse(encoded, shift={Modality.FACE: face.shift}).modality_probs[Modality.AUDIO]
    for result, row in zip(adapted, expected):
        assert [result.modalities["audio"][k] for k in calibrated.labels] == pytest.approx(row.tolist(), abs=1e-5)
    plain = calibrated.predict_samples(items)
    assert max(abs(adapted[0].modalities["audio"][k] - plain[0].modalities["audio"][k]) for k in plain[0].probs) > 1e-3


def test_predict_samples_person_without_references(tiny, rng):
    with pytest.raises(InputError, match="no person-baseline references"):
        tiny.predict_samples(samples(rng, 3), person=["a"] * 3)


def test_silence_stays_out_of_the_voice_baseline(calibrated, rng):
    items = samples(rng, 5)
    for s in items[:2]:  # no speech: the pipeline gives these segments no audio
        s.audio, s.sample_rate = None, None
    results = calibrated.predict_samples(items, person=["p"] * 5)
    assert [r.baseline["audio"]["segments"] if "audio" in r.baseline else 0 for r in results] == [0, 0, 3, 3, 3]
    assert all(r.baseline["face"]["segments"] == 5 for r in results)


@pytest.mark.parametrize(
    ("by", "speech", "informs"),
    [("window", 1.0, False), ("window", BASELINE_SPEECH, True), ("speech", 1.0, True), ("subtitles", 0.5, True)],
)
def test_a_window_needs_more_speech_than_an_utterance_to_inform_a_voice(by, speech, informs):
    assert informs_of(Sample(meta={"segmented_by": by, "speech": speech})) == {"audio": informs}


def test_people_of_segments():
    assert people_of(Sample(meta={"face_track": 3})) == {"face": "face-3", "audio": "voice"}
    assert people_of(Sample(meta={"face_track": None}))["face"] is None


def two_people_clip(path, seconds_each=9, fps=4):
    """One person's face on the left, then (after an empty second) another's on the right."""
    frames = []
    for i in range(fps * (2 * seconds_each + 1)):
        image = np.full((240, 320, 3), 235, np.uint8)
        t = i / fps
        if t < seconds_each:
            draw_face(image, (90, 120), 60, smile=0.3 * np.sin(i))
        elif t >= seconds_each + 1:
            draw_face(image, (230, 120), 60, smile=-0.3 * np.sin(i))
        frames.append(image)
    return write_clip(path, frames, fps=fps)


def test_video_two_face_tracks_two_baselines(calibrated, tmp_path):
    clip = two_people_clip(tmp_path / "two.mp4")
    timeline = calibrated.predict_video(clip, asr="off", face_detector="haar", window=3, hop=3)
    faced = [s for s in timeline if "face" in s.present]
    first = [s for s in faced if s.end <= 9.0]
    second = [s for s in faced if s.start >= 9.0]
    assert len(first) >= 3 and len(second) >= 3
    assert {s.baseline["face"]["segments"] for s in first} == {len(first)}
    assert {s.baseline["face"]["segments"] for s in second} == {len(second)}
    assert timeline.meta["adapt"]["applied"] and timeline.meta["adapt"]["adapted"]["face"] == len(faced)
    frame = timeline.to_dataframe()
    assert (frame["adapted"].str.contains("face") == frame["present"].str.contains("face")).all()
    assert set(frame["baseline_face"]) <= {0, len(first), len(second)}
    plain = calibrated.predict_video(clip, asr="off", face_detector="haar", window=3, hop=3, adapt="off")
    assert plain.meta["adapt"] == {"mode": "off", "applied": False, "reason": "off"}
    assert all(not s.baseline for s in plain)


def test_video_adapt_checked():
    from mmempathy.media.config import VideoConfig

    with pytest.raises(InputError, match="adapt must be one of auto, off"):
        VideoConfig(adapt="on")


@pytest.fixture
def two_people(tmp_path):
    return two_people_clip(tmp_path / "two.mp4")


def test_live_baseline_after_a_warm_up(calibrated, two_people):
    live = list(calibrated.stream(two_people, realtime=False, window=3, hop=3, asr="off", face_detector="haar"))
    batch = calibrated.predict_video(two_people, window=3, hop=3, asr="off", face_detector="haar")
    first = [s for s in live if "face" in s.present and s.end <= 9.0]
    # the first person's first two segments are the warm-up; from the third on, a baseline of all so far
    assert [s.baseline.get("face", {}).get("segments", 0) for s in first] == [0, 0, 3]
    assert first[-1].probs == pytest.approx(batch[2].probs, abs=1e-5)  # all three seen: as the file reads it


def test_corpus_reads_each_file_against_its_people(calibrated, two_people, tmp_path):
    pytest.importorskip("pyarrow")
    from mmempathy.corpus import predict_corpus, read_corpus
    from mmempathy.media.config import VideoConfig

    config = VideoConfig(window=3, hop=3, asr="off", face_detector="haar")
    predict_corpus(calibrated, [two_people], tmp_path / "out.parquet", config=config, progress=False)
    rows = read_corpus(tmp_path / "out.parquet")
    timeline = calibrated.predict_video(two_people, config=config)
    assert list(rows["baseline_face"]) == [s.baseline.get("face", {}).get("segments", 0) for s in timeline]
    assert rows["p_anger"].to_numpy() == pytest.approx([s.probs["anger"] for s in timeline], abs=1e-5)


DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_ravdess = pytest.mark.skipif(not (DATA / "ravdess").is_dir(), reason="needs ../shared/data/ravdess")


@pytest.fixture(scope="module")
def lite():
    from mmempathy import EmotionFuser

    return EmotionFuser.from_pretrained("lite", device="cpu")


def recording(tmp_path, actor: int, pattern: str, dense: bool = True) -> Path:
    """One RAVDESS actor's clips of ``pattern`` back to back, as one recording (``dense``: each clip trimmed
    to its speech, as in talk without pauses; else with each clip's silences, a pause every 2 s)."""
    return benchmark("baseline_windows").recording(actor, pattern, tmp_path, dense)[0]


@pytest.mark.shared_data
@needs_ravdess
@pytest.mark.parametrize("actor", [19, 21])  # test actors whose anger the voice reads in most windows
def test_real_voice_angry_throughout_stays_angry(lite, tmp_path, actor):
    path = recording(tmp_path, actor, "03-01-05-*.flac")  # every angry clip of the actor
    plain = lite.predict_video(path, asr="off", adapt="off")
    adapted = lite.predict_video(path, asr="off")
    assert adapted.meta["adapt"]["applied"]
    angry = [sum(s.dominant == "anger" for s in t) for t in (plain, adapted)]
    assert angry[0] > len(plain) / 2 and angry[1] == angry[0]


@pytest.mark.shared_data
@needs_ravdess
def test_real_voice_varied_recording_is_adapted(lite, tmp_path):
    path = recording(tmp_path, 19, "03-01-0[1-8]-01-01-*.flac")  # one sentence in every emotion, twice
    adapted = lite.predict_video(path, asr="off")
    strengths = {s.baseline["audio"]["strength"] for s in adapted if "audio" in s.baseline}
    assert strengths == {1.0}


@pytest.mark.shared_data
@needs_ravdess
def test_real_voice_with_long_pauses_is_read_plainly_and_says_so(lite, tmp_path):
    """3-s windows over clips with their silences hold too little speech to inform a baseline."""
    path = recording(tmp_path, 19, "03-01-0[1-8]-01-01-*.flac", dense=False)
    adapted = lite.predict_video(path, asr="off")
    voiced = [s for s in adapted if "audio" in s.present]
    assert voiced and all(s.speech < BASELINE_SPEECH and "audio" not in s.baseline for s in voiced)
    assert adapted.meta["adapt"]["read_plainly"] == {"audio": len(voiced)}
