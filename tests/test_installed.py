"""The installed wheel, run as a user runs it (issue 26): from a fresh virtual environment and another folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_installed_package_is_the_wheel_not_the_checkout(installed):
    proc = installed.python("import mmempathy, sys; print(mmempathy.__file__); print(sys.path)")
    assert proc.returncode == 0, proc.stderr
    file = Path(proc.stdout.splitlines()[0]).resolve()
    assert installed.venv.resolve() in file.parents
    assert Path(__file__).resolve().parents[1] not in file.parents


def test_version_comes_from_the_package_metadata(installed):
    from importlib import metadata

    proc = installed.mmempathy("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"mmempathy {metadata.version('mmempathy')}"


DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
LONG_LINE = "So, you stole my joke, and you stole my money, and now you want my umbrella as well"


def test_predict_table_cuts_text_between_words(installed):
    cues = [f"{i + 1}\n00:00:{3 * i:02d},100 --> 00:00:{3 * i + 2:02d},900\n{LONG_LINE}\n" for i in range(6)]
    (installed.cwd / "long.srt").write_text("\n".join(cues))
    proc = installed.mmempathy("predict", DEMO / "demo.mp4", "--subtitles", "long.srt", "--model", "tiny")
    assert proc.returncode == 0, proc.stderr
    texts = [line.split("  ")[-1].strip() for line in proc.stdout.splitlines()[2:] if line.strip()]
    assert len(texts) == 6 and all(t.endswith("…") and len(t) <= 40 for t in texts)
    assert all(LONG_LINE.startswith(t[:-1]) and LONG_LINE[len(t) - 1] == " " for t in texts)  # whole words


@pytest.mark.slow
def test_asr_base_says_where_it_writes_and_the_place_can_be_chosen(installed, tmp_path):
    env = {"MMEMPATHY_CACHE": str(tmp_path / "cache")}
    proc = installed.mmempathy("predict", DEMO / "demo.mp4", "--model", "tiny", "--asr-model", "base",
                               "--csv", "out.csv", "--quiet", env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "cache" / "whisper-base"
    assert (
        f"writing the packaged Whisper base model (145 MB, once) into {folder}; set MMEMPATHY_CACHE to choose the "
        "folder" in proc.stderr.splitlines()
    )
    assert (folder / "model.bin").stat().st_size > 140e6
    again = installed.python("from mmempathy.media.asr import resolve_model; print(resolve_model('base'))", env=env)
    assert again.stdout.strip() == str(folder) and "writing" not in again.stderr  # found: said once
