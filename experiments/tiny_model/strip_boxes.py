"""A copy of a shapes benchmark whose references keep their steps but lose every box (FINDINGS round 17):
``stars: the red star, the purple star; not red: the purple star; target: the purple star``. The images and
meta.json are linked, not copied.

Usage: .venv/bin/python experiments/tiny_model/strip_boxes.py BENCH OUT
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

BOX = re.compile(r"\s*\[\d+, \d+, \d+, \d+\]")


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(src):
        if name != "samples.jsonl" and not (dst / name).exists():
            (dst / name).symlink_to((src / name).resolve())
    with (
        open(src / "samples.jsonl", encoding="utf-8") as inp,
        open(dst / "samples.jsonl", "w", encoding="utf-8") as out,
    ):
        for line in inp:
            s = json.loads(line)
            for key in ("reasoning_short", "reasoning_long"):
                s[key] = BOX.sub("", s[key] or "") or None
            out.write(json.dumps(s) + "\n")


if __name__ == "__main__":
    main()
