"""Builders of tiny synthetic dataset folders that mimic the official layouts exactly (names, formats).

Everything is generated into a temporary folder by the tests; nothing binary is committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmempathy.data import default_data_root

DATA_ROOT = default_data_root()


def shared(name: str) -> Path:
    """A folder of the real shared data, or skip the test when the shared data is absent."""
    folder = DATA_ROOT / name
    if not folder.is_dir():
        pytest.skip(f"shared data not found at {folder} (set MMEMPATHY_DATA)")
    return folder


def write_wav(path: Path, seconds: float = 0.25, sample_rate: int = 16_000, channels: int = 1, **kw) -> np.ndarray:
    """A short 220 Hz tone as 16-bit PCM (WAV or FLAC by the suffix); returns the float samples."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype="PCM_16", **kw)
    return wave


def write_video(path: Path, seconds: float = 0.5, fps: int = 10, side: int = 32, fmt: str | None = None) -> Path:
    """A tiny h264 + AAC clip (``.mp4``, or ``fmt="flv"`` for CREMA-D's Flash video)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sample_rate = 16_000
    with av.open(str(path), mode="w", format=fmt) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for _ in range(int(seconds * fps)):
            image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode(None))
        wave = (0.2 * np.sin(np.arange(int(seconds * sample_rate)) / 10)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(wave[None], format="flt", layout="mono")
        frame.sample_rate = sample_rate
        out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"


def make_meld(root: Path, clips: bool = True) -> Path:
    """Three MELD CSVs (with the ``\\x92`` damage of the official files) and the clip folders.

    Train has 3 utterances of dialogue 0, with clips for utt0 and utt1 only (utt2's clip is missing,
    as some are in the official release).
    """
    rows = [
        ("You must\x92ve had your hands full.", "The Interviewer", "neutral", "neutral", 0, 0),
        ("Oh my God\x85 he\x92s lost it!", "Phoebe", "sadness", "negative", 0, 1),
        ('"Paul\x92s Caf\xe9"', "Monica", "joy", "positive", 0, 2),
    ]
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        lines = [MELD_HEADER]
        for i, (utt, spk, emo, sent, dia, u) in enumerate(rows, 1):
            quoted = '"' + utt.replace('"', '""') + '"'
            lines.append(f'{i},{quoted},{spk},{emo},{sent},{dia},{u},8,21,"00:16:16,059","00:16:21,731"\n')
        (root / f"{split}_sent_emo.csv").write_text("".join(lines), encoding="utf-8")
    if clips:
        for name in ("dia0_utt0", "dia0_utt1"):
            write_video(root / "train_splits" / f"{name}.mp4")
    return root


def make_cremad(root: Path) -> Path:
    """CREMA-D with actors 1001 (train), 1002 (dev), 1003 (test); WAV + FLV media and a vote table."""
    names = [
        f"{actor}_{sentence}_{emo}_{level}"
        for actor in (1001, 1002, 1003)
        for sentence, emo, level in (("DFA", "ANG", "XX"), ("IEO", "HAP", "LO"), ("TIE", "NEU", "XX"))
    ]
    for name in names:
        write_wav(root / "AudioWAV" / f"{name}.wav")
    write_video(root / "VideoFlash" / "1003_DFA_ANG_XX.flv", fmt="flv")
    splits = {"train": [1001], "dev": [1002], "test": [1003]}
    (root / SPLIT_JSON).write_text(json.dumps(splits))
    table = ['"","FileName","VoiceVote","VoiceLevel","FaceVote","FaceLevel","MultiModalVote","MultiModalLevel"']
    votes = {"ANG": "A", "HAP": "A:N", "NEU": "N"}  # the HAP clip's voice vote is a tie
    for i, name in enumerate(names, 1):
        v = votes[name.split("_")[2]]
        table.append(f'"{i}","{name}","{v}","60","{v}","70","{v}","80"')
    (root / "processedResults").mkdir(parents=True, exist_ok=True)
    (root / "processedResults" / "summaryTable.csv").write_text("\n".join(table) + "\n")
    return root


SPLIT_JSON = "audeering_speaker_splits_v1.1.0.json"

IEMOCAP_EVAL = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\t{d}_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\t{d}_F001\texc\t[3.5000, 3.5000, 3.0000]
C-E2:\tExcited;\t()

[14.8872 - 18.0175]\t{d}_M000\tfru\t[2.0000, 3.5000, 3.5000]
C-E2:\tFrustration;\t()

[19.2900 - 20.7875]\t{d}_M001\tang\t[1.5000, 4.0000, 4.0000]
C-E2:\tAnger;\t()

[21.0000 - 22.5000]\t{d}_M002\tsur\t[3.0000, 4.0000, 3.0000]
C-E2:\tSurprise;\t()
"""


def make_iemocap(root: Path, sessions: tuple[int, ...] = (1, 2)) -> Path:
    """IEMOCAP sessions with one dialog each: neu, exc, fru, ang, sur utterances, WAVs and transcripts."""
    for n in sessions:
        dialog = f"Ses0{n}F_impro01"
        folder = root / f"Session{n}"
        (folder / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
        (folder / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
        (folder / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text(IEMOCAP_EVAL.format(d=dialog))
        utts = ("F000", "F001", "M000", "M001", "M002")
        lines = [f"{dialog}_{u} [006.2901-008.2357]: Line {u} of session {n}." for u in utts]
        (folder / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
        for u in utts:
            write_wav(folder / "sentences" / "wav" / dialog / f"{dialog}_{u}.wav")
    return root


def make_fer_csv(root: Path) -> Path:
    """``fer2013.csv`` with one image per CSV emotion id in Training and two test rows."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    plan = [(e, "Training") for e in range(7)] + [(4, "PublicTest"), (6, "PrivateTest")]
    for emotion, usage in plan:
        pixels = " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))
        rows.append(f"{emotion},{pixels},{usage}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013.csv").write_text("\n".join(rows) + "\n")
    return root


def make_mosei(root: Path) -> Path:
    """A MOSEI labels CSV in s3prl's format with segmented audio, clips and transcripts for two segments."""
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        ",file,index,start,end,label2a,label2b,label6,label7,split",
        "0,--qXJuDtHPw,0,23.199,30.325,1,1,0,1,0",
        "1,-3g5yACwYnA,0,82.753,100.555,0,-1,1,-2,0",
        "2,-3g5yACwYnA,1,119.919,125.299,1,0,5,0,1",
        "3,-3g5yACwYnA,2,4.84,14.052,1,1,2,3,2",
        "4,zzz,0,1.0,2.0,1,1,0,1,3",
    ]
    (root / "CMU_MOSEI_Labels.csv").write_text("\n".join(rows) + "\n")
    write_wav(root / "Segmented_Audio" / "train" / "--qXJuDtHPw_0.wav")
    write_video(root / "Videos" / "Segmented" / "Combined" / "-3g5yACwYnA_0.mp4")
    transcript = root / "Transcript" / "Segmented" / "Combined" / "-3g5yACwYnA.txt"
    transcript.parent.mkdir(parents=True, exist_ok=True)
    transcript.write_text("-3g5yACwYnA___0___82.753___100.555___I did not like it at all\n")
    return root
