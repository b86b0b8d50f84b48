"""Corrections from elsewhere: the segments of a video's timeline in a CSV, and the coach's answers."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmempathy.errors import InputError
from mmempathy.feedback.recording import label_name, record
from mmempathy.feedback.store import FeedbackStore, counts_text, open_store
from mmempathy.sample import Sample


def read_segments_csv(path: str | Path, *, model_modalities: Iterable[str] | None = None) -> list[tuple[Sample, str]]:
    """Corrected timeline segments from a CSV with columns ``source, start, end, label`` (seconds), each
    segment re-read from its media file through :func:`mmempathy.media.pipeline.iter_samples` (the
    segment's text, if any, comes from an optional ``text`` column; speech is not transcribed)."""
    from mmempathy.media.pipeline import VideoConfig, iter_samples
    from mmempathy.media.subtitles import Cue

    path = Path(path)
    if "\0" in str(path) or not path.is_file():
        raise InputError(f"segments CSV not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"source", "start", "end", "label"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"{path} lacks the columns {sorted(missing)} (need source, start, end, label)")
            rows = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:  # a binary file, a NUL byte
        raise InputError(f"{path} is not a UTF-8 CSV text file ({err})") from None
    by_source: dict[str, list[tuple[Cue, str]]] = {}
    for line, row in rows:
        if None in row or None in row.values():  # DictReader's marks of a row longer or shorter than the header
            got = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise InputError(f"{path}:{line}: has {got} fields where the header has {len(reader.fieldnames)}")
        if not row["source"].strip() or "\0" in row["source"]:
            raise InputError(f"{path}:{line}: source must name a media file, got {row['source']!r}")
        try:
            start, end = float(row["start"]), float(row["end"])
        except (TypeError, ValueError):
            raise InputError(
                f"{path}:{line}: start and end must be seconds, got {row['start']!r}, {row['end']!r}"
            ) from None
        if not 0 <= start < end:
            raise InputError(f"{path}:{line}: need 0 <= start < end, got {start}, {end}")
        source = Path(row["source"])
        if not source.is_absolute():
            source = path.parent / source
        by_source.setdefault(str(source), []).append((Cue(start, end, (row.get("text") or "").strip()), row["label"]))
    out: list[tuple[Sample, str]] = []
    config = VideoConfig(segment_by="subtitles", asr="off", vad=False, min_segment=0.0)  # read as labelled
    for source, cues in by_source.items():
        cues = sorted(cues, key=lambda c: c[0].start)
        samples = list(iter_samples(source, subtitles=[c for c, _ in cues], config=config, modalities=model_modalities))
        for sample in samples:  # match each read segment to its row by its times
            cue, label = min(
                cues, key=lambda c: abs(c[0].start - sample.meta["start"]) + abs(c[0].end - sample.meta["end"])
            )
            if not cue.text:
                sample.text = None
            sample.meta.update(file=source)
            out.append((sample, label))
    return out


def record_segments_csv(
    fuser: Any, path: str | Path, *, user: str | None = None, store: str | Path | FeedbackStore | None = None
) -> list[int]:
    """Store the corrections of a segments CSV (see :func:`read_segments_csv`); all or none."""
    pairs = read_segments_csv(path, model_modalities=[m.value for m in fuser.modalities])
    for _, label in pairs:
        label_name(fuser, label)
    if not pairs:
        raise InputError(f"{path} gave no segments")
    return record(
        fuser,
        [s for s, _ in pairs],
        [lab for _, lab in pairs],
        user=user,
        store=store,
        source="csv",
        metas=[{k: s.meta.get(k) for k in ("file", "start", "end")} for s, _ in pairs],
    )


@dataclass
class CoachImport:
    """What :func:`import_coach` did: the ids stored, and how many answers were skipped for each reason."""

    ids: list[int]
    skipped: dict[str, int]

    def __str__(self) -> str:
        text = f"imported {len(self.ids)} coach answer(s)"
        return text + (f"; skipped {counts_text(self.skipped)}" if self.skipped else "")


class SkippedAnswer(InputError):
    """A coach answer that cannot become a correction; the message is the reason (counted, not raised)."""


def import_coach(
    fuser: Any,
    coach_db: str | Path,
    library: Any,
    *,
    store: str | Path | FeedbackStore | None = None,
    use: str = "answer",
    people: Sequence[str] | None = None,
) -> CoachImport:
    """Copy the coach's answers into the feedback store, one correction per answer, user = the person.

    Args:
        coach_db: The coach's SQLite file (:class:`mmempathy.coach.db.Database`).
        library: The coach's :class:`~mmempathy.coach.items.Library` (to find each item's media).
        use: ``"answer"`` (what the person perceived: personalises the model to them) or ``"truth"``
            (the item's source label).
        people: Only these people's answers (default: everyone's).

    Returns:
        The ids stored and, per reason, how many answers were skipped: already imported (same person,
        item and time), the item no longer in the library, an answer on a whole clip (only timed
        segments of a video are read), missing or unreadable media, a label the model lacks, nothing
        the model reads.
    """
    from mmempathy.coach.db import Database

    if use not in ("answer", "truth"):
        raise InputError(f"use must be 'answer' or 'truth', not {use!r}")
    if not Path(coach_db).is_file():  # the coach's Database would create an empty one
        raise InputError(f"coach database not found: {coach_db}")
    db = open_store(fuser, store)
    done = {
        (c.user, c.meta.get("item_id"), c.meta.get("answered"))
        for c in db.corrections(everyone=True)
        if c.source == "coach"
    }
    with Database(coach_db).connect() as conn:
        rows = conn.execute(
            "SELECT p.name AS person, a.item_id, a.truth, a.answer, a.answered FROM answers a"
            " JOIN people p ON p.id = a.person_id ORDER BY a.id"
        ).fetchall()
    result = CoachImport([], {})
    for row in rows:
        if people is not None and row["person"] not in people:
            continue
        try:
            if (row["person"], row["item_id"], row["answered"]) in done:
                raise SkippedAnswer("already imported")
            sample = coach_answer_sample(fuser, library, row[use], row["item_id"])
            meta = {"item_id": row["item_id"], "answered": row["answered"], "truth": row["truth"]}
            try:
                stored = record(fuser, [sample], [row[use]], user=row["person"], store=db, source="coach", metas=[meta])
            except InputError as err:  # the encoders found nothing usable in it (silence, an empty frame)
                raise SkippedAnswer("whose inputs gave the model nothing to read") from err
            result.ids += stored
        except SkippedAnswer as why:
            result.skipped[str(why)] = result.skipped.get(str(why), 0) + 1
    return result


def coach_answer_sample(fuser: Any, library: Any, label: Any, item_id: str) -> Sample:
    """The sample a coach answer corrects, checked as :func:`record` would; :class:`SkippedAnswer` if none."""
    try:
        label_name(fuser, label)
    except InputError:
        raise SkippedAnswer("with a label this model lacks") from None
    item = library.items.get(item_id)
    if item is None:
        raise SkippedAnswer("on items no longer in the coach's library")
    sample = coach_sample(item)
    if not [m for m in sample.present() if m in fuser.modalities]:
        raise SkippedAnswer("on items with none of this model's modalities")
    return sample


def coach_sample(item: Any) -> Sample:
    """The inputs of a coach item (text, a voice or face file, a video segment).

    Raises:
        SkippedAnswer: The item has none (a text item without text, a whole clip, missing or unreadable
            media); the message says which.
    """
    if item.kind == "text":
        if not item.text:
            raise SkippedAnswer("on text items without text")
        return Sample(text=item.text.split(": ", 1)[-1])
    if item.kind == "video" and (item.start is None or item.end is None):
        raise SkippedAnswer("on whole clips (only timed segments of a video are read)")
    if item.path is None or not Path(item.path).is_file():
        raise SkippedAnswer("whose media file is missing")
    try:
        return _read_coach_media(item)
    except (OSError, RuntimeError, ValueError) as err:  # soundfile's and the decoder's errors; InputError too
        raise SkippedAnswer("whose media cannot be read") from err


def _read_coach_media(item: Any) -> Sample:
    if item.kind == "face":
        import cv2

        image = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise InputError(f"not an image: {item.path}")
        return Sample(faces=image)
    if item.kind == "voice":
        import soundfile as sf

        wave, rate = sf.read(str(item.path), dtype="float32", always_2d=True)
        return Sample(text=item.text, audio=wave.mean(axis=1), sample_rate=rate)
    from mmempathy.media.pipeline import VideoConfig, iter_samples
    from mmempathy.media.subtitles import Cue

    cue = Cue(float(item.start), float(item.end), item.text or "")
    got = list(
        iter_samples(item.path, subtitles=[cue], config=VideoConfig(segment_by="subtitles", asr="off", vad=False))
    )
    if not got:
        raise InputError(f"no segment read from {item.path}")
    return got[0]
