"""Our benchmark format (or Seg-Zero's training layout) -> verl's multimodal RL parquet.

One row per sample::

    data_source:  "pixelthink/<benchmark name>"
    prompt:       [{"role": "user", "content": "<image>" + answer.build_prompt(query)}]
    images:       [{"bytes": PNG of the image resized to the model frame}]
    ability:      "reasoning_segmentation"
    reward_model: {"style": "rule", "ground_truth": "<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>"}
    extra_info:   {"split", "index", "id", "difficulty" (float, or NaN when unrated), "question",
                   "model_width", "model_height", "target_length" (L1's target, NaN without one)}

The geometry and prompt come from :func:`pixelthink.train.data.grpo_rows` (the same code as the TRL
path), so GT strings are in the model frame. An unrated difficulty is stored as NaN (a float column
that verl's numpy batching keeps as float); :func:`pixelthink.integrations.verl.reward.compute_score`
maps NaN back to None (``RewardConfig.default_difficulty``).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelthink.train.config import DataConfig
from pixelthink.train.data import DataStats, detect_format, grpo_rows

__all__ = ["ABILITY", "ConvertReport", "convert_benchmark"]

ABILITY = "reasoning_segmentation"

_EXPECTED_DATA = (
    "a benchmark directory with samples.jsonl, or Seg-Zero parquet files / a save_to_disk directory"
)


@dataclass
class ConvertReport:
    """Counts of a conversion (nothing dropped silently)."""

    out: Path
    rows: int
    stats: DataStats = field(default_factory=DataStats)


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def convert_benchmark(
    data: str | Path,
    out: str | Path,
    *,
    resolution: int | tuple[int, int] | None = 840,
    split: str | None = "train",
    data_source: str | None = None,
    difficulty_file: str | None = None,
    prompt_template: str | None = None,
    data_format: str = "auto",
    max_samples: int | None = None,
    rows_per_group: int = 64,
    target_length: tuple[int, int] | None = None,
    target_length_prompt: str | None = None,
) -> ConvertReport:
    """Write ``out`` (a .parquet file) for verl's ``RLHFDataset`` from a benchmark / Seg-Zero layout.

    Args:
        data: benchmark directory (samples.jsonl) or Seg-Zero parquet / save_to_disk directory.
        out: output parquet path (parent directories are created).
        resolution: model frame (840 -> 840x840; None = native size).
        split: keep only this split (None = all).
        data_source: verl's ``data_source`` (default ``pixelthink/<directory name>``).
        difficulty_file: the authors' ``[{"image_id", "difficulty_score_model"}]`` list.
        prompt_template: template with ``{question}`` (default: answer.DEFAULT_PROMPT_TEMPLATE).
        target_length: L1 (rewards ``l1_exact`` / ``l1_max``): (low, high) range of each sample's target
            length, stated in the prompt and written to ``extra_info["target_length"]`` (the TRL path's
            ``data.target_length``; same targets for the same sample ids).
        target_length_prompt: the sentence appended to the prompt, with ``{target}``.

    Raises:
        FileNotFoundError: ``data`` or ``difficulty_file`` does not exist.
        ValueError: the data format cannot be told from ``data``, a sample or the difficulty file is
            malformed, or no sample survives (with the counts).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = Path(data)
    if not src.exists():
        raise FileNotFoundError(f"{src}: not found (expected {_EXPECTED_DATA})")
    if difficulty_file is not None and not Path(difficulty_file).is_file():
        raise FileNotFoundError(f"{difficulty_file}: difficulty file not found")
    if data_format == "auto":
        try:
            data_format = detect_format(src)
        except ValueError:
            raise ValueError(f"{src}: cannot tell the data format: expected {_EXPECTED_DATA}") from None
    cfg = DataConfig(
        path=str(src),
        format=data_format,  # type: ignore[arg-type]
        split=split,
        resolution=list(resolution) if isinstance(resolution, tuple) else resolution,
        prompt_template=prompt_template,
        difficulty_file=difficulty_file,
        max_samples=max_samples,
        target_length=None if target_length is None else list(target_length),
        **({} if target_length_prompt is None else {"target_length_prompt": target_length_prompt}),
    )
    problem = cfg.target_length_problem()
    if problem:
        raise ValueError(problem.replace("data.target_length", "target_length"))
    source = data_source or f"pixelthink/{src.stem if src.is_file() else src.name}"
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(pa.struct([("bytes", pa.binary())]))),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("split", pa.string()),
                        ("index", pa.int64()),
                        ("id", pa.string()),
                        ("difficulty", pa.float64()),
                        ("question", pa.string()),
                        ("model_width", pa.int64()),
                        ("model_height", pa.int64()),
                        ("target_length", pa.float64()),
                    ]
                ),
            ),
        ]
    )
    stats = DataStats()
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    try:
        n = _write_rows(pa, pq, tmp, schema, grpo_rows(cfg, stats), source, split, rows_per_group)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file left behind
        raise
    if n == 0:
        tmp.unlink(missing_ok=True)
        where = f" in split {split!r}" if split is not None else ""
        raise ValueError(f"{src}: no usable samples for verl{where} ({stats.summary()})")
    tmp.replace(out_path)
    return ConvertReport(out=out_path, rows=n, stats=stats)


def _write_rows(
    pa: Any,
    pq: Any,
    tmp: Path,
    schema: Any,
    rows: Any,
    source: str,
    split: str | None,
    rows_per_group: int,
) -> int:
    """Write ``grpo_rows`` output to parquet ``tmp`` in row groups; returns the row count."""
    n = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(str(tmp), schema) as writer:
        for row in rows:
            text = row["prompt"][0]["content"]
            d = row["difficulty"]
            batch.append(
                {
                    "data_source": source,
                    "prompt": [{"role": "user", "content": "<image>" + text}],
                    "images": [{"bytes": _png(row["image"])}],
                    "ability": ABILITY,
                    "reward_model": {"style": "rule", "ground_truth": row["solution"]},
                    "extra_info": {
                        "split": split or "all",
                        "index": n,
                        "id": row["id"],
                        "difficulty": math.nan if d is None else float(d),
                        "question": text,
                        "model_width": row["image"].width,
                        "model_height": row["image"].height,
                        "target_length": math.nan if row["target_length"] is None else row["target_length"],
                    },
                }
            )
            n += 1
            if len(batch) >= rows_per_group:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return n
