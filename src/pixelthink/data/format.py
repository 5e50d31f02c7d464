"""The pixelthink benchmark format: a directory with ``samples.jsonl`` + ``images/`` (+ ``meta.json``).

One JSON object per line of ``samples.jsonl``, keys always written in this order::

    id, image, query, is_sentence, width, height, mask, ignore, bbox, points,
    difficulty, reasoning_short, reasoning_long, source, split

All coordinates (``bbox``, ``points``) and masks are in the **original** frame: the image file as stored
under ``images/``. See docs/FORMATS.md for the field-by-field description.

``Benchmark`` streams: iterating parses one line at a time and never holds more than one sample's masks.
Every parse error names ``samples.jsonl:LINE``, the field and what was expected.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from pixelthink.answer import DEFAULT_MAX_QUERY_CHARS, query_length_problem, query_problem
from pixelthink.images import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, image_size
from pixelthink.jsonio import dumps_line, read_json_file, skip_bom, to_number
from pixelthink.jsonio import is_number as _is_number
from pixelthink.jsonio import plain as _plain
from pixelthink.jsonio import rle_to_json as _rle_json
from pixelthink.masks import (
    RLE,
    Box,
    Point,
    box_from_mask,
    decode_rle,
    encode_rle,
    points_from_mask,
    rle_problem,
)

SAMPLES_FILE = "samples.jsonl"
IMAGES_DIR = "images"
META_FILE = "meta.json"
FORMAT_NAME = "pixelthink-benchmark"
FORMAT_VERSION = 1

SAMPLE_KEYS: tuple[str, ...] = (
    "id",
    "image",
    "query",
    "is_sentence",
    "width",
    "height",
    "mask",
    "ignore",
    "bbox",
    "points",
    "difficulty",
    "reasoning_short",
    "reasoning_long",
    "source",
    "split",
)
REQUIRED_KEYS: frozenset[str] = frozenset(
    {"id", "image", "query", "is_sentence", "width", "height", "mask", "bbox", "points"}
)
DIFFICULTY_RANGE = (1.0, 10.0)


@dataclass
class Sample:
    """One benchmark sample (one query about one image). All geometry in the original frame.

    Attributes:
        id: unique id within the benchmark.
        image: image path relative to the benchmark directory (normally ``images/NAME``).
        query: the referring expression or question.
        is_sentence: True for a full-sentence (implicit/reasoning) query, False for a short phrase.
        width, height: size in pixels of the image file.
        mask: target mask, COCO RLE ``{"size": [height, width], "counts": str}``.
        ignore: pixels excluded from evaluation (LISA "ignore" polygons), RLE, or None.
        bbox: ``(x1, y1, x2, y2)`` inclusive pixel extremes of ``mask``; None only for an empty mask.
        points: Seg-Zero's two representative points of ``mask`` (``masks.points_from_mask``) ``[(x, y), (x, y)]``; ``[]`` for an empty mask.
        difficulty: 1..10 (ReasonSeg-Diff style), or None when unrated.
        reasoning_short, reasoning_long: reference reasoning chains, or None.
        source: ids in the source dataset (``dataset``, ``image_id``, ``ann_id``, ...).
        split: e.g. "train", "val", "test", or None.
    """

    id: str
    image: str
    query: str
    is_sentence: bool
    width: int
    height: int
    mask: RLE
    ignore: RLE | None = None
    bbox: Box | None = None
    points: list[Point] = field(default_factory=list)
    difficulty: float | None = None
    reasoning_short: str | None = None
    reasoning_long: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    split: str | None = None

    # -- masks ---------------------------------------------------------------------------------
    def mask_array(self) -> np.ndarray:
        """Target mask, bool ``(height, width)``, original frame."""
        return decode_rle(self.mask)

    def ignore_array(self) -> np.ndarray | None:
        """Ignore mask, bool ``(height, width)``, or None when the sample has no ignore region."""
        return None if self.ignore is None else decode_rle(self.ignore)

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON object of one ``samples.jsonl`` line, keys in ``SAMPLE_KEYS`` order."""
        return {
            "id": self.id,
            "image": self.image,
            "query": self.query,
            "is_sentence": bool(self.is_sentence),
            "width": int(self.width),
            "height": int(self.height),
            "mask": _rle_json(self.mask),
            "ignore": None if self.ignore is None else _rle_json(self.ignore),
            "bbox": None if self.bbox is None else [_num(v) for v in self.bbox],
            "points": [[_num(p[0]), _num(p[1])] for p in self.points],
            "difficulty": None if self.difficulty is None else _num(self.difficulty),
            "reasoning_short": self.reasoning_short,
            "reasoning_long": self.reasoning_long,
            "source": _plain(self.source),
            "split": self.split,
        }

    def to_line(self) -> str:
        """One ``samples.jsonl`` line (no trailing newline), deterministic."""
        return dumps_line(self.to_json())

    @classmethod
    def from_json(cls, obj: Any, where: str = "sample") -> Sample:
        """Parse and validate one line's object. Errors read ``"{where}: field 'x': expected ..."``."""
        return cls(**_parse_sample_fields(obj, where))


_num = to_number


# ------------------------------------------------------------------------------------ validation


def _parse_sample_fields(obj: Any, where: str) -> dict[str, Any]:
    def err(name: str, expected: str, got: Any = ...) -> ValueError:
        suffix = "" if got is ... else f", got {got!r}"[:200]
        return ValueError(f"{where}: field '{name}': expected {expected}{suffix}")

    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(SAMPLE_KEYS))
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {unknown}; allowed: {list(SAMPLE_KEYS)} "
            "(put extra ids or notes into 'source')"
        )
    missing = sorted(REQUIRED_KEYS - set(obj))
    if missing:
        raise ValueError(f"{where}: missing required field(s) {missing}")

    out: dict[str, Any] = {}
    sid = obj["id"]
    if not isinstance(sid, str) or not sid:
        raise err("id", "a non-empty string", sid)
    out["id"] = sid
    image = obj["image"]
    if not isinstance(image, str) or not image:
        raise err("image", "a non-empty relative path string", image)
    parts = Path(image).parts
    if Path(image).is_absolute() or image.startswith(("/", "\\")) or ".." in parts:
        raise err("image", "a path relative to the benchmark directory (no leading '/', no '..')", image)
    out["image"] = image
    query = obj["query"]
    if not isinstance(query, str) or not query.strip():
        raise err("query", "a non-empty string", query)
    out["query"] = query
    if not isinstance(obj["is_sentence"], bool):
        raise err("is_sentence", "true or false", obj["is_sentence"])
    out["is_sentence"] = obj["is_sentence"]
    for name in ("width", "height"):
        v = obj[name]
        if not isinstance(v, int) or not _is_number(v) or v <= 0:
            raise err(name, "a positive integer (pixels)", v)
        out[name] = v
    w, h = out["width"], out["height"]

    problem = rle_problem(obj["mask"], h, w)
    if problem is not None:
        raise err("mask", f"COCO RLE of size [height, width] = [{h}, {w}] ({problem})")
    out["mask"] = _rle_json(obj["mask"])
    ignore = obj.get("ignore")
    if ignore is not None:
        problem = rle_problem(ignore, h, w)
        if problem is not None:
            raise err("ignore", f"null or COCO RLE of size [{h}, {w}] ({problem})")
        ignore = _rle_json(ignore)
    out["ignore"] = ignore

    bbox = obj["bbox"]
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
            raise err("bbox", "null or a list of 4 numbers [x1, y1, x2, y2] (original frame)", bbox)
        x1, y1, x2, y2 = (float(v) for v in bbox)
        if x2 < x1 or y2 < y1:
            raise err("bbox", "x1 <= x2 and y1 <= y2", bbox)
        if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
            raise err("bbox", f"coordinates inside the image (0..{w}, 0..{h})", bbox)
        bbox = (x1, y1, x2, y2)
    out["bbox"] = bbox
    pts = obj["points"]
    if not isinstance(pts, list) or len(pts) > 2:
        raise err("points", "a list of at most 2 points [[x, y], [x, y]] (original frame)", pts)
    points: list[Point] = []
    for p in pts:
        if not isinstance(p, list) or len(p) != 2 or not all(_is_number(v) for v in p):
            raise err("points", "each point a list of 2 numbers [x, y]", p)
        if not (0 <= p[0] <= w and 0 <= p[1] <= h):
            raise err("points", f"points inside the image (0..{w}, 0..{h})", p)
        points.append((float(p[0]), float(p[1])))
    out["points"] = points

    diff = obj.get("difficulty")
    if diff is not None:
        lo, hi = DIFFICULTY_RANGE
        if not _is_number(diff) or not lo <= float(diff) <= hi:
            raise err("difficulty", f"null or a number in {lo:g}..{hi:g}", diff)
        diff = float(diff)
    out["difficulty"] = diff
    for name in ("reasoning_short", "reasoning_long", "split"):
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            raise err(name, "null or a string", v)
        out[name] = v
    source = obj.get("source")
    if source is None:
        source = {}
    if not isinstance(source, dict):
        raise err("source", "a JSON object of source ids", source)
    out["source"] = dict(source)
    return out


# ------------------------------------------------------------------------------------- reading


def _samples_path(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    p = Path(path)
    if p.is_file() and p.name == SAMPLES_FILE:
        return p.parent, p
    if not p.exists():
        raise FileNotFoundError(f"benchmark directory not found: {p}")
    if not p.is_dir():
        raise ValueError(f"{p}: expected a benchmark directory holding {SAMPLES_FILE}")
    sp = p / SAMPLES_FILE
    if not sp.is_file():
        raise FileNotFoundError(f"{p}: not a benchmark directory ({SAMPLES_FILE} is missing)")
    return p, sp


def _decode_line(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: invalid UTF-8 (byte {exc.start + 1} of the line: {exc.reason})") from None


def iter_raw_lines(samples_file: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` of non-blank lines (1-based), streaming.

    Raises:
        ValueError: a line that is not UTF-8, naming ``FILE:LINE``.
    """
    with open(samples_file, "rb") as fh:
        skip_bom(fh)  # a BOM (Windows editors) is not content
        for lineno, raw in enumerate(fh, start=1):
            if raw.strip():
                yield lineno, _decode_line(raw, f"{samples_file}:{lineno}")


def _load_json_line(line: str, where: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from None


class Benchmark:
    """A benchmark directory, read lazily.

    ``Benchmark(path, split=None, check_images=True)``; ``path`` is the directory (or its
    ``samples.jsonl``). Iterating yields validated ``Sample`` objects one line at a time, optionally only
    those of ``split``; duplicate ids and (when ``check_images``) missing image files raise
    ``ValueError`` / ``FileNotFoundError`` naming ``samples.jsonl:LINE``.
    """

    def __init__(
        self, path: str | os.PathLike[str], split: str | None = None, *, check_images: bool = True
    ) -> None:
        self.root, self.samples_file = _samples_path(path)
        self.split = split
        self.check_images = check_images
        self._offsets: dict[str, int] | None = None
        self._len: int | None = None

    # -- metadata --------------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        """Contents of ``meta.json`` ({} when absent)."""
        mp = self.root / META_FILE
        if not mp.is_file():
            return {}
        meta = read_json_file(mp, META_FILE)
        if not isinstance(meta, dict):
            raise ValueError(f"{mp}: expected a JSON object")
        return meta

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or self.root.name)

    # -- iteration -------------------------------------------------------------------------------
    def _parse(self, lineno: int, line: str) -> Sample:
        where = f"{self.samples_file}:{lineno}"
        sample = Sample.from_json(_load_json_line(line, where), where)
        if self.check_images and not (self.root / sample.image).is_file():
            raise FileNotFoundError(f"{where}: field 'image': file not found: {self.root / sample.image}")
        return sample

    def __iter__(self) -> Iterator[Sample]:
        seen: dict[str, int] = {}
        for lineno, line in iter_raw_lines(self.samples_file):
            sample = self._parse(lineno, line)
            if sample.id in seen:
                raise ValueError(
                    f"{self.samples_file}:{lineno}: field 'id': duplicate id {sample.id!r} "
                    f"(first on line {seen[sample.id]})"
                )
            seen[sample.id] = lineno
            if self.split is None or sample.split == self.split:
                yield sample

    def __len__(self) -> int:
        if self._len is None:
            if self.split is None:
                self._len = sum(1 for _ in iter_raw_lines(self.samples_file))
            else:
                self._len = sum(1 for o in self.raw_records() if o.get("split") == self.split)
        return self._len

    def raw_records(self) -> Iterator[dict[str, Any]]:
        """Yield each line's JSON object unvalidated (cheap scans: ids, splits, difficulty)."""
        for lineno, line in iter_raw_lines(self.samples_file):
            obj = _load_json_line(line, f"{self.samples_file}:{lineno}")
            if not isinstance(obj, dict):
                raise ValueError(f"{self.samples_file}:{lineno}: expected a JSON object")
            yield obj

    def splits(self) -> dict[str | None, int]:
        """Number of samples per split (None for samples without a split)."""
        counts: dict[str | None, int] = {}
        for obj in self.raw_records():
            counts[obj.get("split")] = counts.get(obj.get("split"), 0) + 1
        return counts

    def ids(self) -> list[str]:
        """Sample ids in file order (restricted to ``split`` when set)."""
        return [
            str(o.get("id")) for o in self.raw_records() if self.split is None or o.get("split") == self.split
        ]

    def get(self, sample_id: str) -> Sample:
        """The sample with this id (an index of byte offsets is built on first use). KeyError if absent."""
        if self._offsets is None:
            offsets: dict[str, int] = {}
            with open(self.samples_file, "rb") as fh:
                pos = skip_bom(fh)
                for raw in fh:
                    if raw.strip():
                        try:  # invalid UTF-8 or JSON is reported (FILE:LINE) when that line is read
                            obj = json.loads(raw.decode("utf-8", errors="replace"))
                        except ValueError:
                            obj = None
                        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                            offsets.setdefault(obj["id"], pos)
                    pos += len(raw)
            self._offsets = offsets
        if sample_id not in self._offsets:
            raise KeyError(f"{self.samples_file}: no sample with id {sample_id!r}")
        with open(self.samples_file, "rb") as fh:
            start = self._offsets[sample_id]
            lineno = fh.read(start).count(b"\n") + 1
            line = _decode_line(fh.readline(), f"{self.samples_file}:{lineno}")
        return self._parse(lineno, line)

    # -- images ----------------------------------------------------------------------------------
    def image_path(self, sample: Sample) -> Path:
        """Absolute path of a sample's image file."""
        return self.root / sample.image

    def load_image(self, sample: Sample, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Any:
        """The sample's image as a PIL RGB image, original frame.

        Decoded with :func:`pixelthink.images.decode_image`: an image declaring more than
        ``max_pixels`` pixels (``None``/``0``: no limit) is refused from its header, before decoding.

        Raises:
            FileNotFoundError: the file is missing.
            ImageTooLargeError: the image is larger than ``max_pixels`` (a ValueError).
            ValueError: the file cannot be decoded, or its size differs from the sample's width/height.
        """
        path = self.image_path(sample)
        if not path.is_file():
            raise FileNotFoundError(f"sample {sample.id!r}: image file not found: {path}")
        try:
            rgb = decode_image(path, max_pixels=max_pixels)
        except ImageDecodeError as exc:  # same type (ImageTooLargeError stays one), message names the sample
            exc.args = (f"sample {sample.id!r}: {exc}",)
            raise
        if rgb.size != (sample.width, sample.height):
            raise ValueError(
                f"sample {sample.id!r}: image {path} is {rgb.size[0]}x{rgb.size[1]} but the sample says "
                f"width x height = {sample.width}x{sample.height}"
            )
        return rgb


def validate_benchmark(
    path: str | os.PathLike[str],
    *,
    decode_images: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_query_chars: int | None = DEFAULT_MAX_QUERY_CHARS,
    warnings: list[str] | None = None,
) -> list[str]:
    """Check a benchmark directory completely; return one message per problem ([] = valid).

    Every line is parsed and validated (field types, RLE sizes and runs, difficulty range, bbox/points
    shapes), ids must be unique, image files must exist (and decode with their declared size, within
    ``max_pixels``, when ``decode_images``), ``bbox`` must lie within one pixel of the mask's extent and
    the points inside the mask or its 1-pixel neighbourhood. Messages name ``samples.jsonl:LINE`` and
    the field.

    Args:
        warnings: when given, findings that do not make the benchmark invalid are appended to it: a
            query longer than ``max_query_chars`` (``predict`` / ``segment`` would refuse that sample).
    """
    try:
        root, samples_file = _samples_path(path)
    except (FileNotFoundError, ValueError) as exc:
        return [str(exc)]
    errors: list[str] = []
    bench = Benchmark(root, check_images=False)
    try:
        _ = bench.meta
    except ValueError as exc:
        errors.append(str(exc))
    seen: dict[str, int] = {}
    lines = 0
    for lineno, line in iter_raw_lines(samples_file):
        lines += 1
        where = f"{samples_file}:{lineno}"
        try:
            sample = Sample.from_json(_load_json_line(line, where), where)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if sample.id in seen:
            errors.append(
                f"{where}: field 'id': duplicate id {sample.id!r} (first on line {seen[sample.id]})"
            )
        else:
            seen[sample.id] = lineno
        long_query = query_length_problem(sample.query, max_query_chars)
        if long_query is not None and warnings is not None:
            warnings.append(f"{where}: field 'query': {long_query}")
        bad_query = query_problem(sample.query, None)  # not valid text: every reasoner would refuse it
        if bad_query is not None:
            errors.append(f"{where}: field 'query': {bad_query}")
        img = root / sample.image
        if not img.is_file():
            errors.append(f"{where}: field 'image': file not found: {img}")
        elif decode_images:
            try:
                bench.load_image(sample, max_pixels=max_pixels)
            except (ValueError, FileNotFoundError) as exc:
                errors.append(f"{where}: field 'image': {exc}")
        mask = sample.mask_array()
        ext = box_from_mask(mask)
        if ext is None:
            if sample.bbox is not None or sample.points:
                errors.append(f"{where}: field 'bbox': the mask is empty, so bbox must be null and points []")
            continue
        if sample.bbox is None:
            errors.append(f"{where}: field 'bbox': expected the mask extent {list(ext)}, got null")
        elif max(abs(a - b) for a, b in zip(sample.bbox, ext, strict=True)) > 1.0:
            errors.append(
                f"{where}: field 'bbox': expected within 1 px of the mask extent {list(ext)}, "
                f"got {list(sample.bbox)}"
            )
        if len(sample.points) != 2:
            errors.append(f"{where}: field 'points': expected 2 points for a non-empty mask")
        h, w = mask.shape
        for p in sample.points:
            x, y = round(p[0]), round(p[1])
            y0, y1, x0, x1 = max(y - 1, 0), min(y + 2, h), max(x - 1, 0), min(x + 2, w)
            if not mask[y0:y1, x0:x1].any():
                errors.append(f"{where}: field 'points': point {list(p)} lies outside the mask")
    if lines == 0:
        errors.append(f"{samples_file}: no samples (an empty benchmark: nothing to predict or evaluate)")
    return errors


def in_shard(sample_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``sample_id`` belongs to shard ``(i, n)``: ``crc32(utf-8 id) % n == i`` (all when None).

    A split that depends only on the ids, not on file order or on a limit (``--shard i/n`` of
    ``pixelthink predict`` and ``pixelthink annotate``).
    """
    if shard is None:
        return True
    i, n = shard
    return zlib.crc32(sample_id.encode("utf-8")) % n == i


def select_ids(
    bench: Benchmark, *, shard: tuple[int, int] | None = None, limit: int | None = None
) -> list[str]:
    """The ids of ``bench`` (its split) in shard ``shard``, in file order, at most ``limit`` of them."""
    selected: list[str] = []
    for sample_id in bench.ids():
        if in_shard(sample_id, shard):
            selected.append(sample_id)
            if limit is not None and len(selected) >= limit:
                break
    return selected


def update_meta(path: str | os.PathLike[str], updates: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into a benchmark's ``meta.json`` (created when missing), atomically; returns it."""
    root, _samples = _samples_path(path)
    meta = Benchmark(root, check_images=False).meta
    meta.update(_plain(dict(updates)))
    target = root / META_FILE
    tmp = target.with_name(META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, target)
    return meta


# ------------------------------------------------------------------------------------- writing


def _image_info(data: bytes, max_pixels: int | None, name: str) -> tuple[int, int, str]:
    """``(width, height, format)`` of encoded image bytes, from the header, after the pixel-limit check."""
    from PIL import Image

    width, height = image_size(data, max_pixels=max_pixels, name=name)
    with Image.open(io.BytesIO(data)) as im:
        return width, height, str(im.format or "PNG")


_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif"}


class BenchmarkExistsError(FileExistsError):
    """``BenchmarkWriter`` refused to replace an existing benchmark; ``root`` is its directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(f"{root}: a benchmark already exists here (pass overwrite=True to replace it)")


class BenchmarkWriter:
    """Write a benchmark directory, one sample at a time (context manager).

    ``with BenchmarkWriter(out, name="ReasonSeg") as w: w.add(sample, image)``. ``samples.jsonl`` is
    written to a temporary file and moved into place when the block exits without error, together with
    ``meta.json`` (name, version, creator, splits, count). An existing benchmark is refused unless
    ``overwrite=True``. Images larger than ``max_pixels`` (read from their header; ``None``/``0``: no
    limit) are refused with :class:`~pixelthink.images.ImageTooLargeError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        version: str | None = None,
        overwrite: bool = False,
        extra_meta: Mapping[str, Any] | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.root = Path(path)
        self.max_pixels = max_pixels
        self.name = name or self.root.name
        self.version = version
        self.extra_meta = dict(extra_meta or {})
        if (self.root / SAMPLES_FILE).exists() and not overwrite:
            raise BenchmarkExistsError(self.root)
        self._fh: IO[str] | None = None
        self._ids: set[str] = set()
        self._images: dict[str, str] = {}  # relative name -> sha1 of content
        self._splits: dict[str, int] = {}
        self.count = 0

    def __enter__(self) -> BenchmarkWriter:
        (self.root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / (SAMPLES_FILE + ".tmp")
        self._fh = open(self._tmp, "w", encoding="utf-8")
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._fh is not None
        self._fh.close()
        if exc_type is not None:
            self._tmp.unlink(missing_ok=True)
            return
        os.replace(self._tmp, self.root / SAMPLES_FILE)
        from pixelthink import __version__

        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "creator": f"pixelthink {__version__}",
            "count": self.count,
            "splits": dict(sorted(self._splits.items())),
            **self.extra_meta,
        }
        (self.root / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")

    # -- images ----------------------------------------------------------------------------------
    def _store_image(self, image: Any, image_name: str | None, sample_id: str) -> tuple[str, int, int]:
        """Store an image under images/ and return (relative path, width, height)."""
        from PIL import Image

        if isinstance(image, (str, os.PathLike)):
            src = Path(image)
            if not src.is_file():
                raise FileNotFoundError(f"sample {sample_id!r}: image file not found: {src}")
            data = src.read_bytes()
            name = image_name or src.name
        elif isinstance(image, (bytes, bytearray)):
            data = bytes(image)
            name = image_name or ""
        elif isinstance(image, Image.Image):
            buf = io.BytesIO()
            image.convert("RGB").save(buf, format="PNG")
            data = buf.getvalue()
            name = image_name or f"{_safe_name(sample_id)}.png"
        else:
            raise TypeError(
                f"sample {sample_id!r}: image must be a path, bytes or PIL image, not {type(image)}"
            )
        width, height, fmt = _image_info(
            data, self.max_pixels, f"sample {sample_id!r}: image {name or 'bytes'}"
        )
        if not name:
            name = _safe_name(sample_id) + _EXT.get(fmt, ".img")
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ValueError(f"sample {sample_id!r}: image_name must be a plain file name, got {name!r}")
        rel = f"{IMAGES_DIR}/{name}"
        digest = hashlib.sha1(data).hexdigest()
        known = self._images.get(rel)
        if known is None:
            (self.root / rel).write_bytes(data)
            self._images[rel] = digest
        elif known != digest:
            raise ValueError(
                f"sample {sample_id!r}: a different image was already stored as {rel}; pass a unique image_name"
            )
        return rel, width, height

    # -- samples ---------------------------------------------------------------------------------
    def add(
        self,
        sample: Sample | Mapping[str, Any],
        image: Any = None,
        *,
        image_name: str | None = None,
    ) -> Sample:
        """Add one sample and return it as written.

        Args:
            sample: a ``Sample`` or a mapping with at least ``id``, ``query`` and ``mask``. ``mask`` and
                ``ignore`` may be bool ``(H, W)`` arrays or RLE. ``bbox`` / ``points`` are derived from the
                mask when absent (None / empty), ``width`` / ``height`` from the image when absent,
                ``is_sentence`` defaults to False.
            image: path of an image file to copy, encoded image bytes (written as-is), or a PIL image
                (saved as PNG). None keeps ``sample.image``, which must already exist under the directory.
            image_name: file name under ``images/`` (default: the source file name, else ``ID.ext``).
                Several samples may share one image file; a name clash with different content is an error.
        """
        if self._fh is None:
            raise RuntimeError("BenchmarkWriter.add() outside of a 'with' block")
        data = dict(sample.__dict__) if isinstance(sample, Sample) else dict(sample)
        sid = data.get("id")
        if not isinstance(sid, str) or not sid:
            raise ValueError(f"BenchmarkWriter.add: field 'id': expected a non-empty string, got {sid!r}")
        if sid in self._ids:
            raise ValueError(f"BenchmarkWriter.add: field 'id': duplicate id {sid!r}")
        if image is not None:
            rel, iw, ih = self._store_image(image, image_name, sid)
            data["image"] = rel
            for key, val in (("width", iw), ("height", ih)):
                if data.get(key) not in (None, val):
                    raise ValueError(f"sample {sid!r}: field '{key}' is {data[key]} but the image has {val}")
                data[key] = val
        elif not data.get("image"):
            raise ValueError(f"sample {sid!r}: no image given and field 'image' is empty")
        mask = data.get("mask")
        if mask is None:
            raise ValueError(f"sample {sid!r}: field 'mask' is required")
        mask_arr: np.ndarray | None = None
        if isinstance(mask, np.ndarray):
            mask_arr = mask.astype(bool) if mask.dtype != bool else mask
            data["mask"] = encode_rle(mask_arr)
        if isinstance(data.get("ignore"), np.ndarray):
            ign = data["ignore"]
            data["ignore"] = encode_rle(ign) if ign.any() else None
        if data.get("width") is None or data.get("height") is None:
            data.setdefault("height", int(data["mask"]["size"][0]))
            data.setdefault("width", int(data["mask"]["size"][1]))
        if data.get("bbox") is None or not data.get("points"):
            if mask_arr is None:
                mask_arr = decode_rle(data["mask"])
            if data.get("bbox") is None:
                data["bbox"] = box_from_mask(mask_arr)
            if not data.get("points"):
                data["points"] = points_from_mask(mask_arr) if mask_arr.any() else []
        data.setdefault("is_sentence", False)
        obj = {k: data.get(k) for k in SAMPLE_KEYS}
        obj["bbox"] = None if obj["bbox"] is None else [_num(v) for v in obj["bbox"]]
        obj["points"] = [[_num(p[0]), _num(p[1])] for p in obj["points"] or []]
        obj["source"] = _plain(obj["source"] or {})
        if obj["difficulty"] is not None:
            obj["difficulty"] = float(obj["difficulty"])
        where = f"sample {sid!r}"
        parsed = Sample.from_json(obj, where)
        if not (self.root / parsed.image).is_file():
            raise FileNotFoundError(f"{where}: field 'image': file not found: {self.root / parsed.image}")
        self._fh.write(parsed.to_line() + "\n")
        self._ids.add(sid)
        self.count += 1
        key = parsed.split if parsed.split is not None else "null"
        self._splits[key] = self._splits.get(key, 0) + 1
        return parsed


def _safe_name(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return keep.strip(".") or "image"


def rewrite_samples(path: str | os.PathLike[str], update: Any) -> int:
    """Rewrite ``samples.jsonl`` atomically, applying ``update(obj) -> obj`` to each raw line object.

    Lines are re-validated after the update; the new file replaces the old one only when every line
    succeeded (temporary file + ``os.replace``). Returns the number of lines written.
    """
    _root, samples_file = _samples_path(path)
    tmp = samples_file.with_name(SAMPLES_FILE + ".tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for lineno, line in iter_raw_lines(samples_file):
                where = f"{samples_file}:{lineno}"
                obj = update(_load_json_line(line, where))
                sample = Sample.from_json(obj, where)
                out.write(sample.to_line() + "\n")
                n += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, samples_file)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def update_samples_by_id(path: str | os.PathLike[str], updates: Mapping[str, Mapping[str, Any]]) -> int:
    """Set fields of samples chosen by exact id (``{id: {"difficulty": 6.5, ...}}``), rewriting
    ``samples.jsonl`` atomically (:func:`rewrite_samples`: every line re-validated, nothing written when
    one fails). Only :data:`SAMPLE_KEYS` other than ``id`` may be set. Returns how many samples changed.

    Raises:
        ValueError: an unknown or forbidden field, or an updated line that fails validation.
    """
    for sid, fields in updates.items():
        bad = sorted(set(fields) - (set(SAMPLE_KEYS) - {"id"}))
        if bad:
            raise ValueError(f"update of sample {sid!r}: cannot set field(s) {bad}")
    changed = 0

    def update(obj: dict[str, Any]) -> dict[str, Any]:
        nonlocal changed
        fields = updates.get(obj.get("id")) if isinstance(obj, dict) else None
        if fields:
            obj.update(fields)
            changed += 1
        return obj

    rewrite_samples(path, update)
    return changed
