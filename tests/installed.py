"""The package as a user has it: the built wheel installed in a fresh virtual environment, run from another folder.

The ``installed`` fixture (``tests/conftest.py``) builds the wheel from this checkout once per test session,
installs it (``--no-deps``) into a new virtual environment and lends that environment the development
environment's dependencies through a ``.pth`` line naming its ``site-packages``. A path added by a ``.pth``
line does not have its own ``.pth`` files processed, so the checkout's editable install stays out: the
``mmempathy`` that runs is the wheel's (checked when the fixture is built). Commands run with the new
environment's ``bin`` first on ``PATH`` and an empty folder as the working directory.

Example:
    >>> def test_version(installed):
    ...     assert installed.mmempathy("--version").stdout.startswith("mmempathy ")
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what setuptools reads to build the wheel (pyproject's readme and package data included)
BUILD_INPUTS = ("pyproject.toml", "README.md", "mmempathy")


@dataclass
class Installed:
    """A virtual environment holding the wheel; :meth:`run` runs a command in it as a user would."""

    venv: Path  # the environment's root
    cwd: Path  # the folder commands run in (not the checkout)
    wheel: Path  # the wheel that was installed

    @property
    def bin(self) -> Path:
        return self.venv / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python_exe(self) -> Path:
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment commands run with: this venv first on ``PATH``, no ``PYTHONPATH``, ``extra`` on top."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(self.venv)
        env.setdefault("OMP_NUM_THREADS", "1")
        return {**env, **extra}

    def run(
        self,
        *args: str | Path,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``args`` (looked up on this venv's ``PATH``) in ``cwd`` (default :attr:`cwd`); stdout and stderr
        are captured as text."""
        environ = self.env(**(env or {}))
        exe = shutil.which(str(args[0]), path=environ["PATH"]) or str(args[0])
        return subprocess.run(
            [exe, *map(str, args[1:])], cwd=cwd or self.cwd, env=environ, capture_output=True, text=True,
            timeout=timeout, input=input,
        )  # fmt: skip

    def mmempathy(self, *args: str | Path, **kwargs) -> subprocess.CompletedProcess:
        """The ``mmempathy`` command installed by the wheel."""
        return self.run("mmempathy", *args, **kwargs)

    def python(self, code: str, **kwargs) -> subprocess.CompletedProcess:
        """``python -c code`` in this environment."""
        return self.run("python", "-c", code, **kwargs)


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout's working tree, built from a copy of it in ``out`` (other sessions may be
    building in the checkout at the same time: setuptools' ``build/`` there is not shared)."""
    src = out / "src"
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    _check(subprocess.run([*pip, "-w", str(out / "dist"), str(src)], capture_output=True, text=True), "pip wheel")
    (wheel,) = (out / "dist").glob("mmempathy-*.whl")
    return wheel


def make_venv(path: Path, *, with_pip: bool = False, lend_site_packages: bool = True) -> Path:
    """A new virtual environment at ``path``; with ``lend_site_packages`` it sees the running environment's
    packages (a ``.pth`` line naming its ``site-packages``, whose own ``.pth`` files, the editable install's
    among them, are not processed)."""
    venv.EnvBuilder(with_pip=with_pip, symlinks=os.name != "nt").create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if lend_site_packages:
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        Path(site, "_mmempathy_dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def install_wheel(python: Path, wheel: Path) -> None:
    """``pip install --no-deps --no-index wheel`` into the environment of ``python`` (with this environment's pip)."""
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q"]
    _check(subprocess.run([*cmd, str(wheel)], capture_output=True, text=True), "pip install")


def installed_package(tmp: Path) -> Installed:
    """Build, install and check: the ``mmempathy`` imported in the new environment is the wheel's."""
    wheel = build_wheel(tmp / "wheel")
    env_dir = tmp / "venv"
    python = make_venv(env_dir)
    install_wheel(python, wheel)
    cwd = tmp / "user"
    cwd.mkdir()
    pkg = Installed(env_dir, cwd, wheel)
    where = pkg.python("import mmempathy; print(mmempathy.__file__)")
    _check(where, "import mmempathy")
    file = Path(where.stdout.strip()).resolve()
    if env_dir.resolve() not in file.parents:
        raise RuntimeError(f"the new environment imports mmempathy from {file}, not from its own install")
    return pkg


def readme_blocks(heading: str, language: str) -> list[str]:
    """The fenced ``language`` code blocks of the README's section whose ``## `` heading starts with ``heading``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)
    (section,) = [s for s in sections if s.startswith(heading)]
    return re.findall(rf"^```{language}\n(.*?)^```", section, flags=re.M | re.S)


# pip's words when it cannot reach an index (these mean: skip, the recipe itself may be fine)
NO_INDEX = re.compile(r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|"
                      r"Network is unreachable|No matching distribution found|Could not find a version")  # fmt: skip


def recipe_package(cache: Path, recipe: list[list[str]], wheel: Path, cwd: Path) -> Installed:
    """A virtual environment built by ``recipe`` (``pip install ...`` argument lists, run with its own pip from
    the package index), then ``wheel`` installed with ``--no-deps``. Built once into ``cache`` (keyed by the
    recipe; later sessions reinstall only the wheel).

    Raises:
        pytest.skip.Exception: The package index cannot be reached.
    """
    import fcntl
    import hashlib

    import pytest

    key = hashlib.sha256(repr((sys.version_info[:2], recipe)).encode()).hexdigest()[:16]
    env_dir = cache / f"recipe-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"recipe-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building the same one: wait for it
        if not (env_dir / ".complete").is_file():
            shutil.rmtree(env_dir, ignore_errors=True)
            python = make_venv(env_dir, with_pip=True, lend_site_packages=False)
            for args in recipe:
                proc = subprocess.run([python, "-m", *args], capture_output=True, text=True)
                if proc.returncode != 0 and NO_INDEX.search(proc.stdout + proc.stderr):
                    shutil.rmtree(env_dir, ignore_errors=True)
                    pytest.skip(f"the package index cannot be reached for {' '.join(args)!r}: "
                                f"{(proc.stderr.strip().splitlines() or [''])[-1]}")  # fmt: skip
                _check(proc, " ".join(args))
            (env_dir / ".complete").touch()
    python = env_dir / "bin" / "python"
    cmd = [python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)]
    _check(subprocess.run(cmd, capture_output=True, text=True), "pip install the wheel")
    cwd.mkdir(parents=True, exist_ok=True)
    return Installed(env_dir, cwd, wheel)


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
