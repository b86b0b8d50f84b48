"""The command line starts light: ``--help``, every subcommand's ``--help`` and argument errors
load none of the heavy libraries (PyTorch and its family, PyAV, OpenCV, pandas).

Each command runs in a fresh interpreter whose ``sys.modules`` is then read: what gets imported
does not depend on the machine's speed, so this holds where a timing would flake.
``benchmarks/cli_speed.py`` measures the time itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mmempathy.cli import SUBCOMMANDS

HEAVY = ("torch", "torchmetrics", "torchvision", "transformers", "av", "cv2", "pandas", "matplotlib")

PROBE = """
import contextlib, io, json, sys
from mmempathy.cli import main

out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        status = main(sys.argv[1:])
    except SystemExit as stop:  # argparse ends --help and usage errors this way
        status = stop.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
print(json.dumps({"status": status, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy}))
"""


def run_cli(*argv: str, cwd=None) -> dict:
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


# A subcommand's module is named as the command with "_" for "-" (predict_corpus: predict-corpus).
@pytest.mark.parametrize(
    "argv", [["--help"], *([name.replace("_", "-"), "--help"] for name in SUBCOMMANDS)], ids=" ".join
)
def test_help_loads_no_heavy_library(argv):
    result = run_cli(*argv)
    assert result["status"] == 0 and "usage: mmempathy" in result["out"]
    assert result["heavy"] == []


def test_a_mistyped_file_fails_before_any_heavy_import(tmp_path):
    result = run_cli("predict", "no-such-file.mp4", "--json", "out.json", cwd=tmp_path)
    assert result["status"] == 2
    assert result["err"] == "mmempathy: error: media file not found: no-such-file.mp4\n"
    assert result["heavy"] == []


def test_a_usage_error_loads_no_heavy_library():
    result = run_cli("predict", "clip.mp4", "--window")  # the option lacks its value
    assert result["status"] == 2 and "expected one argument" in result["err"]
    assert result["heavy"] == []


def test_importing_the_package_loads_no_heavy_library():
    code = f"import sys, mmempathy; print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_the_public_names_still_load_on_use():
    import mmempathy
    import mmempathy.media

    assert {"EmotionFuser", "Timeline", "VideoConfig"} <= set(dir(mmempathy))
    assert mmempathy.EmotionFuser.__name__ == "EmotionFuser"
    assert mmempathy.VideoConfig is mmempathy.media.VideoConfig
    assert mmempathy.media.predict_video.__module__ == "mmempathy.media.pipeline"
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        mmempathy.Nothing  # noqa: B018
