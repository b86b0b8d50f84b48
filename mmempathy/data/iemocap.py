"""IEMOCAP: five sessions of dyadic conversations, utterance audio, transcripts, categorical labels.

Layout (the official release)::

    <root>/Session{1..5}/sentences/wav/<dialog>/<utterance>.wav
    <root>/Session{n}/dialog/EmoEvaluation/<dialog>.txt
        [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]
    <root>/Session{n}/dialog/transcriptions/<dialog>.txt
        Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.

Label spaces: ``"four"`` is the usual 4-class setup (anger, joy = happy + excited, neutral, sadness;
every other class left out); ``"default"`` maps onto the seven default classes (ang, dis, fea,
hap + exc, neu, sad, sur; frustrated, other and no-agreement ``xxx`` left out).
Splits are leave-one-session-out: ``test_session`` is the test fold, ``dev_session`` (optional) the dev
fold, the remaining sessions train.
"""

from __future__ import annotations

import re
from pathlib import Path

from mmempathy.data.base import EmotionDataset, LabelMap, check_split, require_dir
from mmempathy.errors import InputError
from mmempathy.sample import Sample

SPLITS = ("train", "dev", "test")
SESSIONS = (1, 2, 3, 4, 5)
CODES = ("ang", "dis", "exc", "fea", "fru", "hap", "neu", "oth", "sad", "sur", "xxx")
FOUR_CLASSES = ("anger", "joy", "neutral", "sadness")
_COMMON = {"ang": "anger", "hap": "joy", "exc": "joy", "neu": "neutral", "sad": "sadness"}
FOUR_MAP = LabelMap.build(CODES, {c: _COMMON.get(c) for c in CODES}, FOUR_CLASSES)
DEFAULT_MAP = LabelMap.build(
    CODES, {c: _COMMON.get(c) for c in CODES} | {"dis": "disgust", "fea": "fear", "sur": "surprise"}
)
EVAL_LINE = re.compile(r"^\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\t(?P<utt>\S+)\t(?P<code>\w+)\t\[(?P<vad>[^\]]*)\]")
TRANSCRIPT_LINE = re.compile(r"^(?P<utt>Ses\d{2}[FM]_\S+) \[[^\]]*\]:\s?(?P<text>.*)$")


def read_evaluations(path: str | Path) -> list[dict]:
    """The summary lines of one ``EmoEvaluation/<dialog>.txt`` (per-annotator lines are skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        match = EVAL_LINE.match(line)
        if match:
            vad = [float(v) for v in match["vad"].split(",")]
            rows.append(
                {
                    "utt": match["utt"],
                    "code": match["code"],
                    "start": float(match["start"]),
                    "end": float(match["end"]),
                    "vad": vad,
                }
            )
    return rows


def read_transcriptions(path: str | Path) -> dict[str, str]:
    """Utterance id -> text of one ``transcriptions/<dialog>.txt``."""
    if not Path(path).is_file():
        return {}
    texts = {}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        match = TRANSCRIPT_LINE.match(line.strip())
        if match:
            texts[match["utt"]] = match["text"].strip()
    return texts


class IEMOCAP(EmotionDataset):
    """IEMOCAP utterances of one leave-one-session-out split.

    Args:
        root: The folder holding ``Session1`` .. ``Session5``.
        split: ``"train"``, ``"dev"`` (needs ``dev_session``) or ``"test"``.
        label_space: ``"four"`` (4-class benchmark) or ``"default"`` (seven classes).
        test_session: Session held out as test (the fold).
        dev_session: Session held out as dev, or ``None``.
        with_text: Attach the transcript as ``Sample.text``.

    Example:
        >>> ds = IEMOCAP("/data/IEMOCAP_full_release", "test", test_session=5)  # doctest: +SKIP
    """

    name = "iemocap"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        label_space: str = "four",
        test_session: int = 5,
        dev_session: int | None = None,
        with_text: bool = True,
    ) -> None:
        root = require_dir(root, "IEMOCAP")
        check_split(split, SPLITS)
        if label_space not in ("four", "default"):
            raise InputError(f"IEMOCAP label_space must be 'four' or 'default', got {label_space!r}")
        if split == "dev" and dev_session is None:
            raise InputError("IEMOCAP dev split needs dev_session")
        if test_session not in SESSIONS or dev_session in (test_session,):
            raise InputError(f"bad sessions: test {test_session}, dev {dev_session}")
        sessions = {"test": [test_session], "dev": [dev_session]}.get(
            split, [s for s in SESSIONS if s not in (test_session, dev_session)]
        )
        labels = FOUR_MAP if label_space == "four" else DEFAULT_MAP
        items = []
        for session in sessions:
            items += _session_items(root / f"Session{session}", session, labels, with_text, split)
        super().__init__(items, labels=labels.target, split=split)


def _session_items(folder: Path, session: int, labels: LabelMap, with_text: bool, split: str) -> list[Sample]:
    items = []
    for eval_file in sorted((folder / "dialog" / "EmoEvaluation").glob("*.txt")):
        dialog = eval_file.stem
        texts = read_transcriptions(folder / "dialog" / "transcriptions" / f"{dialog}.txt") if with_text else {}
        for row in read_evaluations(eval_file):
            if row["code"] not in labels.mapping:
                raise InputError(f"{eval_file}: unknown IEMOCAP label {row['code']!r}")
            label = labels.index(row["code"])
            wav = folder / "sentences" / "wav" / dialog / f"{row['utt']}.wav"
            if label is None or not wav.is_file():
                continue
            meta = {
                "id": row["utt"],
                "session": session,
                "dialog": dialog,
                # the speaker is the session's actor of the utterance's gender (last id part: F000/M003)
                "speaker": f"Ses{session:02d}{row['utt'].rsplit('_', 1)[-1][0]}",
                "emotion": row["code"],
                "vad": row["vad"],
                "start": row["start"],
                "end": row["end"],
                "split": split,
                "audio_path": str(wav),
            }
            items.append(Sample(text=texts.get(row["utt"]), label=label, meta=meta))
    return items
