"""Small JSON helpers shared by every on-disk format (benchmark, predictions, reports, recipes).

Layer 0: imports nothing from pixelthink.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def dumps_line(obj: Any) -> str:
    """Compact, deterministic JSON for one JSONL line (key order as given, UTF-8 kept, no NaN)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def to_number(value: Any, where: str = "JSON") -> int | float:
    """``value`` as a JSON number: integral values become ``int``; NaN/inf raise ``ValueError``."""
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"non-finite number {value!r} cannot be written to {where}")
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def is_number(value: Any) -> bool:
    """True for a finite int/float that is not a bool (an int beyond float range, e.g. 400 digits, is not)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def rle_to_json(rle: Mapping[str, Any]) -> dict[str, Any]:
    """A COCO RLE with ``counts`` as ``str`` (pycocotools returns bytes) and ``size`` as plain ints."""
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def plain(obj: Any, *, nonfinite_to_none: bool = False) -> Any:
    """Convert numpy scalars/arrays and tuples inside ``obj`` to plain JSON types (recursively).

    With ``nonfinite_to_none`` NaN/inf floats become ``None`` instead of being left for the writer to reject.
    """
    if isinstance(obj, Mapping):
        return {str(k): plain(v, nonfinite_to_none=nonfinite_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, nonfinite_to_none=nonfinite_to_none) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), nonfinite_to_none=nonfinite_to_none)
    if isinstance(obj, np.generic):
        return plain(obj.item(), nonfinite_to_none=nonfinite_to_none)
    if nonfinite_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json_file(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Parse a JSON file; a missing file or invalid JSON raises an error naming the path (and line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
