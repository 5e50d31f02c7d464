"""provenance.versions: the one source of the versions written by predict (run.json) and eval (reports)."""

from __future__ import annotations

import platform
import sys
import types

import numpy

import pixelthink
from pixelthink.provenance import versions


def test_versions_names_installed_and_loaded_libraries_only(monkeypatch):
    monkeypatch.setitem(sys.modules, "fake_lib_unversioned", types.ModuleType("fake_lib_unversioned"))
    versioned = types.ModuleType("fake_lib_versioned")
    versioned.__version__ = "1.2.3"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_lib_versioned", versioned)
    got = versions(
        ("numpy", "no-such-distribution-pixelthink"),
        loaded=("fake_lib_versioned", "fake_lib_unversioned", "not_imported_mod"),
    )
    assert got["pixelthink"] == pixelthink.__version__
    assert got["python"] == platform.python_version()
    assert got["numpy"] == numpy.__version__
    assert got["no-such-distribution-pixelthink"] is None  # asked for, not installed
    assert got["fake_lib_versioned"] == "1.2.3"
    assert got["fake_lib_unversioned"] == "?"  # imported, without __version__
    assert "not_imported_mod" not in got  # not imported by this process: not reported
    assert list(versions()) == ["pixelthink", "python", "numpy"]
