"""Optional wording by a local causal language model (any transformers ``AutoModelForCausalLM`` directory).

The rules still choose the strategy; the model only words it, prompted with the fused reading.
Decoding is greedy, so the same reading gives the same words. Whatever the model writes goes
through :func:`~mmempathy.respond.core.claims_feeling`; a response that asserts what the person
feels, or an empty one, is dropped for the template. The safety message never comes from a model.

Example:
    >>> gen = LMGenerator("path/to/local-model")  # doctest: +SKIP
    >>> Responder(generator=gen).respond(result, utterance="I lost my job.").text  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmempathy.errors import CheckpointError
from mmempathy.respond.templates import EMOTION_WORDS

if TYPE_CHECKING:
    from mmempathy.respond.core import Reading

PROMPT = (
    "You are a supportive listener. A recogniser read the person's expression (not their feelings) as "
    "{emotion} (probability {confidence:.2f}; {channels}). Strategy: {strategy}. Reply in one or two short "
    "sentences; say how things come across, never what the person feels.\n"
    "Person: {utterance}\nListener:"
)


class LMGenerator:
    """Words a response with a local causal LM.

    Args:
        path: A local model directory (``config.json``, weights, tokenizer files); nothing is downloaded.
        max_new_tokens: Length limit of the reply.
        device: Torch device for the model.
    """

    def __init__(self, path: str | Path, *, max_new_tokens: int = 40, device: str = "cpu") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path} is not a language model directory (no config.json)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).to(device).eval()
        except (OSError, ValueError) as err:
            raise CheckpointError(f"cannot load a causal language model from {path}: {err}") from err
        self.max_new_tokens, self.device = max_new_tokens, device

    def prompt(self, strategy: str, reading: Reading, utterance: str | None) -> str:
        """The prompt for one response."""
        channels = ", ".join(f"{m} weight {w:.2f}" for m, w in reading.weights.items()) or "no channel weights"
        return PROMPT.format(
            emotion=EMOTION_WORDS.get(reading.emotion, reading.emotion),
            confidence=reading.confidence,
            channels=channels,
            strategy=strategy,
            utterance=(utterance or "(nothing said)").strip(),
        )

    def generate(self, strategy: str, reading: Reading, utterance: str | None) -> str:
        """The model's reply, cut at the first line break; empty when it wrote nothing usable."""
        import torch

        enc = self.tokenizer(self.prompt(strategy, reading, utterance), return_tensors="pt").to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        text = self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return text.strip().split("\n")[0].strip()
