"""Empathetic responses to a fused emotion reading: ESConv support strategies and Gross's regulation families.

See ``docs/respond.md`` for the taxonomies and the rules.

Example:
    >>> from mmempathy.output import EmotionResult
    >>> r = EmotionResult(probs={"anger": 0.3, "joy": 0.3, "neutral": 0.4}, modalities={}, weights={}, present=[])
    >>> respond(r).strategy  # too uncertain to name an emotion: ask
    'Question'
"""

from mmempathy.respond.core import (
    Reading,
    Responder,
    Response,
    Suggestion,
    claims_feeling,
    mentions_self_harm,
    read,
    respond,
)
from mmempathy.respond.lm import LMGenerator
from mmempathy.respond.safety import SelfHarmCheck, SemanticCheck, check_self_harm
from mmempathy.respond.templates import REGULATION_FAMILIES, SAFETY_MESSAGE, STRATEGIES, TEMPLATES

__all__ = [
    "LMGenerator",
    "REGULATION_FAMILIES",
    "SAFETY_MESSAGE",
    "STRATEGIES",
    "TEMPLATES",
    "Reading",
    "Responder",
    "Response",
    "SelfHarmCheck",
    "SemanticCheck",
    "Suggestion",
    "check_self_harm",
    "claims_feeling",
    "mentions_self_harm",
    "read",
    "respond",
]
