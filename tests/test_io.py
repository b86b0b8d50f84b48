"""atomic_write and the output-path checks: nothing truncated, nothing clobbered, errors before work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmempathy.errors import InputError
from mmempathy.io import atomic_write, check_output_path, check_output_paths


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("error", [RuntimeError("plot failed"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path, error):
    out = tmp_path / "out.json"
    out.write_text("old and good")

    def writer(tmp: Path) -> None:
        tmp.write_text("half of the new")
        raise error

    with pytest.raises(type(error)):
        atomic_write(out, writer)
    assert out.read_text() == "old and good"
    assert _leftovers(tmp_path) == []


def test_the_writer_gets_a_temporary_with_the_same_suffix(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    out = atomic_write(tmp_path / "plot.svg", lambda tmp: fig.savefig(tmp))  # format chosen from the suffix
    plt.close(fig)
    assert out.read_text().lstrip().startswith("<?xml") and _leftovers(tmp_path) == []
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_device_is_a_clear_error():
    with pytest.raises(InputError, match="cannot write /dev/full: no space left on the device"):
        atomic_write("/dev/full", lambda p: p.write_bytes(b"x" * 100_000))
    assert Path("/dev/full").is_char_device()  # never replaced by a file


def test_parent_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub" / "out.csv"
    with pytest.raises(InputError, match=r"file is a file, not a directory"):
        check_output_path(target, {".csv"})
    with pytest.raises(InputError, match=r"file is a file, not a directory"):
        atomic_write(target, lambda p: p.write_text("a"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(InputError, match="permission denied"):
        check_output_path(locked / "out.json")
    with pytest.raises(InputError, match="permission denied"):
        atomic_write(locked / "out.json", lambda p: p.write_text("a"))


def test_formats_and_same_path_are_refused_before_work(tmp_path):
    with pytest.raises(InputError, match=r"unsupported format '\.xyz'; use one of \.pdf, \.png, \.svg"):
        check_output_path(tmp_path / "out.xyz", {"png", ".svg", ".PDF"})
    assert check_output_path(tmp_path / "OUT.PNG", {".png"}) == tmp_path / "OUT.PNG"
    with pytest.raises(InputError, match="it is a directory"):
        check_output_path(tmp_path)
    with pytest.raises(InputError, match="--csv and --plot name the same file"):
        check_output_paths({"--json": None, "--csv": tmp_path / "out", "--plot": tmp_path / "sub" / ".." / "out"})
    with pytest.raises(InputError, match=r"^--plot: cannot write .*unsupported format"):
        check_output_paths({"--plot": tmp_path / "p.xyz"}, {"--plot": {".png"}})


def test_a_failed_checkpoint_save_keeps_the_old_checkpoint(tiny, tmp_path, monkeypatch):
    import mmempathy.checkpoint as checkpoint_module
    from mmempathy import EmotionFuser

    tiny.save_pretrained(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def broken_save_file(state, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing the weights

    monkeypatch.setattr(checkpoint_module, "save_file", broken_save_file)
    with pytest.raises(KeyboardInterrupt):
        tiny.save_pretrained(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert _leftovers(tmp_path) == []
    EmotionFuser.from_pretrained(tmp_path, device="cpu")  # still a whole, loadable checkpoint


def test_trainer_state_files_are_written_whole(tmp_path, monkeypatch):
    import torch

    import mmempathy.train.state as state

    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([param])
    param.grad = torch.ones(3)
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    state.save_state(tmp_path, optimizer, scheduler, {"epoch": 1})
    good = (tmp_path / state.STATE_TENSORS).read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state, "save_file", broken)
    with pytest.raises(InputError, match="no space left on the device"):
        state.save_state(tmp_path, optimizer, scheduler, {"epoch": 2})
    assert (tmp_path / state.STATE_TENSORS).read_bytes() == good
    assert state.load_state(tmp_path, optimizer, scheduler) == {"epoch": 1}
    assert _leftovers(tmp_path) == []
