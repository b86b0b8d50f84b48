"""``mmempathy coach`` from the installed wheel (issue 26): it starts after a plain ``pip install``, with the demo clip
shipped inside the package, on the port it announces, without the development-server banner."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytestmark = pytest.mark.slow


def test_demo_clip_is_package_data(installed):
    proc = installed.python("from mmempathy.coach.items import DEMO_DIR; print(DEMO_DIR)")
    assert proc.returncode == 0, proc.stderr
    demo = Path(proc.stdout.strip())
    assert installed.venv.resolve() in demo.resolve().parents
    assert {p.name for p in demo.iterdir()} >= {"demo.mp4", "demo.srt", "truth.csv", "README.md"}


def test_coach_starts_from_the_wheel_on_the_port_it_announces(installed):
    assert installed.mmempathy("coach", "--help").returncode == 0
    cmd = [installed.bin / "mmempathy", "coach", "--port", "0", "--model", "tiny", "--db", "coach.db"]
    proc = subprocess.Popen(
        cmd, cwd=installed.cwd, env=installed.env(HF_HUB_OFFLINE="1", MMEMPATHY_DATA=""), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.time() + 240
        while time.time() < deadline and not any("open http" in line for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line)
        output = "".join(lines)
        match = re.search(r"coach: (\d+) items; open (http://127\.0\.0\.1:(\d+)/)", output)
        assert match, output
        assert match[1] == "6" and int(match[3]) != 0  # the demo's six segments only; the real port, not 0
        with urllib.request.urlopen(match[2], timeout=30) as page:
            html = page.read().decode()
        assert "6 items in the library" in html and "missing" not in html
        with urllib.request.urlopen(match[2] + "media/demo:1", timeout=30) as clip:
            assert clip.status == 200 and len(clip.read()) > 100_000  # the 0.16 MB demo clip, served
        assert "development server" not in output
        assert (installed.cwd / "coach.db").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
