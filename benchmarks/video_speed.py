"""Speed of ``predict_video`` on a 60-second 720p clip, stage by stage, against a naive pipeline.

The clip (1280x720, 30 fps, h264 + AAC, a drawn face that moves, a speech-like signal, a
transcript) is generated once into ``--work-dir``. Reported, as medians of ``--repeats`` runs:

* end to end: ``predict_video(fuser, clip, transcript=...)``, 3 s windows, 2 fps faces, with the stages
  overlapped (the default: decoding, face finding, segmenting and the model each in a thread) and in turn
  (``overlap=False``), the ratio of the two being what the overlap gains;
* its stages, each timed on its own, with the threads the overlapped pipeline gives them: decode (demux +
  decode + convert the sampled frames + audio resampling; one decoder thread, ``fast_decode``), faces (detection on the
  downscaled frame once a second, the faces carried to the frames between, as ``detect_every`` does:
  CenterFace on one thread, and the Haar cascade on frames where CenterFace finds nothing, as the default
  ``auto`` does; + tracking + crops), collate (the processor), each encoder, fusion;
* the naive pipeline, once: every frame converted to RGB and searched for faces at full
  resolution, then each segment's modalities predicted by separate, unbatched model calls (text,
  audio, face, then all three, so as to get per-modality and fused outputs as the timeline has).

With ``--asr`` the clip is also run without a transcript, so that Whisper transcribes it
(``asr="auto"``), overlapped and in turn, and the voice activity and speech-to-text stages are timed
too. ``--speech-dir`` replaces the synthetic voice by real speech: the ``.flac`` files found there (RAVDESS clips, say)
laid end to end. ``--face-video`` replaces the drawn face by a real recording's frames, scaled to
720p and looped: CenterFace, trained on photographs, finds no face in the drawing, so on the
synthetic clip the default detector runs both of its detectors on every frame, which real footage
does not make it do.

    python benchmarks/video_speed.py --model lite --repeats 3
    python benchmarks/video_speed.py --model lite --repeats 3 --asr --speech-dir ../shared/data/ravdess/Actor_19 \
        --face-video ../shared/data/ravdess-av/Actor_05/01-01-03-01-01-02-05.mp4
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from mmempathy import EmotionFuser, Sample
from mmempathy.media import decode
from mmempathy.media.asr import SpeechRecognizer
from mmempathy.media.config import DETECTORS
from mmempathy.media.faces import FaceDetector, FaceExtractor
from mmempathy.media.pipeline import VideoConfig, iter_samples, predict_video
from mmempathy.media.vad import speech_timestamps
from mmempathy.testing import draw_face, write_clip

WORDS = (
    "well I honestly did not expect that you would come back so soon and I am not sure how I feel about it "
    "because last time you left without saying a word and I waited the whole night for you to call"
).split()


def real_speech(folder: Path, seconds: float, rate: int = 16_000) -> np.ndarray:
    """The ``.flac`` files of ``folder`` (16 kHz mono) laid end to end, cut to ``seconds``."""
    import soundfile as sf

    files = sorted(folder.glob("*.flac"))
    if not files:
        raise SystemExit(f"no .flac files in {folder}")
    parts, total = [], 0
    while total < seconds * rate:
        for path in files:
            wave, file_rate = sf.read(path, dtype="float32")
            if file_rate != rate or wave.ndim != 1:
                raise SystemExit(f"{path}: expected {rate} Hz mono")
            parts.append(wave)
            total += len(wave)
            if total >= seconds * rate:
                break
    return np.concatenate(parts)[: round(seconds * rate)]


def real_frames(path: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """Every frame of the recording ``path``, resized to ``size`` (width, height)."""
    frames = [
        cv2.resize(f.image, size, interpolation=cv2.INTER_AREA)
        for f in decode.iter_frames(path, fps=None, skip_nonref=False)
    ]
    if not frames:
        raise SystemExit(f"no video frames in {path}")
    return frames


def make_clip(
    path: Path,
    seconds: float,
    fps: int = 30,
    size=(1280, 720),
    speech: np.ndarray | None = None,
    face_video: Path | None = None,
) -> Path:
    """A face that wanders and talks (or ``face_video``'s frames, looped), a syllable-rate modulated
    voice-like signal (or ``speech``); cached."""
    if path.exists():
        return path
    width, height = size
    rate = 16_000
    t = np.arange(round(seconds * rate)) / rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.3 * t)
    voice = np.sin(2 * np.pi * np.cumsum(pitch) / rate) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    audio = (0.3 * voice + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    if speech is not None:
        audio = speech.astype(np.float32)

    recorded = real_frames(face_video, size) if face_video else None

    def frames():
        for i in range(round(seconds * fps)):
            if recorded:
                yield recorded[i % len(recorded)]
                continue
            image = np.full((height, width, 3), 80, np.uint8)
            image[: height // 3] = (110, 120, 140)  # some scenery: a sky band
            x = width / 2 + width / 4 * np.sin(2 * np.pi * i / (fps * 20))
            draw_face(image, (round(x), height // 2), height // 7, smile=np.sin(i / 7))
            yield image

    print(f"generating {path} ({seconds:.0f} s, {width}x{height} @ {fps} fps) ...", flush=True)
    return write_clip(path, frames(), fps=fps, audio=audio, crf=26)


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def stage_times(fuser: EmotionFuser, clip: Path, transcript: str, repeats: int, detector: str) -> dict[str, float]:
    config = VideoConfig(face_detector=detector)
    face_size = fuser.processor.face_size
    stages: dict[str, float] = {}
    stages["decode"], frames = median_time(
        lambda: [
            item
            for item in decode.iter_media(
                clip, fps=config.fps, max_side=config.frame_max_side, threads=1, fast=config.fast_decode
            )
            if isinstance(item, decode.VideoFrame)
        ],
        repeats,
    )

    def detect():
        extractor = FaceExtractor(
            face_size, detector=FaceDetector(detector=detector, threads=1), detect_every=config.detect_every
        )
        return [extractor(f.image, f.time) for f in frames]

    stages["faces"], _ = median_time(detect, repeats)
    samples = list(iter_samples(clip, transcript=transcript, config=config, face_size=face_size))
    stages["collate"], batches = median_time(
        lambda: [fuser.processor.collate(samples[i : i + 16]) for i in range(0, len(samples), 16)], repeats
    )
    with torch.no_grad():
        for modality in batches[0]:
            stages[f"encoder:{modality.value}"], _ = median_time(
                lambda m=modality: [fuser.encode({m: b[m]}) for b in batches if m in b], repeats
            )
        encoded = [fuser.encode(b) for b in batches]
        stages["fusion"], _ = median_time(lambda: [fuser.fuse(e) for e in encoded], repeats)
    return stages


def naive(fuser: EmotionFuser, clip: Path, transcript: str, detector: str, window: float = 3.0) -> tuple[float, int]:
    """Every frame to numpy and to the detector at full size; one model call per modality per segment."""
    start = time.perf_counter()
    extractor = FaceExtractor(fuser.processor.face_size, detector=detector)
    extractor.detector.detect_side = 10**6  # no downscaling
    with decode.open_media(clip) as container:
        stream = container.streams.video[0]
        faces = [
            (frame.time, extractor(frame.to_ndarray(format="rgb24"), frame.time)) for frame in container.decode(stream)
        ]
    audio = decode.load_audio(clip)
    duration = len(audio) / 16_000
    words = transcript.split()
    calls = 0
    for k in range(int(np.ceil(duration / window))):
        lo, hi = k * window, min((k + 1) * window, duration)
        if hi - lo < 0.5:  # as predict_video: a short tail is dropped
            continue
        crops = extractor.main_crops([f for t, f in faces if lo <= t < hi])
        text = " ".join(words[round(lo / duration * len(words)) : round(hi / duration * len(words))])
        parts = {
            "text": Sample(text=text),
            "audio": Sample(audio=audio[round(lo * 16_000) : round(hi * 16_000)], sample_rate=16_000),
            "face": Sample(faces=np.stack(crops)) if crops else None,
        }
        for sample in parts.values():
            if sample is not None:
                fuser.predict_samples([sample], batch_size=1)
                calls += 1
        everything = Sample(text=text, audio=parts["audio"].audio, sample_rate=16_000, faces=parts["face"].faces)
        fuser.predict_samples([everything], batch_size=1)
        calls += 1
    return time.perf_counter() - start, calls


def asr_section(fuser: EmotionFuser, clip: Path, args: argparse.Namespace) -> list[str]:
    """predict_video with speech to text (no transcript given), end to end and its speech stages."""
    duration = decode.probe(clip).duration or args.seconds
    recognizer = SpeechRecognizer(args.asr_model, threads=args.threads)
    _ = recognizer.model  # loaded once per process, as in a real run; not part of the timings

    def run(overlap: bool = True):
        return predict_video(
            fuser,
            clip,
            progress=False,
            asr_model=args.asr_model,
            asr_threads=args.threads,
            face_detector=args.face_detector,
            overlap=overlap,
        )

    run()  # warm-up
    e2e, timeline = median_time(run, args.repeats)
    in_turn, _ = median_time(lambda: run(overlap=False), args.repeats)
    audio = decode.load_audio(clip)
    vad_s, regions = median_time(lambda: speech_timestamps(audio), args.repeats)
    asr_s, transcript = median_time(lambda: recognizer.transcribe(audio), args.repeats)
    speech = sum(e - s for s, e in regions)
    source = f"real speech from `{args.speech_dir}`" if args.speech_dir else "the synthetic voice-like signal"
    lines = [
        "",
        f"With speech to text (`--asr --asr-model {args.asr_model}`{' --speech-dir ...' if args.speech_dir else ''}): "
        f"no transcript given, Whisper {args.asr_model} (int8, {args.threads} threads) transcribes {source}; "
        f"the VAD finds {speech:.0f} s of speech in the {duration:.0f} s, Whisper ran {transcript.calls} time(s) and "
        f"gave {len(transcript.words)} words; {sum(1 for s in timeline if s.text)} of {len(timeline)} segments "
        "got text.",
        "",
        "| stage | seconds | × real time |",
        "|---|---:|---:|",
        f"| vad (Silero, whole clip) | {vad_s:.2f} | {duration / max(vad_s, 1e-9):.0f}× |",
        f"| asr (VAD + Whisper, whole clip) | {asr_s:.2f} | {duration / max(asr_s, 1e-9):.1f}× |",
        f"| **predict_video with ASR, end to end (stages overlapped)** | **{e2e:.2f}** | **{duration / e2e:.1f}×** |",
        f"| predict_video with ASR, stages in turn (`overlap=False`) | {in_turn:.2f} | {duration / in_turn:.1f}× |",
        "",
        f"With speech to text, overlapping the stages makes the minute {in_turn / e2e:.2f}× faster than running them "
        "in turn.",
        "",
    ]
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lite")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/mmempathy_video_bench"))
    parser.add_argument("--out", type=Path, help="also write the markdown section here")
    parser.add_argument("--asr", action="store_true", help="also run without a transcript, with speech to text")
    parser.add_argument("--asr-model", default="tiny.en", help="Whisper model for --asr (default: tiny.en)")
    parser.add_argument("--speech-dir", type=Path, help="real speech (.flac files) instead of the synthetic voice")
    parser.add_argument("--face-detector", default="auto", choices=DETECTORS, help="VideoConfig.face_detector")
    parser.add_argument("--face-video", type=Path, help="a real recording's frames (looped) instead of the drawn face")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="this model's weights are untrained")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    speech = real_speech(args.speech_dir, args.seconds) if args.speech_dir else None
    name = f"clip_{args.seconds:.0f}s_720p{'_' + args.speech_dir.name if args.speech_dir else ''}"
    name += f"_{args.face_video.stem}.mp4" if args.face_video else ".mp4"
    clip = make_clip(args.work_dir / name, args.seconds, speech=speech, face_video=args.face_video)
    info = decode.probe(clip)
    transcript = " ".join(WORDS * max(1, round(args.seconds * 2.5 / len(WORDS))))  # ~150 words a minute

    load_before = os.getloadavg()[0]
    fuser = EmotionFuser.from_pretrained(args.model)
    options = {"transcript": transcript, "progress": False, "face_detector": args.face_detector}
    predict_video(fuser, clip, **options)  # warm-up
    e2e, timeline = median_time(lambda: predict_video(fuser, clip, **options), args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    in_turn, _ = median_time(lambda: predict_video(fuser, clip, **options, overlap=False), args.repeats)
    asr_lines = asr_section(fuser, clip, args) if args.asr else []  # every end-to-end run before the rest
    stages = stage_times(fuser, clip, transcript, args.repeats, args.face_detector)
    naive_s, calls = (None, 0) if args.skip_naive else naive(fuser, clip, transcript, args.face_detector)

    load_after = os.getloadavg()[0]
    duration = info.duration or args.seconds
    lines = [
        "## Video pipeline speed (`benchmarks/video_speed.py`)",
        "",
        f"Command: `python benchmarks/video_speed.py --model {args.model} --seconds {args.seconds:.0f} "
        f"--repeats {args.repeats} --threads {args.threads} --face-detector {args.face_detector}"
        + (f" --speech-dir {args.speech_dir}" if args.speech_dir else "")
        + (f" --face-video {args.face_video}" if args.face_video else "")
        + "`",
        f"Machine: {machine()}. Clip: {duration:.0f} s, {info.width}x{info.height} @ {info.fps:.0f} fps, h264 + AAC, "
        + (f"the frames of `{args.face_video.name}` looped, " if args.face_video else "a drawn face, ")
        + f"transcript spread over 3 s windows ({len(timeline)} segments), faces sampled at 2 fps. "
        f"Median of {args.repeats} runs after a warm-up; the naive pipeline runs once. "
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after (other work on the machine "
        "slows every figure).",
        "",
        "| stage | seconds | × real time |",
        "|---|---:|---:|",
    ]
    for name, seconds in stages.items():
        shown = f"{seconds:.2f}" if seconds >= 0.01 else "<0.01"
        lines.append(f"| {name} | {shown} | {duration / max(seconds, 1e-9):.0f}× |")
    lines.append(f"| **predict_video, end to end (stages overlapped)** | **{e2e:.2f}** | **{duration / e2e:.1f}×** |")
    lines.append(f"| predict_video, stages in turn (`overlap=False`) | {in_turn:.2f} | {duration / in_turn:.1f}× |")
    if naive_s is not None:
        lines.append(
            f"| naive (all frames, full-size detection, {calls} unbatched calls) | {naive_s:.2f} | "
            f"{duration / naive_s:.1f}× |"
        )
    lines += [
        "",
        f"End to end is **{duration / e2e:.1f}× faster than real time**"
        + (f", **{naive_s / e2e:.1f}× faster than the naive pipeline**" if naive_s else "")
        + f", {in_turn / e2e:.2f}× faster than the same stages in turn"
        + f"; peak resident memory of the process after the end-to-end runs: {peak_mb:.0f} MB. "
        "Stages are timed apart (decode includes the sampled frames' conversion; collate, encoders and "
        "fusion run on batches of 16), so they need not add up to the end-to-end time.",
        "",
    ]
    text = "\n".join(lines + asr_lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
