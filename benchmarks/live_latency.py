"""Latency and real-time factor of live input (``EmotionFuser.stream``) on the lite model.

A file played in real time stands in for a camera: the demo clip with its subtitles (no speech
to text), and the demo clip looped ``--loops`` times through FFmpeg's concat demuxer with speech
to text (Whisper tiny.en, the live settings) as a longer feed. For each, ``--runs`` runs report:

* latency per segment (seconds from the segment's end being live to its result): median, 95th
  percentile and worst, over all runs' segments;
* real-time factor: the same feed read as fast as possible (``realtime=False``), wall seconds per
  media second (under 1: it keeps up);
* memory: resident set size after the first and the last minute of the paced feed.

The naive way of doing the same job: record the feed and run ``predict_video`` on the recording
when it ends. Its delay for a segment is the rest of the recording plus the whole file's
processing time; the ratio of mean delays (naive / live) is given for each feed.

``--media-delay`` reports instead, for each feed, how much media each segment waits for: the
seconds of the feed read past a segment's end before it comes out (voice activity settling,
Whisper waiting for more speech), compute time left out. It does not depend on the machine or its
load, so it compares settings and versions where wall-clock latency on a shared machine cannot.

    python benchmarks/live_latency.py --runs 3 --loops 10 --out benchmarks/results/live_latency.json
    python benchmarks/live_latency.py --loops 10 --media-delay
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def paced(fuser, source, subtitles, options) -> dict:
    latencies, rss = [], []
    for seg in fuser.stream(source, subtitles, **options):
        latencies.append(seg.latency)
        rss.append((seg.end, rss_mb()))
    return {"latencies": latencies, "rss": rss}


def unpaced(fuser, source, subtitles, options, duration: float) -> float:
    from dataclasses import replace

    start = time.perf_counter()
    source = replace(source, realtime=False)
    segments = list(fuser.stream(source, subtitles, **options))
    assert segments
    return (time.perf_counter() - start) / duration


def naive(fuser, source, subtitles, options, duration: float, ends: list[float]) -> float:
    """Mean delay of record-then-predict: the rest of the recording, then the whole file's processing."""
    from mmempathy.media.live import LIVE_DEFAULTS

    start = time.perf_counter()
    file_options = {k: v for k, v in options.items() if k not in LIVE_DEFAULTS} | {"progress": False}
    fuser.predict_video(source, subtitles=subtitles, **file_options)
    processing = time.perf_counter() - start
    return float(np.mean([duration - end + processing for end in ends]))


def media_delay(source, subtitles) -> list[float]:
    """Media seconds read past each segment's end before it came out (live settings, compute left out)."""
    from dataclasses import replace

    from mmempathy.media.live import LIVE_DEFAULTS
    from mmempathy.media.pipeline import _resolve, iter_samples

    read = [0.0]  # media time of the last item read

    def track(items):
        for item in items:
            read[0] = getattr(item, "end", item.time)
            yield item

    source = replace(source, realtime=False)
    # The stages in turn: overlapped, decoding runs ahead of the segments by the hand-off's depth, which
    # is compute-bound read-ahead, not media a segment waits for.
    config = _resolve(None, {**LIVE_DEFAULTS, "overlap": False})
    samples = iter_samples(source, subtitles, config=config, modalities=("text", "audio"), pacer=track)
    return [read[0] - sample.meta["end"] for sample in samples]


def delay_row(name, source, subtitles) -> dict:
    delays = media_delay(source, subtitles)
    row = {
        "feed": name,
        "segments": len(delays),
        "media_delay_median": statistics.median(delays),
        "media_delay_p95": float(np.percentile(delays, 95)),
        "media_delay_max": max(delays),
    }
    print(json.dumps(row, default=float))
    return row


def feed(fuser, name, source, subtitles, options, duration, runs) -> dict:
    results = [paced(fuser, source, subtitles, options) for _ in range(runs)]
    latencies = [x for r in results for x in r["latencies"]]
    rtf = [unpaced(fuser, source, subtitles, options, duration) for _ in range(runs)]
    ends = [end for end, _ in results[0]["rss"]]
    naive_delay = statistics.median(naive(fuser, source, subtitles, options, duration, ends) for _ in range(runs))
    rss = results[-1]["rss"]
    first_minute = max(m for t, m in rss if t <= min(60.0, rss[-1][0]))
    row = {
        "feed": name,
        "media_seconds": duration,
        "segments_per_run": len(results[0]["latencies"]),
        "latency_median": statistics.median(latencies),
        "latency_p95": float(np.percentile(latencies, 95)),
        "latency_max": max(latencies),
        "latency_mean": statistics.fmean(latencies),
        "rtf_median": statistics.median(rtf),
        "rtf_runs": rtf,
        "naive_mean_delay": naive_delay,
        "naive_over_live": naive_delay / statistics.fmean(latencies),
        "rss_mb_first_minute": first_minute,
        "rss_mb_end": rss[-1][1],
    }
    print(json.dumps({k: v for k, v in row.items() if k != "rtf_runs"}, default=float))
    return row


def looped(folder: Path, loops: int):
    """The demo clip ``loops`` times over, through FFmpeg's concat demuxer, played in real time."""
    from mmempathy.media.sources import LiveSource

    listing = folder / "loop.txt"
    listing.write_text("".join(f"file '{DEMO / 'demo.mp4'}'\n" for _ in range(loops)))
    return LiveSource(str(listing), format="concat", options={"safe": "0"}, realtime=True, kind="file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per feed (default: %(default)s)")
    parser.add_argument("--loops", type=int, default=10, help="demo clips in the long feed (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--media-delay", action="store_true", help="only the media each segment waits for")
    args = parser.parse_args()
    from mmempathy import EmotionFuser
    from mmempathy.media.decode import probe
    from mmempathy.media.sources import parse_source

    warnings.simplefilter("ignore", UserWarning)
    if args.media_delay:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [delay_row("demo clip, subtitles", parse_source(DEMO / "demo.mp4"), DEMO / "demo.srt")]
            rows.append(delay_row(f"demo x{args.loops}, speech to text", looped(Path(tmp), args.loops), None))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"media_delay": rows}, indent=2, default=float) + "\n")
        return
    fuser = EmotionFuser.from_pretrained("lite")
    fuser.predict(text="warm up")
    clip = DEMO / "demo.mp4"
    duration = probe(clip).duration
    load = os.getloadavg()[0]
    rows = [feed(fuser, "demo clip, subtitles", parse_source(clip), DEMO / "demo.srt", {}, duration, args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        feed_x = looped(Path(tmp), args.loops)
        rows.append(
            feed(fuser, f"demo x{args.loops}, speech to text", feed_x, None, {}, duration * args.loops, args.runs)
        )
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        "load_average_before": load,
        "load_average_after": os.getloadavg()[0],
        "runs": args.runs,
        "feeds": rows,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
