"""Long inputs: peak memory and wall time of ``predict_video`` on 1080p30 clips of growing length.

For each length in ``--minutes`` a synthetic clip is generated once into ``--work-dir`` (1920x1080,
30 fps, h264 + AAC: a drawn face that wanders and talks, a voice-like signal), then predicted in a
fresh process, so that each peak resident set size (``VmHWM``) belongs to one run alone; the
peak of loading the model is reported apart (``VmHWM`` right after loading), since it does not
depend on the clip. The child also samples its RSS every 0.1 s during ``predict_video``: memory
that is flat in length shows the same level at a quarter, half and the end of the run, whatever
the length.

``asr="off"`` by default (a transcript-free run gets no text: the cost measured is decode, faces,
voice activity, audio and face encoders, fusion); ``--asr`` adds a run with Whisper transcribing.
``--model lite`` uses the shipped weights; if they do not load (they are retrained now and then),
the lite architecture with untrained weights is used, which costs the same, and the output says so.

    python benchmarks/long_video.py --minutes 1 10 --model lite
    python benchmarks/long_video.py --minutes 1 --asr
    python benchmarks/long_video.py --minutes 10 --size 854x480   # length at a lower cost per minute
    python benchmarks/long_video.py --minutes 1 10 60 --loop 5   # the hour: 5 minutes encoded, laid end to end
    python benchmarks/long_video.py --smoke   # a 10-second 320x180 clip, tiny model: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, seconds: float, *, size=(1920, 1080), fps: int = 30) -> Path:
    """A talking face that wanders over a plain scene (and back every 20 s); cached in ``path``."""
    from mmempathy.testing import draw_face, write_clip

    if path.exists():
        return path
    width, height = size
    rate = 16_000
    t = np.arange(round(seconds * rate)) / rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.3 * t)
    voice = np.sin(2 * np.pi * np.cumsum(pitch) / rate) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    silent = (t % 10) > 7  # three seconds of pause every ten: the VAD has turns to find
    audio = np.where(silent, 0.0, 0.3 * voice) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    period = 20 * fps

    def frame(i: int) -> np.ndarray:  # drawn afresh: a cache of 1080p frames would hold gigabytes
        image = np.full((height, width, 3), 80, np.uint8)
        image[: height // 3] = (110, 120, 140)
        x = width / 2 + width / 4 * np.sin(2 * np.pi * i / period)
        return draw_face(image, (round(x), height // 2), height // 7, smile=np.sin(i / 7))

    print(f"generating {path} ({seconds:.0f} s, {width}x{height} @ {fps} fps) ...", flush=True)
    start = time.perf_counter()
    tmp = path.with_suffix(".part.mp4")
    write_clip(tmp, (frame(i) for i in range(round(seconds * fps))), fps=fps, audio=audio.astype(np.float32), crf=26)
    tmp.rename(path)
    print(f"  {time.perf_counter() - start:.0f} s", flush=True)
    return path


def repeat_clip(base: Path, path: Path, times: int) -> Path:
    """``base`` played ``times`` times in a row, by copying its packets (no re-encoding); cached in ``path``.

    An hour of 1080p would take most of an hour to encode here; a few minutes encoded once and laid end to
    end is the same stream to a decoder (the scene wanders with a 20-s period and pauses every 10 s, so a
    whole number of minutes loops seamlessly).
    """
    import av

    if path.exists():
        return path
    print(f"laying {base.name} end to end {times} times into {path} ...", flush=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(base)) as src, av.open(str(tmp), mode="w") as dst:
        inputs = [s for s in src.streams if s.type in ("video", "audio")]
        outputs = {s.index: dst.add_stream_from_template(s) for s in inputs}
        first: dict[int, int] = {}  # each stream's first and past-the-last decoding time, in its time base
        last: dict[int, int] = {}
        for packet in src.demux(*inputs):
            if packet.dts is not None:
                first.setdefault(packet.stream.index, packet.dts)
                last[packet.stream.index] = packet.dts + (packet.duration or 0)
        span = {index: last[index] - first[index] for index in first}  # one play, so that times keep rising
        for play in range(times):
            src.seek(0)
            for packet in src.demux(*inputs):
                if packet.dts is None:  # the flush packet at each stream's end
                    continue
                index = packet.stream.index
                packet.pts += play * span[index]
                packet.dts += play * span[index]
                packet.stream = outputs[index]
                dst.mux(packet)
    tmp.rename(path)
    return path


def load_model(name: str):
    """The model, and a note on which weights it has."""
    import warnings

    from mmempathy import EmotionFuser
    from mmempathy.errors import CheckpointError
    from mmempathy.hub import list_models, load_preset

    warnings.filterwarnings("ignore", message="this model.s weights are untrained")
    try:
        model = EmotionFuser.from_pretrained(name, device="cpu")
        trained = getattr(model, "checkpoint_dir", None) is not None
        return model, "trained weights" if trained else "untrained (a preset without shipped weights)"
    except CheckpointError as err:
        if name not in list_models():
            raise
        preset = load_preset(name)
        print(f"  {name}'s weights did not load ({str(err)[:120]}...); using its architecture, untrained", flush=True)
        model = EmotionFuser(preset["config"], pretrained_encoders=preset.get("pretrained_encoders", True))
        return model.eval(), "its architecture with untrained weights (the shipped weights did not load)"


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: that survives ``exec`` and so can be
    the parent's size at ``fork``."""
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def child(args: argparse.Namespace) -> None:
    """One run in this process; prints one JSON line."""
    import torch

    from mmempathy.media.pipeline import predict_video

    torch.set_num_threads(args.threads)
    model, weights = load_model(args.model)
    after_load = rss_mb()
    peak_load = peak_rss_mb()  # building the model has its own peak
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    start, cpu_start = time.perf_counter(), sum(os.times()[:2])

    def sample() -> None:
        while not done.wait(0.1):
            samples.append((time.perf_counter() - start, rss_mb()))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    timeline = predict_video(model, args.clip, asr="auto" if args.asr else "off", adapt=args.adapt, progress=False)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    quarters = {}
    for q in (0.25, 0.5, 0.75, 1.0):
        before = [mb for at, mb in samples if at <= q * wall]
        quarters[str(q)] = round(max(before), 1) if before else None
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": sum(os.times()[:2]) - cpu_start,
                "peak_rss_mb": peak_rss_mb(),
                "rss_after_load_mb": after_load,
                "peak_rss_of_load_mb": peak_load,
                "peak_rss_sampled_mb": max((mb for _, mb in samples), default=after_load),
                "rss_by_quarter_mb": quarters,
                "segments": len(timeline),
                "with_face": sum("face" in s.present for s in timeline),
                "with_text": sum(bool(s.text) for s in timeline),
                "duration": timeline.meta["duration"],
                "weights": weights,
            }
        ),
        flush=True,
    )


def run_one(clip: Path, args: argparse.Namespace, *, asr: bool) -> dict:
    command = [sys.executable, __file__, "--child", str(clip), "--model", args.model, "--threads", str(args.threads)]
    command += ["--asr"] if asr else []
    command += ["--adapt", args.adapt]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    load = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            print(line)
    return {**json.loads(lines[-1]), "load_before": load, "load_after": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", default="1920x1080", help="frame size WxH (default: %(default)s)")
    parser.add_argument("--asr", action="store_true", help="also run with Whisper transcribing (asr='auto')")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/mmempathy-long-video"))
    parser.add_argument(
        "--adapt",
        default="auto",
        choices=("auto", "off"),
        help="the person baseline (auto keeps each segment's encoder outputs, ~0.25 MB, to the end; off: flat)",
    )
    parser.add_argument(
        "--loop", type=float, help="make clips longer than this many minutes by laying one this long end to end"
    )
    parser.add_argument("--smoke", action="store_true", help="10 s at 320x180 with the tiny model")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        args.clip = args.child
        child(args)
        return
    args.work_dir.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.smoke:
        args.minutes, args.model, size = [10 / 60], "tiny", (320, 180)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; threads {args.threads}")
    rows = []
    for minutes in args.minutes:
        name = f"clip_{minutes:g}min_{size[1]}p30.mp4"
        if args.loop and minutes > args.loop and minutes % args.loop == 0:
            base = make_clip(args.work_dir / f"clip_{args.loop:g}min_{size[1]}p30.mp4", args.loop * 60, size=size)
            clip = repeat_clip(base, args.work_dir / name, round(minutes / args.loop))
        else:
            clip = make_clip(args.work_dir / name, minutes * 60, size=size)
        for asr in [False, True] if args.asr else [False]:
            result = run_one(clip, args, asr=asr)
            rows.append((minutes, asr, result))
            print(json.dumps({"minutes": minutes, "asr": asr, **result}), flush=True)
    print()
    print("| clip | ASR | wall s | × real time | CPU s | peak RSS MB | of which loading | RSS after load MB |", end="")
    print(" during run: max; at ¼/½/¾/end MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for minutes, asr, r in rows:
        q = " / ".join(f"{r['rss_by_quarter_mb'][k] or 0:.0f}" for k in ("0.25", "0.5", "0.75", "1.0"))
        cells = [
            f"{minutes:g} min",
            "auto" if asr else "off",
            f"{r['wall_s']:.1f}",
            f"{r['duration'] / r['wall_s']:.1f}×",
        ]
        cells += [f"{r['cpu_s']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['peak_rss_of_load_mb']:.0f}"]
        cells += [f"{r['rss_after_load_mb']:.0f}", f"{r['peak_rss_sampled_mb']:.0f}; {q}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
