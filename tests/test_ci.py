"""CI output: both pytest runs of `make test` end with their summary line, and a run in which no test
passed fails (a run that executed nothing must not go green unnoticed)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pytest_args(target: str) -> list[str]:
    """The pytest options of the Makefile's recipe for ``target`` (its test paths removed)."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"{target}:")))
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        if "-m pytest" in line:
            args = shlex.split(line.split("-m pytest", 1)[1])
            return [a for a in args if not a.startswith(("tests", "tests_verl"))]
    raise AssertionError(f"no pytest command in the Makefile's {target} recipe")


@pytest.mark.parametrize("target", ["test-main", "test-verl"])
def test_make_test_runs_end_with_the_summary_line(target, tmp_path) -> None:
    # the recipe's options with the repository's pytest settings (pyproject addopts), on one small test
    # file (the verl environment may be absent here)
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n", encoding="utf-8")
    ini = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "no:cacheprovider"]
    cmd = [sys.executable, "-m", "pytest", *_pytest_args(target), *ini, str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b.* in [\d.]+s", last), proc.stdout[-2000:]


def test_a_run_in_which_no_test_passed_fails(tmp_path) -> None:
    (tmp_path / "test_skipped.py").write_text(
        "import pytest\n\n\ndef test_a():\n    pytest.skip('no backend here')\n", encoding="utf-8"
    )
    # the repository's conftest.py as a plugin (tmp_path is outside the repository)
    cmd = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, proc.stdout[-2000:]
    assert "no test passed" in proc.stdout and "1 skipped" in proc.stdout


def _check_disk(tmp_path: Path, *args: str, free_mib: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run scripts/check_disk.sh in ``tmp_path``; with ``free_mib``, a stand-in ``df`` reports that much
    free (the real free space moves while other jobs write, which would make the result depend on them)."""
    env = dict(os.environ)
    if free_mib is not None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        fake = bin_dir / "df"
        fake.write_text(
            "#!/bin/sh\necho 'Filesystem 1048576-blocks Used Available Capacity Mounted on'\n"
            f"echo '/dev/x 100000 1 {free_mib} 1% /'\n",
            encoding="utf-8",
        )
        fake.chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    cmd = ["bash", str(ROOT / "scripts" / "check_disk.sh"), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_the_venv_steps_stop_first_with_a_clear_message_when_the_disk_is_full(tmp_path) -> None:
    # CI once stopped after 405 s with pip's "No space left on device" half way into the second venv;
    # both venv recipes now check first
    recipes = (ROOT / "Makefile").read_text(encoding="utf-8")
    for venv in ("$(VENV)", "$(VERL_VENV)"):
        step = rf"\n\tbash scripts/check_disk.sh \d+ .*\n\t\$\(PY\) -m venv {re.escape(venv)}\n"
        assert re.search(step, recipes), f"no disk check before the {venv} recipe"
    assert _check_disk(tmp_path, "1", "a small step").returncode == 0  # the real df
    assert _check_disk(tmp_path, "2600", "the venv", free_mib=2600).returncode == 0
    proc = _check_disk(tmp_path, "2600", "the virtual environment .venv", free_mib=2599)
    assert proc.returncode == 1
    assert "not enough disk space for the virtual environment .venv: 2599 MiB free" in proc.stderr
    assert "about 2600 MiB needed" in proc.stderr and str(tmp_path) in proc.stderr


def test_a_half_installed_venv_counts_toward_the_space_it_needs(tmp_path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "blob").write_bytes(b"\0" * (3 << 20))  # 3 MiB of the venv already on disk
    # 2 MiB more than is free, but the venv already holds 3 MiB of it
    assert _check_disk(tmp_path, "1002", "the venv", str(venv), free_mib=1000).returncode == 0
    assert _check_disk(tmp_path, "1002", "the venv", free_mib=1000).returncode == 1
    assert _check_disk(tmp_path, "1002", "the venv", str(tmp_path / "absent"), free_mib=1000).returncode == 1
