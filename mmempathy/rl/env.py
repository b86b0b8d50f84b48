"""``EmpathyDialogueEnv``: name each speaker's emotion, turn by turn, and decide when to look closer.

An episode is one dialogue. At every turn the agent sees the current utterance as the model reads
its *text* (the text head's calibrated probabilities and the pooled text encoder features, reduced
to a few dimensions) and a summary of what it has observed so far in the dialogue. It then either
names the emotion (which ends the turn) or pays a small cost to *consult* another modality (the
voice or the face), whose head's probabilities then join the observation for this turn. Active
perception: when is listening or looking worth its cost?

Reward, exactly:

* naming label ``a`` at a turn whose true label is ``y``: ``+1`` if ``a == y`` else ``0``;
* consulting a modality: ``-cost[modality]`` (default 0.05 each; a modality already consulted this
  turn costs again and reveals nothing new).

The episode terminates after the last turn is named; it is truncated after ``max_consults`` consults
in one turn would be exceeded (``turns * (1 + n_modalities * 2)`` steps), so every episode ends.

Observation (``Box``, float32), for ``C`` labels, ``E`` text features and consultable modalities ``M``:
``[text probs (C), text features (E), for each m in M: probs (C, zeros until consulted) and a
consulted flag (1), mean observed belief over the previous turns (C), the previous turn's belief
(C), turn position t / T (1), same speaker as the previous turn (1)]``. A turn's *belief* is the
normalised product of the probabilities observed for it (text and whatever was consulted).

Actions (``Discrete(C + |M|)``): ``0..C-1`` name that label; ``C + i`` consult modality ``M[i]``.

Example:
    >>> import gymnasium as gym
    >>> import mmempathy.rl  # registers the id
    >>> env = gym.make("mmempathy/EmpathyDialogue-v0")  # a small synthetic dialogue set
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape == env.observation_space.shape
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mmempathy.errors import InputError
from mmempathy.labels import DEFAULT_LABELS


@dataclass
class DialogueSet:
    """Dialogues as arrays (what the environment reads; built once from data, see :mod:`mmempathy.rl.data`).

    Attributes:
        labels: Label names, in the order of the probability columns.
        probs: ``{modality: [N, C]}`` each utterance's calibrated head probabilities; ``"text"`` is
            always there, the others are what can be consulted.
        features: ``[N, E]`` text features the agent sees (may have ``E = 0``).
        targets: ``[N]`` true label index of each utterance.
        speakers: ``[N]`` speaker id of each utterance (within its dialogue).
        offsets: ``[D + 1]`` dialogue ``d`` is utterances ``offsets[d]:offsets[d + 1]``.
        meta: Provenance (source, split, how the consultable modalities were made).
    """

    labels: tuple[str, ...]
    probs: dict[str, np.ndarray]
    features: np.ndarray
    targets: np.ndarray
    speakers: np.ndarray
    offsets: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.targets)
        if "text" not in self.probs:
            raise InputError("a dialogue set needs text probabilities")
        if any(p.shape != (n, len(self.labels)) for p in self.probs.values()) or len(self.features) != n:
            raise InputError("a dialogue set's arrays disagree in size")
        if self.offsets[0] != 0 or self.offsets[-1] != n or np.any(np.diff(self.offsets) < 1):
            raise InputError("dialogue offsets must run from 0 to N with no empty dialogue")

    @property
    def consultable(self) -> list[str]:
        return [m for m in self.probs if m != "text"]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def dialogue(self, d: int) -> slice:
        return slice(int(self.offsets[d]), int(self.offsets[d + 1]))

    def save(self, path: str | Path) -> Path:
        """One safetensors file (arrays) with the labels and meta in its header."""
        import json

        from safetensors.numpy import save_file

        tensors = {f"probs.{m}": np.ascontiguousarray(p, dtype=np.float32) for m, p in self.probs.items()}
        tensors["features"] = np.ascontiguousarray(self.features, dtype=np.float32)
        tensors |= {k: getattr(self, k).astype(np.int64) for k in ("targets", "speakers", "offsets")}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata={"labels": json.dumps(self.labels), "meta": json.dumps(self.meta)})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DialogueSet:
        import json

        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
        return cls(
            labels=tuple(json.loads(header["labels"])),
            probs={k[len("probs.") :]: v for k, v in arrays.items() if k.startswith("probs.")},
            features=arrays["features"],
            targets=arrays["targets"],
            speakers=arrays["speakers"],
            offsets=arrays["offsets"],
            meta=json.loads(header.get("meta", "{}")),
        )

    @classmethod
    def synthetic(
        cls,
        dialogues: int = 40,
        *,
        seed: int = 0,
        labels: tuple[str, ...] = DEFAULT_LABELS,
        strength: tuple[float, float, float] = (0.8, 2.0, 3.0),
    ) -> DialogueSet:
        """A toy set for tests and examples: emotions persist within a speaker's turns; text, voice and
        face are noisy readings of the truth whose logits add ``strength`` (text, audio, face) to the true class."""
        rng = np.random.default_rng(seed)
        c = len(labels)
        lengths = rng.integers(3, 9, size=dialogues)
        targets, speakers = [], []
        for n in lengths:
            mood = rng.integers(0, c, size=2)
            spk = rng.integers(0, 2, size=n)
            flip = rng.random(n) < 0.25
            targets += [int(rng.integers(0, c)) if f else int(mood[s]) for s, f in zip(spk, flip)]
            speakers += spk.tolist()
        y = np.asarray(targets)

        def reading(strength: float) -> np.ndarray:
            logits = rng.normal(size=(len(y), c)) + strength * np.eye(c)[y]
            p = np.exp(logits - logits.max(1, keepdims=True))
            return (p / p.sum(1, keepdims=True)).astype(np.float32)

        return cls(
            labels=tuple(labels),
            probs={m: reading(k) for m, k in zip(("text", "audio", "face"), strength)},
            features=rng.normal(size=(len(y), 4)).astype(np.float32),
            targets=y,
            speakers=np.asarray(speakers),
            offsets=np.concatenate([[0], np.cumsum(lengths)]),
            meta={"source": "synthetic", "seed": seed},
        )


def belief(parts: list[np.ndarray]) -> np.ndarray:
    """Normalised product of the observed distributions (a naive-Bayes fusion of what was seen)."""
    log = np.sum([np.log(np.clip(p, 1e-6, 1.0)) for p in parts], axis=0)
    p = np.exp(log - log.max())
    return (p / p.sum()).astype(np.float32)


class EmpathyDialogueEnv(gym.Env):
    """Name each turn's emotion in a dialogue; consult the voice or the face at a cost.

    Args:
        dialogues: A :class:`DialogueSet`, or the path of one saved with :meth:`DialogueSet.save`
            (default: :meth:`DialogueSet.synthetic`).
        cost: Cost of one consult, per modality name (a float: the same for all). Default 0.05.
        order: ``"random"``: each reset draws a dialogue with the env's seeded generator;
            ``"sequential"``: dialogues in order (for evaluation over a whole split).

    ``reset(options={"dialogue": d})`` starts dialogue ``d``. ``info`` has ``dialogue``, ``turn``,
    ``target``, and after a naming step ``named`` and ``correct``; ``consulted`` lists this turn's consults.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        dialogues: DialogueSet | str | Path | None = None,
        *,
        cost: float | dict[str, float] = 0.05,
        order: str = "random",
        render_mode: str | None = None,
    ) -> None:
        if dialogues is None:
            dialogues = DialogueSet.synthetic()
        elif not isinstance(dialogues, DialogueSet):
            dialogues = DialogueSet.load(dialogues)
        if order not in ("random", "sequential"):
            raise InputError(f"order must be 'random' or 'sequential', not {order!r}")
        self.data, self.order, self.render_mode = dialogues, order, render_mode
        self.modalities = dialogues.consultable
        costs = cost if isinstance(cost, dict) else {m: float(cost) for m in self.modalities}
        if set(costs) != set(self.modalities) or any(v < 0 for v in costs.values()):
            raise InputError(f"costs must be given, non-negative, for exactly {self.modalities}, got {costs}")
        self.costs = costs
        self.n_labels = c = len(dialogues.labels)
        e = dialogues.features.shape[1]
        self.size = c + e + len(self.modalities) * (c + 1) + 2 * c + 2
        self.observation_space = spaces.Box(low=-np.inf, high=np.inf, shape=(self.size,), dtype=np.float32)
        self.action_space = spaces.Discrete(c + len(self.modalities))
        self._next = 0

    # -- the state: dialogue d, turn t (absolute utterance index i), this turn's consults, past beliefs
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if options and "dialogue" in options:
            d = int(options["dialogue"])
            if not 0 <= d < len(self.data):
                raise InputError(f"dialogue {d} is outside 0..{len(self.data) - 1}")
        elif self.order == "sequential":
            d, self._next = self._next % len(self.data), self._next + 1
        else:
            d = int(self.np_random.integers(len(self.data)))
        self.dialogue, self.span = d, self.data.dialogue(d)
        self.turn, self.consulted, self.beliefs, self.steps = 0, [], [], 0
        self.max_steps = (self.span.stop - self.span.start) * (1 + 2 * len(self.modalities))
        return self._observe(), self._info()

    @property
    def index(self) -> int:
        return self.span.start + self.turn

    def _turn_belief(self) -> np.ndarray:
        i = self.index
        return belief([self.data.probs["text"][i]] + [self.data.probs[m][i] for m in sorted(set(self.consulted))])

    def _observe(self) -> np.ndarray:
        i, c = self.index, self.n_labels
        parts = [self.data.probs["text"][i], self.data.features[i]]
        for m in self.modalities:
            seen = m in self.consulted
            parts += [self.data.probs[m][i] if seen else np.zeros(c, np.float32), np.float32([seen])]
        past = np.mean(self.beliefs, axis=0) if self.beliefs else np.full(c, 1.0 / c, np.float32)
        last = self.beliefs[-1] if self.beliefs else np.full(c, 1.0 / c, np.float32)
        n = self.span.stop - self.span.start
        same = float(self.turn > 0 and self.data.speakers[i] == self.data.speakers[i - 1])
        parts += [past, last, np.float32([self.turn / n, same])]
        return np.concatenate(parts).astype(np.float32)

    def _info(self) -> dict[str, Any]:
        return {"dialogue": self.dialogue, "turn": self.turn, "target": int(self.data.targets[self.index]),
                "consulted": list(self.consulted)}  # fmt: skip

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise InputError(f"action {action!r} is outside {self.action_space}")
        action, self.steps = int(action), self.steps + 1
        if action >= self.n_labels:  # consult
            m = self.modalities[action - self.n_labels]
            self.consulted.append(m)
            info = self._info()
            truncated = self.steps >= self.max_steps
            return self._observe(), -self.costs[m], False, truncated, info
        target = int(self.data.targets[self.index])
        info = self._info() | {"named": action, "correct": action == target}
        self.beliefs.append(self._turn_belief())
        self.turn, self.consulted = self.turn + 1, []
        terminated = self.span.start + self.turn >= self.span.stop
        if terminated:  # the last observation repeats the last turn (nothing follows it)
            self.turn -= 1
            obs = self._observe()
            self.turn += 1
        else:
            obs = self._observe()
        return obs, float(action == target), terminated, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        i = min(self.index, self.span.stop - 1)
        return (f"dialogue {self.dialogue} turn {self.turn}: truth {self.data.labels[self.data.targets[i]]}, "
                f"consulted {self.consulted}")  # fmt: skip
