"""Regenerate every scene of a shapes benchmark and store each shape's box (round 2, coordinate captions).

Usage (from the repo root):
    OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/scene_boxes.py \
        --bench runs/tiny_model/shapes224 --split train --out runs/tiny_model/shapes224_boxes_train.jsonl

Each output line: ``{"id", "shapes": [{"desc": "red circle", "where": "at the top left",
"box": [x1, y1, x2, y2]}, ...], "target": k}`` with the shapes in reading order (the order of the
``reasoning_long`` inventory), ``box`` the inclusive extremes of the shape's *visible* pixels in the
**original** frame (the writer derives the target's ``bbox`` the same way) and ``target`` the target's
index in that list. The sample is regenerated from (seed, split, index) in ``source``; its query must
match the stored one, else the script stops with an error naming the sample.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pixelthink.data.format import Benchmark
from pixelthink.data.shapes import ShapesConfig, generate_sample, sample_rng
from pixelthink.data.shapes.queries import desc, reading_order, where
from pixelthink.masks import box_from_mask


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, type=Path)
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    meta = json.loads((args.bench / "meta.json").read_text(encoding="utf-8"))
    w, h = meta["generator"]["image_size"]
    cfg = ShapesConfig(width=w, height=h)
    n = 0
    with args.out.open("w", encoding="utf-8") as f:
        for s in Benchmark(args.bench, split=args.split, check_images=False):
            src = s.source
            g = generate_sample(sample_rng(src["seed"], src["split"], src["index"]), cfg)
            if g.query != s.query:
                raise ValueError(f"{s.id}: regenerated query {g.query!r} != stored {s.query!r}")
            scene = g.scene
            order = reading_order(scene.shapes, scene)
            shapes = []
            for sh in order:
                box = box_from_mask(scene.masks[sh.index])
                shapes.append({"desc": desc(sh), "where": where(sh, scene), "box": [int(v) for v in box]})
            target = [sh.index for sh in order].index(g.target)
            f.write(json.dumps({"id": s.id, "shapes": shapes, "target": target}) + "\n")
            n += 1
            if args.limit is not None and n >= args.limit:
                break
    print(f"wrote {n} lines to {args.out}")


if __name__ == "__main__":
    main()
