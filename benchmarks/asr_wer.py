"""Word error rate and speed of speech to text (mmempathy.media.asr) and voice activity (mmempathy.media.vad).

Reported for each Whisper model (``--models``):

* WER on RAVDESS speech of the held-out actors 19-24 (``ravdess/Actor_XX/*.flac``, 16 kHz), ``--per-actor``
  clips of each actor evenly spaced in file-name order (statement 01 "Kids are talking by the door",
  02 "Dogs are sitting by the door"; every emotion and intensity), and on the 14 real RAVDESS
  audio-visual recordings ``ravdess-av/Actor_05/*.mp4`` (decoded by the pipeline's own decoder);
* the time speech to text adds per minute of audio: a 60-s stream made of RAVDESS clips laid end
  to end (their own leading and trailing silence kept), transcribed as the pipeline does (VAD, then
  Whisper on the speech), median of ``--repeats``; and the VAD alone on the same minute.

With ``--live``, only this instead: WER under the file settings (Whisper calls of up to 28 s of speech,
waiting up to 60 s) against the live ones (6 s, 2 s: ``mmempathy live``), the audio fed 1,024 samples
at a time as the decoder gives it, on the 14 ravdess-av recordings, the demo clip
(``examples/demo/demo.mp4``: six utterances of "Kids are talking by the door", 3 s apart) and the
demo clip ten times over (3 minutes, the feed of ``benchmarks/live_latency.py``).

Text is normalised before scoring: lowercase, punctuation removed. WER is corpus-level (edit
distance summed over clips / reference words summed).

    python benchmarks/asr_wer.py --data-dir ../shared/data --models tiny.en base
    python benchmarks/asr_wer.py --data-dir ../shared/data --models tiny.en --live
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from mmempathy.media.asr import SpeechRecognizer, StreamingTranscriber
from mmempathy.media.config import VideoConfig
from mmempathy.media.decode import AudioChunk, load_audio
from mmempathy.media.live import LIVE_DEFAULTS
from mmempathy.media.vad import VadStream, speech_timestamps

STATEMENTS = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}
RATE = 16_000
DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo" / "demo.mp4"
# Whisper call settings (asr_max_chunk, asr_max_wait) of predict_video and of live input.
SETTINGS = {
    "file": (VideoConfig.asr_max_chunk, VideoConfig.asr_max_wait),
    "live": (LIVE_DEFAULTS["asr_max_chunk"], LIVE_DEFAULTS["asr_max_wait"]),
}


def normalise(text: str) -> list[str]:
    """Lowercase words without punctuation (apostrophes inside words kept)."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).replace(" '", " ").split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def wer(pairs: list[tuple[str, str]]) -> tuple[float, int, int]:
    """Corpus WER of ``(reference, hypothesis)`` pairs, with the error and reference-word counts."""
    errors = sum(edit_distance(normalise(r), normalise(h)) for r, h in pairs)
    words = sum(len(normalise(r)) for r, _ in pairs)
    return errors / max(words, 1), errors, words


def reference(path: Path) -> str:
    return STATEMENTS[path.stem.split("-")[4]]


def ravdess_clips(data_dir: Path, per_actor: int) -> list[Path]:
    clips = []
    for actor in range(19, 25):
        files = sorted((data_dir / "ravdess" / f"Actor_{actor:02d}").glob("*.flac"))
        clips += files[:: max(1, len(files) // per_actor)][:per_actor]  # spread over the emotions
    return clips


def read16k(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    if rate != RATE or audio.ndim != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
    return audio


def minute_of_speech(clips: list[Path]) -> np.ndarray:
    audio, total = [], 0
    for path in clips * 10:
        wave = read16k(path)
        audio.append(wave)
        total += len(wave)
        if total >= 60 * RATE:
            break
    return np.concatenate(audio)[: 60 * RATE]


def median_time(fn, repeats: int) -> float:
    return median_times(fn, repeats)[0]


def median_times(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds (all threads) of ``repeats`` calls; CPU time says
    what the work costs when other jobs share the cores, wall time what a user waits."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def stream_text(recognizer: SpeechRecognizer, audio: np.ndarray, max_chunk: float, max_wait: float) -> tuple[str, int]:
    """What the pipeline hears in ``audio`` fed as a stream (1,024 samples at a time), and its Whisper calls."""
    transcriber = StreamingTranscriber(recognizer, VadStream(), max_chunk=max_chunk, max_wait=max_wait)
    words = []
    for i in range(0, len(audio), 1024):
        words += transcriber.add(AudioChunk(i / RATE, audio[i : i + 1024]))
    words += transcriber.finish()
    return " ".join(w.text for w in words), transcriber.calls


def live_table(models: list[str], videos: list[Path], threads: int, beam_size: int) -> list[str]:
    """Markdown rows: WER of each model under the file and the live settings (module docstring)."""
    demo = load_audio(DEMO)
    feeds = {
        "ravdess-av": [(reference(p), load_audio(p)) for p in videos],
        "demo": [(" ".join([STATEMENTS["01"]] * 6), demo)],
        "demo ×10": [(" ".join([STATEMENTS["01"]] * 60), np.tile(demo, 10))],
    }
    lines = [
        f"| model | settings | {' | '.join(f'WER {name}' for name in feeds)} | Whisper calls (demo ×10) |",
        "|---|---|" + "---:|" * (len(feeds) + 1),
    ]
    for name in models:
        recognizer = SpeechRecognizer(name, threads=threads, beam_size=beam_size)
        for setting, (max_chunk, max_wait) in SETTINGS.items():
            cells, calls = [], 0
            for clips in feeds.values():
                heard = [(ref, *stream_text(recognizer, audio, max_chunk, max_wait)) for ref, audio in clips]
                for ref, hyp, _ in heard:
                    if normalise(ref) != normalise(hyp):
                        print(f"  {name} {setting}: {hyp[:300]!r}")
                rate, errors, words = wer([(ref, hyp) for ref, hyp, _ in heard])
                cells.append(f"{100 * rate:.1f} % ({errors}/{words})")
                calls = heard[-1][2]
            lines.append(f"| {name} | {setting} ({max_chunk:g} s, {max_wait:g} s) | {' | '.join(cells)} | {calls} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--models", nargs="+", default=["tiny.en", "base"])
    parser.add_argument("--per-actor", type=int, default=8, help="RAVDESS clips per held-out actor (19-24)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for Whisper")
    parser.add_argument("--beam-size", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--skip-wer", action="store_true", help="only the speed figures")
    parser.add_argument("--live", action="store_true", help="only WER under the file against the live settings")
    args = parser.parse_args()
    if args.live:
        videos = sorted((args.data_dir / "ravdess-av" / "Actor_05").glob("*.mp4"))
        if not videos:
            raise SystemExit(f"ravdess-av clips not found under {args.data_dir}")
        text = "\n".join(live_table(args.models, videos, args.threads, args.beam_size))
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return
    clips = ravdess_clips(args.data_dir, args.per_actor)
    videos = sorted((args.data_dir / "ravdess-av" / "Actor_05").glob("*.mp4"))
    if not clips or not videos:
        raise SystemExit(f"RAVDESS speech or ravdess-av clips not found under {args.data_dir}")
    waves = [read16k(p) for p in clips]
    video_audio = [load_audio(p) for p in videos]
    minute = minute_of_speech(clips)
    vad_s, vad_cpu = median_times(lambda: speech_timestamps(minute), args.repeats)
    speech_s = sum(e - s for s, e in speech_timestamps(minute))

    load = os.getloadavg()[0]
    rows = []
    for name in args.models:
        recognizer = SpeechRecognizer(name, threads=args.threads, beam_size=args.beam_size)
        start = time.perf_counter()
        _ = recognizer.model
        load_s = time.perf_counter() - start
        speech_pairs = (
            [] if args.skip_wer else [(reference(p), recognizer.transcribe(w).text) for p, w in zip(clips, waves)]
        )
        video_pairs = (
            []
            if args.skip_wer
            else [(reference(p), recognizer.transcribe(w).text) for p, w in zip(videos, video_audio)]
        )
        asr_s, asr_cpu = median_times(lambda r=recognizer: r.transcribe(minute), args.repeats)
        for ref, hyp in speech_pairs + video_pairs:
            if normalise(ref) != normalise(hyp):
                print(f"  {name}: {ref!r} -> {hyp!r}")
        rows.append((name, wer(speech_pairs), wer(video_pairs), asr_s, asr_cpu, load_s))

    lines = [
        f"Command: `python benchmarks/asr_wer.py --models {' '.join(args.models)} --per-actor {args.per_actor} "
        f"--repeats {args.repeats} --threads {args.threads} --beam-size {args.beam_size}`. Machine: 2-core CPU "
        f"(shared with other jobs; 1-minute load {load:.1f} at the start), CTranslate2 int8, greedy decoding "
        f"(beam {args.beam_size}), one temperature. Data: (a) {len(clips)} RAVDESS speech clips of the held-out "
        f"actors 19-24 ({args.per_actor} each, evenly spaced by file name: every emotion), (b) the "
        f"{len(videos)} RAVDESS audio-visual recordings of actor 05 (`ravdess-av`, audio through the pipeline's "
        "decoder). Speed: one minute of "
        f"RAVDESS clips laid end to end ({speech_s:.0f} s of it speech by the VAD), transcribed as the pipeline "
        f"does (VAD then Whisper on the speech), median of {args.repeats}.",
        "",
        "| model | WER (a) RAVDESS 19-24 | WER (b) ravdess-av | ASR wall s / min | × real time | ASR CPU s / min "
        "| load s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (wa, ea, na), (wb, eb, nb), asr_s, asr_cpu, load_s in rows:
        lines.append(
            f"| {name} | {100 * wa:.1f} % ({ea}/{na}) | {100 * wb:.1f} % ({eb}/{nb}) | {asr_s:.2f} | "
            f"{60 / asr_s:.1f}× | {asr_cpu:.2f} | {load_s:.1f} |"
        )
    vad_line = (
        f"Silero VAD alone (ONNX, one thread): {vad_s:.2f} s wall ({vad_cpu:.2f} s CPU) per minute of audio "
        f"({60 / vad_s:.0f}× real time)."
    )
    lines += ["", vad_line, ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
