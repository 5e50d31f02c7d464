"""Exporters from the pixelthink benchmark format.

``export_segzero`` writes Seg-Zero's / PixelThink's GRPO training layout as parquet:

=============  =====================================================================================
column         content
=============  =====================================================================================
id             sample id (str)
problem        the query (str)
solution       ``<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>`` in the **model** frame
               (integers ``int(v * R / W + 0.5)``, no spaces)
image          the image resized to R x R (bilinear, aspect not kept), a datasets ``Image`` value
               ``{"bytes", "path"}``
img_height     original height (int)
img_width      original width (int)
difficulty     1..10 or null
=============  =====================================================================================

R is the model resolution (840 by default). The ground-truth box and points are taken from the
benchmark (original frame, derived from the mask) and scaled with ``pixelthink.frames.FrameTransform``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelthink.data.format import Benchmark, Sample
from pixelthink.jsonio import atomic_write_text
from pixelthink.masks import Box, Point

SEGZERO_COLUMNS = ("id", "problem", "solution", "image", "img_height", "img_width", "difficulty")


@dataclass
class ExportReport:
    """Rows written and samples skipped (with the reason)."""

    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{self.written} rows written"
        if self.skipped:
            text += "; skipped " + ", ".join(f"{v} ({k})" for k, v in sorted(self.skipped.items()))
        return text


def _format_ground_truth(box: Sequence[int], points: Sequence[Sequence[int]]) -> str:
    if importlib.util.find_spec("pixelthink.rewards") is not None:
        from pixelthink import rewards

        fmt = getattr(rewards, "format_ground_truth", None)
        if fmt is not None:
            return str(fmt(tuple(box), [tuple(p) for p in points]))
    (x1, y1, x2, y2) = box
    pts = ",".join(f"({int(p[0])},{int(p[1])})" for p in points)
    return f"<box>({int(x1)},{int(y1)}),({int(x2)},{int(y2)})</box><points>{pts}</points>"


def _to_model(
    box: Box, points: Sequence[Point], width: int, height: int, resolution: int
) -> tuple[list[int], list[list[int]]]:
    """Scale an original-frame box and points to the model frame and round as Seg-Zero does."""
    from pixelthink.frames import FrameTransform

    ft = FrameTransform.for_size(width, height, resolution)
    mbox = ft.box_to_model(box, segzero_rounding=True)
    mpts = ft.points_to_model(list(points), segzero_rounding=True)
    return [int(v) for v in mbox], [[int(p[0]), int(p[1])] for p in mpts]


def segzero_solution(sample: Sample, resolution: int = 840) -> str:
    """The ``solution`` string of a sample: box and two points in the R x R model frame.

    Raises:
        ValueError: the sample has no box or not two points (empty mask).
    """
    if sample.bbox is None or len(sample.points) != 2:
        raise ValueError(f"sample {sample.id!r}: no box / two points (empty mask), no solution string")
    box, pts = _to_model(sample.bbox, sample.points, sample.width, sample.height, resolution)
    return _format_ground_truth(box, pts)


def _image_feature_metadata() -> bytes:
    features = {
        "id": {"dtype": "string", "_type": "Value"},
        "problem": {"dtype": "string", "_type": "Value"},
        "solution": {"dtype": "string", "_type": "Value"},
        "image": {"_type": "Image"},
        "img_height": {"dtype": "int64", "_type": "Value"},
        "img_width": {"dtype": "int64", "_type": "Value"},
        "difficulty": {"dtype": "float64", "_type": "Value"},
    }
    return json.dumps({"info": {"features": features}}).encode("utf-8")


def export_segzero(
    bench: str | os.PathLike[str] | Benchmark,
    out: str | os.PathLike[str],
    *,
    resolution: int = 840,
    split: str | None = None,
    image_format: str = "JPEG",
    rows_per_group: int = 64,
    progress: bool = False,
) -> ExportReport:
    """Write a benchmark as a Seg-Zero training parquet file (columns ``SEGZERO_COLUMNS``).

    Streams: images are resized and written in row groups of ``rows_per_group``. Samples with an empty
    mask are skipped (counted in the report). The parquet schema carries the Hugging Face ``datasets``
    feature metadata, so ``datasets.load_dataset("parquet", ...)`` decodes ``image`` to PIL.

    Args:
        resolution: side R of the square model frame (Seg-Zero / PixelThink: 840).
        split: export only this split.
        image_format: "JPEG" (quality 95) or "PNG" for the resized images.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    bm = bench if isinstance(bench, Benchmark) else Benchmark(bench)
    fmt = image_format.upper()
    if fmt not in ("JPEG", "PNG"):
        raise ValueError(f"image_format: expected JPEG or PNG, got {image_format!r}")
    ext = ".jpg" if fmt == "JPEG" else ".png"
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("problem", pa.string()),
            ("solution", pa.string()),
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("img_height", pa.int64()),
            ("img_width", pa.int64()),
            ("difficulty", pa.float64()),
        ],
        metadata={b"huggingface": _image_feature_metadata()},
    )
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    report = ExportReport()
    rows: dict[str, list[Any]] = {c: [] for c in SEGZERO_COLUMNS}

    def flush(writer: Any) -> None:
        if rows["id"]:
            writer.write_table(pa.table(rows, schema=schema))
            for v in rows.values():
                v.clear()

    samples: Any = bm if split is None else Benchmark(bm.root, split=split)
    if progress:
        from tqdm import tqdm

        samples = tqdm(samples, desc="export segzero", unit="sample")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for sample in samples:
                if sample.bbox is None or len(sample.points) != 2:
                    report.skipped["empty mask"] = report.skipped.get("empty mask", 0) + 1
                    continue
                solution = segzero_solution(sample, resolution)
                from pixelthink.frames import FrameTransform

                ft = FrameTransform.for_size(sample.width, sample.height, resolution)
                resized = ft.image_to_model(bm.load_image(sample))
                buf = io.BytesIO()
                if fmt == "JPEG":
                    resized.save(buf, format="JPEG", quality=95)
                else:
                    resized.save(buf, format="PNG")
                rows["id"].append(sample.id)
                rows["problem"].append(sample.query)
                rows["solution"].append(solution)
                rows["image"].append({"bytes": buf.getvalue(), "path": f"{sample.id}{ext}"})
                rows["img_height"].append(sample.height)
                rows["img_width"].append(sample.width)
                rows["difficulty"].append(sample.difficulty)
                report.written += 1
                if len(rows["id"]) >= rows_per_group:
                    flush(writer)
            flush(writer)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def export_difficulty(
    bench: str | os.PathLike[str] | Benchmark,
    out: str | os.PathLike[str],
    *,
    split: str | None = None,
) -> int:
    """Write the authors' difficulty file: a JSON list of ``{"image_id", "difficulty_score_model"}``.

    ``image_id`` is the sample id (what ``pixelthink train``'s ``data.difficulty_file``, the verl
    converter's ``--difficulty-file`` and ``pixelthink data import difficulty`` look up first); unrated
    samples are left out. The file is written atomically. Returns the number of entries.
    """
    bm = bench if isinstance(bench, Benchmark) else Benchmark(bench, check_images=False)
    entries = [
        {"image_id": str(obj["id"]), "difficulty_score_model": obj["difficulty"]}
        for obj in bm.raw_records()
        if obj.get("difficulty") is not None and (split is None or obj.get("split") == split)
    ]
    atomic_write_text(out, json.dumps(entries, indent=1) + "\n")
    return len(entries)
