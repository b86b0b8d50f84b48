"""The adapter's anchor: a distillation prior that keeps the adapted model's predictions on replay
items close to the base model's, worth ``anchor`` corrections (so it gives way as corrections grow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mmempathy import EmotionFuser
from mmempathy.errors import ConfigError, InputError
from mmempathy.feedback import AdaptSettings, anchor_loss, base_logits, collate, encode_samples, train_adapter
from mmempathy.hub import load_preset
from mmempathy.sample import Sample


@pytest.fixture(scope="module")
def fuser():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = EmotionFuser(load_preset("tiny")["config"]).eval()
    for gate in model.fusion.gate.values():  # scores as a trained gate has them (it starts at zero: all alike,
        torch.nn.init.normal_(gate[-1].weight, std=0.5)  # which leaves this random model's readings near ties)
    model._warned_untrained = True
    return model


def encoded(fuser, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    samples = [
        Sample(text=f"item {seed} {i}", audio=(rng.standard_normal(8000) * 0.1).astype(np.float32), sample_rate=16000)
        for i in range(n)
    ]
    return encode_samples(fuser, samples)


@pytest.fixture(scope="module")
def data(fuser):
    """Corrections that all name one label the model never predicts for them, and replay items
    labelled with the base model's own predictions."""
    corr = encoded(fuser, 12, seed=1)
    replay = encoded(fuser, 40, seed=2)
    replay_pred = base_logits(fuser, [(e, 0) for e in replay]).argmax(-1).tolist()
    named = set(base_logits(fuser, [(e, 0) for e in corr]).argmax(-1).tolist())
    never = next(i for i in range(len(fuser.labels)) if i not in named)
    return [(e, never) for e in corr], [(e, y) for e, y in zip(replay, replay_pred)]


def drift(fuser, adapter, replay) -> tuple[float, float]:
    """KL(base || adapted) on the replay items, and the share of them whose predicted label changed."""
    base = base_logits(fuser, replay)
    fuser.use_adapter(adapter)
    with torch.no_grad():
        adapted = fuser.fuse(collate(replay, fuser.device)[0]).logits.float()
    fuser.use_adapter(None)
    temperature = float(fuser.temperatures[0])
    kl = float(anchor_loss(adapted / temperature, base / temperature, 1.0))
    return kl, float((adapted.argmax(-1) != base.argmax(-1)).float().mean())


def adapt(fuser, corrections, replay, **settings):
    adapter = train_adapter(fuser, corrections, replay, {"steps": 120, "replay_weight": 0.0, **settings})
    fuser.use_adapter(None)
    return adapter


@pytest.mark.parametrize("kind", ["calibration", "lora"])
def test_anchor_keeps_replay_predictions_near_the_base_model(fuser, data, kind):
    if kind == "lora":
        pytest.importorskip("peft")
    corrections, replay = data
    free = adapt(fuser, corrections, replay, kind=kind, anchor=0.0)
    held = adapt(fuser, corrections, replay, kind=kind, anchor=100.0)
    kl_free, flips_free = drift(fuser, free, replay)
    kl_held, flips_held = drift(fuser, held, replay)
    assert flips_free > 0.5, "without the anchor the corrections should move most replay predictions"
    assert kl_held < 0.2 * kl_free and flips_held < flips_free


def test_anchor_gives_way_as_corrections_accumulate(fuser, data):
    """The anchor is worth a fixed number of corrections: 2 corrections move the replay predictions
    less than 12 of the same kind."""
    corrections, replay = data
    few = adapt(fuser, corrections[:2], replay, anchor=10.0)
    many = adapt(fuser, corrections, replay, anchor=10.0)
    assert drift(fuser, few, replay)[0] < drift(fuser, many, replay)[0]


def test_anchor_loss_is_a_scaled_kl():
    base = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    assert float(anchor_loss(base, base, 3.0)) == pytest.approx(0.0, abs=1e-7)
    moved = base + torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    expected = (
        sum(float((p * (p.log() - q.log())).sum()) for p, q in zip((base / 2).softmax(-1), (moved / 2).softmax(-1)))
        / 2
        * 4
    )
    assert float(anchor_loss(moved, base, 2.0)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("field", [{"anchor": -1.0}, {"distill_temperature": 0.0}])
def test_bad_anchor_settings_are_refused(field):
    with pytest.raises((InputError, ConfigError)):
        AdaptSettings(**field)
