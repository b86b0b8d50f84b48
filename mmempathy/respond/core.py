"""From a fused emotion reading to a support strategy, a short response and a regulation suggestion.

The rules, in order:

1. Words of self-harm in what the person said (or their last turns) lead to a fixed safety message
   that points to human help; no advice, no regulation tip, no language model. The check is layered
   (normalised text, patterns, similarity to risk statements): :mod:`mmempathy.respond.safety`.
2. Channels that disagree in valence (words positive, voice and face negative) lead to a tentative
   *Reflection of feelings* that names the mix and asks, rather than asserting one emotion.
3. A reading below ``confidence`` leads to an open *Question*.
4. Otherwise the emotion picks the strategy along ESConv's stages (explore, comfort, act): negative
   emotions are reflected first, then affirmed, then, after a few turns, met with a suggestion;
   joy is affirmed; surprise and neutral are restated (with an utterance) or asked about.
5. A strong negative reading (at least ``strong``, with no disagreeing channel) adds an
   emotion-regulation suggestion from one family of Gross's process model.

Example:
    >>> from mmempathy.output import EmotionResult
    >>> r = EmotionResult(probs={"sadness": 0.8, "joy": 0.2}, modalities={}, weights={"text": 1.0}, present=["text"])
    >>> Responder().respond(r).strategy
    'Reflection of feelings'
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mmempathy.errors import InputError
from mmempathy.respond.safety import SelfHarmCheck, SemanticCheck, check_self_harm, mentions_self_harm
from mmempathy.respond.templates import (
    EMOTION_WORDS,
    REGULATION_BY_EMOTION,
    REGULATION_TEMPLATES,
    SAFETY_MESSAGE,
    STRATEGIES,
    TEMPLATES,
)

if TYPE_CHECKING:
    from mmempathy.respond.lm import LMGenerator

NEGATIVE = frozenset({"anger", "disgust", "fear", "sadness"})
POSITIVE = frozenset({"joy"})

# A response may say how something *comes across*, never what the person feels or is.
FEELING_CLAIM = re.compile(
    r"\b(i (know|understand|can tell|see) (exactly )?(how|what) you('re| are)? ?(feel|feeling)\w*|"
    r"you('re| are) (feeling|so |really |very )?(angry|sad|afraid|scared|happy|upset|disgusted|"
    r"depressed|anxious|furious|worried|surprised|calm)|you (must |do |really )?feel\b|you('re| are) feeling)",
    re.IGNORECASE,
)


class EmotionReading(Protocol):
    """What :func:`read` needs: an ``EmotionResult`` or a timeline ``Segment`` both qualify."""

    probs: dict[str, float]
    modalities: dict[str, dict[str, float]]
    weights: dict[str, float]
    present: list[str]


@dataclass
class Reading:
    """A fused emotion reading, summarised for choosing a response.

    Attributes:
        emotion: The fused top label.
        confidence: Its fused probability.
        agree: Present channels whose own top label is ``emotion``.
        disagree: Other present channels, ``{channel: its own top label}``.
        conflict: Whether two channels disagree in valence (one positive, one negative).
        weights: The fusion gate's weight of each channel.
    """

    emotion: str
    confidence: float
    agree: list[str] = field(default_factory=list)
    disagree: dict[str, str] = field(default_factory=dict)
    conflict: bool = False
    weights: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: the emotion, its probability and which channels agreed."""
        parts = [f"fused reading {self.emotion} {self.confidence:.2f}"]
        if self.agree:
            parts.append(f"{_join(self.agree)} agreed")
        if self.disagree:
            parts.append("; ".join(f"{m} read {e}" for m, e in self.disagree.items()))
        return ", ".join(parts)


@dataclass
class Suggestion:
    """An emotion-regulation suggestion: the process-model family, the wording and why."""

    family: str
    text: str
    reason: str


@dataclass
class Response:
    """What :meth:`Responder.respond` returns.

    Attributes:
        strategy: One of the eight ESConv strategies (:data:`STRATEGIES`).
        text: The response to say.
        reason: Why this strategy: the emotion, its confidence, which channels agreed, which rule.
        reading: The summarised reading the choice was made from.
        regulation: A regulation suggestion for strong negative readings, else ``None``.
        safety: Whether the safety rule fired (``text`` is then the fixed safety message).
        source: ``"template"``, ``"lm"`` or ``"safety"``.
    """

    strategy: str
    text: str
    reason: str
    reading: Reading
    regulation: Suggestion | None = None
    safety: bool = False
    source: str = "template"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)


def read(result: EmotionReading) -> Reading:
    """Summarise an ``EmotionResult`` or ``Segment``: top emotion, agreeing and disagreeing channels.

    Raises:
        InputError: No probabilities, or one that is not a number in [0, 1] (NaN included).
    """
    if not getattr(result, "probs", None):
        raise InputError("the emotion reading has no probabilities")
    _check_probabilities("fused", result.probs)
    for channel, probs in result.modalities.items():
        _check_probabilities(str(channel), probs)
    emotion = max(result.probs, key=result.probs.__getitem__)
    tops = {m: max(p, key=p.__getitem__) for m, p in result.modalities.items() if p}
    valences = {_valence(e) for e in tops.values()} | {_valence(emotion)}
    return Reading(
        emotion=emotion,
        confidence=float(result.probs[emotion]),
        agree=[m for m, e in tops.items() if e == emotion],
        disagree={m: e for m, e in tops.items() if e != emotion},
        conflict={"positive", "negative"} <= valences,
        weights=dict(result.weights),
    )


def claims_feeling(text: str) -> bool:
    """Whether ``text`` asserts what someone feels ("you are sad", "I know how you feel")."""
    return bool(FEELING_CLAIM.search(text))


def _check_probabilities(name: str, probs: Mapping[str, float]) -> None:
    if not isinstance(probs, Mapping):
        raise InputError(f"the {name} probabilities must map labels to numbers, got {type(probs).__name__}")
    for label, p in probs.items():
        ok = _is_number(p) and math.isfinite(p) and -1e-6 <= p <= 1 + 1e-6
        if not ok:
            raise InputError(f"the {name} probability of {label!r} must be a number in [0, 1], got {p!r}")


def _is_number(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _turns(history: Sequence[str] | str) -> list[str]:
    """The last three turns of ``history`` (one string is one turn)."""
    if isinstance(history, str):
        return [history]
    if not isinstance(history, Sequence) or not all(isinstance(t, str) for t in history):
        raise InputError(f"history must be a list of the person's turns (strings), got {history!r:.80}")
    return list(history[-3:])


class Responder:
    """Chooses strategies and words for one conversation (templates are not repeated within it).

    Args:
        confidence: Below this fused probability the reading is too uncertain to reflect: ask instead.
        strong: From this fused probability on (and with no disagreeing channel) a negative reading
            is strong enough for a regulation suggestion.
        generator: An optional :class:`~mmempathy.respond.lm.LMGenerator` that words the response
            from the strategy and the reading; templates remain the fallback.
        semantic: The self-harm check's semantic layer: ``True`` (the shared MiniLM check, loaded on
            first use), your own :class:`~mmempathy.respond.safety.SemanticCheck`, or ``False``
            (normalised patterns only).

    Example:
        >>> from mmempathy.output import EmotionResult
        >>> r = EmotionResult(probs={"joy": 0.9, "sadness": 0.1}, modalities={}, weights={}, present=[])
        >>> Responder().respond(r, utterance="I passed!").strategy
        'Affirmation and Reassurance'
    """

    def __init__(
        self,
        *,
        confidence: float = 0.45,
        strong: float = 0.6,
        generator: LMGenerator | None = None,
        semantic: bool | SemanticCheck = True,
    ) -> None:
        if not (_is_number(confidence) and _is_number(strong) and 0.0 <= confidence <= strong <= 1.0):
            raise InputError(f"need 0 <= confidence <= strong <= 1, got confidence={confidence!r}, strong={strong!r}")
        if not isinstance(semantic, (bool, SemanticCheck)):
            raise InputError(f"semantic must be True, False or a SemanticCheck, got {type(semantic).__name__}")
        self.confidence, self.strong, self.generator, self.semantic = confidence, strong, generator, semantic
        self.reset()

    def reset(self) -> None:
        """Start a new conversation: every template is available again."""
        self.used: set[tuple[str, int]] = set()
        self.strategies: list[str] = []
        self.strong_seen: list[str] = []  # strong negative emotions met so far, to vary the regulation family

    def respond(
        self,
        result: EmotionReading,
        *,
        utterance: str | None = None,
        history: Sequence[str] | str = (),
    ) -> Response:
        """The response to one reading.

        Args:
            result: An ``EmotionResult`` or a timeline ``Segment`` (its ``text`` is the utterance
                when none is given).
            utterance: What the person said.
            history: The last few turns of the person, oldest first, or one turn as a string (the
                last three are checked for self-harm words).

        Raises:
            InputError: A probability is NaN or not in [0, 1], or an argument has the wrong type.
        """
        reading = read(result)
        if utterance is None:
            utterance = getattr(result, "text", None)
        if utterance is not None and not isinstance(utterance, str):
            raise InputError(f"utterance must be a string, got {type(utterance).__name__}")
        check = check_self_harm(utterance, *_turns(history), semantic=self.semantic)
        if check:
            return self._record(self._safety(reading, check))
        strategy, why = self._choose(reading, utterance)
        reason = f"{reading.describe()}: {why}"
        text, source = self._word(strategy, reading, utterance)
        if source == "lm-rejected":
            reason += " (the language model's wording was rejected; template used)"
            source = "template"
        return self._record(
            Response(strategy, text, reason, reading, regulation=self._regulation(reading), source=source)
        )

    # --- the rules ---------------------------------------------------------------------------

    def _choose(self, reading: Reading, utterance: str | None) -> tuple[str, str]:
        e, c = reading.emotion, reading.confidence
        if reading.conflict:
            return "Reflection of feelings", "the channels disagree in valence, so reflect the mix and ask"
        if c < self.confidence:
            return "Question", f"confidence {c:.2f} is below {self.confidence:.2f}, so ask rather than assert"
        if e in NEGATIVE:
            last = self.strategies[-1] if self.strategies else None
            if len(self.strategies) >= 3 and last == "Affirmation and Reassurance":
                return "Providing Suggestions", f"{e} persists after reflecting and affirming, so offer a step"
            if last == "Reflection of feelings":
                return "Affirmation and Reassurance", f"{e} was reflected last turn, so affirm"
            return "Reflection of feelings", f"{e} is negative, so reflect it first"
        if e in POSITIVE:
            return "Affirmation and Reassurance", "joy, so affirm it"
        if utterance and self.strategies[-1:] != ["Restatement or Paraphrasing"]:
            return "Restatement or Paraphrasing", f"{e}, so restate what was said to invite more"
        return "Question", f"{e}, so invite the person to say more"

    def _regulation(self, reading: Reading) -> Suggestion | None:
        if reading.emotion not in NEGATIVE or reading.confidence < self.strong or reading.disagree:
            return None
        families = REGULATION_BY_EMOTION[reading.emotion]
        # The next family each time the same strong emotion comes back, so suggestions vary.
        family = families[sum(s == reading.emotion for s in self.strong_seen) % len(families)]
        self.strong_seen.append(reading.emotion)
        text = self._pick(f"regulation:{family}", REGULATION_TEMPLATES[family])
        reason = (
            f"strong {reading.emotion} ({reading.confidence:.2f} >= {self.strong:.2f}, no channel disagreeing): "
            f"{family} (Gross's process model)"
        )
        return Suggestion(family, text, reason)

    def _safety(self, reading: Reading, check: SelfHarmCheck) -> Response:
        strong = reading.emotion in {"sadness", "fear"} and reading.confidence >= self.strong
        why = check.describe() + (f" with strong {reading.emotion}" if strong else "")
        reason = f"{reading.describe()}: {why}, so point to human help (no advice)"
        return Response("Information", SAFETY_MESSAGE, reason, reading, safety=True, source="safety")

    # --- wording -----------------------------------------------------------------------------

    def _word(self, strategy: str, reading: Reading, utterance: str | None) -> tuple[str, str]:
        if self.generator is not None:
            text = self.generator.generate(strategy, reading, utterance)
            if text and not claims_feeling(text):
                return text, "lm"
            rejected = True
        else:
            rejected = False
        mixed = strategy == "Reflection of feelings" and reading.conflict
        key = "Reflection of feelings (mixed)" if mixed else strategy
        templates = TEMPLATES[key]
        if strategy == "Affirmation and Reassurance":
            # "Good news" only fits joy; the other affirmations fit anything.
            joy = reading.emotion in POSITIVE
            templates = tuple(t for t in templates if ("good news" in t) == joy) or templates
        text = self._pick(key, templates).format(
            emotion=EMOTION_WORDS.get(reading.emotion, reading.emotion),
            cues=_cue_phrase(reading.agree),
            mixed=_mixed_phrase(reading),
            gist=_gist(utterance),
        )
        return text, "lm-rejected" if rejected else "template"

    def _pick(self, key: str, templates: Sequence[str]) -> str:
        free = [i for i in range(len(templates)) if (key, i) not in self.used]
        if not free:  # every template of this key was said: start over, still in order
            self.used -= {(key, i) for i in range(len(templates))}
            free = list(range(len(templates)))
        self.used.add((key, free[0]))
        return templates[free[0]]

    def _record(self, response: Response) -> Response:
        self.strategies.append(response.strategy)
        return response


def respond(
    result: EmotionReading, *, utterance: str | None = None, history: Sequence[str] | str = (), **kwargs: Any
) -> Response:
    """One response from a fresh :class:`Responder` (a conversation of one turn)."""
    return Responder(**kwargs).respond(result, utterance=utterance, history=history)


# --- phrasing helpers --------------------------------------------------------------------------

CHANNEL_NOUNS = {"text": "your words", "audio": "your voice", "face": "your face"}


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _cue_phrase(channels: Sequence[str]) -> str:
    return _join([CHANNEL_NOUNS.get(c, c) for c in channels]) if channels else "what I can pick up"


def _mixed_phrase(reading: Reading) -> str:
    by_emotion: dict[str, list[str]] = {}
    for channel, emotion in ({m: reading.emotion for m in reading.agree} | reading.disagree).items():
        by_emotion.setdefault(emotion, []).append(channel)
    parts = []
    for emotion, channels in by_emotion.items():
        plural = len(channels) > 1 or channels == ["text"]  # "your words come", "your voice comes"
        verb = "come across" if plural else "comes across"
        parts.append(f"{_cue_phrase(channels)} {verb} as {EMOTION_WORDS.get(emotion, emotion)}")
    return _join(parts) if parts else f"this comes across as {EMOTION_WORDS.get(reading.emotion, reading.emotion)}"


def _gist(utterance: str | None) -> str:
    if not utterance:
        return "there is something you want to talk about."
    words = utterance.strip().rstrip(".!?").split()
    gist = " ".join(words[:20]) + (" ..." if len(words) > 20 else "")
    # Second person, so the restatement speaks to the person ("I lost my job" -> "you lost your job").
    swaps = {"i": "you", "i'm": "you're", "my": "your", "me": "you", "am": "are", "myself": "yourself", "mine": "yours"}
    return " ".join(swaps.get(w.lower(), w) for w in gist.split()) + "."


def _valence(emotion: str) -> str:
    return "negative" if emotion in NEGATIVE else "positive" if emotion in POSITIVE else "other"


__all__ = [
    "STRATEGIES",
    "Reading",
    "Responder",
    "Response",
    "Suggestion",
    "check_self_harm",
    "claims_feeling",
    "mentions_self_harm",
    "read",
    "respond",
]
