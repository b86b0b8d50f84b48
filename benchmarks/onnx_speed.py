"""The lite model through PyTorch and through its ONNX export (onnxruntime): latency, start-up, memory, parity,
and the size of an environment that predicts without torch.

Latency: both backends loaded in one process, with the same thread count, their calls alternating
(torch, onnxruntime, torch, ...; 0.3 s apart, so that neither one's idle worker threads still spin), so
that a change in the shared machine's load falls on both alike.
Workloads: one sentence alone ("text"), and items of one sentence, 3 s of audio and 4 face crops
("full"), at each batch size; ms per call is the median of ``--repeats`` calls after one warm-up,
the ratio the median of the paired ratios. Start-up (import + load) and peak memory: each backend in
``--rounds`` fresh processes (the ONNX one never imports torch), medians. Parity: max |dp| between
the backends' fused and per-modality probabilities and weights on 16 full items. ``--install-size``
builds throwaway venvs under /tmp with only what the runtime needs (from PyPI), checks that an export
predicts there (arrays, then the demo video) without torch, and measures their site-packages.

    python benchmarks/onnx_speed.py --batch-sizes 1 16 --repeats 7 --rounds 3 --install-size \
        --json benchmarks/results/onnx_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# what OnnxEmotionFuser.predict needs, and what predict_video adds (PyAV decodes; faster-whisper ships the
# Silero VAD model and transcribes; the timeline's table and plot use pandas and matplotlib); installed with
# the bounds pyproject.toml gives them (tokenizers comes with transformers there, so it has none)
RUNTIME = ["numpy", "onnxruntime", "tokenizers", "opencv-python-headless", "tqdm", "scipy"]
VIDEO = ["av", "faster-whisper", "pandas", "matplotlib"]
# between two calls: the other backend's worker threads stop spinning, and leave the cores to this one
PAUSE = 0.3
TEXT = "I really can't believe you would do that to me, after everything."


def items(n: int, modalities: str, face_size: int = 48) -> list:
    from mmempathy.sample import Sample

    rng = np.random.default_rng(0)
    if modalities == "text":
        return [Sample(text=TEXT) for _ in range(n)]
    return [
        Sample(text=TEXT, audio=(rng.standard_normal(48000) * 0.1).astype(np.float32), sample_rate=16000,
               faces=rng.integers(0, 256, (4, face_size, face_size, 3), dtype=np.uint8))
        for _ in range(n)
    ]  # fmt: skip


def load(backend: str, export: str, threads: int):
    if backend == "onnx":
        from mmempathy.onnx import OnnxEmotionFuser

        return OnnxEmotionFuser(export, threads=threads)
    import torch

    torch.set_num_threads(threads)
    from mmempathy import EmotionFuser

    return EmotionFuser.from_pretrained("lite", device="cpu")


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent at fork)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def startup(backend: str, export: str, threads: int) -> dict:
    """Import + load in this (fresh) process, then peak memory after the largest workload once."""
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    fuser = load(backend, export, threads)
    seconds = time.perf_counter() - start
    fuser.predict_samples(items(16, "full"), batch_size=16)
    return {
        "startup_s": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "torch_imported": "torch" in sys.modules,
    }


def paired(export: str, batches: list[int], repeats: int, threads: int) -> tuple[list[dict], float]:
    """Both backends in this process, their calls alternating, so that the machine's load falls on both
    alike; and the largest difference between their predictions."""
    from mmempathy.onnx import max_difference

    warnings.simplefilter("ignore")
    fusers = {backend: load(backend, export, threads) for backend in ("torch", "onnx")}
    rows = []
    for modalities in ("text", "full"):
        for batch in batches:
            samples = items(batch, modalities)
            times: dict[str, list[float]] = {backend: [] for backend in fusers}
            for _ in range(repeats + 1):  # the first round warms up
                for backend, fuser in fusers.items():
                    time.sleep(PAUSE)
                    t0 = time.perf_counter()
                    fuser.predict_samples(samples, batch_size=batch)
                    times[backend].append(1000 * (time.perf_counter() - t0))
            row = {"modalities": modalities, "batch": batch}
            for backend, ms in times.items():
                row[f"{backend}_ms"] = statistics.median(ms[1:])
                row[f"{backend}_min_ms"] = min(ms[1:])
            row["ratio"] = statistics.median(t / o for t, o in zip(times["torch"][1:], times["onnx"][1:]))
            rows.append(row)
    samples = items(16, "full")
    return rows, max_difference(*(f.predict_samples(samples) for f in fusers.values()))


def site_packages_mib(python: str) -> float:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    path = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 2**20


SMOKE = """
import sys, warnings
import numpy as np
from mmempathy.onnx import OnnxEmotionFuser
warnings.simplefilter("ignore")
fuser = OnnxEmotionFuser(sys.argv[1])
r = fuser.predict(text="so happy to see you", audio=np.zeros(16000, np.float32) + 0.01, sample_rate=16000,
                  faces=np.zeros((2, 48, 48, 3), np.uint8))
assert r.present == ["text", "audio", "face"] and "torch" not in sys.modules, (r, "torch" in sys.modules)
if len(sys.argv) > 2:
    timeline = fuser.predict_video(sys.argv[2], subtitles=sys.argv[3])
    assert len(timeline) == 6 and "torch" not in sys.modules
print("ok")
"""


def pinned(names: list[str]) -> list[str]:
    """``names`` as pyproject.toml's requirements (with their bounds) where it lists them."""
    import tomllib

    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    by_name = {req.split(">")[0].split("<")[0].split("=")[0].strip(): req for req in listed}
    return [by_name.get(name, name) for name in names]


def install_size(export: str, root: Path) -> dict:
    """Two torch-free venvs (predict on arrays; predict_video too), each checked by running an export."""
    demo = ROOT / "examples" / "demo"
    sizes = {}
    clip = [demo / "demo.mp4", demo / "demo.srt"]
    for name, packages, video in (("arrays", RUNTIME, []), ("video", RUNTIME + VIDEO, clip)):
        venv = root / f"ort-{name}"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        packages = pinned(packages)
        subprocess.run(pip + packages, check=True)
        subprocess.run(pip + ["--no-deps", str(ROOT)], check=True)
        smoke = subprocess.run([python, "-c", SMOKE, export, *map(str, video)], capture_output=True, text=True,
                               cwd=root)  # fmt: skip
        if smoke.returncode != 0 or not smoke.stdout.strip().endswith("ok"):
            raise RuntimeError(f"the export did not predict in the {name} venv:\n{smoke.stderr[-3000:]}")
        sizes[name] = {"packages": packages, "site_packages_mib": site_packages_mib(python)}
    sizes["torch (this environment)"] = {
        "packages": [sys.prefix],
        "site_packages_mib": site_packages_mib(sys.executable),
    }
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per backend for start-up and memory")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of both backends")
    parser.add_argument("--export", help="an existing export of lite (default: export into a temporary directory)")
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True, help="time both backends")
    parser.add_argument("--install-size", action="store_true", help="also build and measure torch-free venvs")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--startup", help=argparse.SUPPRESS)  # internal: one backend's start-up, as JSON
    args = parser.parse_args()
    if args.startup:
        print(json.dumps(startup(args.startup, args.export, args.threads)))
        return
    report: dict = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"}
    with tempfile.TemporaryDirectory() as tmp:
        export = args.export
        if export is None:
            from mmempathy import EmotionFuser
            from mmempathy.onnx import export_onnx

            export = str(Path(tmp) / "lite-onnx")
            start = time.perf_counter()
            export_onnx(EmotionFuser.from_pretrained("lite", device="cpu"), export)
            report["export_s"] = time.perf_counter() - start
        report["export_mib"] = sum(p.stat().st_size for p in Path(export).rglob("*") if p.is_file()) / 2**20
        if args.speed:
            report["speed"] = speed(export, args)
            print_speed(report["speed"])
            save(report, args.json)  # before the installs: their failure keeps the timings
        if args.install_size:
            report["install"] = install_size(export, Path(tmp))
            for name, r in report["install"].items():
                print(f"install {name}: {r['site_packages_mib']:.0f} MiB ({' '.join(r['packages'])})")
            save(report, args.json)


def speed(export: str, args: argparse.Namespace) -> dict:
    """Paired timings and parity in this process; start-up and memory of each backend in fresh processes."""
    load_before = os.getloadavg()[0]
    rows, difference = paired(export, args.batch_sizes, args.repeats, args.threads)
    fresh: dict[str, list[dict]] = {"torch": [], "onnx": []}
    for _ in range(args.rounds):
        for backend in fresh:
            cmd = [sys.executable, __file__, "--startup", backend, "--export", export, "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            fresh[backend].append(json.loads(out.strip().splitlines()[-1]))
    return {
        "threads": args.threads,
        "repeats": args.repeats,
        "load_average": [load_before, os.getloadavg()[0]],
        "max_abs_dp": difference,
        "rows": rows,
        "startup": {
            backend: {
                "startup_s": statistics.median(r["startup_s"] for r in runs),
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
                "torch_imported": any(r["torch_imported"] for r in runs),
            }
            for backend, runs in fresh.items()
        },
    }


def print_speed(result: dict) -> None:
    print(f"{result['threads']} threads, load average {result['load_average']}, median of {result['repeats']} "
          f"paired calls; max |dp| {result['max_abs_dp']:.1e}\n")  # fmt: skip
    print("| inputs | batch | PyTorch ms/call (min) | onnxruntime ms/call (min) | PyTorch ÷ onnxruntime |")
    print("|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['modalities']} | {r['batch']} | {r['torch_ms']:.1f} ({r['torch_min_ms']:.1f}) "
              f"| {r['onnx_ms']:.1f} ({r['onnx_min_ms']:.1f}) | {r['ratio']:.2f}× |")  # fmt: skip
    for backend, r in result["startup"].items():
        print(f"{backend}: start-up {r['startup_s']:.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB, "
              f"torch imported: {r['torch_imported']}")  # fmt: skip


def save(report: dict, path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
