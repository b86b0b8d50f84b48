"""The pace of real time: decoded media passed on as its time comes, and how late a result is.

Used by live input (:mod:`mmempathy.media.live`) and taken by the file pipeline
(:func:`~mmempathy.media.pipeline.iter_samples`'s ``pacer``), which therefore need not know of
each other.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from mmempathy.errors import InputError

if TYPE_CHECKING:
    from mmempathy.media.decode import AudioChunk, VideoFrame


class Pacer:
    """Passes decoded items on no sooner than their media time has passed on the wall clock.

    Also keeps the wall-clock time at which media time 0 was live (:attr:`origin`), so that the
    delay of each result (:meth:`latency`) can be told. Items that come in late (a slow source,
    or a model that cannot keep up) pass at once; the lateness shows in the latency. An unpaced
    source's origin is its best pace so far: a segment's latency counts from the best pace known
    when its end came in, so a source faster than real time (a file piped in) does not make its
    early segments look as late as the media read after them.

    Args:
        realtime: Sleep until each item is due; without it the source sets the pace.
        speed: Media seconds per wall-clock second (2.0 plays a file twice as fast).
    """

    def __init__(
        self,
        realtime: bool,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not speed > 0:
            raise InputError(f"speed must be positive, got {speed}")
        self.realtime = realtime
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self.origin: float | None = None  # wall-clock time of media time 0
        self.slept = 0.0  # seconds spent waiting for items to be due
        # unpaced: (media time first reached, origin then), oldest first; queries drop what they pass
        self._marks: deque[tuple[float, float]] = deque(maxlen=100_000)

    def __call__(self, items: Iterable[VideoFrame | AudioChunk]) -> Iterator[VideoFrame | AudioChunk]:
        for item in items:
            due = getattr(item, "end", item.time) / self.speed  # audio is there once its last sample is
            now = self.clock()
            if self.origin is None:
                self.origin = now - due
            if self.realtime:
                wait = self.origin + due - now
                if wait > 0:
                    self.sleep(wait)
                    self.slept += wait
            else:  # the earliest an item was there: results are measured against the source's best pace
                self.origin = min(self.origin, now - due)
                if not self._marks or due > self._marks[-1][0]:
                    self._marks.append((due, self.origin))
            yield item

    def latency(self, media_time: float) -> float | None:
        """Wall-clock seconds since ``media_time`` was live (``None`` before anything was read)."""
        if self.origin is None:
            return None
        due = media_time / self.speed
        return self.clock() - (self._origin_at(due) + due)

    def _origin_at(self, due: float) -> float:
        """The origin as it stood when the item holding ``due`` came in (paced sources: the only one)."""
        marks = self._marks
        while len(marks) > 1 and marks[0][0] < due:  # segments end in time order: what they pass is not asked again
            marks.popleft()
        return marks[0][1] if marks and marks[0][0] >= due else self.origin
