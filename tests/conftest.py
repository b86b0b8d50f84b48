"""Shared fixtures: tiny random models (no downloads) and synthetic inputs."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The shared data beside this checkout, found from the tests (not from the package, which a non-editable
# install puts in site-packages, where ../shared is not): shared-data tests run instead of skipping.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if SHARED_DATA.is_dir():
    os.environ.setdefault("MMEMPATHY_DATA", str(SHARED_DATA))
torch.set_num_threads(min(2, torch.get_num_threads()))


def benchmark(name: str):
    """``benchmarks/<name>.py`` as a module (it imports its sibling scripts, as when run from benchmarks/)."""
    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name, Path(folder) / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


@pytest.fixture(scope="session")
def tiny():
    """The random ``tiny`` preset on the CPU, in eval mode, with the same weights in every run: unseeded, they
    would follow whatever random numbers the tests before its first use had drawn (some tests draw a number
    of them that depends on timing), and a test asking the weights for some effect would pass or fail by
    chance."""
    from mmempathy import EmotionFuser

    with warnings.catch_warnings(), torch.random.fork_rng():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        model = EmotionFuser.from_pretrained("tiny", device="cpu")
    model._warned_untrained = True  # the untrained warning has its own test
    return model


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """The built wheel installed in a fresh virtual environment, run from another folder (``tests/installed.py``):
    ``installed.mmempathy("--version")``, ``installed.python("import mmempathy")``, ``installed.run(...)``."""
    from installed import installed_package

    return installed_package(tmp_path_factory.mktemp("installed"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def wave(rng) -> np.ndarray:
    """One second of quiet noise at 16 kHz."""
    return (rng.standard_normal(16000) * 0.1).astype(np.float32)


@pytest.fixture
def face_crops(rng) -> np.ndarray:
    """Three RGB uint8 crops."""
    return rng.integers(0, 256, size=(3, 40, 40, 3), dtype=np.uint8)


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a model is loaded: a command's checks of its inputs must come first."""
    from mmempathy.model import EmotionFuser

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was reported")

    monkeypatch.setattr(EmotionFuser, "from_pretrained", classmethod(refuse))
