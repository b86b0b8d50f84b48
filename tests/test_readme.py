"""The README's commands and code as a newcomer copies them (issue 26): the first command for their machine, the
command list, and the Python example, run from the installed wheel."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from importlib import metadata

import pytest
from installed import ROOT, readme_blocks
from packaging.requirements import Requirement

DEMO = ROOT / "examples" / "demo"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def steps(command: str) -> list[list[str]]:
    """A one-line shell command's ``&&``-joined steps, each as its arguments."""
    return [shlex.split(step) for step in command.strip().split(" && ")]


def test_first_command_comes_in_a_cpu_and_a_gpu_line_running_the_same_job():
    cpu, gpu, dev = readme_blocks("Two commands", "bash")
    cpu_steps, gpu_steps = steps(cpu), steps(gpu)
    torch_first = cpu_steps[2]  # after making and entering the venv: torch from the CPU index
    assert torch_first[:2] == ["pip", "install"] and torch_first[-2:] == ["--index-url", CPU_INDEX]
    assert cpu_steps[:2] + cpu_steps[3:] == gpu_steps  # otherwise the same command
    assert gpu_steps[2] == ["pip", "install", "."] and gpu_steps[-1][:2] == ["mmempathy", "predict"]
    # the project's own bounds, so that `pip install .` keeps the CPU build instead of fetching a CUDA one
    (torch_dep,) = [Requirement(r) for r in metadata.requires("mmempathy") if Requirement(r).name == "torch"]
    (torch_arg,) = [Requirement(a) for a in torch_first[2:] if a.startswith("torch") and Requirement(a).name == "torch"]
    assert torch_arg.specifier == torch_dep.specifier and torch_dep.specifier  # bounded, as pyproject bounds it
    assert "torchvision" in torch_first  # timm's: from the CPU index too, or pip takes a CUDA torch for it
    assert dev.strip() in (ROOT / ".ci" / "run").read_text()  # CI runs the second command as written


def test_command_list_names_every_subcommand():
    from mmempathy.cli import build_parser

    (block,) = readme_blocks("Command line", "")
    listed = set(re.findall(r"^mmempathy (\S+)", block, flags=re.M))
    parser = build_parser()
    (subcommands,) = [a.choices for a in parser._actions if a.dest == "command"]
    assert listed == set(subcommands) | {"--version"}


@pytest.mark.slow
def test_python_example_runs_as_written(installed):
    """The README's Python API block, as is, from the installed wheel, in a folder holding the demo's files."""
    (code,) = readme_blocks("Python API", "python")
    shutil.copytree(DEMO, installed.cwd / "examples" / "demo", dirs_exist_ok=True)  # symlinks copied as files
    check = """
import json, os
print(json.dumps({"sum": sum(result.probs.values()), "present": result.present, "segments": len(timeline),
                  "plot": os.path.getsize("outputs/timeline.png"), "label": result.top(1)[0][0] in fuser.labels}))
"""
    proc = installed.python(code + check, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["sum"] == pytest.approx(1.0, abs=1e-5) and out["present"] == ["text", "audio", "face"]
    assert out["segments"] == 6 and out["plot"] > 1000 and out["label"]


@pytest.mark.slow
def test_examples_write_into_outputs_not_the_working_folder(installed, tmp_path):
    for name in ("plot_timeline", "batch_folder"):
        proc = installed.run("python", ROOT / "examples" / f"{name}.py", "--model", "tiny", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [f"outputs/{n}" for n in ("demo_timeline.json", "demo_timeline.png", "demo_timeline_smooth.png",
                                                "timelines.csv")]  # fmt: skip
    assert "outputs/" in (ROOT / ".gitignore").read_text().splitlines()
