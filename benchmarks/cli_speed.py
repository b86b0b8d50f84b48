"""Start-up time of the ``mmempathy`` command: ``--help``, each subcommand's ``--help`` and a typo.

Each command runs ``--repeats`` times in a fresh interpreter (``python -m mmempathy.cli ...``) and
its wall time is reported as the median, with the range. The naive costs beside it: ``python -c
"import torch"`` (what any command that imports PyTorch first pays at least), and, with
``--baseline REV``, the same commands run on the package as it was at the git revision ``REV``
(exported to a temporary folder), each as a ratio to the time now.

    python benchmarks/cli_speed.py --repeats 5 --baseline 10f8e73 --baseline-repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[list[str]]:
    sys.path.insert(0, str(ROOT))
    from mmempathy.cli import SUBCOMMANDS

    return [["--help"], *([name, "--help"] for name in SUBCOMMANDS), ["predict", "no-such-file.mp4"]]


def wall_times(argv: list[str], tree: Path, repeats: int, cwd: str) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``argv`` in fresh interpreters that import ``tree``'s package."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 2):  # 2: the typo's one-line error
            raise RuntimeError(f"{argv} failed with status {done.returncode}: {done.stderr[-1000:]}")
    return times


def export(rev: str, into: Path) -> Path:
    """The package ``mmempathy/`` as it was at ``rev``, extracted under ``into``."""
    archive = into / "old.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "mmempathy"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"


def fmt(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command now (default: %(default)s)")
    parser.add_argument("--baseline", metavar="REV", help="git revision whose package gives the old times")
    parser.add_argument("--baseline-repeats", type=int, default=3, help="runs per old command (default: %(default)s)")
    parser.add_argument(
        "--baseline-commands",
        nargs="*",
        default=["--help", "predict no-such-file.mp4"],
        help="which commands to time on the old package (each takes ~15 s a run on 2 cores; default: %(default)s)",
    )
    args = parser.parse_args()
    cli = [sys.executable, "-m", "mmempathy.cli"]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:  # the working directory: neither tree is found through it
        torch_times = wall_times([sys.executable, "-c", "import torch"], ROOT, args.repeats, tmp)
        old_tree = export(args.baseline, Path(tmp)) if args.baseline else None
        rows = []
        for argv in commands():
            now = wall_times(cli + argv, ROOT, args.repeats, tmp)
            old = None
            if old_tree is not None and " ".join(argv) in args.baseline_commands:
                old = wall_times(cli + argv, old_tree, args.baseline_repeats, tmp)
            rows.append((" ".join(argv), now, old))
    after = os.getloadavg()
    print(f"machine: {machine()}; load average {load[0]:.2f} before, {after[0]:.2f} after")
    print(f"seconds, median (min-max) of {args.repeats} runs now, {args.baseline_repeats} on {args.baseline}\n")
    old_head = f"{args.baseline} (s)" if args.baseline else "old (s)"
    print(f"| command | now (s) | x faster than `import torch` | {old_head} | x faster than {args.baseline} |")
    print("|---|---|---|---|---|")
    torch_median = statistics.median(torch_times)
    for name, now, old in rows:
        median = statistics.median(now)
        old_cells = f"{fmt(old)} | {statistics.median(old) / median:.0f}" if old else "- | -"
        print(f"| `mmempathy {name}` | {fmt(now)} | {torch_median / median:.0f} | {old_cells} |")
    print(f'| `python -c "import torch"` | {fmt(torch_times)} | 1 | - | - |')


if __name__ == "__main__":
    main()
