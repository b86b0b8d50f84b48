"""The mmempathy.rl environment: spaces, check_env, seeding, reward arithmetic, baselines, a dialogue set
built by the model, and short training that beats random on the toy task."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

import mmempathy.rl  # noqa: E402  (registers the id)
from mmempathy.errors import InputError  # noqa: E402
from mmempathy.rl.env import DialogueSet, EmpathyDialogueEnv  # noqa: E402
from mmempathy.rl.policies import (  # noqa: E402
    ConsultAllPolicy,
    MajorityPolicy,
    RandomPolicy,
    TextPolicy,
    evaluate,
    fit_threshold_policy,
)


def tiny_set() -> DialogueSet:
    """Two dialogues (3 and 2 turns), labels a/b/c, text and one consultable modality."""
    text = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]], np.float32)
    audio = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.2, 0.6], [0.1, 0.1, 0.8]], np.float32)
    return DialogueSet(
        labels=("a", "b", "c"),
        probs={"text": text, "audio": audio},
        features=np.arange(10, dtype=np.float32).reshape(5, 2),
        targets=np.array([1, 1, 0, 2, 2]),
        speakers=np.array([0, 1, 1, 0, 1]),
        offsets=np.array([0, 3, 5]),
    )


def test_registered_env_passes_check_env():
    from gymnasium.utils.env_checker import check_env

    env = gym.make(mmempathy.rl.ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    assert env.action_space.n == 7 + 2 and env.observation_space.shape == (7 + 4 + 2 * 8 + 2 * 7 + 2,)


def test_spaces_and_observation_layout():
    env = EmpathyDialogueEnv(tiny_set(), cost=0.1)
    assert env.action_space.n == 4 and env.observation_space.shape == (3 + 2 + 4 + 6 + 2,)
    obs, info = env.reset(options={"dialogue": 0})
    assert info == {"dialogue": 0, "turn": 0, "target": 1, "consulted": []}
    np.testing.assert_allclose(obs[:3], [0.6, 0.3, 0.1])
    np.testing.assert_allclose(obs[3:5], [0, 1])
    np.testing.assert_allclose(obs[5:9], [0, 0, 0, 0])  # audio not consulted
    np.testing.assert_allclose(obs[9:15], [1 / 3] * 6)  # no past yet
    np.testing.assert_allclose(obs[15:], [0, 0])


def test_reward_arithmetic_and_episode_end():
    env = EmpathyDialogueEnv(tiny_set(), cost=0.1)
    obs, _ = env.reset(options={"dialogue": 0})
    obs, r, term, trunc, info = env.step(3)  # consult audio
    assert r == pytest.approx(-0.1) and not term and info["consulted"] == ["audio"]
    np.testing.assert_allclose(obs[5:9], [0.1, 0.8, 0.1, 1.0])
    obs, r, term, trunc, info = env.step(1)  # correct
    assert r == 1.0 and info["correct"] and info["named"] == 1 and not term
    expected = np.array([0.06, 0.24, 0.01]) / 0.31  # belief of turn 0: text x audio, normalised
    np.testing.assert_allclose(obs[9:12], expected, rtol=1e-5)  # past mean
    np.testing.assert_allclose(obs[15:], [1 / 3, 0.0])  # turn 1 of 3, another speaker
    obs, r, term, trunc, info = env.step(2)  # wrong (truth b)
    assert r == 0.0 and not info["correct"]
    obs, r, term, trunc, info = env.step(0)  # correct; the dialogue ends
    assert r == 1.0 and term and not trunc
    assert obs.shape == env.observation_space.shape


def test_consults_are_bounded_by_truncation():
    env = EmpathyDialogueEnv(tiny_set(), cost=0.05)
    env.reset(options={"dialogue": 1})
    total, trunc, steps = 0.0, False, 0
    while not trunc:
        _, r, term, trunc, _ = env.step(3)
        total, steps = total + r, steps + 1
        assert not term
    assert steps == 2 * (1 + 2) and total == pytest.approx(-0.05 * steps)


def test_seeded_reset_and_steps_are_deterministic():
    def rollout(seed: int) -> list:
        env = gym.make(mmempathy.rl.ENV_ID)
        obs, info = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [(obs.tobytes(), info["dialogue"])]
        for _ in range(30):
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            out.append((obs.tobytes(), r, term))
            if term or trunc:
                obs, info = env.reset()
                out.append((obs.tobytes(), info["dialogue"]))
        return out

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


def test_bad_inputs():
    env = EmpathyDialogueEnv(tiny_set())
    env.reset()
    with pytest.raises(InputError, match="outside"):
        env.step(9)
    with pytest.raises(InputError, match="dialogue 5"):
        env.reset(options={"dialogue": 5})
    with pytest.raises(InputError, match="costs"):
        EmpathyDialogueEnv(tiny_set(), cost={"face": 0.1})
    data = tiny_set()
    with pytest.raises(InputError, match="offsets"):
        DialogueSet(data.labels, data.probs, data.features, data.targets, data.speakers, np.array([0, 3, 3, 5]))


def test_save_load_round_trip(tmp_path):
    data = tiny_set()
    again = DialogueSet.load(data.save(tmp_path / "d.safetensors"))
    assert again.labels == data.labels and again.consultable == ["audio"]
    for key in ("features", "targets", "speakers", "offsets"):
        np.testing.assert_array_equal(getattr(again, key), getattr(data, key))
    env = gym.make(mmempathy.rl.ENV_ID, dialogues=tmp_path / "d.safetensors")
    assert env.action_space.n == 4


def test_baselines_on_the_toy_task():
    env = EmpathyDialogueEnv(DialogueSet.synthetic(60, seed=1), cost=0.05)
    random = evaluate(env, RandomPolicy(env, seed=0))
    text, allc = evaluate(env, TextPolicy(env)), evaluate(env, ConsultAllPolicy(env))
    majority = evaluate(env, MajorityPolicy(0))
    assert allc["consults_per_turn"] == 2.0 and allc["cost_per_turn"] == pytest.approx(0.1)
    assert text["consults_per_turn"] == 0.0
    assert allc["accuracy"] > text["accuracy"] > random["accuracy"]
    assert majority["weighted_f1"] < text["weighted_f1"]
    policy, fitted = fit_threshold_policy(env)
    learned = evaluate(env, policy)
    assert learned["reward"] >= max(text["reward"], allc["reward"]) - 1e-9  # it can always choose either extreme
    assert set(fitted["order"]) == {"audio", "face"}


@pytest.mark.slow
def test_short_ppo_run_beats_random_on_toy_task():
    torch = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    torch.set_num_threads(1)
    toy = {"labels": ("a", "b", "c"), "strength": (4.0, 4.0, 4.0)}
    train = gym.make(mmempathy.rl.ENV_ID, dialogues=DialogueSet.synthetic(40, seed=0, **toy))
    model = sb3.PPO(
        "MlpPolicy", train, seed=0, n_steps=256, batch_size=64, n_epochs=4, learning_rate=3e-3, device="cpu",
        policy_kwargs={"net_arch": [32]},
    )  # fmt: skip
    model.set_logger(sb3.common.logger.Logger(folder=None, output_formats=[]))  # no SB3-<time> folder in /tmp
    model.learn(2048)
    test = EmpathyDialogueEnv(DialogueSet.synthetic(40, seed=1, **toy))  # other dialogues
    learned = evaluate(test, lambda obs: int(model.predict(obs, deterministic=True)[0]))
    random = evaluate(test, RandomPolicy(test, seed=0))
    assert learned["reward"] > random["reward"] + 1.0


def test_dialogue_set_from_the_model(tiny):
    from mmempathy.rl.data import build_dialogue_set, fit_projection, modality_pool, readings
    from mmempathy.sample import Sample

    rng = np.random.default_rng(0)
    metas = [{"dialogue": i // 3, "utterance": i % 3, "speaker": "ab"[i % 2]} for i in range(9)]
    lines = [Sample(text=f"line {i}", label=i % 7, meta=meta) for i, meta in enumerate(metas)]
    voices = [Sample(audio=(rng.standard_normal(8000) * 0.1).astype(np.float32), sample_rate=16000, label=i % 7)
              for i in range(7)]  # fmt: skip
    pool = modality_pool(tiny, voices, "audio")
    _, pooled = readings(tiny, lines, "text")
    data = build_dialogue_set(tiny, lines[::-1], {"audio": pool}, projection=fit_projection(pooled, 3))
    assert len(data) == 3 and data.offsets.tolist() == [0, 3, 6, 9] and data.features.shape == (9, 3)
    assert data.targets.tolist() == [i % 7 for i in range(9)]  # sorted back into dialogue order
    assert data.speakers.tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0]
    for i, y in enumerate(data.targets):  # each consult is the reading of a pool voice of the same label
        assert any(np.allclose(data.probs["audio"][i], pool[0][j]) for j in np.flatnonzero(pool[1] == y))
    np.testing.assert_allclose(data.probs["text"].sum(1), 1.0, rtol=1e-5)
    env = EmpathyDialogueEnv(data)
    assert env.reset(seed=0)[0].shape == env.observation_space.shape
