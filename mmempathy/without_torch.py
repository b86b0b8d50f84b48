"""``EmotionFuser`` where PyTorch is not installed: it loads ONNX exports and says what to install for the rest.

``from mmempathy import EmotionFuser`` gives this class when ``mmempathy.model`` cannot be imported for want of
torch (``mmempathy/__init__.py``), so that the torch-free deployment (README, "Deploying without PyTorch") reads
as any other: ``EmotionFuser.from_onnx(DIR)``. Everything else needs the PyTorch model and raises
:class:`~mmempathy.extras.MissingPackageError` saying how to install torch.

Example:
    >>> fuser = EmotionFuser.from_onnx("lite-onnx")  # doctest: +SKIP
    >>> fuser.predict(text="What a lovely surprise!").label  # doctest: +SKIP
    'surprise'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mmempathy.extras import INSTALL, MissingPackageError

if TYPE_CHECKING:
    from mmempathy.onnx import OnnxEmotionFuser


def _needs_torch(what: str) -> NoReturn:
    raise MissingPackageError(f"{what} needs torch, which is not installed: {INSTALL['torch']}")


class _NeedsTorch(type):
    """Any class attribute but ``from_onnx`` (``from_pretrained``, ``from_config``, ...) says torch is missing."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):  # the interpreter's own look-ups (copy, pickle, typing) get the usual error
            raise AttributeError(name)
        _needs_torch(f"EmotionFuser.{name}")


class EmotionFuser(metaclass=_NeedsTorch):
    """The torch-free stand-in for :class:`mmempathy.model.EmotionFuser`: :meth:`from_onnx` only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _needs_torch("EmotionFuser(config)")

    @staticmethod
    def from_onnx(
        directory: str | Path, *, providers: Sequence[str] | None = None, threads: int | None = None
    ) -> OnnxEmotionFuser:
        """An export of ``mmempathy export-onnx``, predicting with onnxruntime (as
        :meth:`mmempathy.model.EmotionFuser.from_onnx`)."""
        from mmempathy.extras import needs

        with needs("EmotionFuser.from_onnx"):
            from mmempathy.onnx import OnnxEmotionFuser

        return OnnxEmotionFuser(directory, providers=providers, threads=threads)
