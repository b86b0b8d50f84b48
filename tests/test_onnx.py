"""ONNX export (mmempathy.onnx, ``mmempathy export-onnx``): parity with PyTorch, dynamic axes, no torch at run time.

Two exports per run, shared by the module: the random ``tiny`` preset (wav2vec2 and ViT encoders)
through the command line, and the shipped ``lite`` model (MiniLM, Whisper, the face CNN) through the API.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmempathy import EmotionFuser, Sample
from mmempathy.cli import main
from mmempathy.encoders.whisper import WhisperLogMel
from mmempathy.errors import CheckpointError, InputError
from mmempathy.onnx import OnnxEmotionFuser, export_onnx, max_difference, whisper_log_mel

TOLERANCE = 1e-3
DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
LONG_TEXT = " ".join(["I honestly cannot believe what happened at the meeting today, it was awful."] * 12)


@pytest.fixture(scope="module")
def lite():
    return EmotionFuser.from_pretrained("lite", device="cpu")


@pytest.fixture(scope="module")
def lite_export(lite, tmp_path_factory):
    return export_onnx(lite, tmp_path_factory.mktemp("onnx") / "lite")


@pytest.fixture(scope="module")
def tiny_export(tiny, tmp_path_factory):
    """The session's random tiny model, saved, then exported by the command line (which checks it against
    PyTorch itself): ``(directory, exit status)``."""
    root = tmp_path_factory.mktemp("onnx")
    tiny.save_pretrained(root / "checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["export-onnx", str(root / "tiny"), "--model", str(root / "checkpoint")])
    return root / "tiny", status


def items(rng: np.random.Generator, face_size: int = 60) -> list[Sample]:
    """Every non-empty subset of text, audio and faces, with short and long texts, audio and face stacks."""
    texts, seconds, frames = [None, "Fine.", LONG_TEXT], [None, 0.3, 4.1], [None, 1, 5]
    return [
        Sample(
            text=t,
            audio=None if s is None else (rng.standard_normal(int(s * 16000)) * 0.1).astype(np.float32),
            sample_rate=16000,
            faces=None if f is None else rng.integers(0, 256, (f, face_size, face_size, 3), dtype=np.uint8),
        )
        for t, s, f in itertools.product(texts, seconds, frames)
        if (t, s, f) != (None, None, None)
    ]


def difference(torch_fuser, onnx_fuser, samples, batch_size: int = 16) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny model is untrained on purpose
        return max_difference(
            torch_fuser.predict_samples(samples, batch_size=batch_size),
            onnx_fuser.predict_samples(samples, batch_size=batch_size),
        )


def test_cli_exports_and_checks_tiny(tiny, tiny_export):
    directory, status = tiny_export
    assert status == 0  # its own comparison with PyTorch passed
    assert {p.name for p in directory.glob("*.onnx")} == {"text.onnx", "audio.onnx", "face.onnx", "fusion.onnx"}
    assert (directory / "tokenizer" / "tokenizer.json").is_file()
    meta = json.loads((directory / "config.json").read_text())
    assert meta["format"] == "mmempathy-onnx" and meta["config"]["labels"] == list(tiny.labels)


def test_lite_parity_on_every_modality_subset(lite, lite_export, rng):
    samples = items(rng)
    worst = difference(lite, OnnxEmotionFuser(lite_export), samples)
    print(f"lite: max |dp| over {len(samples)} items (fused, per-modality, weights): {worst:.2e}")
    assert worst <= TOLERANCE


def test_tiny_parity_on_every_modality_subset(tiny, tiny_export, rng):
    samples = items(rng)
    worst = difference(tiny, OnnxEmotionFuser(tiny_export[0]), samples, batch_size=8)
    print(f"tiny: max |dp| over {len(samples)} items: {worst:.2e}")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_batch_and_lengths(lite, lite_export, rng, batch):
    onnx_fuser = OnnxEmotionFuser(lite_export)
    for text, seconds in [("Oh.", 0.15), (LONG_TEXT, 19.5)]:  # 3 to 96 tokens, 7 to 975 speech tokens
        samples = [
            Sample(text=text, audio=(rng.standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32),
                   sample_rate=16000, faces=rng.integers(0, 256, (1 + i, 48, 48, 3), dtype=np.uint8))
            for i in range(batch)
        ]  # fmt: skip
        assert difference(lite, onnx_fuser, samples) <= TOLERANCE
    names = {i.name: i.shape for i in onnx_fuser.sessions["text"].get_inputs()}
    assert all(isinstance(d, str) for d in names["input_ids"])  # both axes symbolic


def test_whisper_log_mel_matches_the_torch_front_end(lite_export, rng):
    filters = np.load(lite_export / "mel_filters.npy")
    reference = WhisperLogMel(filters.shape[0])
    for n in (150, 4000, 48123):
        samples = (rng.standard_normal(n) * 0.1).astype(np.float32)
        expected = reference.one(torch.from_numpy(samples)).numpy()
        got = whisper_log_mel(samples, filters, n_fft=400, hop=160, min_samples=400)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_tokenizer_matches_transformers(lite, lite_export):
    texts = ["Hello there!", None, LONG_TEXT, "Ünïcode — naïve café"]
    ours = OnnxEmotionFuser(lite_export).processor.tokenize(texts)
    theirs = lite.processor.tokenize(texts)
    for key in ("input_ids", "attention_mask"):
        np.testing.assert_array_equal(ours[key], theirs[key].numpy())
    assert ours["input_ids"].shape[1] == lite.config.text.max_length  # the long text is truncated


def test_predict_api_and_video(lite, lite_export):
    onnx_fuser = EmotionFuser.from_onnx(lite_export)
    assert isinstance(onnx_fuser, OnnxEmotionFuser) and onnx_fuser.labels == lite.labels
    batch = onnx_fuser.predict(text=["I am thrilled", None], audio=[None, np.zeros(8000, np.float32) + 0.01],
                               sample_rate=16000)  # fmt: skip
    assert [r.present for r in batch] == [["text"], ["audio"]]
    assert onnx_fuser.predict(text="I am thrilled").probs == pytest.approx(batch[0].probs, abs=1e-6)
    with pytest.raises(InputError, match="different lengths"):
        onnx_fuser.predict(text=["a", "b"], audio=[np.zeros(8000)], sample_rate=16000)
    with pytest.raises(InputError, match="no usable modality"):
        onnx_fuser.predict()
    ours = onnx_fuser.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt")
    theirs = lite.predict_video(DEMO / "demo.mp4", subtitles=DEMO / "demo.srt", adapt="off")  # an export reads plainly
    assert [s.present for s in ours] == [s.present for s in theirs] and len(ours) == 6
    assert max(abs(a.probs[k] - b.probs[k]) for a, b in zip(ours, theirs) for k in a.probs) <= TOLERANCE


def test_runtime_never_imports_torch(tiny_export, tmp_path):
    """The API and ``mmempathy predict --onnx`` in a fresh process: predictions, and no torch in sys.modules."""
    out_json = tmp_path / "timeline.json"
    code = f"""
import sys, warnings
import numpy as np
from mmempathy.cli import main
from mmempathy.onnx import OnnxEmotionFuser
warnings.simplefilter("ignore")
fuser = OnnxEmotionFuser({str(tiny_export[0])!r})
result = fuser.predict(text="so happy", audio=np.zeros(16000, np.float32) + 0.01, sample_rate=16000,
                       faces=np.zeros((2, 40, 40, 3), np.uint8))
status = main(["predict", {str(DEMO / "demo.mp4")!r}, "--subtitles", {str(DEMO / "demo.srt")!r},
               "--onnx", {str(tiny_export[0])!r}, "--json", {str(out_json)!r}, "--quiet"])
print(result.present, status, sorted(m for m in ("torch", "transformers", "timm") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[-2] == "['text', 'audio', 'face'] 0 []"
    timeline = json.loads(out_json.read_text())
    assert len(timeline["segments"]) == 6 and timeline["meta"]["model"] == str(tiny_export[0])


def test_not_an_export_is_refused(tiny_export, tmp_path):
    with pytest.raises(CheckpointError, match="not an ONNX export"):
        OnnxEmotionFuser(tmp_path)
    with pytest.raises(CheckpointError, match="PyTorch checkpoint"):
        EmotionFuser.from_onnx(Path(__file__).resolve().parents[1] / "mmempathy" / "weights" / "lite")
    partial = tmp_path / "partial"
    shutil.copytree(tiny_export[0], partial)
    (partial / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="lacks tokenizer/tokenizer.json"):
        OnnxEmotionFuser(partial)
    (partial / "fusion.onnx").unlink()
    with pytest.raises(CheckpointError, match="lacks fusion.onnx"):
        OnnxEmotionFuser(partial)
    (partial / "fusion.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="not a loadable ONNX graph"):
        OnnxEmotionFuser(partial)
    (partial / "config.json").write_text('{"format": "mmempathy-onnx", "version": 99}')
    with pytest.raises(CheckpointError, match="version 1"):
        OnnxEmotionFuser(partial)


def test_cli_predict_refuses_a_torch_device_with_onnx(tiny_export, capsys):
    args = ["predict", str(DEMO / "demo.mp4"), "--onnx", str(tiny_export[0]), "--device", "cpu"]
    assert main(args) == 2
    assert "--device picks a torch device" in capsys.readouterr().err


def test_cli_refuses_a_directory_holding_other_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["export-onnx", str(tmp_path)]) == 2
    assert "holds files other than an ONNX export" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_benchmark_smoke_run(lite_export, tmp_path):
    """benchmarks/onnx_speed.py on one call per workload, so that the recipe cannot rot."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "onnx_speed.py"
    args = ["--batch-sizes", "1", "--repeats", "1", "--rounds", "1", "--export", str(lite_export)]
    subprocess.run([sys.executable, str(script), *args, "--json", str(tmp_path / "r.json")], check=True,
                   capture_output=True)  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())["speed"]
    assert report["max_abs_dp"] <= TOLERANCE and [r["modalities"] for r in report["rows"]] == ["text", "full"]
    assert report["startup"]["onnx"]["torch_imported"] is False and report["startup"]["torch"]["torch_imported"]


# --- damaged, tampered or mismatched exports (issue 25): one clear error at load, never wrong numbers --------------


def _meta(change):
    def tamper(directory: Path) -> None:
        meta = json.loads((directory / "config.json").read_text())
        change(meta)
        (directory / "config.json").write_text(json.dumps(meta))

    return tamper


def _swap(a: str, b: str):
    def tamper(directory: Path) -> None:
        (directory / a).rename(directory / "swap")
        (directory / b).rename(directory / a)
        (directory / "swap").rename(directory / b)

    return tamper


TAMPERED = {
    "labels": (_meta(lambda m: m["config"].update(labels=["calm", "upset", "glad"])), "number of classes .* is 7"),
    "text/audio swapped": (_swap("text.onnx", "audio.onnx"), "text.onnx takes waveform, mask .*files swapped"),
    "fusion/face swapped": (_swap("fusion.onnx", "face.onnx"), "face.onnx takes text_tokens"),
    "tokenizer": (lambda d: (d / "tokenizer" / "tokenizer.json").write_bytes(b"\xff{"), "not a readable tokenizer"),
    "pad": (_meta(lambda m: m["text"].update(pad_id="0")), "'text' must hold an integer pad_id"),
    "width": (_meta(lambda m: m["dims"].update(audio=64)), "audio.onnx: the tokens width is 32, config.json says 64"),
    "modalities": (_meta(lambda m: m["inputs"].pop("face")), "'dims' and 'inputs' must name the modalities"),
    "image size": (_meta(lambda m: m["config"]["face"].update(image_size=48)), "crops' shape is 32, .* says 48"),
    "whisper": (_meta(lambda m: m.update(whisper={"n_fft": 400})), "'whisper' settings go with"),
    "dims": (_meta(lambda m: m.update(dims=[32, 32, 32])), "not a valid ONNX export config"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_export_is_refused_at_load(tiny_export, tmp_path, case):
    tamper, message = TAMPERED[case]
    directory = shutil.copytree(tiny_export[0], tmp_path / "export")
    tamper(directory)
    with pytest.raises(CheckpointError, match=message):
        OnnxEmotionFuser(directory)


def test_a_tampered_export_is_one_line_in_the_cli(tiny_export, tmp_path, capsys):
    directory = shutil.copytree(tiny_export[0], tmp_path / "export")
    TAMPERED["labels"][0](directory)
    assert main(["predict", str(DEMO / "demo.mp4"), "--onnx", str(directory), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fusion.onnx: the number of classes" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x93NUMPY broken", "not a NumPy array file"),
        (np.zeros((80, 10), np.float32), "holds a 80x10 float32 array, not the finite 80 x 201"),
        (np.full((80, 201), np.nan, np.float32), "not the finite"),
        (np.array([{"a": 1}], dtype=object), "not a NumPy array file"),  # a pickle is never loaded
    ],
)
def test_a_tampered_mel_filter_file_is_refused(lite_export, tmp_path, content, message):
    directory = shutil.copytree(lite_export, tmp_path / "export")
    if isinstance(content, bytes):
        (directory / "mel_filters.npy").write_bytes(content)
    else:
        np.save(directory / "mel_filters.npy", content, allow_pickle=True)
    with pytest.raises(CheckpointError, match=message):
        OnnxEmotionFuser(directory)
    _meta(lambda m: m["whisper"].pop("hop"))(directory)
    with pytest.raises(CheckpointError, match="'whisper' needs non-negative integers"):
        OnnxEmotionFuser(directory)


def test_an_opset_the_exporter_cannot_write_is_refused(tiny, tmp_path, capsys, no_model):
    for opset in ("0", "99"):
        assert main(["export-onnx", str(tmp_path / "out"), "--model", "tiny", "--opset", opset]) == 2  # no model loaded
        err = capsys.readouterr().err
        assert f"opset must be an integer from 1 to {onnx.defs.onnx_opset_version()} " in err and f"got {opset}" in err
    with pytest.raises(InputError, match="cannot be written at opset 3: converting from opset 18 failed"):
        export_onnx(tiny, tmp_path / "old", opset=3)  # the exporter would quietly have written opset 18
    assert not (tmp_path / "old" / "config.json").exists() and not list((tmp_path / "old").glob("*.onnx"))


ONNX_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 300) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_export_configs_load_and_predict_or_raise_one_error(tiny_export, tmp_path_factory, data):
    """Any field of config.json (the export's own or the model's) set to arbitrary JSON or removed: the export
    is refused with a CheckpointError, or it loads and predicts probabilities that sum to one."""
    directory = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())) / "export"
    for name in ("text.onnx", "audio.onnx", "face.onnx", "fusion.onnx", "config.json", "tokenizer"):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).symlink_to(tiny_export[0] / name)  # the graphs are only read: no copies
    meta = json.loads((tiny_export[0] / "config.json").read_text())
    (directory / "config.json").unlink()
    node, key = meta, None
    while True:
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        if not isinstance(node[key], dict) or not node[key] or data.draw(st.booleans()):
            break
        node = node[key]
    if data.draw(st.booleans()):
        node.pop(key)
    else:
        node[key] = data.draw(ONNX_JSON)
    (directory / "config.json").write_text(json.dumps(meta))
    try:
        fuser = OnnxEmotionFuser(directory)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fuser.predict(text="so happy", audio=np.zeros(16000, np.float32) + 0.01, sample_rate=16000)
    except (CheckpointError, InputError) as err:
        assert "\n" not in str(err)
        return
    assert sum(result.probs.values()) == pytest.approx(1.0, abs=1e-4) and len(result.probs) == 7
