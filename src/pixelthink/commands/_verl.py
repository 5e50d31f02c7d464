"""``pixelthink data verl DATA OUT.parquet``: a benchmark (or Seg-Zero's training layout) -> verl's multimodal
RL parquet. Its arguments are parsed here, like every command's; ``commands/data.py`` registers it (not a
command module itself: the CLI skips ``_`` modules). The conversion is
:func:`pixelthink.integrations.verl.parquet.convert_benchmark` (pyarrow only), imported when the command
runs, so the command also runs in verl's own environment (``.venv-verl``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pixelthink.commands._options import frame_side_or_native, non_negative_int

#: recipe keys that shared training-data messages mention -> this command line's names
_CLI_NAMES = {
    "data.path": "DATA",
    "data.split": "--split",
    "data.difficulty_file": "--difficulty-file",
    "data.max_samples": "--max-samples",
}


def _cli_message(exc: BaseException) -> str:
    """One line for the command line: whitespace collapsed, recipe keys replaced by argument names."""
    msg = " ".join(str(exc).split())
    for key, name in _CLI_NAMES.items():
        msg = msg.replace(key, name)
    return msg


def _convert(a: argparse.Namespace) -> int:
    from pixelthink.integrations.verl.parquet import convert_benchmark

    try:
        rep = convert_benchmark(
            a.data,
            a.out,
            resolution=a.resolution or None,
            split=None if a.split == "all" else a.split,
            data_source=a.data_source,
            difficulty_file=a.difficulty_file,
            max_samples=a.max_samples,
            target_length=None if a.target_length is None else tuple(a.target_length),
            target_length_prompt=a.target_length_prompt,
        )
    except (OSError, ValueError) as exc:  # FileNotFoundError is an OSError; printed in one line, exit 2
        raise ValueError(_cli_message(exc)) from None
    print(json.dumps({"out": str(rep.out), "rows": rep.rows, "summary": rep.stats.summary()}))
    return 0


def register_verl(data_sub: Any) -> None:
    """Add ``pixelthink data verl DATA OUT [--split train] [--resolution 840] ...``."""
    p = data_sub.add_parser(
        "verl",
        help="convert a benchmark to verl's multimodal RL parquet (docs/TRAINING.md)",
        description="Convert a pixelthink benchmark (or Seg-Zero's training layout) to verl's multimodal "
        "RL parquet. Prints a JSON summary.",
    )
    p.add_argument(
        "data", metavar="DATA", help="benchmark directory or Seg-Zero parquet / save_to_disk directory"
    )
    p.add_argument("out", metavar="OUT", help="output .parquet file")
    p.add_argument("--split", default="train", help="split to keep ('all' = every sample; default: train)")
    p.add_argument(
        "--resolution",
        type=frame_side_or_native,
        default=840,
        help="square model frame side (0 = native size)",
    )
    p.add_argument("--difficulty-file", default=None, help="the authors' difficulty JSON list")
    p.add_argument("--data-source", default=None, help="verl data_source (default: pixelthink/<DATA name>)")
    p.add_argument("--max-samples", type=non_negative_int, default=None, help="stop after N samples")
    p.add_argument(
        "--target-length",
        type=non_negative_int,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=None,
        help="L1 rewards: each sample's target length, uniform in [LOW, HIGH], stated in the prompt",
    )
    p.add_argument("--target-length-prompt", default=None, help="appended sentence with {target}")
    p.set_defaults(func=_convert)
