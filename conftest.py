"""Repository-wide pytest hooks (the main suite in tests/ and the verl suite in tests_verl/).

A run in which no test passed (nothing collected, everything skipped or deselected) fails with exit
status 5 (pytest's "no tests collected"), so that CI cannot go green without running a test.
"""

from __future__ import annotations

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus != pytest.ExitCode.OK or session.config.option.collectonly:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter is not None else 1
    if passed == 0:
        if reporter is not None:
            reporter.write_line("no test passed (all skipped or deselected): failing the run", red=True)
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
