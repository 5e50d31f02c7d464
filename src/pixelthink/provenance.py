"""Provenance of written results: the versions of pixelthink and the libraries that made them.

One function, :func:`versions`, used by ``pixelthink predict`` (``STEM.run.json``) and by
``pixelthink eval`` (the report's ``settings.versions``). Layer 0: imports numpy only.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from importlib import metadata

__all__ = ["versions"]


def versions(installed: Sequence[str] = (), *, loaded: Sequence[str] = ()) -> dict[str, str | None]:
    """Versions of pixelthink, Python and numpy, then of ``installed`` and ``loaded``.

    Args:
        installed: distributions read from the installed metadata, in order (``None`` when not installed).
        loaded: modules reported only if this process has imported them by now (their ``__version__``,
            ``"?"`` when they have none): a run names e.g. torch only when it used it.
    """
    import numpy

    from pixelthink import __version__

    out: dict[str, str | None] = {
        "pixelthink": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
    }
    for name in installed:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    for name in loaded:
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    return out
