"""The trainer: learning, resuming, caching, LoRA, early stopping, schedules and metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_helpers import feature_fuser, feature_samples, raw_samples, tiny_fuser

from mmempathy import EmotionFuser
from mmempathy.errors import InputError
from mmempathy.metrics import classification_metrics, regression_metrics
from mmempathy.modality import Modality
from mmempathy.train import FeatureCache, LabelledCollate, TrainConfig, Trainer, apply_lora, merge_lora
from mmempathy.train.cache import PersonCentred, collate_cached, person_offsets
from mmempathy.train.schedule import lr_factor


def cfg(tmp_path, **kw) -> TrainConfig:
    base = {"output_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False, "seed": 0}
    return TrainConfig(**{**base, **kw})


def test_tiny_model_overfits_a_tiny_batch(tmp_path):
    fuser = tiny_fuser()
    data = raw_samples(4, n_labels=4)
    config = cfg(tmp_path, epochs=25, batch_size=4, lr_encoder=3e-3, lr_fusion=1e-2, warmup_ratio=0.0,
                 schedule="constant", weight_decay=0.0)  # fmt: skip
    before = {n: p.detach().clone() for n, p in fuser.named_parameters()}
    result = Trainer(fuser, config, data, data).fit()
    assert result.losses[0] > 1.0 and result.losses[-1] < 0.05, result.losses
    assert result.history[-1]["val_accuracy"] == 1.0
    for m in fuser.modalities:  # every encoder was trained end to end
        prefix = f"encoders.{m.value}."
        changed = any(not torch.equal(before[n], p) for n, p in fuser.named_parameters() if n.startswith(prefix))
        assert changed, m
    reloaded = EmotionFuser.from_pretrained(result.best_dir, device="cpu")
    assert reloaded.config.trained


def test_learned_tokens_biases_and_norms_are_not_decayed(tmp_path):
    fuser = tiny_fuser()
    groups = Trainer(fuser, cfg(tmp_path, weight_decay=0.1), raw_samples(2), raw_samples(2)).param_groups()
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    names = {n for n, p in fuser.named_parameters() if id(p) in decayed}
    tokens = fuser.no_weight_decay()
    assert any(n.endswith("null_kv") for n in tokens) and any("modality_embedding" in n for n in tokens)
    assert names and not names & tokens
    assert all(fuser.get_parameter(n).ndim > 1 for n in names)  # no bias or norm weight either


def state(fuser):
    return {k: v.clone() for k, v in fuser.state_dict().items()}


def test_resume_after_a_kill_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    data = feature_samples(20)
    kw = {"epochs": 3, "batch_size": 4, "grad_accum": 2, "save_every_steps": 1, "modality_dropout": 0.3}
    full = feature_fuser(dropout=0.2)
    ref = Trainer(full, cfg(tmp_path / "a", **kw), data, data[:6]).fit()
    assert ref.global_step == 9  # 5 micro-batches -> 3 steps per epoch

    def kill(trainer):
        if trainer.global_step == 4:  # the first step of epoch 2 was just saved
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(feature_fuser(dropout=0.2), cfg(tmp_path / "b", **kw), data, data[:6], callbacks=[kill]).fit()
    saved = json.loads((tmp_path / "b" / "run" / "last" / "trainer_state.json").read_text())["progress"]
    assert saved["global_step"] == 4 and saved["epoch"] == 1 and 0 < saved["micro"] < 5
    resumed_fuser = feature_fuser(dropout=0.2, seed=123)  # different initial weights: all must come from last/
    resumed = Trainer(resumed_fuser, cfg(tmp_path / "b", **kw), data, data[:6]).fit()
    assert resumed.losses == ref.losses
    for k, v in state(full).items():
        assert torch.equal(v, resumed_fuser.state_dict()[k]), k
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in ref.history]


def test_feature_cache_gives_the_uncached_outputs_and_losses(tmp_path):
    frozen = {"freeze": True}
    fuser = tiny_fuser(text=frozen, audio=frozen, face=frozen)
    data = raw_samples(6)
    data[1].text, data[2].faces = None, None  # missing modalities are cached as missing
    cache = FeatureCache(fuser, tmp_path / "cache", batch_size=3)
    cached = cache.build(data)
    assert cache.misses == 6 and len(cached) == 6
    fuser.eval()
    with torch.no_grad():
        direct = fuser(fuser.processor.collate(data))
        encoded, labels = collate_cached([cached[i] for i in range(6)])
        via_cache = fuser.fuse(encoded)
    assert labels.tolist() == [s.label for s in data]
    torch.testing.assert_close(via_cache.logits, direct.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(via_cache.weights, direct.weights, atol=1e-5, rtol=1e-5)
    again = FeatureCache(fuser, tmp_path / "cache")
    again.build(data)
    assert again.hits == 6 and again.misses == 0
    with torch.no_grad():
        fuser.encoders["text"].model.embeddings.word_embeddings.weight[0, 0] += 1.0
    assert FeatureCache(fuser, tmp_path / "cache").fingerprints[Modality.TEXT] != cache.fingerprints[Modality.TEXT]

    runs = {}
    for mode in ("auto", "off"):
        f = tiny_fuser(text=frozen, audio=frozen, face=frozen)
        c = cfg(tmp_path / mode, epochs=2, batch_size=3, feature_cache=mode, cache_dir=str(tmp_path / "c2"))
        runs[mode] = Trainer(f, c, data, data).fit()
    assert runs["auto"].used_cache and not runs["off"].used_cache
    np.testing.assert_allclose(runs["auto"].losses, runs["off"].losses, rtol=1e-5, atol=1e-6)


def test_person_centred_voices(tmp_path):
    frozen = {"freeze": True}
    fuser = tiny_fuser(text=frozen, audio=frozen, face=frozen)
    data = raw_samples(12)
    speakers = [i % 3 for i in range(12)]
    cache = FeatureCache(fuser, tmp_path / "cache")
    cached = cache.build(data)
    offsets, reference = person_offsets(cached, speakers, Modality.AUDIO)
    means = [torch.cat([cached[i][0][Modality.AUDIO][0] for i in range(who, 12, 3)]).mean(0) for who in range(3)]
    torch.testing.assert_close(reference, torch.stack(means).mean(0))
    file = [cached.files[i][Modality.AUDIO] for i in range(3)]
    for who in range(3):
        torch.testing.assert_close(offsets[file[who]], means[who] - reference)
    always, never = (PersonCentred(cached, Modality.AUDIO, offsets, p=p) for p in (1.0, 0.0))
    for i in range(3):
        raw = cached[i][0][Modality.AUDIO][0]
        torch.testing.assert_close(always[i][0][Modality.AUDIO][0], raw - offsets[file[i]])
        assert torch.equal(never[i][0][Modality.AUDIO][0], raw)
        assert torch.equal(always[i][0][Modality.TEXT][0], cached[i][0][Modality.TEXT][0])  # the voice alone
    half = PersonCentred(cached, Modality.AUDIO, offsets, p=0.5)
    draws = []
    for epoch in (0, 1):
        half.set_epoch(epoch)
        draws.append(
            [not torch.equal(half[i][0][Modality.AUDIO][0], cached[i][0][Modality.AUDIO][0]) for i in range(12)]
        )
    assert draws[0] != draws[1] and 0 < sum(draws[0]) < 12  # a fresh, seeded draw each epoch
    with pytest.raises(ValueError, match="p must be"):
        PersonCentred(cached, Modality.AUDIO, offsets, p=2)
    # the trainer takes data its caller cached as it is (no second cache)
    result = Trainer(
        fuser, cfg(tmp_path, epochs=2, batch_size=4, cache_dir=str(tmp_path / "other")), half, always
    ).fit()
    assert result.used_cache and not (tmp_path / "other").exists()


def test_lora_trains_only_adapters_and_saves_and_loads_identically(tmp_path):
    fuser = tiny_fuser()
    apply_lora(fuser, {"rank": 4})
    trainable = [n for n, p in fuser.named_parameters() if p.requires_grad and n.startswith("encoders.")]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[1] for n in trainable} == {"text", "audio", "face"}
    data = raw_samples(4)
    Trainer(fuser, cfg(tmp_path, epochs=2, batch_size=4, lr_encoder=1e-2), data).fit()
    assert any(p.abs().sum() > 0 for n, p in fuser.named_parameters() if "lora_B" in n)  # adapters moved
    fuser.eval()
    batch = fuser.processor.collate(data)
    with torch.no_grad():
        expected = fuser(batch).logits
    fuser.save_pretrained(tmp_path / "saved")
    loaded = EmotionFuser.from_pretrained(tmp_path / "saved", device="cpu")
    assert loaded.config.lora["rank"] == 4
    with torch.no_grad():
        assert torch.equal(loaded(batch).logits, expected)
        merged = merge_lora(loaded).eval()
        assert merged.config.lora is None and not any("lora_" in k for k in merged.state_dict())
        torch.testing.assert_close(merged(batch).logits, expected, atol=1e-5, rtol=1e-4)


def test_early_stopping_and_outputs(tmp_path):
    data = feature_samples(12)
    config = cfg(tmp_path, epochs=10, batch_size=4, lr_encoder=0.0, lr_fusion=0.0, patience=2, metric="accuracy",
                 plot=True, tensorboard=True)  # fmt: skip
    result = Trainer(feature_fuser(), config, data, data).fit()
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1
    out = tmp_path / "run"
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,train_loss") and len(lines) == 4
    assert (out / "curves.png").stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((out / "summary.json").read_text())["stopped_early"] is True
    again = Trainer(feature_fuser(), config, data, data).fit()  # a finished run resumes to nothing
    assert again.global_step == result.global_step and len(again.history) == 3


def test_regression_and_class_weights(tmp_path):
    data = feature_samples(24, task="regression")
    result = Trainer(feature_fuser(task="regression"), cfg(tmp_path, epochs=8, batch_size=8, lr_fusion=3e-3), data,
                     data).fit()  # fmt: skip
    assert result.history[-1]["val_mae"] < result.history[0]["val_mae"] and "val_corr" in result.history[0]
    skewed = feature_samples(12)[:9]  # labels 0,1,2,0,1,2,0,1,2 -> drop two 2s
    skewed = [s for s in skewed if s.label != 2][:6] + [skewed[2]]
    trainer = Trainer(feature_fuser(), cfg(tmp_path / "w", class_weight="balanced"), skewed)
    weight = trainer.class_weight()
    assert weight[2] > weight[0] and torch.allclose(weight[0], weight[1])
    with pytest.raises(ValueError, match="classification"):
        Trainer(feature_fuser(task="regression"), cfg(tmp_path, metric="accuracy"), data)


def test_unlabelled_samples_raise_or_are_skipped(tmp_path):
    data = feature_samples(3)
    data[1].label = None
    fuser = feature_fuser()
    with pytest.raises(InputError, match="no label"):
        LabelledCollate(fuser.processor)(data)
    batch, labels = LabelledCollate(fuser.processor, skip_unlabelled=True)(data)
    assert labels.tolist() == [0, 2] and batch[Modality.AUDIO]["features"].shape[0] == 2


def test_schedule_warms_up_then_decays():
    f = [lr_factor(s, total=100, warmup=10, schedule="cosine", floor=0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] == pytest.approx(0.1, abs=1e-3)
    assert lr_factor(50, total=100, warmup=0, schedule="constant", floor=0.0) == 1.0


def test_metrics_match_scikit_learn(rng):
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    y, p = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    p[:60] = y[:60]
    ours = classification_metrics(torch.tensor(p), torch.tensor(y), 5)
    assert ours["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert ours["f1_weighted"] == pytest.approx(f1_score(y, p, average="weighted"), abs=1e-6)
    assert ours["f1_macro"] == pytest.approx(f1_score(y, p, average="macro"), abs=1e-6)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    reg = regression_metrics(torch.tensor(a), torch.tensor(b))
    assert reg["mae"] == pytest.approx(mean_absolute_error(b, a), abs=1e-5)
    assert reg["corr"] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-5)


def test_train_config_rejects_bad_values_and_round_trips(tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    path = tmp_path / "t.yaml"
    path.write_text("train:\n  epochs: 4\n  lora: {rank: 2}\n")
    assert TrainConfig.from_file(path) == TrainConfig(epochs=4, lora={"rank": 2})


def test_fingerprint_handles_scalar_buffers():
    from mmempathy.train.cache import encoder_fingerprint

    fuser = feature_fuser()
    before = encoder_fingerprint(fuser, Modality.AUDIO)
    fuser.encoders["audio"].register_buffer("num_batches_tracked", torch.tensor(3))  # as in BatchNorm
    assert encoder_fingerprint(fuser, Modality.AUDIO) != before
