"""CI output: both pytest runs of `make test` end with their summary line, and a run in which no test
passed fails (a run that executed nothing must not go green unnoticed)."""

from __future__ import annotations

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
