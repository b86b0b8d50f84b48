"""Run one stage of a stream in a background thread, a bounded number of items ahead of its reader.

The video pipeline's two paths are independent until the segments are put together: decoding and
face detection on one side, voice activity, speech to text and the model on the other. With
:func:`run_ahead` the first runs in a thread of its own while the reader does the second, so a
minute of video costs the slower path rather than the sum. The libraries doing the work (PyAV's
FFmpeg, onnxruntime, OpenCV, CTranslate2, torch) release the GIL, so two cores are used.

Stopping is part of the contract: the reader may stop early (``break``, an error of its own, Ctrl-C)
and the thread then stops at its next item and closes its source; an error raised in the thread
(a damaged file) is raised again in the reader, as if the stage had run there. Nothing waits
forever: the reader gives the thread ``JOIN_TIMEOUT`` seconds to stop, and the thread is a daemon.

Example:
    >>> squares = run_ahead(x * x for x in range(5))
    >>> list(squares)
    [0, 1, 4, 9, 16]
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEPTH = 256  # items the thread may run ahead (video: about 30 s of audio chunks and sampled frames' faces)
JOIN_TIMEOUT = 10.0  # seconds the reader waits for a stopped thread to finish its item
_POLL = 0.1  # seconds between checks for a stop, while the queue is full


class _Done:
    """Put last: the stage ended, with ``error`` if it failed."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


def run_ahead(items: Iterable[T], *, depth: int = DEPTH, name: str = "mmempathy-ahead") -> Iterator[T]:
    """Yield ``items`` in order, producing them in a background thread at most ``depth`` ahead.

    ``items`` is iterated (and, if it is a generator, closed) only by the background thread, so the
    work it does lazily happens there. The thread starts at the first ``next``.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as err:  # handed to the reader, which raises it
            put(_Done(err))
        else:
            put(_Done())
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            got = handoff.get()
            if isinstance(got, _Done):
                if got.error is not None:
                    raise got.error
                return
            yield got  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(JOIN_TIMEOUT)
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s; leaving it to finish on its own", name, JOIN_TIMEOUT)
