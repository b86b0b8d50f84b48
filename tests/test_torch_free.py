"""The README's torch-free recipe, as written, in a fresh virtual environment (issue 26, item 2).

The environment is built by the README's own ``pip install`` lines from the package index (once; later runs
reuse it and reinstall only the wheel), the export is made here with torch, and everything else runs there,
from another folder, where ``import torch`` fails.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import warnings
from pathlib import Path

import pytest
from installed import readme_blocks, recipe_package

from mmempathy.extras import VIDEO_PACKAGES

DEMO = Path(__file__).resolve().parents[1] / "mmempathy" / "assets" / "demo"
if not (DEMO / "demo.mp4").is_file():  # before the demo clip became package data
    DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmempathy-tests"

pytestmark = pytest.mark.slow


def recipe() -> list[list[str]]:
    """The README's torch-free install: its ``pip install`` lines as argument lists (comments dropped)."""
    (block,) = readme_blocks("Deploying without PyTorch", "bash")
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("pip install")]


@pytest.fixture(scope="module")
def torch_free(installed, tmp_path_factory):
    """The recipe's environment with this checkout's wheel (the one the ``installed`` fixture built)."""
    lines = recipe()
    from_index = [args for args in lines if args[-1] != "."]
    assert lines[-1] == ["pip", "install", "--no-deps", "."]  # the last line installs the checkout itself
    return recipe_package(CACHE, from_index, installed.wheel, tmp_path_factory.mktemp("torch_free_user"))


@pytest.fixture(scope="module")
def tiny_export(tiny, tmp_path_factory):
    """The tiny random model exported with this (torch) environment."""
    from mmempathy.onnx import export_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_onnx(tiny, tmp_path_factory.mktemp("onnx") / "tiny")


def test_the_recipe_lists_what_videos_need():
    video_line = next(args for args in recipe() if "av" in args)
    assert set(VIDEO_PACKAGES) <= set(video_line)
    assert not any("torch" in arg for args in recipe() for arg in args)


def test_from_onnx_predicts_where_torch_is_missing(torch_free, tiny_export):
    code = f"""
import importlib.util, json, sys, warnings
import numpy as np
from mmempathy import EmotionFuser
warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
fuser = EmotionFuser.from_onnx({str(tiny_export)!r})
r = fuser.predict(text="so happy", audio=np.zeros(16000, np.float32) + 0.01, sample_rate=16000,
                  faces=np.zeros((2, 40, 40, 3), np.uint8))
print(json.dumps({{"sum": sum(r.probs.values()), "present": r.present, "module": EmotionFuser.__module__,
                   "torch": importlib.util.find_spec("torch") is not None, "file": __import__("mmempathy").__file__}}))
"""
    proc = torch_free.python(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["torch"] is False and out["module"] == "mmempathy.without_torch"
    assert out["sum"] == pytest.approx(1.0, abs=1e-5) and out["present"] == ["text", "audio", "face"]
    assert Path(out["file"]).resolve().is_relative_to(torch_free.venv.resolve())


def test_the_rest_of_emotion_fuser_says_torch_is_missing(torch_free):
    proc = torch_free.python("from mmempathy import EmotionFuser; EmotionFuser.from_pretrained('lite')")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("mmempathy.extras.MissingPackageError: EmotionFuser.from_pretrained needs torch")
    assert "--index-url https://download.pytorch.org/whl/cpu" in last and "from_onnx" in last
    proc = torch_free.mmempathy("predict", DEMO / "demo.mp4", "--subtitles", DEMO / "demo.srt")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mmempathy: error: mmempathy predict needs torch, which is not installed")


def test_cli_transcribes_a_video_with_the_export(torch_free, tiny_export):
    proc = torch_free.mmempathy("predict", DEMO / "demo.mp4", "--onnx", tiny_export, "--csv", "out.csv", "--quiet")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((torch_free.cwd / "out.csv").open()))
    assert len(rows) == 6
    assert any(row["text"].strip() for row in rows)  # no subtitles given: Whisper tiny.en transcribed the speech


@pytest.mark.parametrize("missing", ["av", "pandas"])
def test_a_video_without_the_video_packages_says_what_to_install(torch_free, tiny_export, missing):
    """As in an environment built without the recipe's second line: the package cannot be imported."""
    block = f"import sys; sys.modules[{missing!r}] = None"  # `import {missing}` raises ModuleNotFoundError
    clip, export = str(DEMO / "demo.mp4"), str(tiny_export)
    api = f"from mmempathy import EmotionFuser; EmotionFuser.from_onnx({export!r}).predict_video({clip!r})"
    proc = torch_free.python(f"{block}; {api}")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"mmempathy.extras.MissingPackageError: a video needs {missing}, which is not installed: "
        f"pip install {' '.join(VIDEO_PACKAGES)} (what videos need; a full install of mmempathy has them)"
    )
    cli = f"from mmempathy.cli import main; sys.exit(main(['predict', {clip!r}, '--onnx', {export!r}]))"
    proc = torch_free.python(f"{block}; {cli}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mmempathy: error: mmempathy predict needs ")
    assert f"pip install {' '.join(VIDEO_PACKAGES)}" in proc.stderr
