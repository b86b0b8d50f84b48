"""A model from the hub when the hub cannot be reached (issue 26, item 5): at once, from the cache or with an
error that says how to use a local copy, never after the hub client's minute of retries.

The hub is made unreachable by pointing ``HF_ENDPOINT`` at a closed local port (the same on a machine with a
network), and the cache is a fresh ``HF_HOME``; the installed wheel runs as a user runs it.
"""

from __future__ import annotations

import warnings

import pytest
from installed import ROOT

DEMO = ROOT / "examples" / "demo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def no_hub(tmp_path):
    """The environment of a machine whose hub cannot be reached, with an empty cache, offline mode not set."""
    return {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}


def test_base_fails_at_once_and_says_how_to_use_a_local_copy(installed, no_hub):
    proc = installed.mmempathy("predict", DEMO / "demo.mp4", "--subtitles", DEMO / "demo.srt", "--model", "base",
                               env=no_hub)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Retry" not in proc.stderr and "Traceback" not in proc.stderr  # the hub client never tried again
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("mmempathy: error: the pretrained encoders bert-base-uncased, facebook/wav2vec2-base")
    assert "http://127.0.0.1:9), which cannot be reached" in line and "the local cache does not hold them" in line
    assert "save_pretrained(DIR)" in line and "--model DIR" in line


def test_an_unknown_name_is_not_tried_on_an_unreachable_hub(installed, no_hub):
    proc = installed.mmempathy("predict", DEMO / "demo.mp4", "--model", "someone/missing", env=no_hub)
    assert proc.returncode == 2 and "Retry" not in proc.stderr
    assert proc.stderr.startswith(
        "mmempathy: error: 'someone/missing' is neither a local directory nor a preset (base, lite, tiny): "
        "someone/missing must come from the Hugging Face hub"
    )


def test_a_cached_repository_loads_from_the_cache_without_asking_the_hub(installed, no_hub, tiny, tmp_path):
    snapshot = tmp_path / "hf" / "hub" / "models--someone--tiny-emotion"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tiny.save_pretrained(snapshot / "snapshots" / COMMIT)
    (snapshot / "refs").mkdir()
    (snapshot / "refs" / "main").write_text(COMMIT)
    code = (
        "import warnings; warnings.simplefilter('ignore'); from mmempathy import EmotionFuser; "
        "r = EmotionFuser.from_pretrained('someone/tiny-emotion', device='cpu').predict(text='so glad'); "
        "print(round(sum(r.probs.values()), 4))"
    )
    proc = installed.python(code, env=no_hub)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1.0"] and "Retry" not in proc.stderr
    assert "the Hugging Face hub cannot be reached" in proc.stderr and "load from the local cache" in proc.stderr
