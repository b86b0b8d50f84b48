"""From a video (or audio) file to an emotion :class:`~mmempathy.media.timeline.Timeline`.

The file is decoded once, as a stream: sampled frames go through face detection and tracking as
they arrive, audio is buffered only as far back as the oldest segment still open, and each
segment becomes a :class:`~mmempathy.sample.Sample` the moment both streams have passed its end.
Samples are predicted in batches as they complete, so memory does not grow with the video.
The spans are made in :mod:`mmempathy.media.segmenting` and filled in :mod:`mmempathy.media.assembler`;
this module reads the file through them and the model.

Segments (``segment_by``) are the subtitle cues when subtitles are given, otherwise fixed windows
(``window`` seconds every ``hop`` seconds), or speech turns (``"speech"``: the regions the voice
activity detector finds, cut to ``max_segment`` and stretched to ``min_segment`` seconds).

Text comes from the subtitles, else from a plain transcript (spread over the file in proportion to
word length: an even speaking rate is assumed), else, with ``asr="auto"``, from Whisper
(:mod:`mmempathy.media.asr`): the speech is transcribed in VAD-chosen pieces as the file streams by,
and each word goes to the segments that hold its midpoint. ``Timeline.meta["text_source"]`` says
which (``"subtitles"``, ``"transcript"``, ``"asr"`` or ``None``).

With ``vad=True`` a segment whose audio holds less than ``min_speech`` seconds of speech has its
audio modality marked missing (its ``meta["audio_missing"]`` says ``"no speech"``): an emotion is
not read from silence or noise. A modality that a segment lacks (no audio track, no speech, no face
found, no text) is simply missing from its sample; the model fuses what is there.

Memory: besides the model, the stream holds the frames (face crops) and audio of the segments
still open, the audio from the first speech not yet transcribed (at most about a minute and a half: Whisper
calls take up to 28 s of speech and wait at most 60 s for more), the words of open segments, and
per 32 ms of audio one VAD probability and label (about 0.5 MB an hour). No stream is held whole.
The stages (decoding, face finding, segmenting, the model: ``overlap=True``, :mod:`mmempathy.media.ahead`) hand
items on through queues of at most 256 items (decoded frames among them: some 25 MB with frames converted at most
960 px) and ``2 * batch_size`` segments.
With the person baseline (``adapt="auto"``, :mod:`mmempathy.baseline`) every segment's encoder outputs are
kept until the end, when the faces and voice are read again against their people's baselines: about
0.25 MB a segment with ``lite`` (measured on the demo clip: text, voice and face; some 300 MB for an hour of
3-s windows); ``adapt="off"`` keeps memory flat.

Example:
    >>> from mmempathy import EmotionFuser  # doctest: +SKIP
    >>> fuser = EmotionFuser.from_pretrained("lite")  # doctest: +SKIP
    >>> timeline = predict_video(fuser, "clip.mp4", subtitles="clip.srt")  # doctest: +SKIP
    >>> print(timeline.to_table())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from mmempathy.errors import InputError
from mmempathy.media.ahead import run_ahead
from mmempathy.media.asr import SpeechRecognizer
from mmempathy.media.assembler import _Assembler, _with_faces
from mmempathy.media.config import SEGMENT_BY, VideoConfig  # noqa: F401  (SEGMENT_BY: this module's name for it too)
from mmempathy.media.decode import SAMPLE_RATE, AudioChunk, VideoFrame, iter_media, open_media, probe
from mmempathy.media.faces import FaceDetector, FaceExtractor
from mmempathy.media.segmenting import _cues, _Span, _windows, _words
from mmempathy.media.sources import LiveSource
from mmempathy.media.subtitles import Cue
from mmempathy.media.timeline import Segment, Timeline
from mmempathy.modality import Modality
from mmempathy.sample import Sample

if TYPE_CHECKING:
    from mmempathy.baseline import BaselineReader
    from mmempathy.media.pacing import Pacer
    from mmempathy.model import EmotionFuser
    from mmempathy.output import EmotionResult

log = logging.getLogger(__name__)


def predict_video(
    fuser: EmotionFuser,
    path: str | Path,
    subtitles: str | Path | list[Cue] | None = None,
    transcript: str | None = None,
    *,
    config: VideoConfig | None = None,
    **overrides: Any,
) -> Timeline:
    """Predict an emotion timeline for a video or audio file.

    Args:
        fuser: The model; its ``predict_samples`` is called on batches of segments.
        path: The media file (anything FFmpeg reads; audio-only files work too).
        subtitles: An ``.srt``/``.vtt`` file, or parsed cues: one segment per cue, with its text.
        transcript: Text of the whole file without timing, spread over the segments.
        config: Segmenting and decoding settings; keyword arguments override its fields
            (``fps=1, window=5, hop=2.5, batch_size=32, asr="off", segment_by="speech"`` ...).

    Returns:
        One segment per cue, window or speech turn, with fused and per-modality probabilities.
        ``meta`` records the segmentation, ``text_source`` and, when Whisper ran, ``asr`` (model,
        language, number of calls and words); ``cue_merging`` (segmenting by subtitles: how many
        cues :func:`~mmempathy.media.subtitles.consolidate_cues` merged, else ``None``); ``dropped``
        (every cue, window or speech turn not made into a segment: ``kind``, ``start``, ``end``,
        ``reason``, and ``text`` for a cue; dropped cues are also logged as a warning); and
        ``skipped`` (``[start, end]`` of the segments that had nothing the model reads).

    Raises:
        InputError: The file is missing or unusable, the subtitles do not parse, or both
            subtitles and a transcript were given.
        CheckpointError: Speech-to-text was needed and its model could not be found or loaded.
    """
    config = _resolve(config, overrides)
    settings = sample_settings(fuser, config)
    reads = settings["modalities"]
    segments: list[Segment] = []
    skipped: list[list[float]] = []  # segments with nothing the model reads (no speech, face or text)
    batch: list[Sample] = []
    report: dict[str, Any] = {}
    samples = iter_samples(
        path,
        subtitles,
        transcript,
        config=config,
        **settings,
        report=report,
    )
    if config.overlap:  # segments are made (speech to text included) while the model reads the ones made
        samples = run_ahead(samples, depth=2 * config.batch_size, name=f"mmempathy-segments:{Path(path).name}")
    reader = baseline_reader(fuser, config.adapt)
    kept: list[Sample] = []  # with a person baseline: the samples (their media dropped) until all are read
    try:
        for sample in samples:
            if not readable(sample, reads):
                skipped.append([sample.meta["start"], sample.meta["end"]])
                continue
            batch.append(sample)
            if len(batch) == config.batch_size:
                segments += read_batch(fuser, reader, batch, kept, explain=config.explain)
                batch = []
        if batch:
            segments += read_batch(fuser, reader, batch, kept, explain=config.explain)
    finally:
        # On an error or Ctrl-C the file and the progress bar close now, not at garbage collection
        # (a bar closed then would be drawn again after the error message).
        samples.close()
    if reader is not None:
        segments = segments_of(kept, reader.results())
    meta = {**report, "config": asdict(replace(config, face_size=settings["face_size"])), "skipped": skipped}
    meta["adapt"] = adapt_report(config.adapt, reader, segments)
    if skipped:
        log.warning("%d segment(s) of %s had no speech, face or text and were left out", len(skipped), path)
    return Timeline(segments, labels=tuple(fuser.labels), source=str(path), meta=meta)


def iter_samples(
    path: str | Path,
    subtitles: str | Path | list[Cue] | None = None,
    transcript: str | None = None,
    *,
    config: VideoConfig | None = None,
    face_size: int = 112,
    sample_rate: int = SAMPLE_RATE,
    modalities: Iterable[str] | None = None,
    report: dict[str, Any] | None = None,
    pacer: Pacer | None = None,
) -> Iterator[Sample]:
    """The segments of a media file (or live source) as :class:`Sample` s, yielded as soon as each is complete.

    Each sample has the segment's audio slice, the crops of the main face in its sampled frames
    (``[F, face_size, face_size, 3]`` uint8), its text, and ``meta`` with ``start``, ``end``,
    ``frames`` (frames sampled), ``face_frames`` (those with a face), ``speech`` (seconds of
    speech the VAD found, when it ran) and ``audio_missing`` (``"no speech"`` when the VAD set the
    audio aside). A segment may have none of them (silence without a face or words).
    ``modalities`` (``"text"``, ``"audio"``, ``"face"``) limits the work to what a model reads:
    without ``"face"`` no frame is even decoded. ``report``, if given, receives the file's
    ``duration``, ``has_video`` and ``has_audio``, then ``segmentation``, ``text_source``, ``asr``,
    ``cue_merging`` and ``dropped`` (see :func:`predict_video`). ``path`` may be a
    :class:`~mmempathy.media.sources.LiveSource`; a :class:`~mmempathy.media.pacing.Pacer` given as
    ``pacer`` sees every decoded item first (it plays a file in real time and clocks the results).
    """
    with open_media(path) as container:  # opened once: a live source cannot be opened twice
        yield from _samples(
            container,
            path,
            subtitles,
            transcript,
            config=config or VideoConfig(),
            face_size=face_size,
            sample_rate=sample_rate,
            modalities=modalities,
            report=report if report is not None else {},
            pacer=pacer,
        )


def _samples(
    container: Any,
    path: str | Path | LiveSource,
    subtitles: str | Path | list[Cue] | None,
    transcript: str | None,
    *,
    config: VideoConfig,
    face_size: int,
    sample_rate: int,
    modalities: Iterable[str] | None,
    report: dict[str, Any],
    pacer: Pacer | None,
) -> Iterator[Sample]:
    wanted = {Modality.parse(m) for m in (modalities if modalities is not None else Modality)}
    if subtitles is not None and transcript is not None:
        raise InputError("give either subtitles or a transcript, not both")
    info = probe(container)
    report.update(duration=info.duration, has_video=info.has_video, has_audio=info.has_audio)
    if info.duration is not None and info.duration <= 0:
        raise InputError(f"media file has zero duration: {path}")
    by = config.segment_by if config.segment_by != "auto" else ("subtitles" if subtitles is not None else "window")
    if by == "subtitles" and subtitles is None:
        raise InputError("segment_by='subtitles' needs subtitles")
    # Cues become segments only when segmenting by them: then tiny or crowded cues are merged.
    cues, cue_merging = _cues(subtitles, merge=by == "subtitles", min_duration=config.min_segment)
    if by == "speech" and not info.has_audio:
        raise InputError(f"segment_by='speech' needs an audio track, and {path} has none")
    keep_text = Modality.TEXT in wanted
    transcribe = config.asr == "auto" and cues is None and transcript is None and keep_text and info.has_audio
    recognizer = (
        SpeechRecognizer(config.asr_model, language=config.asr_language, threads=config.asr_threads)
        if transcribe
        else None
    )  # made now: a bad model directory fails before any decoding; the model itself loads on first speech
    words: list[Cue] | None = None
    whole_text: str | None = None
    if keep_text and cues is not None and by != "subtitles":
        words = list(cues)  # subtitle text over windows or turns: each cue goes where its midpoint is
    elif keep_text and transcript is not None:
        spread = _words(transcript, info.duration)
        words, whole_text = (None, spread) if isinstance(spread, str) else (spread, None)
    elif transcribe:
        words = []  # filled by Whisper as the stream goes
    report.update(
        segmentation={"subtitles": "subtitles", "window": "windows", "speech": "speech"}[by],
        text_source=("subtitles" if cues is not None else "transcript" if transcript is not None else "asr")
        if keep_text and (cues is not None or transcript is not None or transcribe)
        else None,
        asr=None,
        cue_merging=cue_merging,
    )
    spans: Iterator[_Span] | None
    if by == "subtitles":
        spans = (_Span(c.start, c.end, (c.text or None) if keep_text else None) for c in cues)
    elif by == "window":
        spans = _windows(config.window, config.hop)
    else:
        spans = None  # speech turns come from the VAD as it goes
    attach_audio = info.has_audio and Modality.AUDIO in wanted
    decode_audio = info.has_audio and (attach_audio or transcribe or by == "speech")
    info = replace(info, has_video=info.has_video and Modality.FACE in wanted, has_audio=decode_audio)
    assembler = _Assembler(
        spans,
        FaceExtractor(
            face_size,
            detector=FaceDetector(
                detector=config.face_detector,
                detect_side=config.detect_side,
                threads=1 if config.overlap else 2,  # overlapped, the other stages use the second core
            ),
            detect_every=config.detect_every,
        ),
        config,
        info=info,
        sample_rate=sample_rate,
        source=str(path),
        kind=by,
        words=words,
        whole_text=whole_text,
        attach_audio=attach_audio,
        recognizer=recognizer,
    )
    show = config.progress if config.progress is not None else (info.duration or 0) > 60
    name = str(path) if isinstance(path, LiveSource) else Path(path).name
    with tqdm(total=round(info.duration or 0, 1), unit="s", disable=not show, desc=name) as bar:
        stream = iter_media(
            container,
            fps=config.fps,
            video=info.has_video,
            audio=info.has_audio,
            sample_rate=sample_rate,
            max_side=config.frame_max_side,
            threads=1 if config.overlap else 0,
            fast=config.fast_decode,
        )
        items: Iterable[VideoFrame | AudioChunk] = pacer(stream) if pacer is not None else stream
        if config.overlap:  # decoding, face finding and the rest each in a thread: three stages, two cores
            items = run_ahead(items, name=f"mmempathy-decode:{name}")
        faced = _with_faces(items, assembler.extractor)
        if config.overlap and info.has_video:
            faced = run_ahead(faced, name=f"mmempathy-faces:{name}")
        try:
            for item in faced:
                yield from assembler.add(item)
                if show and math.isfinite(assembler.clock):
                    bar.update(max(0.0, round(min(assembler.clock, bar.total) - bar.n, 1)))
        finally:
            faced.close()  # the stages stop now, however the loop ended (an error here, Ctrl-C, the reader closing)
        yield from assembler.finish()
        bar.update(max(0.0, bar.total - bar.n))
    if assembler.transcriber is not None:
        report["asr"] = {
            "model": recognizer.name,
            "language": assembler.transcriber.language,
            "language_probability": assembler.transcriber.language_probability,
            "calls": assembler.transcriber.calls,
            "words": assembler.heard,
        }
    report["dropped"] = assembler.dropped
    cues_dropped = [d for d in assembler.dropped if d["kind"] == "cue"]
    if cues_dropped:
        first = cues_dropped[0]
        log.warning(
            "%d subtitle cue(s) of %s were dropped (listed in meta['dropped']); the first, %.2f-%.2f s: %s",
            len(cues_dropped),
            path,
            first["start"],
            first["end"],
            first["reason"],
        )
    if assembler.emitted == 0:
        why = {
            "subtitles": "no subtitle cue falls within it",
            "speech": "no speech was found in it",
        }.get(by, "nothing in it could be decoded")
        raise InputError(f"no segment could be made from {path}: {why}")


WHOLE = 1e9  # seconds: a window longer than any clip, cut where the clip ends


def clip_inputs(
    path: str | Path, *, face_size: int = 112, fps: float = 2.0, max_faces: int = 16, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A whole clip's audio and main-face crops, decoded exactly as :func:`predict_video` decodes a segment.

    The one path from a clip to model inputs: datasets (:func:`mmempathy.data.base.load_clip`) and
    training (:class:`mmempathy.train.data.ClipDataset`) use it, so they see what inference sees.

    Returns:
        ``(audio, faces)``: mono float32 at ``sample_rate`` (``None`` without an audio track, or
        under 0.1 s), and ``[F, face_size, face_size, 3]`` uint8 crops of the main face from frames
        sampled at ``fps``, evenly thinned to ``max_faces`` (``None`` where no face was found).

    Raises:
        InputError: The file is missing, not media, or holds nothing that decodes.
    """
    config = VideoConfig(
        fps=fps, window=WHOLE, hop=WHOLE, max_faces=max_faces, min_segment=0.0, vad=False, asr="off", progress=False
    )
    samples = list(
        iter_samples(path, config=config, face_size=face_size, sample_rate=sample_rate, modalities=("audio", "face"))
    )
    return samples[0].audio, samples[0].faces


def sample_settings(fuser: Any, config: VideoConfig) -> dict[str, Any]:
    """What :func:`iter_samples` needs from a model, as keyword arguments: ``face_size`` (the config's,
    else the processor's), ``sample_rate`` (the processor's) and ``modalities`` (the names it reads)."""
    processor = getattr(fuser, "processor", None)
    return {
        "face_size": config.face_size or getattr(processor, "face_size", None) or 112,
        "sample_rate": getattr(processor, "sample_rate", None) or SAMPLE_RATE,
        "modalities": {_name(m) for m in getattr(fuser, "modalities", Modality)},
    }


def readable(sample: Sample, reads: Iterable[str]) -> bool:
    """Whether ``sample`` has a modality among ``reads`` (a model's modality names)."""
    return bool(set(reads) & {m.value for m in sample.present()})


def predict_segments(fuser: EmotionFuser, samples: list[Sample], *, explain: bool = False) -> list[Segment]:
    """One model call on ``samples`` (from :func:`iter_samples`); a :class:`Segment` for each (``explain``: with
    its ``why``, :mod:`mmempathy.explain`)."""
    results = fuser.predict_samples(samples, batch_size=len(samples), progress=False)
    if explain:
        from mmempathy.explain import explain_samples

        for result, why in zip(results, explain_samples(fuser, samples)):
            result.why = why
    return segments_of(samples, results)


def baseline_reader(fuser: Any, adapt: str) -> BaselineReader | None:
    """A reader of segments against person baselines, or ``None`` where they are off or the model has none."""
    if adapt == "off" or getattr(fuser, "baseline", None) is None:
        return None
    from mmempathy.baseline import BaselineReader  # torch: not for the ONNX runtime's fuser

    return BaselineReader(fuser)


def people_of(sample: Sample) -> dict[str, Any]:
    """Whose face and voice a segment holds: its main face track, and the recording's one voice
    (speakers are not told apart)."""
    track = sample.meta.get("face_track")
    return {"face": None if track is None else f"face-{track}", "audio": "voice"}


BASELINE_SPEECH = 2.5  # seconds of speech a window needs to inform its voice's baseline


def informs_of(sample: Sample) -> dict[str, bool]:
    """Whether a segment may inform its voice's baseline. A fixed window that catches a pause or the edge
    of a sentence reads differently from one full of speech for reasons of its own (on RAVDESS recordings
    cut in 3-s windows, such windows made a voice angry throughout look as varied as a mixed one), so a
    window informs only with ``BASELINE_SPEECH`` s of speech; a subtitle cue or a speech turn holds an
    utterance, and any speech in it informs. Both rules were chosen on the dev actors' recordings
    (``benchmarks/baseline_windows.py --select``, ``--segment-by speech``)."""
    speech = sample.meta.get("speech")
    windowed = sample.meta.get("segmented_by", "window") == "window"
    return {"audio": speech is None or not windowed or speech >= BASELINE_SPEECH}


def adapt_report(adapt: str, reader: BaselineReader | None, segments: list[Segment]) -> dict[str, Any]:
    """``Timeline.meta["adapt"]``: the mode, and per modality how many segments were read against a baseline."""
    if reader is None:
        why = "off" if adapt == "off" else "the model has no person-baseline references"
        return {"mode": adapt, "applied": False, "reason": why}
    counts = {m.value: sum(m.value in seg.baseline for seg in segments) for m in reader.adapted}
    present = {m: sum(m in seg.present for seg in segments) for m in counts}
    plain = {m: present[m] - counts[m] for m in counts if present[m] > counts[m]}
    if plain:
        log.info(
            "person baseline: too few segments of some people to estimate one (%s read plainly; at least %d needed)",
            ", ".join(f"{n} {m}" for m, n in plain.items()),
            reader.settings.min_segments,
        )
    return {"mode": adapt, "applied": any(counts.values()), "adapted": counts, "read_plainly": plain}


def read_batch(
    fuser: EmotionFuser,
    reader: BaselineReader | None,
    batch: list[Sample],
    kept: list[Sample],
    *,
    explain: bool = False,
) -> list[Segment]:
    """Predict a batch now, or (with a person baseline) encode it now and predict once all are read.

    ``explain``: each segment gets its ``why``; with a person baseline it is made now, while the batch's media
    are at hand, and explains the plain reading (the baseline is not part of it)."""
    if reader is None:
        return predict_segments(fuser, batch, explain=explain)
    reader.add(batch, [people_of(s) for s in batch], batch_size=len(batch), informs=[informs_of(s) for s in batch])
    if explain:
        from mmempathy.explain import explain_samples

        batch = [replace(s, meta={**s.meta, "why": why}) for s, why in zip(batch, explain_samples(fuser, batch))]
    kept += [replace(s, audio=None, faces=None, features=None) for s in batch]  # what segments_of reads
    return []


def segments_of(samples: list[Sample], results: list[EmotionResult]) -> list[Segment]:
    """A :class:`Segment` for each sample and its result."""
    return [
        Segment(
            start=float(sample.meta["start"]),
            end=float(sample.meta["end"]),
            probs={str(k): float(v) for k, v in result.probs.items()},
            modalities={_name(m): {str(k): float(v) for k, v in p.items()} for m, p in result.modalities.items()},
            weights={_name(m): float(w) for m, w in result.weights.items()},
            present=[_name(m) for m in result.present],
            text=sample.text,
            speech=sample.meta.get("speech"),
            incongruity=float(result.incongruity),
            baseline={m: dict(b) for m, b in result.baseline.items()},
            why=result.why or sample.meta.get("why", {}),
        )
        for sample, result in zip(samples, results)
    ]


def _name(modality: Any) -> str:
    return str(getattr(modality, "value", modality))


def _resolve(config: VideoConfig | None, overrides: dict[str, Any]) -> VideoConfig:
    known = {f.name for f in fields(VideoConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown predict_video option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return replace(config or VideoConfig(), **overrides)
