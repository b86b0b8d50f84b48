"""The video pipeline's stages in threads (mmempathy.media.ahead): order, bounds, errors, and stopping.

A pipeline of threads must stop cleanly whichever side stops first (the reader breaks off, raises, or is
interrupted; the stage fails), and never hang on a stage that does not answer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from mmempathy import EmotionFuser
from mmempathy.errors import InputError
from mmempathy.media import ahead
from mmempathy.media.ahead import run_ahead
from mmempathy.media.pipeline import predict_video
from mmempathy.testing import draw_face, tone, write_clip


def stage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mmempathy-")]


class Source:
    """Numbers, produced one by one, remembering how far it got and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None, delay: float = 0.0):
        self.n, self.fail_at, self.delay = n, fail_at, delay
        self.produced = 0
        self.closed = False
        self.thread: str | None = None

    def __iter__(self):
        try:
            for i in range(self.n):
                self.thread = threading.current_thread().name
                if i == self.fail_at:
                    raise InputError(f"damaged at item {i}")
                time.sleep(self.delay)
                self.produced += 1
                yield i
        finally:
            self.closed = True


def test_items_come_in_order_and_are_made_in_the_stage_thread():
    source = Source(1000)
    assert list(run_ahead(iter(source), name="mmempathy-test")) == list(range(1000))
    assert source.thread == "mmempathy-test" and source.closed
    assert not stage_threads()


def test_the_stage_runs_at_most_depth_items_ahead():
    source = Source(1000)
    reader = run_ahead(iter(source), depth=8, name="mmempathy-test")
    ahead_by = []
    for taken, _ in enumerate(reader, start=1):
        time.sleep(0.002 if taken < 20 else 0)  # a slow reader lets the stage fill its queue
        ahead_by.append(source.produced - taken)
    assert max(ahead_by) <= 8 + 1  # the queue, and the one item the stage holds while waiting
    assert max(ahead_by) >= 4  # it did run ahead


def test_an_error_in_the_stage_is_raised_in_the_reader():
    source = Source(100, fail_at=30)
    got = []
    with pytest.raises(InputError, match="damaged at item 30"):
        for item in run_ahead(iter(source), name="mmempathy-test"):
            got.append(item)
    assert got == list(range(30))  # everything before the failure was read
    assert source.closed and not stage_threads()


@pytest.mark.parametrize("how", ["break", "error", "interrupt"])
def test_a_reader_that_stops_stops_the_stage_and_closes_its_source(how):
    source = Source(10_000, delay=0.001)
    reader = run_ahead(iter(source), depth=4, name="mmempathy-test")
    stopping = {"break": None, "error": RuntimeError("the model failed"), "interrupt": KeyboardInterrupt()}[how]
    try:
        for item in reader:
            if item == 20:
                if stopping is None:
                    break
                raise stopping
    except (RuntimeError, KeyboardInterrupt):
        pass
    reader.close()
    assert source.closed and source.produced < 100
    assert not stage_threads()


def test_a_stage_that_does_not_answer_is_not_waited_for_forever(monkeypatch, caplog):
    monkeypatch.setattr(ahead, "JOIN_TIMEOUT", 0.3)
    release = threading.Event()

    def stuck():
        yield 1
        release.wait(30)  # a read that blocks (a stalled live source)
        yield 2

    reader = run_ahead(stuck(), name="mmempathy-stuck")
    assert next(reader) == 1
    start = time.monotonic()
    with caplog.at_level("WARNING", logger="mmempathy.media.ahead"):
        reader.close()
    assert time.monotonic() - start < 5
    assert "did not stop" in caplog.text
    release.set()  # the stage then sees the stop and ends
    for thread in stage_threads():
        thread.join(5)
    assert not stage_threads()


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        next(run_ahead(iter([1]), depth=0))


# --- the video pipeline's stages --------------------------------------------------------------------------


def frames(seconds: float, fps: int = 10):
    for i in range(round(seconds * fps)):
        image = np.full((180, 320, 3), 90, np.uint8)
        draw_face(image, (150 + i % 20, 90), 40, smile=np.sin(i / 5))
        yield image


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("ahead") / "clip.mp4", frames(8.0), fps=10, audio=tone(8.0))


@pytest.fixture(scope="module")
def fuser():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        return EmotionFuser.from_pretrained("tiny")


def test_overlapped_stages_read_exactly_as_stages_in_turn(fuser, clip):
    options = {"window": 1.0, "hop": 0.5, "vad": False, "progress": False, "face_detector": "haar"}
    overlapped = predict_video(fuser, clip, overlap=True, **options)
    in_turn = predict_video(fuser, clip, overlap=False, **options)
    assert len(overlapped) == len(in_turn) == 15
    for a, b in zip(overlapped, in_turn):
        assert (a.start, a.end, a.present, a.text) == (b.start, b.end, b.present, b.text)
        assert a.probs == pytest.approx(b.probs, abs=1e-6)
    assert not stage_threads()


def test_a_damaged_file_fails_the_same_way_and_leaves_no_thread(fuser, clip, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(clip.read_bytes())
    for offset in range(len(data) // 3, len(data), 997):  # garble the second two thirds
        data[offset] ^= 0xFF
    damaged.write_bytes(bytes(data))
    outcomes = []
    for overlap in (True, False):
        try:
            timeline = predict_video(fuser, damaged, overlap=overlap, vad=False, progress=False)
            outcomes.append(("ok", len(timeline)))
        except InputError as err:
            outcomes.append(("error", str(err)))
    assert outcomes[0] == outcomes[1]
    assert not stage_threads()


def test_a_failing_model_stops_the_stages(fuser, clip, monkeypatch):
    def failing(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C arrives in the main thread, inside the model

    monkeypatch.setattr(fuser, "predict_samples", failing)
    with pytest.raises(KeyboardInterrupt):
        predict_video(fuser, clip, window=1.0, batch_size=1, vad=False, progress=False)
    assert not stage_threads()


def test_ctrl_c_stops_a_video_being_read(tmp_path):
    """A real SIGINT to a process reading a long video: it ends at once, with KeyboardInterrupt, no hang."""
    long_clip = write_clip(tmp_path / "long.mp4", frames(60.0), fps=10, audio=tone(60.0))
    script = (
        "import signal, sys, time, warnings; warnings.simplefilter('ignore')\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even where the tests ignore it\n"
        "from mmempathy import EmotionFuser\n"
        "from mmempathy.media.pipeline import predict_video\n"
        "fuser = EmotionFuser.from_pretrained('tiny')\n"
        "read = fuser.predict_samples\n"
        "def slow(*args, **kwargs):  # a model slow enough for the signal to come while it reads\n"
        "    if not slow.calls:\n"
        "        print('reading', flush=True)  # the video is being read: stages and model all running\n"
        "    slow.calls += 1\n"
        "    time.sleep(0.1)\n"
        "    return read(*args, **kwargs)\n"
        "slow.calls = 0\n"
        "fuser.predict_samples = slow\n"
        "try:\n"
        f"    predict_video(fuser, {str(long_clip)!r}, window=0.5, hop=0.5, batch_size=1, progress=False)\n"
        "    print('finished before the signal', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    import threading\n"
        "    alive = [t.name for t in threading.enumerate() if t.name.startswith('mmempathy-')]\n"
        "    print('interrupted', alive, flush=True)\n"
        "    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "reading"  # 120 segments at 0.1 s each: some 12 s to go
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "interrupted []" in out


def test_a_failing_speech_stage_stops_the_decoding_stages(fuser, clip, monkeypatch):
    """An error inside the reader's own stage (speech to text, say) stops the threads at once, not when the
    traceback that keeps the generators alive is let go."""
    from mmempathy.media import pipeline

    heard = [0]
    hear = pipeline._Assembler._hear

    def failing(self, chunk):
        heard[0] += 1
        if heard[0] == 5:
            raise RuntimeError("speech to text failed")
        hear(self, chunk)

    monkeypatch.setattr(pipeline._Assembler, "_hear", failing)
    with pytest.raises(RuntimeError, match="speech to text failed") as caught:
        predict_video(fuser, clip, vad=False, progress=False)
    assert caught.value.__traceback__ is not None  # the frames are still alive here
    assert not stage_threads()
