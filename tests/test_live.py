"""Live input: sources, pacing, EmotionFuser.stream, and ``mmempathy live`` on streams served here
(a loopback HTTP server, a pipe into standard input, a file played in real time)."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from mmempathy.errors import InputError
from mmempathy.media.decode import AudioChunk, VideoFrame
from mmempathy.media.live import LiveSegment, Pacer
from mmempathy.media.sources import parse_source
from mmempathy.testing import draw_face, tone, write_clip

FPS = 10
CLI = [sys.executable, "-m", "mmempathy.cli", "live"]
QUICK = ["--model", "tiny", "--no-vad", "--asr", "off", "--window", "2", "--hop", "2"]


def frames(seconds: float):
    for i in range(round(seconds * FPS)):
        image = np.full((120, 160, 3), 90, np.uint8)
        draw_face(image, (70 + i % 20, 60), 30, smile=np.sin(i / 5))
        yield image


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    return {
        "clip": write_clip(root / "clip.mp4", frames(6.0), fps=FPS, audio=tone(6.0)),
        "ts": write_clip(root / "clip.ts", frames(6.0), fps=FPS, audio=tone(6.0)),  # streamable: for a pipe
        "long": write_clip(root / "long.mp4", frames(30.0), fps=FPS, audio=tone(30.0)),
        "root": root,
    }


@pytest.fixture(scope="module")
def server(media):
    """The clips served over HTTP on the loopback interface."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(media["root"])))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


# --- sources -------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="camera names are per platform")
def test_cameras_are_v4l2_devices_on_linux():
    for given in ("0", 0, "/dev/video0"):
        source = parse_source(given)
        assert (source.url, source.format, source.kind, source.realtime) == ("/dev/video0", "v4l2", "camera", False)
    assert parse_source("2", options={"video_size": "640x480"}).options == {"video_size": "640x480"}


def test_streams_stdin_and_files(media):
    rtsp = parse_source("rtsp://10.0.0.5:554/live")
    assert rtsp.options == {"rtsp_transport": "tcp"} and not rtsp.realtime and rtsp.kind == "network"
    assert parse_source("rtsp://h/s", options={"rtsp_transport": "udp"}).options["rtsp_transport"] == "udp"
    assert parse_source("http://h/a.m3u8").options["reconnect"] == "1"
    stdin = parse_source("-", fmt="mpegts")
    assert (stdin.url, stdin.format, stdin.kind) == ("pipe:0", "mpegts", "stdin")
    played = parse_source(media["clip"])
    assert played.kind == "file" and played.realtime and played.format is None
    assert not parse_source(media["clip"], realtime=False).realtime


@pytest.mark.parametrize(
    ("source", "message"),
    [("ftp://host/file", "unknown stream scheme 'ftp'"), ("no/such/clip.mp4", "media file not found")],
)
def test_bad_sources_are_named(source, message):
    with pytest.raises(InputError, match=message):
        parse_source(source)
    with pytest.raises(InputError, match="timeout must be positive"):
        parse_source("rtsp://h/s", timeout=0)


def test_a_source_that_does_not_answer_is_one_error(tiny):
    with pytest.raises(InputError, match="cannot open live source http://127.0.0.1:9/"):
        next(tiny.stream("http://127.0.0.1:9/nothing.mp4", asr="off"))


# --- pacing --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def items():
    yield VideoFrame(0.0, np.zeros((2, 2, 3), np.uint8))
    yield AudioChunk(0.0, np.zeros(16_000, np.float32))  # due when its last sample is: at 1 s
    yield VideoFrame(1.5, np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_a_paced_source_waits_for_each_item(speed):
    clock = FakeClock()
    pacer = Pacer(True, speed=speed, clock=clock, sleep=clock.sleep)
    assert len(list(pacer(items()))) == 3
    assert clock.sleeps == [1.0 / speed, 0.5 / speed]
    clock.now += 0.25  # a result ready a quarter second after the last item (media time 1.5 s) was due
    assert pacer.latency(1.5) == pytest.approx(0.25)
    assert pacer.latency(1.0) == pytest.approx(0.25 + 0.5 / speed)


def test_an_unpaced_source_never_waits_and_keeps_its_best_pace():
    clock = FakeClock()
    pacer = Pacer(False, clock=clock, sleep=clock.sleep)
    for _item in pacer(items()):
        clock.now += 0.1  # the source delivers faster than real time
    assert clock.sleeps == [] and pacer.slept == 0
    assert pacer.origin == pytest.approx(100.2 - 1.5)  # the last frame came earliest relative to its time
    with pytest.raises(InputError, match="speed must be positive"):
        Pacer(True, speed=0)


# --- EmotionFuser.stream -------------------------------------------------------------------


def test_stream_gives_the_file_pipeline_segments(tiny, media):
    live = list(tiny.stream(media["clip"], realtime=False, window=2.0, hop=2.0, vad=False))
    timeline = tiny.predict_video(media["clip"], window=2.0, hop=2.0, vad=False)
    assert all(isinstance(seg, LiveSegment) for seg in live)
    assert [(s.start, s.end) for s in live] == [(s.start, s.end) for s in timeline] == [(0, 2), (2, 4), (4, 6)]
    for got, want in zip(live, timeline):
        assert got.probs == pytest.approx(want.probs, abs=1e-5) and got.present == want.present
    walls = [s.wall for s in live]
    assert walls == sorted(walls) and all(np.isfinite(s.latency) for s in live)


def test_a_file_played_live_comes_out_as_it_plays(tiny, media):
    started = time.monotonic()
    live = []
    for seg in tiny.stream(media["clip"], speed=3.0, window=1.0, hop=1.0, vad=False, asr="off"):
        live.append((seg, time.monotonic() - started))
    elapsed = time.monotonic() - started
    assert len(live) == 6 and elapsed >= 6.0 / 3.0 - 0.05  # paced: 6 s of media at 3x take 2 s at least
    assert live[0][1] < 6.0 / 3.0  # the first result came while the file was still playing
    # no result before its window's end was live, none far behind it (the tiny model is quick)
    assert all(-0.05 <= seg.latency < 2.0 for seg, _ in live)


def test_an_http_stream_is_read_as_it_arrives(tiny, media, server):
    url = f"{server}/clip.mp4"
    live = list(tiny.stream(url, window=2.0, hop=2.0, vad=False))
    timeline = tiny.predict_video(media["clip"], window=2.0, hop=2.0, vad=False)
    assert [(s.start, s.end) for s in live] == [(s.start, s.end) for s in timeline]
    for got, want in zip(live, timeline):
        assert got.probs == pytest.approx(want.probs, abs=1e-5)


def test_breaking_out_closes_the_source(tiny, media):
    segments = tiny.stream(media["long"], realtime=False, window=1.0, hop=1.0, vad=False, asr="off")
    first = next(segments)
    segments.close()
    assert first.start == 0.0
    with pytest.raises(StopIteration):
        next(segments)


# --- mmempathy live ------------------------------------------------------------------------


def test_cli_reads_a_pipe_into_json_lines(media):
    with open(media["ts"], "rb") as stdin:
        done = subprocess.run([*CLI, "-", *QUICK], stdin=stdin, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(round(x["start"], 1), round(x["end"], 1)) for x in lines] == [(0, 2), (2, 4), (4, 6)]
    assert all(sum(x["probs"].values()) == pytest.approx(1, abs=1e-4) and "latency" in x for x in lines)
    assert "live: 3 segment(s)" in done.stderr


def test_ctrl_c_ends_cleanly_with_every_finished_segment_written(media, tmp_path):
    table = tmp_path / "live.csv"
    cmd = [*CLI, str(media["long"]), *QUICK, "--window", "1", "--hop", "1", "--csv", str(table)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # played in real time: a line a second
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    lines += rest.splitlines()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in lines if line.strip()]  # every line whole
    assert 2 <= len(records) < 30  # stopped early
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["start"]) for r in rows] == [x["start"] for x in records]
    assert "live: stopped" in err and f"live: {len(records)} segment(s)" in err, err


def test_cli_bad_input_is_one_line(media):
    for args, message in [
        (["http://127.0.0.1:9/x.mp4", *QUICK, "--timeout", "2"], "cannot open live source"),
        ([str(media["clip"]), "--option", "novalue", *QUICK], "--option takes KEY=VALUE"),
        ([str(media["clip"]), "--csv", "out.txt", *QUICK], ".csv"),
    ]:
        done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


# --- the --csv file: opened at the first row, an existing one refused, replaced or appended to -------


def test_an_existing_csv_is_refused_before_the_model_loads(media, tmp_path, capsys, no_model):
    from mmempathy.cli import main

    table = tmp_path / "live.csv"
    table.write_text("my notes\n")
    assert main(["live", str(media["clip"]), *QUICK, "--csv", str(table)]) == 2
    err = capsys.readouterr().err
    assert "exists; add --overwrite to replace it or --append" in err and len(err.strip().splitlines()) == 1
    assert main(["live", str(media["clip"]), *QUICK, "--append"]) == 2  # --append without --csv
    assert "--overwrite and --append apply to --csv" in capsys.readouterr().err
    assert table.read_text() == "my notes\n"


def test_a_source_that_fails_leaves_an_existing_csv_untouched(tmp_path, capsys):
    from mmempathy.cli import main

    table, fresh = tmp_path / "live.csv", tmp_path / "fresh.csv"
    table.write_text("start,end\n0,2\n")
    dead = ["http://127.0.0.1:9/x.mp4", *QUICK, "--timeout", "2"]
    assert main(["live", *dead, "--csv", str(table), "--overwrite"]) == 2
    assert "cannot open live source" in capsys.readouterr().err
    assert table.read_text() == "start,end\n0,2\n"
    assert main(["live", *dead, "--csv", str(fresh)]) == 2
    assert not fresh.exists()  # nothing to write: no file made


def test_append_adds_rows_under_one_header_and_overwrite_replaces(media, tmp_path, capsys):
    from mmempathy.cli import main

    table = tmp_path / "new" / "live.csv"  # its folder is made at the first row
    run = ["live", str(media["clip"]), *QUICK, "--no-realtime", "--csv", str(table)]
    assert main([*run, "--max-segments", "1"]) == 0
    with open(table, newline="") as f:
        first = list(csv.reader(f))
    assert main([*run, "--max-segments", "2", "--append"]) == 0
    assert "appended 2 row(s)" in capsys.readouterr().err
    with open(table, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[:2] == first and len(rows) == 4 and rows.count(first[0]) == 1  # one header, 1 + 2 rows
    assert [float(r[rows[0].index("start")]) for r in rows[1:]] == [0.0, 0.0, 2.0]
    assert main([*run, "--max-segments", "1", "--overwrite"]) == 0
    with open(table, newline="") as f:
        assert len(list(csv.reader(f))) == 2
    other = tmp_path / "other.csv"
    other.write_text("start,end,joy\n0,2,0.5\n")
    assert main(["live", str(media["clip"]), *QUICK, "--csv", str(other), "--append"]) == 2
    assert "has other columns than this model writes" in capsys.readouterr().err
    assert other.read_text() == "start,end,joy\n0,2,0.5\n"


# --- fast pipes, stalled pipes, full disks and bytes that are not media (issue 25) ------------------------


def test_a_source_faster_than_real_time_is_not_counted_late_for_what_came_after():
    """A pipe delivers 100 s of media in 1 s, and the results come at its end (a stream that ended early
    held the windows back): each latency counts from when its end came in, not from the file's last second."""
    clock = FakeClock()
    pacer = Pacer(False, clock=clock, sleep=clock.sleep)
    arrived = {}
    for item in pacer(VideoFrame(float(t), np.zeros((2, 2, 3), np.uint8)) for t in range(101)):
        arrived[item.time] = clock.now
        clock.now += 0.01
    clock.now += 0.5  # the results are ready half a second after the last frame came in
    for end in (2.0, 50.0, 100.0):
        assert pacer.latency(end) == pytest.approx(clock.now - arrived[end])  # 1.5 s down to 0.5 s, not 100 s


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    steps=st.lists(st.tuples(st.floats(0.0, 5.0), st.floats(0.0, 5.0)), min_size=1, max_size=30),
    realtime=st.booleans(),
    query=st.integers(0, 29),
)
def test_fuzz_a_latency_is_never_negative_nor_longer_than_the_source_has_been_read(steps, realtime, query):
    """Frames of any pace (media and wall-clock steps): the latency of a segment ending at a frame that was
    read is at least 0 (no result before its data) and at most the time since the first frame came."""
    clock = FakeClock()
    pacer = Pacer(realtime, clock=clock, sleep=clock.sleep)
    times = np.cumsum([media for media, _ in steps])
    first = None
    for _item, (_, wall) in zip(pacer(VideoFrame(float(t), np.zeros((1, 1, 3), np.uint8)) for t in times), steps):
        first = clock.now if first is None else first
        clock.now += wall
    latency = pacer.latency(float(times[query % len(times)]))
    assert -1e-6 <= latency <= clock.now - first + 1e-6


def test_a_pipe_faster_than_real_time_reports_latencies_within_its_run(tmp_path):
    clip = write_clip(tmp_path / "short_video.ts", frames(1.0), fps=FPS, audio=tone(40.0))  # video stops at 1 s
    with open(clip, "rb") as stdin:
        done = subprocess.run([*CLI, "-", *QUICK], stdin=stdin, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 20 and lines[-1]["end"] == pytest.approx(40.0, abs=0.1)
    # 40 s of media read in about a second: no result can be later than the run itself (it said 38 s)
    assert all(0 <= x["latency"] <= x["wall"] + 0.05 for x in lines), [(x["latency"], x["wall"]) for x in lines]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="standard input is waited on with select()")
@pytest.mark.parametrize("sent", [0.0, 0.5])
def test_timeout_ends_a_stalled_stdin_pipe(media, sent):
    """The writer of the pipe keeps it open and sends nothing (more): FFmpeg alone would wait for ever."""
    data = media["ts"].read_bytes()
    cmd = [*CLI, "-", *QUICK, "--timeout", "1.5"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(data[: int(len(data) * sent)])
        proc.stdin.flush()
        status = proc.wait(timeout=120)  # the pipe is still open here
    finally:
        proc.kill()
        proc.stdin.close()
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    assert "Traceback" not in err
    if not sent:
        assert status == 2 and "nothing came on standard input in 1.5 s (--timeout)" in err, err
    else:  # what came before the stall is predicted, as when a network stream times out
        assert status == 0 and "sent nothing for 1.5 s (--timeout): the stream ends there" in err, err
        assert 1 <= len(out.splitlines()) < 3


def test_a_full_disk_under_csv_or_stdout_is_one_line(media, tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    table = tmp_path / "live.csv"
    table.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    run = [*CLI, str(media["clip"]), *QUICK, "--no-realtime"]
    done = subprocess.run([*run, "--csv", str(table), "--overwrite"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"mmempathy: error: cannot write --csv {table} after 0 row(s): No space left on device"
    )
    with open("/dev/full", "w") as full:
        done = subprocess.run(run, stdout=full, stderr=subprocess.PIPE, text=True, timeout=180)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("error: cannot write standard output: No space left on device")


def test_random_bytes_that_ffmpeg_reads_as_text_art_are_refused(tmp_path, capsys):
    from mmempathy.cli import main

    junk = tmp_path / "capture.bin"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())  # 200 kB: "bin"
    assert main(["live", str(junk), *QUICK, "--no-realtime"]) == 2  # it said "0 segment(s)" and exited 0
    err = capsys.readouterr().err
    assert "could only read it as text art (bin)" in err and "0 segment(s)" not in err


@pytest.mark.skipif(sys.platform.startswith("win"), reason="standard input is waited on with select()")
def test_timed_stdin_reads_what_comes_and_gives_up_after_the_timeout(caplog):
    from mmempathy.media.sources import TimedStdin

    read_end, write_end = os.pipe()
    try:
        silent = TimedStdin(0.2, fd=read_end)
        started = time.monotonic()
        with pytest.raises(InputError, match="nothing came on standard input in 0.2 s"):
            silent.read(10)
        assert 0.15 < time.monotonic() - started < 5 and silent.read(10) == b""  # then at its end, quietly
        os.write(write_end, b"abc")
        stalled = TimedStdin(0.2, fd=read_end)
        assert stalled.read(10) == b"abc"
        assert stalled.read(10) == b"" and "sent nothing for 0.2 s" in caplog.text  # the writer keeps it open
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_latency_benchmark_media_delay_is_one_vad_batch_at_most():
    """Smoke run of ``benchmarks/live_latency.py --media-delay`` on the demo clip with its subtitles
    (no Whisper): a segment waits only for the voice activity detector to score past its end, one
    batch (256 ms) and one audio frame (64 ms) at most."""
    import importlib.util

    from mmempathy.media.vad import BATCH_FRAMES, FRAME, SAMPLE_RATE

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "live_latency.py"
    spec = importlib.util.spec_from_file_location("live_latency", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    delays = bench.media_delay(parse_source(bench.DEMO / "demo.mp4"), bench.DEMO / "demo.srt")
    assert len(delays) == 6
    assert all(0.0 <= d <= (BATCH_FRAMES * FRAME + 1024) / SAMPLE_RATE for d in delays), delays
