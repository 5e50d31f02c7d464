"""Chance level and oracle of a shapes benchmark, through the segmenter a run used (cached).

For a generated shapes benchmark (:mod:`pixelthink.evaluate.shapes`), per sample:

- **chance**: every visible shape of the scene in turn, its exact box (``source.shapes[i].bbox``,
  original frame) and its centre (given as both points) through the segmenter; the ``(I, U)`` of each
  resulting mask with the ground truth. Their mean IoU is the expected IoU of picking a scene shape
  uniformly at random, i.e. a model that perceives perfectly but ignores the query.
- **oracle**: the sample's true box and its two points (``Sample.bbox`` / ``Sample.points``) through the
  same segmenter: what a model whose answer is exactly right scores, i.e. the segmenter's ceiling.

Segmenting every shape costs about 0.1 s per shape with GrabCut on a 256x256 image, so the results are
computed once per benchmark and segmenter and cached next to the benchmark in
``BENCH/annotations/chance-<segmenter>.jsonl``: one JSON line per sample ``{"id", "key", "fp", "shapes":
[[I, U], ...], "oracle": [I, U]}``, where ``key`` is a digest of the settings (segmenter, its options,
convention, this module's version) and ``fp`` a fingerprint of the sample (mask, box, points, scene, image
name), so a regenerated benchmark or other settings are recomputed, never reused. The file is written a
line at a time (``jsonio.JsonlAppender``: crash-safe, resumable, one writer at a time); a benchmark
directory that cannot be written is computed without a cache (with a warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.data import Benchmark, Sample
from pixelthink.evaluate.metrics import Convention, check_convention, intersection_union
from pixelthink.evaluate.shapes import is_shapes_sample, scene_shapes
from pixelthink.handoff import usable_cores

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_VERSION",
    "WEIGHT_FREE_SEGMENTERS",
    "SceneBaselines",
    "cache_path",
    "compute_baselines",
    "scene_baselines",
    "segmenter_is_weight_free",
]

#: bump when what a cached line means changes (its lines are then recomputed)
CACHE_VERSION = 1
#: segmenters that need no weights (cheap enough to run on every shape of a benchmark by default)
WEIGHT_FREE_SEGMENTERS = ("grabcut", "box")


@dataclass(frozen=True)
class SceneBaselines:
    """The chance and oracle counts of one sample.

    Attributes:
        shapes: ``(I, U)`` pixel counts, under the convention, of each visible shape's box + centre through
            the segmenter (scene order); empty for a scene without a visible shape.
        oracle: ``(I, U)`` of the true box and points through the segmenter.
    """

    shapes: tuple[tuple[int, int], ...]
    oracle: tuple[int, int]


def segmenter_is_weight_free(spec: str) -> bool:
    """True for ``grabcut`` and ``box`` (no weights to load), False for a SAM-family checkpoint or a spec
    that names no segmenter (the backend registry decides what a spec names)."""
    from pixelthink.models.registry import SEGMENTERS

    try:
        backend, _ = SEGMENTERS.resolve(spec)
    except ValueError:
        return False
    return backend.name in WEIGHT_FREE_SEGMENTERS


def cache_path(bench_root: str | os.PathLike[str], segmenter: str) -> Path:
    """``BENCH/annotations/chance-<segmenter>.jsonl`` (``sam2:/a/b/model`` -> ``chance-sam2-model``)."""
    name, _, arg = segmenter.strip().partition(":")
    label = name.lower() + (f"-{Path(arg.rstrip('/')).name}" if arg else "")
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label) or "segmenter"
    return Path(bench_root) / "annotations" / f"chance-{label}.jsonl"


def _settings_key(segmenter: str, convention: str) -> str:
    settings = {"version": CACHE_VERSION, "segmenter": segmenter.strip(), "convention": convention}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _fingerprint(sample: Sample) -> str:
    what = [sample.image, sample.mask, sample.ignore, sample.bbox, sample.points, sample.source.get("shapes")]
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return ((float(box[0]) + float(box[2])) / 2.0, (float(box[1]) + float(box[3])) / 2.0)


def compute_baselines(
    segmenter: Any, image: np.ndarray, sample: Sample, convention: Convention = "lisa"
) -> SceneBaselines:
    """The chance and oracle counts of ``sample`` with a loaded ``segmenter`` (see the module docstring).

    ``image``: the sample's ``(H, W, 3)`` uint8 RGB image, original frame.
    """
    from pixelthink.masks import decode_rle

    gt = decode_rle(sample.mask).astype(bool)
    ignore = sample.ignore_array()
    segmenter.set_image(image)

    def counts(box: Sequence[float] | None, points: Sequence[tuple[float, float]]) -> tuple[int, int]:
        mask, _ = segmenter.predict(None if box is None else tuple(float(v) for v in box), list(points))
        return intersection_union(np.asarray(mask, dtype=bool), gt, ignore, convention=convention)

    shapes = tuple(counts(box, [_centre(box), _centre(box)]) for _, _, box in scene_shapes(sample))
    oracle = counts(sample.bbox, [tuple(p) for p in sample.points])  # type: ignore[misc]
    return SceneBaselines(shapes, oracle)


_WORKER: dict[str, Any] = {}


def _worker_baselines(
    root: str, sample: Sample, segmenter: str, convention: Convention
) -> tuple[str, SceneBaselines]:
    """One sample in a worker process (the segmenter is loaded once per process)."""
    from pixelthink.images import decode_image
    from pixelthink.models.registry import load_segmenter

    if _WORKER.get("spec") != segmenter:
        _WORKER.update(spec=segmenter, segmenter=load_segmenter(segmenter))
    image = np.asarray(decode_image(Path(root) / sample.image, max_pixels=None).convert("RGB"))
    return sample.id, compute_baselines(_WORKER["segmenter"], image, sample, convention)


def _parse_line(obj: Any) -> tuple[str, str, str, SceneBaselines] | None:
    try:
        shapes = tuple((int(i), int(u)) for i, u in obj["shapes"])
        oracle = (int(obj["oracle"][0]), int(obj["oracle"][1]))
        return str(obj["id"]), str(obj["key"]), str(obj["fp"]), SceneBaselines(shapes, oracle)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _compute(
    bench: Benchmark, todo: list[Sample], segmenter: str, convention: Convention, workers: int
) -> Iterator[tuple[str, SceneBaselines]]:
    """Baselines of ``todo``, in order, in ``workers`` processes (0: in this process)."""
    root = str(bench.root)
    if workers <= 0:
        for sample in todo:
            yield _worker_baselines(root, sample, segmenter, convention)
        return
    # spawn: the workers must not inherit this process's threads (torch, tqdm) mid-flight
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        n = len(todo)
        yield from pool.map(
            _worker_baselines, [root] * n, todo, [segmenter] * n, [convention] * n, chunksize=4
        )


def scene_baselines(
    bench: Benchmark,
    segmenter: str = "grabcut",
    *,
    convention: Convention = "lisa",
    cache: str | os.PathLike[str] | None = "auto",
    workers: int | None = None,
    progress: bool = False,
) -> dict[str, SceneBaselines]:
    """Chance and oracle counts of every shapes sample of ``bench``, by sample id (cached).

    Args:
        bench: the benchmark (samples that are not shapes samples are left out).
        segmenter: the segmenter spec the run used (``grabcut``, ``box``, ``sam2:PATH``).
        convention: the gIoU convention of the counts.
        cache: the JSONL cache (``"auto"``: :func:`cache_path` next to the benchmark; None: no cache).
        workers: segmentation processes; default: one per usable core for a weight-free segmenter when
            more than 16 samples are missing from the cache, else 0 (this process). Worker processes are
            spawned (not forked): a script that calls this must guard its entry with
            ``if __name__ == "__main__":``, as for any spawned pool. The counts do not depend on it.
        progress: a tqdm bar over the samples still to compute.
    """
    from pixelthink.jsonio import JsonlAppender, OutputLockedError

    convention = check_convention(convention)
    samples = [s for s in bench if is_shapes_sample(s)]
    if not samples:
        return {}
    key = _settings_key(segmenter, convention)
    path = cache_path(bench.root, segmenter) if cache == "auto" else (None if cache is None else Path(cache))
    found: dict[str, tuple[str, SceneBaselines]] = {}
    appender: JsonlAppender | None = None
    if path is not None:
        try:
            appender = JsonlAppender(path, resume=True)
        except (OSError, ValueError) as exc:  # read-only benchmark, another writer, a corrupt line
            kind = "in use" if isinstance(exc, OutputLockedError) else "unusable"
            logger.warning("chance cache %s %s (%s): computing without it", path, kind, exc)
        else:
            for _, obj in appender.records:
                parsed = _parse_line(obj)
                if parsed is not None and parsed[1] == key:
                    found[parsed[0]] = (parsed[2], parsed[3])
    out: dict[str, SceneBaselines] = {}
    todo = []
    for s in samples:
        hit = found.get(s.id)
        if hit is not None and hit[0] == _fingerprint(s):
            out[s.id] = hit[1]
        else:
            todo.append(s)
    if workers is None:
        workers = usable_cores() if segmenter_is_weight_free(segmenter) and len(todo) > 16 else 0
    fps = {s.id: _fingerprint(s) for s in todo}
    try:
        from tqdm import tqdm

        desc = f"chance + oracle ({segmenter})"
        with tqdm(total=len(todo), desc=desc, unit="sample", disable=not progress or not todo) as bar:
            for sample_id, result in _compute(bench, todo, segmenter, convention, workers):
                out[sample_id] = result
                if appender is not None:
                    line = {"id": sample_id, "key": key, "fp": fps[sample_id]}
                    line.update(shapes=[list(c) for c in result.shapes], oracle=list(result.oracle))
                    appender.write(line)
                bar.update(1)
    finally:
        if appender is not None:
            appender.close()
    return out
