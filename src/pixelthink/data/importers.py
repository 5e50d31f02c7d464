"""Importers into the pixelthink benchmark format.

- ``import_lisa``: a LISA ReasonSeg folder (``name.jpg`` + ``name.json`` labelme polygons).
- ``import_segzero``: Seg-Zero's evaluation parquet / Hugging Face ``datasets`` layout
  (columns ``image``, ``text``, ``mask`` (2-D bool), ``image_id``, ``ann_id``, ``img_height``, ``img_width``).
- ``load_difficulty`` / ``merge_difficulty``: a difficulty file as the PixelThink authors ship it
  (JSON list of ``{"image_id", "difficulty_score_model"}``) merged into a benchmark in place, atomically.

All masks, boxes and points are in the original frame of the imported images.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.data.format import DIFFICULTY_RANGE, Benchmark, BenchmarkWriter, rewrite_samples
from pixelthink.images import DEFAULT_MAX_PIXELS, check_pixels, image_size
from pixelthink.jsonio import clipped, is_number, read_json_file
from pixelthink.masks import IGNORE_VALUE, TARGET_VALUE, target_and_ignore_from_polygons

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", ".webp", ".bmp")
KNOWN_SPLITS = ("train", "val", "test")


@dataclass
class ImportReport:
    """What an import did: samples written, images seen, samples whose target mask is empty."""

    written: int = 0
    images: int = 0
    empty_masks: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.written} samples from {self.images} images"]
        if self.splits:
            parts.append("splits " + ", ".join(f"{k}={v}" for k, v in sorted(self.splits.items())))
        if self.empty_masks:
            parts.append(f"{self.empty_masks} with an empty target mask")
        return "; ".join(parts)


def _progress(items: Iterable[Any], enabled: bool, desc: str, total: int | None = None) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, total=total, unit="sample")


def _note_split(report: ImportReport, split: str | None) -> None:
    key = split if split is not None else "null"
    report.splits[key] = report.splits.get(key, 0) + 1


# ------------------------------------------------------------------------------------------ LISA


def read_lisa_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one LISA annotation file: UTF-8, or cp1252 when UTF-8 decoding fails (as LISA does).

    Returns the JSON object after checking ``text`` (str or list of str), ``is_sentence`` (bool, default
    False) and ``shapes`` (list of ``{"label": str, "points": [[x, y], ...]}``).
    """
    p = Path(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="strict")
    try:
        anno = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(anno, dict):
        raise ValueError(f"{p}: expected a JSON object with 'text', 'is_sentence', 'shapes'")
    texts = anno.get("text")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError(f"{p}: field 'text': expected a non-empty list of non-empty strings, got {texts!r}")
    anno["text"] = texts
    is_sentence = anno.get("is_sentence", False)
    if not isinstance(is_sentence, bool):
        raise ValueError(f"{p}: field 'is_sentence': expected true or false, got {is_sentence!r}")
    shapes = anno.get("shapes")
    if not isinstance(shapes, list):
        raise ValueError(
            f"{p}: field 'shapes': expected a list of labelme shapes, got {type(shapes).__name__}"
        )
    for k, shape in enumerate(shapes):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise ValueError(f"{p}: field 'shapes[{k}].label': expected a string")
        pts = shape.get("points")
        if not isinstance(pts, list) or not pts or not all(isinstance(q, list) and len(q) == 2 for q in pts):
            raise ValueError(f"{p}: field 'shapes[{k}].points': expected a list of [x, y] pairs")
        for j, vertex in enumerate(pts):
            if not all(is_number(v) for v in vertex):  # finite, not a bool, not a 400-digit int
                raise ValueError(
                    f"{p}: field 'shapes[{k}].points[{j}]': expected two finite numbers [x, y], got "
                    f"{clipped(json.dumps(vertex), 60)}"
                )
    return anno


def lisa_masks(anno: Mapping[str, Any], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Target and ignore masks (bool ``(H, W)``) of a LISA annotation, with LISA's semantics.

    Shapes labelled "flag" (case-insensitive) are skipped; labels containing "ignore" get value 255, all
    others value 1 (target); polygons are drawn largest area first so smaller ones overwrite larger ones.
    """
    polygons = []
    for shape in anno["shapes"]:
        label = shape["label"].lower()
        if label == "flag":
            continue
        value = IGNORE_VALUE if "ignore" in label else TARGET_VALUE
        polygons.append((np.asarray(shape["points"], dtype=np.float64), value))
    return target_and_ignore_from_polygons(polygons, height, width)


def _find_image(json_path: Path) -> Path:
    for ext in IMAGE_EXTENSIONS:
        cand = json_path.with_suffix(ext)
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{json_path}: no image next to it (looked for {json_path.stem}.jpg/.jpeg/.png)")


def import_lisa(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: str | None = None,
    expand_texts: bool = False,
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ImportReport:
    """Import a LISA ReasonSeg folder (``name.jpg`` + ``name.json`` per image) into a benchmark.

    Args:
        src: the folder (e.g. ``ReasonSeg/val``).
        out: the benchmark directory to create.
        split: split name of every sample; default: the folder name when it is train/val/test, else None.
        expand_texts: one sample per entry of ``text`` (ids ``STEM#K``); default: only ``text[0]`` with
            id ``STEM``, as LISA's val/test evaluation and Seg-Zero do.
        name: benchmark name in meta.json (default "ReasonSeg-SPLIT" or the folder name).

    Sample fields: ``source = {"dataset": "ReasonSeg", "image_id": STEM, "ann_id": STEM, "file": NAME.json,
    "text_index": K}``; ``mask`` = pixels labelled target after drawing, ``ignore`` = pixels labelled ignore
    (None when there are none). ``max_pixels``: largest image accepted (from its header; ``None``/``0``:
    no limit); a larger one stops the import with :class:`~pixelthink.images.ImageTooLargeError`.
    """
    src_dir = Path(src)
    if not src_dir.is_dir():
        raise FileNotFoundError(f"LISA folder not found: {src_dir}")
    json_files = sorted(src_dir.glob("*.json"))
    if not json_files:
        raise ValueError(f"{src_dir}: no *.json annotation files (expected LISA's name.jpg + name.json)")
    if split is None and src_dir.name in KNOWN_SPLITS:
        split = src_dir.name
    report = ImportReport()
    bench_name = name or (f"ReasonSeg-{split}" if split else src_dir.name)
    with BenchmarkWriter(out, name=bench_name, overwrite=overwrite, max_pixels=max_pixels) as writer:
        for json_path in _progress(json_files, progress, "import lisa", len(json_files)):
            anno = read_lisa_json(json_path)
            image_path = _find_image(json_path)
            # from the header, before the (H, W) masks are allocated: a decompression bomb is refused here
            width, height = image_size(image_path, max_pixels=max_pixels)
            try:
                target, ignore = lisa_masks(anno, height, width)
            except ValueError as exc:  # a vertex outside int32 (LISA casts them)
                raise ValueError(f"{json_path}: field 'shapes': {exc}") from None
            report.images += 1
            texts = anno["text"] if expand_texts else anno["text"][:1]
            stem = json_path.stem
            for k, text in enumerate(texts):
                sample = {
                    "id": f"{stem}#{k}" if expand_texts else stem,
                    "query": text,
                    "is_sentence": anno.get("is_sentence", False),
                    "width": width,
                    "height": height,
                    "mask": target,
                    "ignore": ignore if ignore.any() else None,
                    "source": {
                        "dataset": "ReasonSeg",
                        "image_id": stem,
                        "ann_id": stem,
                        "file": json_path.name,
                        "text_index": k,
                    },
                    "split": split,
                }
                writer.add(sample, image_path)
                report.written += 1
                _note_split(report, split)
                if not target.any():
                    report.empty_masks += 1
    if report.empty_masks:
        report.notes.append(f"{report.empty_masks} samples have an empty target mask (bbox null)")
    return report


# -------------------------------------------------------------------------------------- Seg-Zero


def _segzero_batches(path: Path, batch_size: int) -> Iterator[tuple[str, str | None, Any]]:
    """Yield ``(source_file, split_guess, pyarrow.RecordBatch)`` from a parquet file / dir / datasets dir."""
    import pyarrow.parquet as pq

    def guess_split(p: Path) -> str | None:
        for part in (p.stem, *reversed(p.parent.parts)):
            head = part.split("-")[0].split("_")[0].lower()
            if head in KNOWN_SPLITS:
                return head
            if head == "validation":
                return "val"
        return None

    if path.is_file():
        files = [path]
    elif path.is_dir() and any((path / f).is_file() for f in ("state.json", "dataset_dict.json")):
        from datasets import DatasetDict, load_from_disk

        ds = load_from_disk(str(path))
        parts = ds.items() if isinstance(ds, DatasetDict) else [(guess_split(path) or "", ds)]
        for split_name, d in parts:
            table = d.data.table if hasattr(d.data, "table") else d.data
            if d._indices is not None:  # a selected/filtered view: materialise its rows
                table = d.flatten_indices().data.table
            split = (split_name or None) if split_name != "validation" else "val"
            for batch in table.to_batches(max_chunksize=batch_size):
                yield str(path), split, batch
        return
    elif path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise ValueError(f"{path}: no *.parquet files and not a datasets save_to_disk directory")
    else:
        raise FileNotFoundError(f"Seg-Zero data not found: {path}")
    for f in files:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=batch_size):
            yield str(f), guess_split(f), batch


def _mask_to_array(value: Any, where: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A 2-D bool mask from a pyarrow scalar, nested lists, numpy array or image (non-zero = target).

    A mask given as encoded image bytes is checked against ``max_pixels`` before it is decoded."""
    import pyarrow as pa

    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            raise ValueError(f"{where}: field 'mask': expected a 2-D bool mask, got null")
        if pa.types.is_struct(value.type):
            value = value.as_py()
        else:
            rows = value.values
            if rows is None:
                raise ValueError(f"{where}: field 'mask': expected a 2-D bool mask, got an empty list")
            if (
                pa.types.is_list(rows.type)
                or pa.types.is_large_list(rows.type)
                or pa.types.is_fixed_size_list(rows.type)
            ):
                lengths = np.asarray(rows.value_lengths().to_numpy(zero_copy_only=False))
                if len(lengths) == 0 or (lengths != lengths[0]).any():
                    raise ValueError(f"{where}: field 'mask': rows have different lengths (not a 2-D mask)")
                flat = rows.flatten().to_numpy(zero_copy_only=False)
                return np.asarray(flat, dtype=bool).reshape(len(lengths), int(lengths[0]))
            value = value.as_py()
    if isinstance(value, Mapping) and ("bytes" in value or "path" in value):
        from PIL import Image

        data = value.get("bytes")
        if data is None:
            raise ValueError(f"{where}: field 'mask': image mask without bytes")
        image_size(data, max_pixels=max_pixels, name=f"{where}: field 'mask'")
        with Image.open(io.BytesIO(data)) as im:
            value = np.asarray(im.convert("L"))
    elif hasattr(value, "convert") and hasattr(value, "size"):  # PIL image
        value = np.asarray(value.convert("L"))
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{where}: field 'mask': expected a 2-D (H, W) mask, got shape {arr.shape}")
    return arr.astype(bool) if arr.dtype != bool else arr


def _image_bytes(value: Any, where: str) -> tuple[bytes | Any, str | None]:
    """``(bytes or PIL image, original file name or None)`` from a datasets Image value."""
    import pyarrow as pa

    if isinstance(value, pa.Scalar):
        value = value.as_py()
    if isinstance(value, Mapping):
        data = value.get("bytes")
        src_path = value.get("path")
        if data is None and src_path and Path(src_path).is_file():
            data = Path(src_path).read_bytes()
        if data is None:
            raise ValueError(f"{where}: field 'image': no bytes and no readable path ({src_path!r})")
        return bytes(data), (Path(src_path).name if src_path else None)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if hasattr(value, "convert") and hasattr(value, "size"):
        return value, None
    raise ValueError(f"{where}: field 'image': expected a datasets Image {{bytes, path}} or PIL image")


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _sentence_heuristic(text: str) -> bool:
    """Seg-Zero's parquet has no ``is_sentence``: a query of 6+ words or a question counts as a sentence."""
    return len(text.split()) >= 6 or text.rstrip().endswith("?")


_SEGZERO_COLUMNS = {"image", "text", "mask"}


def _segzero_getters(source_file: str, batch: Any) -> list[Callable[[str], Any]]:
    """One column reader per row of ``batch`` (None for an absent column; masks and images stay arrow
    values), after checking the required columns are there."""
    import pyarrow as pa

    cols = set(batch.schema.names)
    missing = _SEGZERO_COLUMNS - cols
    if missing:
        raise ValueError(
            f"{source_file}: missing column(s) {sorted(missing)}; found {sorted(cols)} "
            "(expected Seg-Zero's evaluation layout: image, text, mask, image_id, ann_id, "
            "img_height, img_width)"
        )
    columns = {c: batch.column(c) for c in batch.schema.names}

    def getter(i: int) -> Callable[[str], Any]:
        def get(col: str) -> Any:
            if col not in columns:
                return None
            v = columns[col][i]
            return v.as_py() if isinstance(v, pa.Scalar) and col not in ("mask", "image") else v

        return get

    return [getter(i) for i in range(batch.num_rows)]


def _segzero_image(
    get: Callable[[str], Any], where: str, max_pixels: int | None
) -> tuple[Any, str | None, Any]:
    """``(image bytes or PIL image, its file name or None, mask)`` of one row, sizes checked."""
    img, img_name = _image_bytes(get("image"), where)
    if isinstance(img, bytes):
        iw, ih = image_size(img, max_pixels=max_pixels, name=f"{where}: field 'image'")
    else:
        iw, ih = img.size
        check_pixels(iw, ih, max_pixels, f"{where}: field 'image'")
    mask = _mask_to_array(get("mask"), where, max_pixels)
    h_col, w_col = get("img_height"), get("img_width")
    if (h_col is not None and int(h_col) != ih) or (w_col is not None and int(w_col) != iw):
        raise ValueError(
            f"{where}: field 'img_height'/'img_width': {h_col}x{w_col} (HxW) but the image is {ih}x{iw}"
        )
    if mask.shape != (ih, iw):
        raise ValueError(
            f"{where}: field 'mask': shape {mask.shape} differs from the image size (H, W) = {(ih, iw)}"
        )
    return img, img_name, mask


def _image_file_name(img: Any, image_id: str) -> str:
    """``IMAGEID.jpg`` / ``.png`` after the format of the image bytes (PNG for a decoded image)."""
    from PIL import Image

    ext = ".png"
    if isinstance(img, bytes):
        with Image.open(io.BytesIO(img)) as im:
            ext = {"JPEG": ".jpg", "PNG": ".png"}.get(str(im.format), ".png")
    return f"{image_id}{ext}"


def _unique_id(sid: str, used: dict[str, int]) -> str:
    """``sid``, or ``sid#N`` for its N-th repetition (``used`` counts them)."""
    if sid in used:
        used[sid] += 1
        return f"{sid}#{used[sid]}"
    used[sid] = 0
    return sid


def _segzero_sample(
    get: Callable[[str], Any],
    source_file: str,
    row: int,
    dataset: str,
    max_pixels: int | None,
    used: dict[str, int],
) -> tuple[dict[str, Any], Any, str]:
    """``(sample record without split, image, image file name)`` of one Seg-Zero row."""
    where = f"{source_file}: row {row}"
    text = get("text")
    if isinstance(text, list):
        text = text[0] if text else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: field 'text': expected a non-empty string, got {text!r}")
    img, img_name, mask = _segzero_image(get, where, max_pixels)
    image_id = _as_str(get("image_id")) or str(row)
    ann_id = _as_str(get("ann_id"))
    sid = _unique_id(image_id if ann_id in (None, image_id) else f"{image_id}_{ann_id}", used)
    is_sentence = get("is_sentence")
    source: dict[str, Any] = {
        "dataset": dataset,
        "image_id": image_id,
        "ann_id": ann_id,
        "file": Path(source_file).name,
        "row": row,
    }
    if not isinstance(is_sentence, bool):
        is_sentence = _sentence_heuristic(text)
        source["is_sentence_inferred"] = True
    record = {"id": sid, "query": text, "is_sentence": is_sentence, "mask": mask, "source": source}
    return record, img, img_name if img_name is not None else _image_file_name(img, image_id)


def import_segzero(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: str | None = None,
    name: str | None = None,
    dataset: str = "segzero",
    overwrite: bool = False,
    progress: bool = False,
    batch_size: int = 16,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ImportReport:
    """Import Seg-Zero's evaluation data (parquet file, folder of parquet files, or ``save_to_disk`` dir).

    Expected columns: ``image`` (datasets Image ``{bytes, path}``), ``text`` (str, or list: first used),
    ``mask`` (2-D bool at the original resolution), and optionally ``image_id``, ``ann_id``,
    ``img_height``, ``img_width``, ``is_sentence``. Image bytes are stored unchanged. Sample id:
    ``image_id`` (Seg-Zero's ReasonSeg copies: image_id = ann_id = file stem), or ``IMAGEID_ANNID`` when
    the two differ; a repeated id gets ``#N`` appended. ``split``: the argument, else the split named by
    the file (``test-00000-of-00001.parquet`` -> test) or the DatasetDict key.
    """
    from tqdm import tqdm

    src_path = Path(src)
    report = ImportReport()
    used: dict[str, int] = {}
    seen_images: set[str] = set()
    row_base: dict[str, int] = {}
    with (
        BenchmarkWriter(
            out, name=name or src_path.stem, overwrite=overwrite, max_pixels=max_pixels
        ) as writer,
        tqdm(desc="import segzero", unit="sample", disable=not progress) as bar,
    ):
        for source_file, split_guess, batch in _segzero_batches(src_path, batch_size):
            row0 = row_base.get(source_file, 0)
            row_base[source_file] = row0 + batch.num_rows
            for i, get in enumerate(_segzero_getters(source_file, batch)):
                record, img, img_name = _segzero_sample(get, source_file, row0 + i, dataset, max_pixels, used)
                the_split = split if split is not None else split_guess
                writer.add({**record, "split": the_split}, img, image_name=img_name)
                seen_images.add(img_name)
                report.written += 1
                _note_split(report, the_split)
                if not record["mask"].any():
                    report.empty_masks += 1
                bar.update(1)
    report.images = len(seen_images)
    if report.written == 0:
        report.notes.append("no rows found")
    return report


# ------------------------------------------------------------------------------------ difficulty


@dataclass
class DifficultyMergeReport:
    """Outcome of ``merge_difficulty``.

    Attributes:
        entries: entries in the difficulty file; matched: samples that got a difficulty.
        unmatched_samples: samples without an entry; unmatched_examples: the first 5 of their sample ids.
        unused_entries: entries that matched no sample; unused_examples: the first 5 of their entry ids.
    """

    entries: int = 0
    matched: int = 0
    unmatched_samples: int = 0
    unused_entries: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    unused_examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line, e.g. ``2 sample(s) rated from 2 entries; 1 sample(s) without an entry (sample ids:
        b#0); 1 entry(ies) matched no sample (entry ids: zzz)``."""

        def examples(kind: str, ids: list[str], total: int) -> str:
            if not ids:
                return ""
            more = ", ..." if total > len(ids) else ""
            return f" ({kind} ids: " + ", ".join(ids) + more + ")"

        return (
            f"{self.matched} sample(s) rated from {self.entries} entries; {self.unmatched_samples} sample(s) "
            f"without an entry{examples('sample', self.unmatched_examples, self.unmatched_samples)}; "
            f"{self.unused_entries} entry(ies) matched no sample"
            f"{examples('entry', self.unused_examples, self.unused_entries)}"
        )


def read_difficulty_entries(path: str | os.PathLike[str], what: str = "difficulty file") -> list[Any]:
    """The raw entries of a difficulty file, before any check of their fields.

    The file is the authors' JSON list of ``{"image_id": ..., "difficulty_score_model": ...}``
    objects, or a JSON object mapping image id -> score (turned into that list, in key order).

    Raises:
        FileNotFoundError: no such file (the message starts with ``what``).
        ValueError: invalid JSON, or neither a list nor an object (message names the file).
    """
    p = Path(path)
    data = read_json_file(p, what)
    if isinstance(data, dict):
        return [{"image_id": k, "difficulty_score_model": v} for k, v in data.items()]
    if isinstance(data, list):
        return data
    raise ValueError(f"{p}: expected a JSON list of {{'image_id', 'difficulty_score_model'}} objects")


def load_difficulty(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read a difficulty file: a JSON list of ``{"image_id": ..., "difficulty_score_model": 1..10}``.

    A JSON object mapping image id -> score is accepted too. ``image_id`` is read as a string. Scores
    outside 1..10, non-numbers, or one id with two different scores raise ``ValueError`` naming the entry.
    """
    p = Path(path)
    entries = read_difficulty_entries(p)
    lo, hi = DIFFICULTY_RANGE
    scores: dict[str, float] = {}
    for k, entry in enumerate(entries):
        where = f"{p}: entry {k}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object with 'image_id' and 'difficulty_score_model'")
        if "image_id" not in entry or entry["image_id"] is None:
            raise ValueError(f"{where}: field 'image_id': missing")
        if "difficulty_score_model" not in entry:
            raise ValueError(f"{where}: field 'difficulty_score_model': missing")
        image_id = _as_str(entry["image_id"])
        assert image_id is not None
        score = entry["difficulty_score_model"]
        if not is_number(score):  # bools, strings, NaN/inf and ints beyond float range
            raise ValueError(
                f"{where}: field 'difficulty_score_model': expected a number in 1..10, got {score!r}"
            )
        if not lo <= float(score) <= hi:
            raise ValueError(
                f"{where} (image_id {image_id!r}): field 'difficulty_score_model': expected a number in "
                f"{lo:g}..{hi:g}, got {score!r}"
            )
        if image_id in scores and scores[image_id] != float(score):
            raise ValueError(
                f"{where}: image_id {image_id!r} appears twice with different scores "
                f"({scores[image_id]:g} and {float(score):g})"
            )
        scores[image_id] = float(score)
    return scores


def _difficulty_keys(obj: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    source = obj.get("source") or {}
    if isinstance(source, Mapping) and source.get("image_id") is not None:
        keys.append(str(source["image_id"]))
    if obj.get("id") is not None:
        keys.append(str(obj["id"]))
    if isinstance(obj.get("image"), str):
        keys.append(Path(obj["image"]).stem)
    return keys


def merge_difficulty(
    bench: str | os.PathLike[str] | Benchmark,
    difficulty: str | os.PathLike[str] | Mapping[str, float],
    *,
    keep_existing: bool = True,
) -> DifficultyMergeReport:
    """Set ``difficulty`` of every sample found in a difficulty file, rewriting samples.jsonl atomically.

    A sample matches an entry by ``source.image_id``, else its ``id``, else its image file stem (entry ids
    that end in an image extension also match by stem). Unmatched samples keep their current difficulty
    (or get None when ``keep_existing`` is False). Nothing is written if any line fails validation.

    Raises:
        ValueError: a score outside 1..10, a line that fails validation, or entries of which none
            matches any sample (a difficulty file of another dataset: nothing is written).
    """
    root = bench.root if isinstance(bench, Benchmark) else Path(bench)
    entries = dict(load_difficulty(difficulty)) if not isinstance(difficulty, Mapping) else dict(difficulty)
    lo, hi = DIFFICULTY_RANGE
    lookup: dict[str, str] = {}  # match key -> entry id as written in the file
    for key, val in entries.items():
        if not is_number(val) or not lo <= float(val) <= hi:
            raise ValueError(f"difficulty for {key!r}: expected a number in {lo:g}..{hi:g}, got {val!r}")
        lookup[key] = key
    for key in entries:
        stem, ext = os.path.splitext(key)
        if ext in IMAGE_EXTENSIONS:
            lookup.setdefault(stem, key)
    report = DifficultyMergeReport(entries=len(entries))
    used: set[str] = set()

    def match(obj: Mapping[str, Any]) -> str | None:
        return next((lookup[key] for key in _difficulty_keys(obj) if key in lookup), None)

    bm = Benchmark(root, check_images=False)
    # a read-only pass first, so that a file of another dataset rewrites (or clears) nothing
    if entries and not any(match(obj) is not None for obj in bm.raw_records()):
        some, ids = sorted(entries)[:3], bm.ids()
        where = "" if isinstance(difficulty, Mapping) else f" of {difficulty}"
        raise ValueError(
            f"none of the {len(entries)} difficulty entries{where} (entry ids: {', '.join(some)}"
            f"{', ...' if len(entries) > len(some) else ''}) matches a sample of {root} ({len(ids)} samples, "
            f"ids: {', '.join(ids[:3]) or '-'}{', ...' if len(ids) > 3 else ''}); an entry's image_id must "
            "equal a sample's source.image_id, id or image file stem. Nothing written"
        )

    def update(obj: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            return obj
        entry = match(obj)
        if entry is not None:
            obj["difficulty"] = float(entries[entry])
            used.add(entry)
            report.matched += 1
            return obj
        report.unmatched_samples += 1
        if len(report.unmatched_examples) < 5:
            report.unmatched_examples.append(str(obj.get("id")))
        if not keep_existing:
            obj["difficulty"] = None
        return obj

    rewrite_samples(root, update)
    unused = [key for key in entries if key not in used]
    report.unused_entries = len(unused)
    report.unused_examples = unused[:5]
    return report
