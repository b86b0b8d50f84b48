"""The installed wheel, run as a user runs it (issue 26): from a fresh virtual environment and another folder."""

from __future__ import annotations

from pathlib import Path


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
