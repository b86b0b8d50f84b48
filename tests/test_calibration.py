"""Calibration: temperatures and gate biases fitted on dev data, applied, saved and reloaded."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mmempathy import EmotionFuser, Modality, Sample
from mmempathy.calibration import (
    collect_outputs,
    fit_calibration,
    fit_class_bias,
    fit_gate_bias,
    fit_temperature,
    select_modalities,
)
from mmempathy.hub import load_preset
from mmempathy.metrics import expected_calibration_error
from mmempathy.output import incongruity


def test_temperature_recovers_a_known_scale():
    """Labels drawn from softmax(z); the model reports 3 z: the fitted temperature is about 3."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4000, 5, generator=gen) * 2
    labels = torch.multinomial(z.softmax(-1), 1, generator=gen).squeeze(-1)
    t = fit_temperature(3 * z, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error((3 * z).softmax(-1), labels)
    after = expected_calibration_error((3 * z / t).softmax(-1), labels)
    assert after < before / 2


def test_class_bias_recovers_a_known_prior_and_the_model_applies_it(tiny):
    """Labels drawn from softmax(z + prior); a head that reports z alone gets the prior back (up to a
    constant), and the model adds it to that head's calibrated logits: its own reading and the fused one."""
    gen = torch.Generator().manual_seed(0)
    prior = torch.tensor([1.5, 0.0, -0.5, -1.0])
    z = torch.randn(6000, 4, generator=gen)
    labels = torch.multinomial((z + prior).softmax(-1), 1, generator=gen).squeeze(-1)
    bias = torch.tensor(fit_class_bias(z, labels))
    assert bias.sum().abs() < 1e-5
    torch.testing.assert_close(bias, prior - prior.mean(), atol=0.1, rtol=0)
    model = copy.deepcopy(tiny)
    text = "I can't believe it"
    before = model.predict(text=text)
    shift = [0.0] * len(model.labels)
    shift[model.labels.index("neutral")] = 3.0
    model.set_calibration({"class_bias": {"text": shift}})
    after = model.predict(text=text)
    assert after.modalities["text"]["neutral"] > before.modalities["text"]["neutral"]
    expected = np.log(list(before.modalities["text"].values())) + np.array(shift)
    expected = np.exp(expected - expected.max()) / np.exp(expected - expected.max()).sum()
    assert list(after.modalities["text"].values()) == pytest.approx(expected.tolist(), abs=1e-5)
    assert after.probs == pytest.approx(after.modalities["text"], abs=1e-5)  # one modality: the fused answer too
    with pytest.raises(ValueError, match="class_bias"):
        model.set_calibration({"class_bias": {"text": [1.0]}})
    with pytest.raises(ValueError, match="class_bias"):
        model.set_calibration({"class_bias": {"voice": shift}})


def test_gate_bias_moves_weight_to_the_reliable_modality():
    """Two modalities with equal gate weights: one is right, the other is confidently random."""
    gen = torch.Generator().manual_seed(0)
    n, c = 400, 4
    labels = torch.randint(0, c, (n,), generator=gen)
    good = torch.nn.functional.one_hot(labels, c).float() * 3
    bad = torch.nn.functional.one_hot(torch.randint(0, c, (n,), generator=gen), c).float() * 3
    weights = torch.full((n, 2), 0.5)
    present = torch.ones(n, 2, dtype=torch.bool)
    lp = torch.stack([good.log_softmax(-1), bad.log_softmax(-1)], 1)
    logits = torch.einsum("b m, b m c -> b c", weights, lp)
    outputs = {
        "labels": labels,
        "logits": logits,
        "weights": weights,
        "present": present,
        "modality_logits": {"text": good, "audio": bad},
    }
    bias = fit_gate_bias(outputs, ["text", "audio"], {"text": 1.0, "audio": 1.0})
    assert bias["text"] > bias["audio"] + 1.0


@pytest.fixture(scope="module")
def dev_samples():
    rng = np.random.default_rng(0)
    words = ["great", "awful", "fine", "scary", "wow", "ugh", "calm"]
    return [
        Sample(
            text=words[i % 7],
            audio=rng.normal(size=8000).astype(np.float32) * 0.1,
            sample_rate=16000,
            faces=rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
            label=i % 7,
        )
        for i in range(42)
    ]


def test_fit_calibration_applies_saves_and_reloads(dev_samples, tmp_path):
    torch.manual_seed(0)
    model = EmotionFuser(load_preset("tiny")["config"]).eval()
    model.config.trained = True
    calibration = fit_calibration(model, dev_samples, batch_size=16)
    names = {"fused", *(m.value for m in model.modalities)}
    assert set(calibration["temperature"]) == names
    assert set(calibration["gate_bias"]) == {m.value for m in model.modalities}
    assert model.config.calibration == calibration
    assert all(t > 0 for t in calibration["temperature"].values())
    # the temperatures are really applied: a modality's reported distribution is softmax(logits / T)
    out = collect_outputs(model, dev_samples[:4])
    got = model.predict_samples(dev_samples[:4])
    t_text = calibration["temperature"]["text"]
    want = (out["modality_logits"]["text"] / t_text).softmax(-1).numpy()
    assert [r.modalities["text"][model.labels[0]] for r in got] == pytest.approx(want[:, 0].tolist(), abs=1e-4)
    model.save_pretrained(tmp_path / "ckpt")
    again = EmotionFuser.from_pretrained(tmp_path / "ckpt", device="cpu")
    assert again.config.calibration == calibration
    assert again.predict_samples(dev_samples[:4])[0].probs == pytest.approx(got[0].probs, abs=1e-5)


def test_excluded_modality_keeps_its_own_answer_and_has_no_say(dev_samples):
    torch.manual_seed(0)
    model = EmotionFuser(load_preset("tiny")["config"]).eval()
    model.set_calibration({"exclude": ["face"]})
    s = dev_samples[0]
    both = model.predict(text=s.text, audio=s.audio, sample_rate=16000, faces=s.faces)
    without = model.predict(text=s.text, audio=s.audio, sample_rate=16000)
    assert "face" in both.present and both.weights["face"] == 0.0 and "face" in both.modalities
    assert both.probs == pytest.approx(without.probs, abs=1e-5)
    alone = model.predict(faces=s.faces)  # nothing else to go on: the face still decides
    model.set_calibration(None)
    assert alone.probs == pytest.approx(model.predict(faces=s.faces).probs, abs=1e-5)
    with pytest.raises(ValueError, match="does not have"):
        model.set_calibration({"exclude": ["smell"]})


def test_selection_excludes_modalities_that_hurt_on_dev(dev_samples):
    """Dev labels are the text head's own answers: text alone is right on every item, so the
    subset search keeps text and the fused dev accuracy reaches the best head's."""
    torch.manual_seed(0)
    model = EmotionFuser(load_preset("tiny")["config"]).eval()
    model.config.trained = True
    text_answers = collect_outputs(model, dev_samples)["modality_logits"]["text"].argmax(-1)
    relabelled = [Sample(text=s.text, audio=s.audio, sample_rate=16000, faces=s.faces, label=int(y))
                  for s, y in zip(dev_samples, text_answers)]  # fmt: skip
    fused_before = collect_outputs(model, relabelled)
    assert (fused_before["logits"].argmax(-1) == text_answers).float().mean() < 1.0  # the others do hurt
    assert set(select_modalities(model, relabelled, {})) == {"audio", "face"}
    fit_calibration(model, relabelled, batch_size=16)  # sharper text temperature, biases, then the search
    after = collect_outputs(model, relabelled)
    assert bool((after["logits"].argmax(-1) == text_answers).all())


def test_bad_calibration_is_refused():
    model = EmotionFuser(load_preset("tiny")["config"])
    with pytest.raises(ValueError, match="positive"):
        model.set_calibration({"temperature": {"text": 0.0}})
    with pytest.raises(ValueError, match="unknown"):
        model.set_calibration({"temperatures": {}})


def test_single_modality_late_fusion_is_that_modality(tiny, wave):
    """With one modality and no correction, the fused distribution equals that head's (same argmax)."""
    assert tiny.late and tiny.correction_scale.item() == 0.0
    r = tiny.predict(audio=wave, sample_rate=16000)
    assert r.probs == pytest.approx(r.modalities["audio"], abs=1e-5)
    assert r.incongruity == 0.0


def test_incongruity_bounds():
    assert incongruity([[0.2, 0.8]]) == 0.0
    assert incongruity([[1, 0, 0], [0, 1, 0], [0, 0, 1]]) == pytest.approx(1.0)
    assert 0 < incongruity([[0.7, 0.3], [0.4, 0.6]]) < 0.2
    assert incongruity([[0.5, 0.5], [0.5, 0.5]]) == pytest.approx(0.0, abs=1e-9)


def test_result_reports_incongruity(tiny, wave, face_crops):
    r = tiny.predict(text="so happy", audio=wave, sample_rate=16000, faces=face_crops)
    assert 0.0 <= r.incongruity <= 1.0
    assert r.incongruity == pytest.approx(incongruity([list(d.values()) for d in r.modalities.values()]), abs=1e-6)
    assert r.to_dict()["incongruity"] == r.incongruity
    assert Modality.TEXT.value in r.modalities


def test_cached_outputs_match_raw_and_encode_each_input_once(dev_samples, tmp_path):
    """Evaluating on cached encoder outputs gives the raw model's outputs; repeated inputs are encoded once."""
    from mmempathy.bench.evaluate import predict
    from mmempathy.train import FeatureCache

    torch.manual_seed(0)
    config = load_preset("tiny")["config"]
    for part in ("text", "audio", "face"):
        config[part]["freeze"] = True
    model = EmotionFuser(config).eval()
    repeated = dev_samples[:6] + dev_samples[:6]
    cache = FeatureCache(model, tmp_path / "cache")
    cached = cache.build(repeated)
    files = {f for item in cached.files for f in item.values()}
    assert len(files) == 6 * 3  # six distinct items, three modalities each
    raw, fast = (
        predict(model, repeated, batch_size=4, num_workers=0),
        predict(model, cached, batch_size=4, num_workers=0),
    )
    for key in ("fused", "text", "audio", "face", "weights"):
        np.testing.assert_allclose(raw[key], fast[key], atol=1e-5)
