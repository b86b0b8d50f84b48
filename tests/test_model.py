"""EmotionFuser end to end on the tiny preset: shapes, subsets, gradients, save/load."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from mmempathy import CheckpointError, EmotionFuser, Modality, Sample
from mmempathy.hub import load_preset


def subsets():
    mods = list(Modality)
    return [c for r in (1, 2, 3) for c in itertools.combinations(mods, r)]


def sample_with(mods, wave, face_crops) -> Sample:
    return Sample(
        text="I can't believe you did that!" if Modality.TEXT in mods else None,
        audio=wave if Modality.AUDIO in mods else None,
        sample_rate=16000,
        faces=face_crops if Modality.FACE in mods else None,
    )


@pytest.mark.parametrize("mods", subsets(), ids=lambda c: "+".join(m.value for m in c))
def test_every_subset_gives_a_distribution(tiny, wave, face_crops, mods):
    result = tiny.predict_samples([sample_with(mods, wave, face_crops)])[0]
    assert set(result.probs) == set(tiny.labels)
    assert sum(result.probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.present == [m.value for m in mods]
    assert set(result.modalities) == {m.value for m in mods}
    for dist in result.modalities.values():
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(result.weights) == {m.value for m in mods}
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-5)


def test_forward_shapes_and_absent_weights(tiny, wave, face_crops):
    samples = [sample_with(list(Modality), wave, face_crops), Sample(text="only words here")]
    batch = tiny.processor.collate(samples)
    out = tiny(batch)
    assert out.logits.shape == (2, 7) and out.probs.shape == (2, 7)
    assert out.weights.shape == (2, 3) and out.present.tolist() == [[True, True, True], [True, False, False]]
    assert out.weights[1].tolist() == [1.0, 0.0, 0.0]
    assert torch.isfinite(out.logits).all()
    assert {m: t.shape for m, t in out.modality_logits.items()} == {m: (2, 7) for m in Modality}


@pytest.fixture(scope="module")
def lite():
    return EmotionFuser.from_pretrained("lite")


@pytest.mark.parametrize("name", ["tiny", "lite"])
def test_batch_equals_single_items(name, request, wave, face_crops):
    """Padding and missing modalities of other items must not change an item's prediction: on the random
    tiny model and on the shipped one (MiniLM, Whisper's encoder, the face CNN, its calibration)."""
    model = request.getfixturevalue(name)
    samples = [
        sample_with(list(Modality), wave, face_crops),
        Sample(text="a much longer sentence than the other one, with many more tokens in it"),
        Sample(audio=np.tile(wave, 3), sample_rate=16000, faces=face_crops[:1]),  # 3 s: longer than the others
        Sample(audio=wave[:8000], sample_rate=16000),
    ]
    batched = model.predict_samples(samples, batch_size=len(samples))
    for sample, together in zip(samples, batched):
        alone = model.predict_samples([sample])[0]
        assert together.present == alone.present
        for label in model.labels:
            assert together.probs[label] == pytest.approx(alone.probs[label], abs=1e-4)
        for m in together.modalities:
            assert together.modalities[m] == pytest.approx(alone.modalities[m], abs=1e-4)


def test_predict_batch_api_matches_samples(tiny, wave):
    results = tiny.predict(text=["so happy", None], audio=[None, wave], sample_rate=16000)
    assert [r.present for r in results] == [["text"], ["audio"]]
    assert results[0].probs == pytest.approx(tiny.predict(text="so happy").probs, abs=1e-5)


def test_gradients_reach_every_part(wave, face_crops):
    model = EmotionFuser(load_preset("tiny")["config"]).train()
    assert model.late and model.correction_scale.item() == 0.0  # late fusion starts as the heads' mixture
    with torch.no_grad():  # as after a first optimizer step: the correction path then gets gradients too
        model.correction_scale.fill_(0.5)
    batch = model.processor.collate([sample_with(list(Modality), wave, face_crops)] * 2)
    out = model(batch, labels=torch.tensor([0, 3]))
    out.loss.backward()
    assert model.correction_scale.grad is not None
    for part in (
        "encoders.text",
        "encoders.audio",
        "encoders.face",
        "fusion.blocks",
        "fusion.gate.",
        "fusion.gate_confidence",
        "head.",
        "heads.text",
        "heads.audio",
        "heads.face",
    ):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(part) and p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), part


def test_save_load_identical(tiny, tmp_path, wave, face_crops):
    tiny.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors", "tokenizer"]
    loaded = EmotionFuser.from_pretrained(tmp_path / "ckpt", device="cpu")
    loaded._warned_untrained = True
    sample = sample_with(list(Modality), wave, face_crops)
    a, b = tiny.predict_samples([sample])[0], loaded.predict_samples([sample])[0]
    assert a.probs == b.probs and a.weights == b.weights and a.modalities == b.modalities


def test_checkpoint_missing_files(tiny, tmp_path):
    tiny.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="lacks model.safetensors"):
        EmotionFuser.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"), [("dim", 48, "shape mismatch"), ("depht", 3, "depht")], ids=["shape", "typo"]
)
def test_checkpoint_config_that_does_not_match(tiny, tmp_path, field, value, message):
    tiny.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["config"]["fusion"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        EmotionFuser.from_pretrained(tmp_path)


def test_unknown_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="neither a local directory, nor a preset"):
        EmotionFuser.from_pretrained("nobody/no-such-model")


def test_untrained_weights_warn():
    model = EmotionFuser(load_preset("tiny")["config"])
    with pytest.warns(UserWarning, match="untrained"):
        model.predict(text="hello")


def test_modality_dropout_keeps_one_modality(wave, face_crops):
    config = load_preset("tiny")["config"]
    config["fusion"]["modality_dropout"] = 0.9
    model = EmotionFuser(config).train()
    batch = model.processor.collate([sample_with(list(Modality), wave, face_crops)] * 16)
    torch.manual_seed(0)
    out = model(batch)
    kept = (out.weights > 0).sum(-1)
    assert kept.min() >= 1 and kept.float().mean() < 2.0  # most modalities were hidden, never all


def test_regression_task_returns_values(wave):
    config = load_preset("tiny")["config"]
    config.update(task="regression", labels=["valence", "arousal"])
    model = EmotionFuser(config).train()
    batch = model.processor.collate([Sample(text="fine", audio=wave, sample_rate=16000)] * 2)
    out = model(batch, labels=torch.tensor([[0.5, -0.2], [1.0, 0.0]]))
    assert out.probs.shape == (2, 2) and out.loss.ndim == 0
    np.testing.assert_allclose(out.probs.detach().numpy(), out.logits.detach().numpy())


def test_external_frozen_encoder_stays_out_of_checkpoints(tmp_path, wave):
    """A frozen encoder marked external reloads from its source; the checkpoint holds only the rest."""
    config = load_preset("tiny")["config"]
    config["text"] = {"kind": "hf", "name": "all-MiniLM-L6-v2", "freeze": True, "unfreeze_top": 1, "external": True}
    model = EmotionFuser(config)
    model.config.trained = True
    with torch.no_grad():  # stands in for training: the top layer and the heads change
        for p in model.encoders["text"].layers[-1].parameters():
            p.add_(0.01)
    model.encoders.requires_grad_(False)  # as in fusion-only training: the config still decides what is stored
    model.save_pretrained(tmp_path, dtype=torch.float16)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "model.safetensors"))
    assert not any(k.startswith("encoders.text.model.embeddings") for k in stored)
    assert any(k.startswith("encoders.text.model.encoder.layer.5.") for k in stored)
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    loaded = EmotionFuser.from_pretrained(tmp_path, device="cpu")
    sample = Sample(text="what a day", audio=wave, sample_rate=16000)
    a, b = model.eval().predict_samples([sample])[0], loaded.predict_samples([sample])[0]
    assert a.probs == pytest.approx(b.probs, abs=2e-3)


def test_modality_loss_counts_only_items_that_have_the_modality(wave):
    from mmempathy.model import compute_loss

    model = EmotionFuser(load_preset("tiny")["config"]).eval()
    out = model(model.processor.collate([Sample(text="hi", audio=wave, sample_rate=16000), Sample(text="yo")]))
    labels = torch.tensor([2, 5])
    ce = torch.nn.functional.cross_entropy
    text_loss = ce(out.modality_logits[Modality.TEXT], labels)
    audio_loss = ce(out.modality_logits[Modality.AUDIO][:1], labels[:1])  # the second item has no audio
    expected = ce(out.logits, labels) + 0.5 * (text_loss + audio_loss) / 2
    got = compute_loss(out, labels, task="classification", aux_weight=0.5)
    torch.testing.assert_close(got, expected)
