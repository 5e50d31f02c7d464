"""Open any supported benchmark source as a :class:`~pixelthink.data.Benchmark`.

``--data`` of ``predict``, ``eval`` and ``report`` accepts, besides our own benchmark directory,
the two layouts users already have on disk:

* a LISA ReasonSeg folder (``name.jpg`` + ``name.json``), e.g. ``ReasonSeg/val``;
* Seg-Zero's evaluation data: a ``.parquet`` file, a folder of them, or a ``datasets.save_to_disk`` folder.

Those are imported once (with the default importer options: ``text[0]`` per LISA image, as LISA's and
Seg-Zero's evaluations do) into a cache directory keyed by the source's path, size and modification
times, and reused afterwards. The cache lives in ``$PIXELTHINK_CACHE`` (default
``~/.cache/pixelthink``)/``benchmarks``. Sample ids are the importers' (the LISA file stem), so
predictions made on the cached copy refer to the source's images.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from pixelthink.data.format import SAMPLES_FILE, Benchmark
from pixelthink.data.importers import import_lisa, import_segzero

logger = logging.getLogger(__name__)


def cache_root() -> Path:
    """Where imported copies of foreign benchmarks are kept (``$PIXELTHINK_CACHE/benchmarks``)."""
    base = os.environ.get("PIXELTHINK_CACHE") or Path.home() / ".cache" / "pixelthink"
    return Path(base) / "benchmarks"


def detect_layout(path: str | os.PathLike[str]) -> str | None:
    """``"pixelthink"``, ``"lisa"``, ``"segzero"`` or None (not a recognised benchmark source)."""
    p = Path(path)
    if (p.is_file() and p.name == SAMPLES_FILE) or (p / SAMPLES_FILE).is_file():
        return "pixelthink"
    if p.is_file() and p.suffix == ".parquet":
        return "segzero"
    if not p.is_dir():
        return None
    if any(p.glob("*.parquet")) or (p / "dataset_info.json").is_file() or (p / "state.json").is_file():
        return "segzero"
    if any(p.glob("*.json")) and any(q.suffix.lower() in {".jpg", ".jpeg", ".png"} for q in p.iterdir()):
        return "lisa"
    return None


def _fingerprint(p: Path) -> str:
    files = [p] if p.is_file() else sorted(q for q in p.iterdir() if q.is_file())
    h = hashlib.sha1(str(p.resolve()).encode())
    for q in files:
        st = q.stat()
        h.update(f"{q.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def resolve_benchmark_dir(path: str | os.PathLike[str], *, progress: bool = False) -> Path:
    """Our benchmark directory for ``path``, importing (once, cached) a LISA or Seg-Zero source.

    Anything unrecognised is returned unchanged, so :class:`Benchmark` reports what is wrong with it.
    """
    p = Path(path)
    layout = detect_layout(p)
    if layout in (None, "pixelthink"):
        return p
    target = cache_root() / f"{layout}-{p.stem}-{_fingerprint(p)}"
    if (target / SAMPLES_FILE).is_file():
        logger.info("using the imported copy of %s (%s layout): %s", p, layout, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        importer = import_lisa if layout == "lisa" else import_segzero
        report = importer(p, tmp / "bench", progress=progress)
        try:
            os.replace(tmp / "bench", target)  # atomic: a crash never leaves a half-imported cache entry
        except OSError:
            if not (target / SAMPLES_FILE).is_file():  # another process may have finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("imported %s (%s layout, %s) into %s", p, layout, report.summary(), target)
    return target


def open_benchmark(
    path: str | os.PathLike[str], *, split: str | None = None, check_images: bool = False
) -> Benchmark:
    """:class:`Benchmark` for our directory, a LISA ReasonSeg folder or Seg-Zero parquet data."""
    root = resolve_benchmark_dir(path)
    return Benchmark(root, split=split, check_images=check_images)
