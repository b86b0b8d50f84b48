"""A report people can watch: one self-contained HTML page of a :class:`~mmempathy.media.timeline.Timeline`.

The page holds the video player, a timeline that moves with it (the overall reading, one strip per modality
with where it was available, and where the modalities disagree), each segment with its words shaded by how
much they moved the reading, the face pictures and moments of the voice that mattered most
(``Segment.why``, :mod:`mmempathy.explain`), and whether the reading was adjusted to the person
(:mod:`mmempathy.baseline`). Clicking a segment plays the video from there. Nothing is fetched from
elsewhere: styles, script, data and face pictures are inside the page; the video is embedded when it is
small (:data:`EMBED_LIMIT`) and otherwise referenced by its path from the page's folder, so the page and the
video go together.

Example:
    >>> from mmempathy import EmotionFuser  # doctest: +SKIP
    >>> timeline = EmotionFuser.from_pretrained("lite").predict_video("clip.mp4", explain=True)  # doctest: +SKIP
    >>> write_report(timeline, "report.html", video="clip.mp4")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mmempathy.io import atomic_write
from mmempathy.media.timeline import EMOTION_COLORS, Timeline

HTML_FORMATS = (".html", ".htm")
EMBED_LIMIT = 8 * 1024 * 1024  # bytes: a smaller video goes inside the page, a larger one stays beside it
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg",
               ".mov": "video/quicktime", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".wav": "audio/wav",
               ".ogg": "audio/ogg", ".flac": "audio/flac"}  # fmt: skip
OTHER_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948")
PLAIN = {"face": "face", "audio": "voice", "text": "words"}


def render_report(timeline: Timeline, *, video: str | None = None, title: str | None = None) -> str:
    """The page's HTML text; ``video`` is what the player's ``src`` gets (a path or a ``data:`` URI)."""
    template = resources.files("mmempathy").joinpath("assets/report/report.html").read_text(encoding="utf-8")
    name = Path(timeline.source).name if timeline.source else "the recording"
    data = {
        "title": title or f"What the model read in {name}",
        "video": video,
        "labels": list(timeline.labels),
        "colors": {
            label: EMOTION_COLORS.get(label, OTHER_COLORS[i % len(OTHER_COLORS)])
            for i, label in enumerate(timeline.labels)
        },
        "duration": max([timeline.meta.get("duration") or 0.0] + [s.end for s in timeline.segments]),
        "modalities": timeline.modality_names(),
        "baseline": baseline_text(timeline.meta.get("adapt")),
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "probs": s.probs,
                "modalities": s.modalities,
                "weights": s.weights,
                "present": s.present,
                "text": s.text,
                "incongruity": s.incongruity,
                "why": s.why,
                "baseline_text": segment_baseline_text(s.baseline),
            }
            for s in timeline.segments
        ],
    }
    # "</" would end the script element that holds the data: JSON lets it be written "<\/"
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return template.replace("__TITLE__", html.escape(data["title"])).replace("__DATA__", payload)


def write_report(
    timeline: Timeline,
    path: str | Path,
    *,
    video: str | Path | None = None,
    embed: bool | None = None,
    title: str | None = None,
) -> Path:
    """Write the report page to ``path`` (whole or not at all).

    Args:
        timeline: What :func:`~mmempathy.media.pipeline.predict_video` returned (read with ``explain=True`` for
            the words, faces and voice moments; without it the page shows the readings only).
        path: The ``.html`` file.
        video: The media file the player plays (default: ``timeline.source``).
        embed: Put the video inside the page; default: when it is at most :data:`EMBED_LIMIT` bytes. A video left
            outside is referenced by its path relative to the page's folder: keep them together.
        title: The page's heading.

    Raises:
        InputError: ``path`` cannot be written (see :func:`mmempathy.io.atomic_write`).
    """
    text = render_report(timeline, video=video_source(timeline, Path(path), video=video, embed=embed), title=title)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return Path(path)


def video_source(
    timeline: Timeline, page: Path, *, video: str | Path | None = None, embed: bool | None = None
) -> str | None:
    """The player's ``src`` for a page written to ``page``: the video as a ``data:`` URI, or its path from the
    page's folder (``None`` where there is no media file to play)."""
    media = Path(video) if video is not None else (Path(timeline.source) if timeline.source else None)
    if media is None or not media.is_file():
        return None
    if embed is None:
        embed = media.stat().st_size <= EMBED_LIMIT
    if embed:
        kind = MEDIA_TYPES.get(media.suffix.lower(), "video/mp4")
        return f"data:{kind};base64," + base64.b64encode(media.read_bytes()).decode("ascii")
    # a relative URL: a name with "#", "?" or spaces must be quoted to still name the file
    return quote(Path(os.path.relpath(media.resolve(), page.resolve().parent)).as_posix())


def baseline_text(adapt: dict[str, Any] | None) -> str:
    """``Timeline.meta["adapt"]`` (:func:`~mmempathy.media.pipeline.adapt_report`) in a plain sentence."""
    if not adapt:
        return "Each stretch was read on its own: nothing was adjusted to the person."
    if not adapt.get("applied"):
        if adapt.get("mode") == "off":
            return "Each stretch was read on its own: adjusting to the person was switched off."
        return (
            "Each stretch was read on its own: the recording did not allow an adjustment to the person "
            f"({adapt.get('reason', 'too few stretches of each person')})."
        )
    adapted = [f"{PLAIN.get(m, m)} in {n} stretch{'es' if n != 1 else ''}" for m, n in adapt["adapted"].items() if n]
    plain = adapt.get("read_plainly") or {}
    text = (
        "Some people always look or sound a certain way. Here the readings were adjusted to each person's own "
        f"usual face and voice, worked out from this recording: the {' and the '.join(adapted)}."
    )
    if plain:
        text += " Too little was seen of some people to adjust for them: " + ", ".join(
            f"{n} stretch{'es' if n != 1 else ''} of the {PLAIN.get(m, m)}" for m, n in plain.items()
        )
        text += " were read on their own."
    return text


def segment_baseline_text(baseline: dict[str, dict[str, float]]) -> str:
    """A segment's ``baseline`` in plain words ("" where it was read on its own)."""
    parts = [
        f"{PLAIN.get(m, m)} (from {int(b.get('segments', 0))} stretches of this person)" for m, b in baseline.items()
    ]
    return "Adjusted to this person's usual " + " and ".join(parts) + "." if parts else ""
