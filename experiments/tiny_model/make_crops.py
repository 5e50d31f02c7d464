"""Round 6. A recognition set from a 1-shape shapes benchmark: every image cropped to a square of
``--window`` times the shape's size around it (its centre shifted by up to ``--jitter`` times the
size), resized to 224x224; mask, box, points and ``source.shapes`` follow the crop. Regions outside
the image are black.

Usage (the round-6 CROPN / CROPN_JIT data):
  python experiments/tiny_model/make_crops.py runs/s6/one6k runs/s6/crop --window 2 --jitter 0
  python experiments/tiny_model/make_crops.py runs/s6/one6k runs/s6/jit --window 2 --jitter 0.5
where runs/s6/one6k = pixelthink data shapes --families direct_kind --max-shapes 1 (seed 7, 6000 train).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from PIL import Image

from pixelthink.masks import box_from_mask, decode_rle, encode_rle, points_from_mask


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(f"{a.dst}/images", exist_ok=True)
    n = 0
    with open(f"{a.src}/samples.jsonl") as f, open(f"{a.dst}/samples.jsonl", "w") as out:
        for line in f:
            r = json.loads(line)
            if len(r["source"]["shapes"]) != 1:
                raise SystemExit(f"{a.src}: sample {r['id']} has {len(r['source']['shapes'])} shapes; expected 1")
            x1, y1, x2, y2 = r["source"]["shapes"][0]["bbox"]
            h = max(x2 - x1, y2 - y1)
            cx = (x1 + x2) / 2 + rng.uniform(-a.jitter, a.jitter) * h
            cy = (y1 + y2) / 2 + rng.uniform(-a.jitter, a.jitter) * h
            half = a.window * h / 2
            box = (int(cx - half), int(cy - half), int(cx + half), int(cy + half))
            im = Image.open(f"{a.src}/{r['image']}").convert("RGB").crop(box).resize((a.size, a.size), Image.BICUBIC)
            m = Image.fromarray(decode_rle(r["mask"]).astype(np.uint8) * 255).crop(box)
            m = np.asarray(m.resize((a.size, a.size), Image.NEAREST)) > 127
            if not m.any():
                continue
            im.save(f"{a.dst}/{r['image']}")
            b = [float(v) for v in box_from_mask(m)]
            r.update(width=a.size, height=a.size, mask=encode_rle(m), bbox=b,
                     points=[list(p) for p in points_from_mask(m)])  # fmt: skip
            r["source"]["shapes"][0]["bbox"] = b
            out.write(json.dumps(r) + "\n")
            n += 1
    with open(f"{a.src}/meta.json") as f:
        meta = json.load(f)
    meta["crops"] = {"source": a.src, "window": a.window, "jitter": a.jitter, "size": a.size, "seed": a.seed}
    with open(f"{a.dst}/meta.json", "w") as f:
        json.dump(meta, f)
    print(f"wrote {n} crops to {a.dst}")


if __name__ == "__main__":
    main()
