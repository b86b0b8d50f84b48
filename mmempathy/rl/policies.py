"""Baseline policies for :class:`~mmempathy.rl.env.EmpathyDialogueEnv`, and their evaluation.

Every policy maps an observation to an action (``policy(obs) -> int``), reading the observation's
layout from the environment:

* :class:`RandomPolicy`: uniform over all actions (names and consults);
* :class:`MajorityPolicy`: always names one label (the training set's most frequent);
* :class:`TextPolicy`: names the text head's top label, never consults (the supervised text classifier);
* :class:`ConsultAllPolicy`: consults every modality once, then names the top label of the turn's
  belief (the supervised late fusion with every modality, at full cost).

:func:`evaluate` plays whole dialogues and reports the mean episode reward, weighted F1, accuracy and
consult cost per turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mmempathy.rl.env import EmpathyDialogueEnv, belief

Policy = Callable[[np.ndarray], int]


class Layout:
    """Where the parts of an observation are (see the env's docstring)."""

    def __init__(self, env: EmpathyDialogueEnv) -> None:
        env = env.unwrapped
        self.c, self.e, self.modalities = env.n_labels, env.data.features.shape[1], env.modalities
        self.text = slice(0, self.c)
        start = self.c + self.e
        self.probs, self.flags = {}, {}
        for m in self.modalities:
            self.probs[m] = slice(start, start + self.c)
            self.flags[m] = start + self.c
            start += self.c + 1

    def belief(self, obs: np.ndarray) -> np.ndarray:
        parts = [obs[self.text]] + [obs[self.probs[m]] for m in self.modalities if obs[self.flags[m]] > 0.5]
        return belief(parts)


class RandomPolicy:
    def __init__(self, env: EmpathyDialogueEnv, seed: int = 0) -> None:
        self.n, self.rng = env.action_space.n, np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray) -> int:
        return int(self.rng.integers(self.n))


class MajorityPolicy:
    def __init__(self, label: int) -> None:
        self.label = int(label)

    def __call__(self, obs: np.ndarray) -> int:
        return self.label


class TextPolicy:
    def __init__(self, env: EmpathyDialogueEnv) -> None:
        self.layout = Layout(env)

    def __call__(self, obs: np.ndarray) -> int:
        return int(np.argmax(obs[self.layout.text]))


class ConsultAllPolicy:
    def __init__(self, env: EmpathyDialogueEnv) -> None:
        self.layout = Layout(env)

    def __call__(self, obs: np.ndarray) -> int:
        for i, m in enumerate(self.layout.modalities):
            if obs[self.layout.flags[m]] < 0.5:
                return self.layout.c + i
        return int(np.argmax(self.layout.belief(obs)))


def evaluate(env: EmpathyDialogueEnv, policy: Policy, *, episodes: int | None = None) -> dict[str, Any]:
    """Play ``episodes`` dialogues (default: each once, in order) and score them.

    Returns:
        ``reward`` (mean episode reward) and ``reward_std`` (over episodes), ``weighted_f1`` and
        ``accuracy`` (%, over every named turn), ``cost_per_turn`` and ``consults_per_turn``.
    """
    from sklearn.metrics import f1_score

    base = env.unwrapped
    episodes = len(base.data) if episodes is None else episodes
    rewards, named, truth, cost, consults = [], [], [], 0.0, 0
    for d in range(episodes):
        obs, info = env.reset(options={"dialogue": d % len(base.data)})
        total, done = 0.0, False
        while not done:
            action = int(policy(obs))
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            if "named" in info:
                named.append(info["named"])
                truth.append(info["target"])
            else:
                cost -= reward
                consults += 1
            done = terminated or truncated
        rewards.append(total)
    turns = max(len(named), 1)
    return {
        "reward": float(np.mean(rewards)),
        "reward_std": float(np.std(rewards)),
        "weighted_f1": 100.0 * float(f1_score(truth, named, average="weighted", zero_division=0)) if named else 0.0,
        "accuracy": 100.0 * float(np.mean(np.asarray(named) == np.asarray(truth))) if named else 0.0,
        "cost_per_turn": cost / turns,
        "consults_per_turn": consults / turns,
        "episodes": episodes,
    }


class ThresholdPolicy:
    """Consult the next modality (in ``order``) while the turn's belief is less sure than that stage's
    threshold; then name the belief's top label. Two numbers, fitted by :func:`fit_threshold_policy`."""

    def __init__(self, env: EmpathyDialogueEnv, order: list[str], thresholds: list[float]) -> None:
        self.layout, self.order, self.thresholds = Layout(env), list(order), list(thresholds)

    def __call__(self, obs: np.ndarray) -> int:
        b = self.layout.belief(obs)
        for m, tau in zip(self.order, self.thresholds):
            if obs[self.layout.flags[m]] < 0.5:
                return self.layout.c + self.layout.modalities.index(m) if b.max() < tau else int(np.argmax(b))
        return int(np.argmax(b))


def fit_threshold_policy(
    env: EmpathyDialogueEnv, grid: np.ndarray | None = None
) -> tuple[ThresholdPolicy, dict[str, Any]]:
    """Grid-search the thresholds (and the consult order) for the highest mean reward per turn on
    ``env``'s dialogues, computed from the arrays directly (the same arithmetic as stepping the env)."""
    import itertools

    base = env.unwrapped
    data, costs = base.data, base.costs
    grid = np.linspace(0.0, 1.0, 21) if grid is None else grid
    y = data.targets
    best: tuple[float, list[str], list[float]] = (-np.inf, [], [])
    for order in itertools.permutations(base.modalities):
        stages = [[data.probs["text"]]]
        for m in order:
            stages.append(stages[-1] + [data.probs[m]])
        beliefs = [np.stack([belief([p[i] for p in parts]) for i in range(len(y))]) for parts in stages]
        conf = [b.max(1) for b in beliefs]
        right = [b.argmax(1) == y for b in beliefs]
        for taus in itertools.product(grid, repeat=len(order)):
            stage = np.zeros(len(y), dtype=int)  # how many consults each turn makes
            open_ = np.ones(len(y), dtype=bool)
            for k, tau in enumerate(taus):
                go = open_ & (conf[k] < tau)
                stage[go] = k + 1
                open_ = go
            spent = np.zeros(len(y))
            for k, m in enumerate(order):
                spent += (stage > k) * costs[m]
            reward = np.choose(stage, right).astype(float) - spent
            if reward.mean() > best[0]:
                best = (float(reward.mean()), list(order), [float(t) for t in taus])
    policy = ThresholdPolicy(env, best[1], best[2])
    return policy, {"order": best[1], "thresholds": best[2], "train_reward_per_turn": best[0]}
