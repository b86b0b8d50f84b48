"""predict_corpus and ``mmempathy predict-corpus``: a folder or CSV of clips, resumed, failures recorded, on Ray too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmempathy import EmotionFuser
from mmempathy.cli import main
from mmempathy.corpus import find_inputs, predict_corpus, read_corpus, read_failures, stages, store
from mmempathy.corpus.inputs import printable
from mmempathy.errors import InputError
from mmempathy.media.pipeline import VideoConfig, predict_video
from mmempathy.testing import draw_face, tone, write_clip

pytest.importorskip("pyarrow")
FPS = 10
CONFIG = VideoConfig(vad=False, asr="off")  # the clips hold tones, not speech: keep their audio, no Whisper
SRT = "1\n00:00:00,200 --> 00:00:02,000\nI am so happy to see you!\n"


def frames(seconds: float, shift: int = 0):
    for i in range(round(seconds * FPS)):
        image = np.full((180, 320, 3), 90, np.uint8)
        draw_face(image, (150 + i + shift, 90), 40, smile=np.sin(i / 5))
        yield image


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Two good clips (one with subtitles beside it, one audio-only in a subfolder), a corrupt and an empty file."""
    root = tmp_path_factory.mktemp("archive")
    write_clip(root / "call1.mp4", frames(4.0), fps=FPS, audio=tone(4.0))
    (root / "call1.srt").write_text(SRT)
    (root / "agent").mkdir()
    write_clip(root / "agent" / "call2.m4a", None, audio=tone(5.0, 330.0))
    (root / "broken.mp4").write_bytes(b"\x00not a video\x00" * 200)
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture(scope="module")
def fuser():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        model = EmotionFuser.from_pretrained("tiny", device="cpu")
        model.warn_if_untrained()
    return model


def test_folder_gives_rows_per_segment_and_records_failures(fuser, archive, tmp_path):
    out = tmp_path / "results.parquet"
    report = predict_corpus(fuser, archive, out, config=CONFIG, progress=False)
    assert (report.total, report.done, report.failed, report.skipped) == (4, 2, 2, 0)
    table = read_corpus(out)
    assert sorted(table["file"].unique()) == [str(archive / "agent" / "call2.m4a"), str(archive / "call1.mp4")]
    assert report.segments == len(table) and report.media_seconds == pytest.approx(9.0, abs=0.2)
    # Every part has every modality's columns, and pandas reads the directory as one table.
    assert {"face_p_joy", "audio_p_joy", "text_p_joy", "w_face"} <= set(table.columns)
    assert len(pd.read_parquet(out)) == len(table)
    audio_only = table[table["file"].str.endswith("call2.m4a")]
    assert audio_only["face_p_joy"].isna().all() and (audio_only["w_face"] == 0).all()
    # The rows are predict_video's timeline, subtitles beside the clip included.
    clip = table[table["file"].str.endswith("call1.mp4")].reset_index(drop=True)
    expected = predict_video(fuser, archive / "call1.mp4", subtitles=archive / "call1.srt", config=CONFIG)
    expected = expected.to_dataframe()
    assert list(clip["segment"]) == list(range(len(expected)))
    assert clip["text"].tolist() == expected["text"].tolist() == ["I am so happy to see you!"]
    for column in ["start", "end", "p_joy", "p_anger", "face_p_joy", "w_text", "incongruity"]:
        np.testing.assert_allclose(clip[column], expected[column], atol=1e-5)
    failures = read_failures(out).set_index("file")
    assert set(failures.index) == {str(archive / "broken.mp4"), str(archive / "empty.mp4")}
    assert (failures["error"] == "InputError").all()
    assert "empty" in failures.loc[str(archive / "empty.mp4"), "message"]
    assert sorted(f[0] for f in report.failures) == sorted(failures.index)


def test_resume_skips_done_files_and_redoes_changed_ones(fuser, archive, tmp_path, monkeypatch):
    out = tmp_path / "results.parquet"
    predict_corpus(fuser, archive, out, config=CONFIG, progress=False)
    parts = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    read = []
    real = stages.file_rows
    monkeypatch.setattr(stages, "file_rows", lambda item, spec: (read.append(item["file"]), real(item, spec))[1])

    again = predict_corpus(fuser, archive, out, config=CONFIG, progress=False)
    assert (again.done, again.failed, again.skipped, again.skipped_failed) == (0, 0, 4, 2)
    assert read == [] and {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")} == parts

    # A changed file is done again and its old part goes; failed files are retried on request.
    changed = archive.parent / "changed"
    changed.mkdir()
    clip = write_clip(changed / "call3.mp4", frames(3.0), fps=FPS, audio=tone(3.0))
    predict_corpus(fuser, [clip], out, config=CONFIG, progress=False)
    first = read_corpus(out)
    write_clip(clip, frames(6.0, shift=20), fps=FPS, audio=tone(6.0))
    os.utime(clip, ns=(1, 1))  # a different mtime whatever the clock's resolution
    read.clear()
    redo = predict_corpus(fuser, [clip, *find_inputs(archive)], out, config=CONFIG, retry_failed=True, progress=False)
    assert sorted(read) == sorted([str(clip), str(archive / "broken.mp4"), str(archive / "empty.mp4")])
    assert (redo.done, redo.failed, redo.skipped) == (1, 2, 2)
    after = read_corpus(out)
    assert len(list(out.glob("part-*.parquet"))) == 3
    assert after.loc[after["file"] == str(clip), "end"].max() > first.loc[first["file"] == str(clip), "end"].max()


def test_a_model_error_fails_its_files_not_the_run(fuser, archive, tmp_path, monkeypatch):
    from mmempathy.media import pipeline

    def broken(fuser, samples):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(pipeline, "predict_segments", broken)
    out = tmp_path / "results.parquet"
    report = predict_corpus(fuser, archive, out, config=CONFIG, progress=False)
    assert (report.done, report.failed) == (0, 4) and not list(out.glob("part-*"))
    failures = read_failures(out).set_index("file")
    assert failures.loc[str(archive / "call1.mp4"), "message"] == "model: out of memory"
    assert failures.loc[str(archive / "call1.mp4"), "error"] == "RuntimeError"


def test_other_settings_on_the_same_output_are_refused(fuser, archive, tmp_path):
    out = tmp_path / "results.parquet"
    predict_corpus(fuser, [archive / "agent" / "call2.m4a"], out, config=CONFIG, progress=False)
    with pytest.raises(InputError, match="another config"):
        predict_corpus(fuser, archive, out, config=VideoConfig(window=5.0, vad=False, asr="off"), progress=False)


def test_csv_list_with_subtitles_and_a_missing_file(fuser, archive, tmp_path):
    listing = archive / "calls.csv"
    listing.write_text("path,subtitles\ncall1.mp4,call1.srt\nagent/call2.m4a,\ngone.mp4,\ncall1.mp4,call1.srt\n")
    items = find_inputs(listing)
    assert [i.file for i in items] == ["call1.mp4", "agent/call2.m4a", "gone.mp4", "call1.mp4"]
    assert items[0].subtitles == archive / "call1.srt" and items[1].subtitles is None
    out = tmp_path / "results.parquet"
    report = predict_corpus(fuser, listing, out, config=CONFIG, progress=False)
    assert (report.total, report.done, report.failed) == (3, 2, 1)  # the duplicate row counts once
    table = read_corpus(out)
    assert set(table["file"]) == {"call1.mp4", "agent/call2.m4a"}
    assert table.loc[table["file"] == "call1.mp4", "text"].tolist() == ["I am so happy to see you!"]
    assert "not found" in read_failures(out).set_index("file").loc["gone.mp4", "message"]


def test_bad_inputs_fail_before_any_work(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="no media files"):
        find_inputs(tmp_path / "empty_dir")
    (tmp_path / "list.csv").write_text("file\na.mp4\n")
    with pytest.raises(InputError, match="no 'path' column"):
        find_inputs(tmp_path / "list.csv")
    with pytest.raises(InputError, match="engine must be"):
        predict_corpus("tiny", [tmp_path / "a.mp4"], tmp_path / "out", engine="spark")


def test_missing_extra_names_it(monkeypatch, tmp_path):
    real = store.importlib.import_module

    def no_pyarrow(name, *args):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(store.importlib, "import_module", no_pyarrow)
    with pytest.raises(InputError, match=r"needs pyarrow: pip install 'mmempathy\[corpus\]'"):
        predict_corpus("tiny", [tmp_path / "a.mp4"], tmp_path / "out")


def test_cli_run_and_resume(archive, tmp_path, capsys):
    out = tmp_path / "results.parquet"
    args = ["predict-corpus", str(archive), "--out", str(out), "--model", "tiny", "--no-vad", "--asr", "off", "--quiet"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "4 files: 2 done, 2 failed" in err and "failed " + str(archive / "empty.mp4") in err
    settings = json.loads((out / "_run.json").read_text())
    assert settings["model"] == "tiny" and settings["config"]["vad"] is False
    assert main(args) == 0
    assert "0 done, 0 failed, 4 skipped (done before, 2 of them failed)" in capsys.readouterr().err
    assert main(["predict-corpus", str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_benchmark_smoke_run(tmp_path):
    pytest.importorskip("ray")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "corpus_throughput.py"
    figures = tmp_path / "figures.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(script), "--smoke", "--work-dir", str(tmp_path), "--json", str(figures)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| **Ray engine, end to end**" in done.stdout and "workers for the target" in done.stdout
    result = json.loads(figures.read_text())
    assert result["segments"] == 2 and result["local_s"] > 0 and result["ray_s"]["2"] > 0


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
    )
    yield ray
    ray.shutdown()


def test_ray_engine_writes_the_local_engines_rows(fuser, archive, tmp_path, local_ray, capfd):
    local = predict_corpus(fuser, archive, tmp_path / "local.parquet", config=CONFIG, progress=False)
    capfd.readouterr()
    on_ray = predict_corpus(fuser, archive, tmp_path / "ray.parquet", engine="ray", config=CONFIG, progress=False)
    err = capfd.readouterr().err
    assert "Execution plan" not in err and "streaming_executor" not in err  # Ray Data's notes stay in its logs
    assert (on_ray.done, on_ray.failed, on_ray.segments) == (local.done, local.failed, local.segments) == (2, 2, 3)
    pd.testing.assert_frame_equal(read_corpus(tmp_path / "ray.parquet"), read_corpus(tmp_path / "local.parquet"))
    assert sorted(read_failures(tmp_path / "ray.parquet")["file"]) == sorted(f[0] for f in local.failures)
    again = predict_corpus(fuser, archive, tmp_path / "ray.parquet", engine="ray", config=CONFIG, progress=False)
    assert (again.done, again.skipped) == (0, 4)


# --- names, listings and damaged outputs (issue 25) ------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_predicted_and_named_with_escapes(fuser, archive, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    os.link(archive / "agent" / "call2.m4a", os.fsencode(folder) + b"/caf\xe9.m4a")  # Latin-1, not UTF-8
    (Path(os.fsencode(folder).decode("utf-8", "surrogateescape")) / "bad\udcff.mp4").write_bytes(b"\x00junk" * 99)
    out = tmp_path / "results.parquet"
    report = predict_corpus(fuser, folder, out, config=CONFIG, progress=False)
    assert (report.done, report.failed) == (1, 1)
    assert read_corpus(out)["file"].unique().tolist() == [str(folder / "caf\\xe9.m4a")]
    assert read_failures(out)["file"].tolist() == [str(folder / "bad\\xff.mp4")]
    again = predict_corpus(fuser, folder, out, config=CONFIG, progress=False)  # the rerun gets past it too
    assert (again.done, again.failed, again.skipped) == (0, 0, 2)


def test_a_nul_byte_in_a_listed_path_fails_that_row_only(fuser, archive, tmp_path):
    listing = tmp_path / "calls.csv"
    listing.write_bytes(b"path\nbad\x00name.mp4\n" + str(archive / "agent" / "call2.m4a").encode() + b"\n")
    out = tmp_path / "results.parquet"
    report = predict_corpus(fuser, listing, out, config=CONFIG, progress=False)
    assert (report.done, report.failed) == (1, 1)
    (failure,) = report.failures
    assert failure[0] == "bad\x00name.mp4" and "NUL byte" in failure[2]
    assert (predict_corpus(fuser, listing, out, config=CONFIG, progress=False).skipped_failed) == 1


@pytest.mark.parametrize("content", [b"{bad", b"[1, 2]", b'{"model": "tiny"}', b"\xff\xfe"])
def test_a_damaged_run_file_is_one_clear_error(fuser, archive, tmp_path, content, capsys):
    out = tmp_path / "results.parquet"
    out.mkdir()
    (out / "_run.json").write_bytes(content)
    with pytest.raises(InputError, match=r"_run.json is damaged .*remove .* to start again"):
        predict_corpus(fuser, [archive / "agent" / "call2.m4a"], out, config=CONFIG, progress=False)
    args = ["predict-corpus", str(archive / "agent"), "--out", str(out), "--model", "tiny", "--quiet"]
    assert main([*args, "--no-vad", "--asr", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "_run.json is damaged" in err
    assert (out / "_run.json").read_bytes() == content and not list(out.glob("part-*"))  # left as it was


def test_a_resume_through_a_link_or_another_name_of_the_folder_redoes_nothing(fuser, archive, tmp_path, monkeypatch):
    out = tmp_path / "results.parquet"
    first = predict_corpus(fuser, archive / "agent", out, config=CONFIG, progress=False)
    rows = read_corpus(out)
    (tmp_path / "link").symlink_to(archive / "agent", target_is_directory=True)
    monkeypatch.chdir(archive)
    for name in [tmp_path / "link", Path("agent"), Path("../" + archive.name) / "agent"]:
        again = predict_corpus(fuser, name, out, config=CONFIG, progress=False)
        assert (again.done, again.skipped) == (0, first.done), name
    pd.testing.assert_frame_equal(read_corpus(out), rows)  # no duplicated rows, one name per file
    assert rows["file"].unique().tolist() == [str(archive / "agent" / "call2.m4a")]
    assert [i.file for i in find_inputs("agent")] == [i.file for i in find_inputs(tmp_path / "link")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_fuzz_listings_give_items_or_one_input_error(tmp_path, content):
    listing = Path(tempfile.mkdtemp(dir=tmp_path)) / "calls.csv"
    listing.write_bytes(b"path,subtitles\n" + content)
    try:
        items = find_inputs(listing)
    except InputError as err:
        assert str(err) and "\n" not in str(err).strip()
        return
    assert items and all(i.file and isinstance(i.key, str) and isinstance(i.stamp(), str) for i in items)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200) | st.dictionaries(st.sampled_from(["model", *store.Writer.SETTINGS]), st.none()))
def test_fuzz_run_files_are_accepted_only_when_they_match(fuser, tmp_path, content):
    out = Path(tempfile.mkdtemp(dir=tmp_path))
    (out / "_run.json").write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    writer = store.Writer(out, fuser, CONFIG, None)
    with pytest.raises(InputError, match="_run.json is damaged|holds results made with another"):
        writer.plan([], retry_failed=False)


@given(name=st.binary(min_size=1, max_size=40))
def test_fuzz_printable_names_are_utf8_and_keep_valid_names(name):
    text = os.fsdecode(name)
    shown = printable(text)
    shown.encode("utf-8")  # never raises: a parquet column and a JSON record take it
    try:
        assert shown == name.decode("utf-8")
    except UnicodeDecodeError:
        assert "\\x" in shown


def test_a_damaged_failure_record_is_left_out_with_a_warning(fuser, archive, tmp_path):
    out = tmp_path / "results.parquet"
    predict_corpus(fuser, [archive / "broken.mp4", archive / "empty.mp4"], out, config=CONFIG, progress=False)
    first, second = sorted((out / "_failures").glob("*.json"))
    first.write_bytes(b"\x00{not json")
    with pytest.warns(UserWarning, match=f"left out {first}: a damaged failure record"):
        failures = read_failures(out)
    assert failures["file"].tolist() == [json.loads(second.read_text())["file"]]
