"""Online corrections: the feedback store, adapters (calibration head and LoRA), CSV and coach imports."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from mmempathy import EmotionFuser
from mmempathy.errors import CheckpointError, ConfigError, InputError
from mmempathy.feedback import (
    Adapter,
    AdaptSettings,
    FeedbackStore,
    FeedbackStoreError,
    delete_adapter,
    encode_samples,
    import_coach,
    pack,
    record,
    record_segments_csv,
)
from mmempathy.hub import load_preset
from mmempathy.modality import Modality
from mmempathy.sample import Sample

pytest.importorskip("peft")


@pytest.fixture
def fuser(tmp_path):
    """A fresh tiny model loaded from its own checkpoint directory (adapters go beside it)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        EmotionFuser(load_preset("tiny")["config"]).save_pretrained(tmp_path / "ckpt")
        model = EmotionFuser.from_pretrained(tmp_path / "ckpt", device="cpu")
    model._warned_untrained = True
    return model


def items(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "text": f"utterance number {i}",
            "audio": (rng.standard_normal(8000) * 0.1).astype(np.float32),
            "sample_rate": 16000,
        }
        for i in range(n)
    ]


def probs(fuser, its) -> torch.Tensor:
    return torch.tensor([list(r.probs.values()) for r in fuser.predict_samples([Sample(**it) for it in its])])


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_round_trip_and_reopen(fuser, tmp_path):
    store = tmp_path / "fb.sqlite"
    its = items(3)
    ids = [fuser.feedback(it, lab, user="ana", store=store) for it, lab in zip(its, ["anger", 3, "Joy"])]
    fuser.feedback(items(1, seed=5)[0], "fear", store=store)  # anonymous
    reopened = FeedbackStore(store)
    got = reopened.corrections("ana")
    assert [c.id for c in got] == ids and [c.label for c in got] == ["anger", "joy", "joy"]
    assert len(reopened) == 4 and set(reopened.users()) == {None, "ana"}
    assert [c.label for c in reopened.corrections(None)] == ["fear"]
    expected = encode_samples(fuser, [Sample(**it) for it in its])
    for c, enc in zip(got, expected):
        assert set(c.encoded) == set(enc)
        for m, (tokens, mask) in enc.items():
            assert torch.allclose(c.encoded[m][0], tokens, atol=1e-5) and torch.equal(c.encoded[m][1], mask)
    assert got[0].created.endswith("+00:00") and got[0].fingerprints.keys() == {"text", "audio"}


def test_store_persists_across_processes(fuser, tmp_path):
    store = tmp_path / "fb.sqlite"
    fuser.feedback(items(1)[0], "sadness", user="bo", store=store)
    code = (
        "import sys; from mmempathy.feedback import FeedbackStore; s = FeedbackStore(sys.argv[1]); "
        "print([(c.user, c.label, sorted(m.value for m in c.encoded)) for c in s.corrections(everyone=True)])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[('bo', 'sadness', ['audio', 'text'])]"


@pytest.mark.parametrize("kind", ["calibration", "lora"])
def test_adapt_changes_predictions_keeps_base_file_and_switches_off_exactly(fuser, tmp_path, kind):
    weights = tmp_path / "ckpt" / "model.safetensors"
    before_hash = sha(weights)
    its = items(6)
    base = probs(fuser, its)
    # the user hears one emotion the model never names for these items
    target = [next(lab for i, lab in enumerate(fuser.labels) if i not in set(base.argmax(-1).tolist()))] * len(its)
    for it, lab in zip(its, target):
        fuser.feedback(it, lab, user="ana")
    replay = [Sample(**it, label=int(p.argmax())) for it, p in zip(items(8, seed=9), probs(fuser, items(8, seed=9)))]
    # these replay items are random inputs like the corrections, so the anchor (which would hold them to the
    # base model's answers, see test_feedback_anchor.py) is off: this test is about training, saving, switching
    settings = {"kind": kind, "steps": 80, "replay_ratio": 0.34, "replay_weight": 0.5, "anchor": 0.0}
    adapter = fuser.adapt(user="ana", replay=replay, settings=settings)
    adapted = probs(fuser, its)
    hits = sum(fuser.labels[int(i)] == t for i, t in zip(adapted.argmax(-1), target))
    assert hits >= 5, f"{kind} adapter fixed only {hits}/6 corrected items"
    assert sha(weights) == before_hash
    saved = tmp_path / "ckpt" / "adapters" / "ana"
    assert (saved / "adapter.json").is_file() and (saved / "adapter.safetensors").is_file()
    assert json.loads((saved / "adapter.json").read_text())["info"]["corrections"] == 6
    assert adapter.info["replay"] == 8
    fuser.use_adapter(None)
    assert torch.equal(probs(fuser, its), base)
    assert all("lora_" not in k for k in fuser.state_dict())
    fuser.use_adapter("ana")  # by name, from beside the weights
    assert torch.allclose(probs(fuser, its), adapted, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = EmotionFuser.from_pretrained(tmp_path / "ckpt", device="cpu", adapter="ana")
    assert torch.allclose(probs(again, its), adapted, atol=1e-6)
    delete_adapter(fuser, "ana")
    assert fuser.adapter is None and not saved.exists()
    assert torch.equal(probs(fuser, its), base)


def test_bad_label_and_empty_item_store_nothing(fuser, tmp_path):
    store = tmp_path / "fb.sqlite"
    fuser.feedback(items(1)[0], "joy", store=store)
    with pytest.raises(InputError, match="unknown label 'happyish'"):
        fuser.feedback(items(1)[0], "happyish", store=store)
    with pytest.raises(InputError, match="outside"):
        fuser.feedback(items(1)[0], 7, store=store)
    with pytest.raises(InputError, match="none of the model's modalities"):
        fuser.feedback(Sample(), "joy", store=store)
    with pytest.raises(InputError, match="unknown label"):  # one bad label in a batch: none of it is stored
        record(fuser, items(3), ["joy", "nope", "fear"], store=store)
    assert [c.label for c in FeedbackStore(store).corrections()] == ["joy"]


def test_interrupted_write_keeps_earlier_rows(fuser, tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    record(fuser, items(1), ["joy"], store=store)
    enc = encode_samples(fuser, [Sample(**items(1)[0])])[0]

    def records():
        yield {"encoded": enc, "label": "fear", "fingerprints": {}}
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.add(records())
    assert [c.label for c in store.corrections()] == ["joy"]


def test_corrupt_store_is_refused_and_left_alone(fuser, tmp_path):
    bad = tmp_path / "fb.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FeedbackStoreError, match="not a readable feedback store"):
        fuser.feedback(items(1)[0], "joy", store=bad)
    assert bad.read_bytes() == b"this is not sqlite" * 100
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE x (a)")
    with pytest.raises(FeedbackStoreError, match="not a feedback store"):
        FeedbackStore(other)


def test_adapter_errors(fuser, tmp_path):
    with pytest.raises(InputError, match="no usable corrections"):
        fuser.adapt(user="nobody", store=tmp_path / "fb.sqlite")
    with pytest.raises(CheckpointError, match="not an adapter directory"):
        fuser.use_adapter(tmp_path)
    with pytest.raises(ConfigError, match="kind"):
        fuser.adapt(user="x", store=tmp_path / "fb.sqlite", settings={"kind": "magic"})  # a ConfigError
    wrong = Adapter(AdaptSettings(), ["a", "b"])
    with pytest.raises(CheckpointError, match="labels"):
        fuser.use_adapter(wrong)
    assert fuser.adapter is None


def test_segments_csv_reads_segments_through_the_pipeline(fuser, tmp_path):
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "talk.wav", (rng.standard_normal(16000 * 4) * 0.1).astype(np.float32), 16000)
    csv = tmp_path / "corrected.csv"
    csv.write_text("source,start,end,label\ntalk.wav,0.0,1.5,anger\ntalk.wav,2.0,3.5,sadness\n")
    ids = record_segments_csv(fuser, csv, user="cy", store=tmp_path / "fb.sqlite")
    got = FeedbackStore(tmp_path / "fb.sqlite").corrections("cy")
    assert len(ids) == 2 and [c.label for c in got] == ["anger", "sadness"]
    assert [(c.meta["start"], c.meta["end"]) for c in got] == [(0.0, 1.5), (2.0, 3.5)]
    assert all("audio" in c.fingerprints for c in got)
    csv.write_text("source,start,end,label\ntalk.wav,0.0,1.5,anger\ntalk.wav,2.0,3.5,grumpy\n")
    with pytest.raises(InputError, match="grumpy"):
        record_segments_csv(fuser, csv, user="cy", store=tmp_path / "fb.sqlite")
    assert len(FeedbackStore(tmp_path / "fb.sqlite")) == 2


def coach_answers(path, answers: list[tuple[str, str]]):
    """A coach database where 'dee' gave these ``(item id, answer)`` answers (truth: anger)."""
    from mmempathy.coach.db import Database

    with Database(path).connect() as conn:
        conn.execute("INSERT INTO people (id, name, created) VALUES (1, 'dee', 't')")
        conn.execute("INSERT INTO sessions (id, person_id, started, items) VALUES (1, 1, 't', '[]')")
        for pos, (item, answer) in enumerate(answers):
            conn.execute(
                "INSERT INTO answers (session_id, person_id, position, item_id, item_kind, truth, answer, intensity,"
                " correct, answered) VALUES (1, 1, ?, ?, 'text', 'anger', ?, 2, 0, ?)",
                (pos, item, answer, f"2026-01-01T00:00:{pos:02d}+00:00"),
            )
    return path


def test_coach_answers_import_once(fuser, tmp_path):
    from mmempathy.coach.items import Item, Library

    coach_answers(tmp_path / "coach.db", [("t1", "joy"), ("t2", "fear"), ("gone", "joy")])
    lib = Library()
    lib.add(Item(id="t1", kind="text", truth="anger", text="Ross: I can't believe it"))
    lib.add(Item(id="t2", kind="text", truth="anger", text="Rachel: Oh no"))
    store = tmp_path / "fb.sqlite"
    first = import_coach(fuser, tmp_path / "coach.db", lib, store=store)
    assert len(first.ids) == 2 and first.skipped == {"on items no longer in the coach's library": 1}
    again = import_coach(fuser, tmp_path / "coach.db", lib, store=store)
    assert again.ids == [] and again.skipped["already imported"] == 2  # already there, and said so
    got = FeedbackStore(store).corrections("dee")
    assert [c.label for c in got] == ["joy", "fear"] and got[0].meta["truth"] == "anger"
    assert [c.source for c in got] == ["coach", "coach"]
    with pytest.raises(InputError, match="coach database not found"):
        import_coach(fuser, tmp_path / "missing.db", lib, store=store)


def test_cli_records_and_lists(fuser, tmp_path, capsys):
    from mmempathy.cli import main

    sf.write(tmp_path / "talk.wav", (np.random.default_rng(2).standard_normal(32000) * 0.1).astype(np.float32), 16000)
    (tmp_path / "c.csv").write_text("source,start,end,label\ntalk.wav,0.0,1.5,joy\n")
    ckpt = str(tmp_path / "ckpt")
    assert main(["adapt", "--model", ckpt, "--user", "ed", "--segments", str(tmp_path / "c.csv"), "--no-train"]) == 0
    assert main(["adapt", "--model", ckpt, "--list"]) == 0
    assert "ed: 1" in capsys.readouterr().out
    assert main(["adapt", "--model", ckpt, "--user", "ed"]) == 2  # no replay data given
    assert "--replay" in capsys.readouterr().err


# --- what adapt may delete, and bad inputs to the store and to adapt (issue 25) ----------------------


def save_adapter(fuser, directory, name: str):
    """An untrained adapter called ``name`` saved in ``directory`` (its files are what matters here)."""
    return Adapter(AdaptSettings(), fuser.labels, {"name": name}).save(directory)


def test_delete_removes_only_the_named_adapters_files(fuser, tmp_path, monkeypatch, capsys):
    from mmempathy.cli import main

    work = tmp_path / "work"
    save_adapter(fuser, work, "ana")
    (work / "notes.txt").write_text("mine")  # the user's file beside the adapter's
    monkeypatch.chdir(work)
    ckpt = str(tmp_path / "ckpt")
    assert main(["adapt", "--model", ckpt, "--delete", "bo", "--directory", "."]) == 2  # another adapter's name
    assert "holds adapter 'ana', not 'bo'; nothing was deleted" in capsys.readouterr().err
    assert (work / "adapter.json").is_file()
    assert main(["adapt", "--model", ckpt, "--delete", "ana", "--directory", "."]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt"] and (work / "notes.txt").read_text() == "mine"
    assert main(["adapt", "--model", ckpt, "--delete", "ana", "--directory", "."]) == 2
    assert "no adapter 'ana'" in capsys.readouterr().err
    saved = save_adapter(fuser, tmp_path / "ckpt" / "adapters" / "cy", "cy")  # the default place: folder goes too
    assert delete_adapter(fuser, "cy") == [saved / "adapter.json", saved / "adapter.safetensors", saved]
    assert not saved.exists() and (tmp_path / "ckpt" / "adapters").is_dir()


def test_saving_never_replaces_a_folder_that_holds_other_files(fuser, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    fuser.feedback(items(1)[0], "joy", user="ana")
    with pytest.raises(InputError, match=r"holds other files \(thesis.tex\)"):
        fuser.adapt(user="ana", directory=mine, settings={"steps": 1})  # refused before training
    with pytest.raises(InputError, match="holds other files"):
        save_adapter(fuser, mine, "ana")
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    first = save_adapter(fuser, tmp_path / "own", "ana")
    assert save_adapter(fuser, first, "ana") == first  # its own folder is replaced, and nothing is left beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "mine", "own"]


def test_damaged_rows_are_left_out_and_named(fuser, tmp_path, caplog):
    import sqlite3

    store = tmp_path / "fb.sqlite"
    ids = record(fuser, items(6), ["joy", "fear", "anger", "joy", "sadness", "joy"], user="ana", store=store)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE corrections SET features = x'00ff' WHERE id = ?", (ids[0],))
        db.execute("UPDATE corrections SET label = x'ff' WHERE id = ?", (ids[1],))  # bytes, not text
        db.execute("UPDATE corrections SET meta = '{broken' WHERE id = ?", (ids[2],))
        db.execute("UPDATE corrections SET label = 'grumpy' WHERE id = ?", (ids[3],))
    opened = FeedbackStore(store)
    with caplog.at_level("WARNING", logger="mmempathy.feedback"):
        got = opened.corrections("ana")
    assert [c.id for c in got] == ids[3:]
    assert [i for i, _ in opened.damaged] == ids[:3]
    reasons = [why for _, why in opened.damaged]
    assert "not readable safetensors" in reasons[0] and "not a label name" in reasons[1] and "not JSON" in reasons[2]
    assert "3 damaged row(s) left out" in caplog.text
    adapter = fuser.adapt(user="ana", store=store, settings={"steps": 2})
    assert adapter.info["corrections"] == 2
    assert adapter.info["skipped"] == {"with a label this model lacks": 1, "damaged": 3}
    wide = pack({Modality.TEXT: (torch.zeros(3, 5), torch.ones(3, dtype=torch.bool))})  # a whole blob, 5 wide
    with sqlite3.connect(store) as db:
        db.execute("UPDATE corrections SET features = ? WHERE id = ?", (wide, ids[4]))
    assert fuser.adapt(user="ana", store=store, settings={"steps": 2}).info["skipped"] == {
        "with a label this model lacks": 1,
        "whose features are not as wide as this model's encoders give": 1,
        "damaged": 3,
    }
    with sqlite3.connect(store) as db:
        db.execute("UPDATE corrections SET label = 'grumpy'")  # the row whose label was bytes is whole again
    with pytest.raises(InputError, match=r"no usable corrections .*\(4 with a label this model lacks, 2 damaged\)"):
        fuser.adapt(user="ana", store=store)


def test_a_read_only_store_is_read_and_refuses_writes_in_one_line(fuser, tmp_path, monkeypatch, capsys):
    import sqlite3

    from mmempathy.cli import main

    store = tmp_path / "fb.sqlite"
    fuser.feedback(items(1)[0], "joy", user="ana", store=store)
    before = sha(store)
    connect = sqlite3.connect  # read-only as SQLite sees it (file modes do not bind root, who may run this)
    monkeypatch.setattr(sqlite3, "connect", lambda path, **kw: connect(f"file:{path}?mode=ro", uri=True, **kw))
    assert [c.label for c in FeedbackStore(store).corrections("ana")] == ["joy"]
    with pytest.raises(FeedbackStoreError, match="readonly database .*permissions.*nothing was changed"):
        fuser.feedback(items(1)[0], "fear", user="ana", store=store)
    assert main(["adapt", "--model", str(tmp_path / "ckpt"), "--store", str(store), "--list"]) == 0
    assert "ana: 1" in capsys.readouterr().out
    with pytest.raises(FeedbackStoreError, match="cannot open the feedback store"):
        FeedbackStore(tmp_path / "missing" / "fb.sqlite").corrections()  # ro cannot create it
    assert sha(store) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[1, 2]", "is not an mmempathy adapter"),
        (b"\xff\xfe{", "cannot read adapter file"),
        (b'{"format": "mmempathy-adapter", "settings": {}, "labels": "joy"}', "'labels' must be a list"),
        (b'{"format": "mmempathy-adapter", "settings": [], "labels": ["a", "b"]}', "'settings' and 'info' must be"),
        (b'{"format": "mmempathy-adapter", "settings": {"kind": "magic"}, "labels": ["a", "b"]}', "adapter kind"),
    ],
)
def test_a_corrupt_adapter_json_is_one_error(fuser, tmp_path, capsys, text, message):
    from mmempathy.cli import main

    saved = save_adapter(fuser, tmp_path / "ckpt" / "adapters" / "ana", "ana")
    (saved / "adapter.json").write_bytes(text)
    with pytest.raises(CheckpointError, match=message):
        fuser.use_adapter(saved)
    ckpt = str(tmp_path / "ckpt")
    if b"magic" not in text:  # the JSON itself is unusable: listed so, and --delete cannot tell whose adapter it is
        assert main(["adapt", "--model", ckpt, "--list"]) == 0
        assert "adapter      ana: unreadable" in capsys.readouterr().out
        assert main(["adapt", "--model", ckpt, "--delete", "ana"]) == 2
        assert "nothing was deleted" in capsys.readouterr().err and (saved / "adapter.json").is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source,start,end,label\ntalk.wav,0.0,1.5\n", "c.csv:2: has 3 fields where the header has 4"),
        ("source,start,end,label\ntalk.wav,0.0,1.5,joy,extra\n", "c.csv:2: has 5 fields"),
        ("source,start,end,label\n,0.0,1.5,joy\n", "c.csv:2: source must name a media file"),
        ("source,start,end,label\ntalk\x00.wav,0.0,1.5,joy\n", "c.csv:2: source must name a media file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xd8", "not a UTF-8 CSV text file"),
    ],
)
def test_bad_segments_csv_is_one_line_and_stores_nothing(fuser, tmp_path, capsys, text, message):
    from mmempathy.cli import main

    sf.write(tmp_path / "talk.wav", np.zeros(32000, np.float32), 16000)
    path = tmp_path / "c.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    store = tmp_path / "fb.sqlite"
    assert main(["adapt", "--model", str(tmp_path / "ckpt"), "--store", str(store), "--segments", str(path),
                 "--no-train"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert len(FeedbackStore(store)) == 0


def test_unknown_replay_and_nul_names_are_refused_before_anything_is_stored(fuser, tmp_path, capsys):
    from mmempathy.cli import main

    sf.write(tmp_path / "talk.wav", (np.random.default_rng(2).standard_normal(32000) * 0.1).astype(np.float32), 16000)
    (tmp_path / "c.csv").write_text("source,start,end,label\ntalk.wav,0.0,1.5,joy\n")
    store = tmp_path / "fb.sqlite"
    base = ["adapt", "--model", str(tmp_path / "ckpt"), "--store", str(store), "--segments", str(tmp_path / "c.csv")]
    for extra, message in [
        (["--replay", "nosuchset:train"], "--replay: unknown dataset 'nosuchset'"),
        (["--replay", "ravdess", "--replay-n", "-3"], "--replay-n must be at least 1"),
        (["--replay", "ravdess", "--steps", "0"], "steps, batch_size and rank must be at least 1"),
    ]:
        assert main([*base, *extra]) == 2
        assert message in capsys.readouterr().err
    for option in ("--user", "--name", "--directory"):
        assert main([*base, option, "a\x00b", "--no-train"]) == 2
        assert f"{option} cannot hold a NUL byte" in capsys.readouterr().err
    assert len(FeedbackStore(store)) == 0
    with pytest.raises(FeedbackStoreError, match="NUL"):
        FeedbackStore(tmp_path / "a\x00b.sqlite")
    with pytest.raises(InputError, match="control characters"):
        fuser.adapt(user="a\x00b", store=store)
    with pytest.raises(InputError, match="user must be a name"):  # a lone surrogate cannot be stored as UTF-8
        fuser.feedback(items(1)[0], "joy", user="\udcff", store=store)


def test_coach_import_says_why_answers_were_skipped(fuser, tmp_path, capsys):
    from mmempathy.cli import main
    from mmempathy.coach import build_library
    from mmempathy.coach.items import Item, Library
    from mmempathy.testing import tone, write_clip

    clip = write_clip(tmp_path / "clip.mp4", [np.full((32, 32, 3), 90, np.uint8)] * 10, fps=10, audio=tone(1.0))
    (tmp_path / "clips.csv").write_text("path,emotion\nclip.mp4,joy\n")
    whole = next(iter(build_library(tmp_path / "clips.csv", demo=False).items))
    coach_answers(tmp_path / "coach.db", [(whole, "joy"), (whole, "fear"), ("gone", "joy")])
    ckpt = str(tmp_path / "ckpt")
    assert main(["adapt", "--model", ckpt, "--coach-db", str(tmp_path / "coach.db"), "--coach-clips",
                 str(tmp_path / "clips.csv"), "--no-train"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "imported 0 coach answer(s); skipped 2 on whole clips (only timed segments of a video are read), "
        "1 on items no longer in the coach's library" in out
    )
    clip.unlink()
    lib = Library()
    lib.add(Item(id=whole, kind="voice", truth="anger", path=clip))
    assert import_coach(fuser, tmp_path / "coach.db", lib).skipped["whose media file is missing"] == 2


def test_a_packaged_presets_corrections_go_to_the_user_cache_not_into_the_package(monkeypatch, tmp_path):
    """The package's own folder is mmempathy/, not the feedback subpackage: nothing is written inside it."""
    from pathlib import Path
    from types import SimpleNamespace

    import mmempathy
    from mmempathy.feedback import default_directory

    monkeypatch.delenv("MMEMPATHY_FEEDBACK_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    preset = SimpleNamespace(checkpoint_dir=Path(mmempathy.__file__).parent / "weights" / "lite")
    assert default_directory(preset) == tmp_path / "home" / ".cache" / "mmempathy" / "feedback" / "lite"
    assert default_directory(SimpleNamespace(checkpoint_dir=tmp_path / "ckpt")) == tmp_path / "ckpt" / "adapters"
