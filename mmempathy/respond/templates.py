"""The offline wording: several templates per support strategy and per regulation family.

Every template speaks about what was *expressed* ("you sound", "your words come across as"),
never about what the person feels: a recogniser reads expression, and expressed is not felt.
``{emotion}`` is an adjective from :data:`EMOTION_WORDS`, ``{cues}`` names the channels that
carried the reading ("your voice and your face"), ``{mixed}`` describes disagreeing channels.
"""

from __future__ import annotations

# The eight strategies of ESConv (Liu et al., ACL 2021), in the paper's order and spelling.
STRATEGIES: tuple[str, ...] = (
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Self-disclosure",
    "Affirmation and Reassurance",
    "Providing Suggestions",
    "Information",
    "Others",
)

# Gross's process model of emotion regulation (Gross 1998; 2015): the strategy families.
REGULATION_FAMILIES: tuple[str, ...] = (
    "situation selection",
    "situation modification",
    "attentional deployment",
    "cognitive reappraisal",
    "response modulation",
)

# How an expressed emotion is named in a response (an adjective that fits "you sound ...").
EMOTION_WORDS: dict[str, str] = {
    "anger": "angry",
    "disgust": "put off",
    "fear": "worried",
    "joy": "happy",
    "neutral": "calm",
    "sadness": "sad",
    "surprise": "surprised",
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "Question": (
        "How are things for you right now?",
        "Would you like to tell me a bit more about what happened?",
        "What is on your mind at the moment?",
        "How has this been for you so far?",
    ),
    "Restatement or Paraphrasing": (
        "If I follow you, {gist} Is that right?",
        "So what you are saying is: {gist} Did I get that right?",
        "Let me check I understood: {gist}",
    ),
    "Reflection of feelings": (
        "You sound {emotion} to me; {cues} seem to say so. Is that close?",
        "It comes across as {emotion}, at least from {cues}. How does that fit for you?",
        "From {cues} this sounds {emotion}. Tell me if I have that wrong.",
    ),
    "Reflection of feelings (mixed)": (
        "I am getting mixed signals: {mixed}. Which is closer to how it is for you?",
        "Part of this comes across one way and part another ({mixed}). How would you put it?",
        "It seems {mixed}; I would rather ask than guess. How is it for you?",
    ),
    "Self-disclosure": (
        "I have been in situations that came across like this too, and they were not easy.",
        "Something similar once happened to me, and it took me a while to sort out.",
    ),
    "Affirmation and Reassurance": (
        "That sounds like it matters to you, and it makes sense that it shows.",
        "It took something to say this out loud; thank you for telling me.",
        "Whatever comes next, you do not have to work it out alone.",
        "That sounds like good news worth sharing!",
    ),
    "Providing Suggestions": (
        "Would it help to pick one small thing to do about it today?",
        "One option could be to talk it through with someone you trust; would that be possible?",
        "Maybe it would help to write down what is most pressing and take it one step at a time.",
    ),
    "Information": (
        "Many people react strongly in situations like this; it is a common response.",
        "Strong reactions often ease with time, especially when they are shared with someone.",
    ),
    "Others": (
        "I am here and listening.",
        "Take your time.",
    ),
}

# Offers, not orders: the person decides whether a regulation strategy fits.
REGULATION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "situation selection": (
        "If it is possible, spending the next hour with someone you find easy company might help.",
        "Some people choose to stay away from what sets this off for a while; would that be an option?",
    ),
    "situation modification": (
        "Could you change one thing about the situation, such as stepping out of the room for a few minutes?",
        "Sometimes asking for a short break before continuing changes how the situation goes.",
    ),
    "attentional deployment": (
        "Turning your attention to something absorbing for ten minutes, a walk or music, can take the edge off.",
        "Some people find it helps to notice five things they can see around them, to come back to the present.",
    ),
    "cognitive reappraisal": (
        "Once things settle, it can help to ask how someone you respect would see this situation.",
        "It might help later to look for another way to read what happened; is there one that is also true?",
    ),
    "response modulation": (
        "A few slow breaths, longer out than in, before you reply can make the next minutes easier.",
        "Pausing before answering, or writing the reply and sending it later, can keep a hard moment from escalating.",
    ),
}

# Which families fit which strong negative emotion, most fitting first (Gross 2015; the choices of
# reappraisal for sadness and response modulation for anger follow Webb, Miles & Sheeran 2012).
REGULATION_BY_EMOTION: dict[str, tuple[str, ...]] = {
    "anger": ("response modulation", "situation modification", "cognitive reappraisal"),
    "disgust": ("attentional deployment", "situation selection", "cognitive reappraisal"),
    "fear": ("attentional deployment", "situation modification", "cognitive reappraisal"),
    "sadness": ("situation selection", "cognitive reappraisal", "attentional deployment"),
}

SAFETY_MESSAGE = (
    "What you said worries me, and I want you to be safe. Please talk to someone who can help right now: "
    "a person you trust, your doctor, or a crisis line (in the UK and Ireland Samaritans, 116 123; in the "
    "US the 988 Suicide & Crisis Lifeline, call or text 988; elsewhere your local emergency number). "
    "If you are in immediate danger, call emergency services."
)
