"""Throughput of ``predict_corpus``: local engine against Ray on this machine, stage by stage, and a cost model.

A small archive of synthetic calls (``--files`` clips of ``--seconds`` s, 640x360 @ 25 fps h264 +
AAC, a drawn face that wanders and talks, a voice-like signal; made once into ``--work-dir`` by
``video_speed.make_clip``) goes through :func:`mmempathy.corpus.predict_corpus`. Reported, as
medians of ``--repeats`` runs, each into a fresh output directory:

* the two stages timed apart in this process, one after the other: the CPU stage
  (:func:`~mmempathy.corpus.file_rows`: decode, faces, VAD, Whisper with ``--asr``) over every
  file, then the model stage (:func:`~mmempathy.corpus.predict_rows`) over all their segments in
  batches of 16; as seconds of work per second of media, the inputs of the cost model;
* the local engine end to end (both stages in this process, parts written);
* the Ray engine end to end on a local Ray with ``--ray-cpus`` CPUs (one model actor, CPU tasks for
  the rest), Ray's own start-up timed apart (once per session, not per run).

The cost model for ``--hours`` of media on a cluster is printed from the measured per-stage
figures; what is measured and what is assumed is said beside each number.

    OMP_NUM_THREADS=1 python benchmarks/corpus_throughput.py --files 8 --seconds 30 --repeats 3
    python benchmarks/corpus_throughput.py --smoke   # tiny model, 2 short clips, 1 run: the script still runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
import warnings
from pathlib import Path

import pandas as pd
import ray
import torch
from video_speed import machine, make_clip, real_speech

from mmempathy import EmotionFuser
from mmempathy.corpus import file_rows, find_inputs, predict_corpus, predict_rows
from mmempathy.corpus.stages import sample_spec
from mmempathy.media.config import VideoConfig
from mmempathy.media.decode import load_audio
from mmempathy.testing import write_clip


def stage_times(fuser: EmotionFuser, folder: Path, config: VideoConfig) -> tuple[float, float, int]:
    """Seconds of the CPU stage over every file, of the model stage over all their segments; segments."""
    spec = sample_spec(fuser, config)
    items = [{"key": i.key, "path": str(i.path), "subtitles": None, "transcript": None} for i in find_inputs(folder)]
    start = time.perf_counter()
    rows = [row for item in items for row in file_rows(item, spec)]
    cpu = time.perf_counter() - start
    frame = pd.DataFrame(rows)
    segments = frame[frame["kind"] == "segment"]
    start = time.perf_counter()
    for first in range(0, len(segments), config.batch_size):
        predict_rows(fuser, segments.iloc[first : first + config.batch_size])
    return cpu, time.perf_counter() - start, len(segments)


def engine_time(model: str, folder: Path, out: Path, engine: str, config: VideoConfig) -> tuple[float, int]:
    """Seconds of one ``predict_corpus`` run as the CLI makes it (the model given by name, so loading counts)."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    report = predict_corpus(model, folder, out, engine=engine, config=config, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"{engine}: {report.failed} file(s) failed: {report.failures[:3]}")
    return seconds, report.segments


def cost_model(cpu_rate: float, model_rate: float, hours: float, target_hours: float, stage: str) -> list[str]:
    """Markdown lines: workers for ``hours`` of media in ``target_hours``, from seconds of work per media second."""
    media_s = hours * 3600
    cpu_core_h = cpu_rate * media_s / 3600
    model_core_h = model_rate * media_s / 3600
    cpu_workers = cpu_core_h / target_hours
    model_workers = model_core_h / target_hours
    return [
        f"| {stage} | {cpu_rate:.4f} | {cpu_core_h:,.0f} core-h | {cpu_workers:,.0f} cores |",
        f"| model stage on CPU | {model_rate:.4f} | {model_core_h:,.0f} core-h | {model_workers:,.0f} cores |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--ray-cpus", type=int, nargs="+", default=[2], help="logical CPUs of the local Ray; one Ray run per value"
    )
    parser.add_argument("--audio-only", action="store_true", help="audio-only calls (.m4a), as call centres record")
    parser.add_argument("--speech-dir", type=Path, help="with --audio-only: real speech (.flac files laid end to end)")
    parser.add_argument("--asr", action="store_true", help="transcribe with Whisper tiny.en (default: no text)")
    parser.add_argument("--hours", type=float, default=100_000, help="archive size for the cost model")
    parser.add_argument("--target-hours", type=float, default=24, help="wall time the cost model aims at")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/mmempathy_corpus_bench"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--smoke", action="store_true", help="tiny model, 2 clips of 3 s, one run")
    args = parser.parse_args()
    if args.smoke:
        args.model, args.files, args.seconds, args.repeats = "tiny", 2, 3.0, 1
    torch.set_num_threads(1)  # one core per stage, as each Ray task and actor gets
    warnings.filterwarnings("ignore", message="this model's weights are untrained")
    videos = args.work_dir / f"calls_{args.files}x{args.seconds:.0f}s"
    videos.mkdir(parents=True, exist_ok=True)
    clips = [make_clip(videos / f"call{k:03d}.mp4", args.seconds, fps=25, size=(640, 360)) for k in range(args.files)]
    folder = videos
    if args.audio_only:  # the same voice without the picture, or real speech
        speech = real_speech(args.speech_dir, args.seconds) if args.speech_dir else None
        folder = (
            args.work_dir
            / f"audio_{args.files}x{args.seconds:.0f}s{'_' + args.speech_dir.name if speech is not None else ''}"
        )
        folder.mkdir(exist_ok=True)
        for clip in clips:
            if not (folder / f"{clip.stem}.m4a").exists():
                write_clip(folder / f"{clip.stem}.m4a", None, audio=load_audio(clip) if speech is None else speech)
    config = VideoConfig(asr="auto" if args.asr else "off", asr_threads=1)  # one core per stage, Whisper too
    media_s = args.files * args.seconds
    load_before = os.getloadavg()[0]
    fuser = EmotionFuser.from_pretrained(args.model, device="cpu")

    stages = [stage_times(fuser, folder, config) for _ in range(args.repeats)]
    cpu_s, model_s = statistics.median(s[0] for s in stages), statistics.median(s[1] for s in stages)
    segments = stages[0][2]
    local = [engine_time(args.model, folder, args.work_dir / "out_local", "local", config) for _ in range(args.repeats)]
    local_s = statistics.median(s for s, _ in local)
    on_ray: dict[int, list[float]] = {}
    ray_start: dict[int, float] = {}
    for cpus in args.ray_cpus:
        start = time.perf_counter()
        ray.init(num_cpus=cpus, object_store_memory=200 * 2**20, include_dashboard=False, log_to_driver=False)
        ray_start[cpus] = time.perf_counter() - start
        out = args.work_dir / "out_ray"
        on_ray[cpus] = [engine_time(args.model, folder, out, "ray", config)[0] for _ in range(args.repeats)]
        ray.shutdown()
    load_after = os.getloadavg()[0]

    figures = {
        "machine": machine(),
        "model": args.model,
        "files": args.files,
        "media_seconds": media_s,
        "segments": segments,
        "cpu_stage_s": cpu_s,
        "model_stage_s": model_s,
        "local_s": local_s,
        "ray_s": {cpus: statistics.median(runs) for cpus, runs in on_ray.items()},
        "ray_start_s": ray_start,
        "local_runs_s": [s for s, _ in local],
        "ray_runs_s": on_ray,
        "load": [load_before, load_after],
        "asr": args.asr,
        "audio_only": args.audio_only,
    }
    cpu_rate, model_rate = cpu_s / media_s, model_s / media_s
    kind = "640x360 clips"
    stage = f"CPU stage (decode{'' if args.audio_only else ', faces'}, VAD{', Whisper' if args.asr else ''})"
    if args.audio_only:
        voice = f"speech from {args.speech_dir}" if args.speech_dir else "synthetic voice"
        kind = f"audio-only calls (.m4a, {voice})"
    lines = [
        f"Machine: {machine()}; 1-minute load average {load_before:.2f} before, {load_after:.2f} after. "
        f"Model {args.model}; {args.files} {kind} x "
        f"{args.seconds:.0f} s ({media_s:.0f} s of media, {segments} segments), ASR "
        f"{'on (tiny.en)' if args.asr else 'off'}. Median of {args.repeats} runs; engine runs include loading the "
        "model (by name, as the CLI does), in each Ray model actor too.",
        "",
        "| | seconds | files/s | media s per s |",
        "|---|---:|---:|---:|",
        f"| {stage} alone, 1 thread | {cpu_s:.2f} | {args.files / cpu_s:.2f} | {media_s / cpu_s:.1f} |",
        f"| model stage alone ({segments} segments, batches of {config.batch_size}), 1 thread | {model_s:.2f} | "
        f"{args.files / model_s:.2f} | {media_s / model_s:.1f} |",
        f"| **local engine, end to end** | **{local_s:.2f}** | **{args.files / local_s:.2f}** | "
        f"**{media_s / local_s:.1f}** |",
    ]
    for cpus, runs in on_ray.items():
        ray_s = statistics.median(runs)
        lines.append(
            f"| **Ray engine, end to end**, {cpus} logical CPUs (1 model actor + {cpus - 1} CPU task(s)) | "
            f"**{ray_s:.2f}** | **{args.files / ray_s:.2f}** | **{media_s / ray_s:.1f}** |"
        )
    lines += [
        f"| Ray start-up, {cpus} CPUs (once, not in the rows above) | {ray_start[cpus]:.2f} | | |" for cpus in on_ray
    ]
    lines += [
        "",
        f"Runs: local {', '.join(f'{s:.1f}' for s, _ in local)} s; "
        + "; ".join(f"Ray {cpus} CPUs {', '.join(f'{s:.1f}' for s in runs)} s" for cpus, runs in on_ray.items())
        + ".",
        "",
        f"Cost model for {args.hours:,.0f} h of media in {args.target_hours:.0f} h wall "
        "(work per media second measured above; the rest extrapolated):",
        "",
        "| stage | core-s per media s (measured) | total | workers for the target |",
        "|---|---:|---:|---:|",
        *cost_model(cpu_rate, model_rate, args.hours, args.target_hours, stage),
    ]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
