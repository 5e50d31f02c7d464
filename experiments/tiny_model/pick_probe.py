"""Round 8. Localisation or selection? For predictions on a shapes benchmark: the box IoU with the
target, the best IoU with any shape of the scene, and (when the reasoning names a shape "the C K")
the IoU with the shape of that name, per difficulty bucket and over all.
Usage: python experiments/tiny_model/pick_probe.py PREDICTIONS.jsonl BENCH [SPLIT]"""

import json
import re
import sys


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0


preds = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
split = sys.argv[3] if len(sys.argv) > 3 else "test"
rows = [r for r in map(json.loads, open(f"{sys.argv[2]}/samples.jsonl")) if r["split"] == split]
stats: dict[str, list[list[float]]] = {}
for r in rows:
    p = preds.get(r["id"])
    if not p or not p.get("bbox"):
        continue
    b = p["bbox"]  # predictions are in the image frame, as the benchmark
    shapes = r["source"]["shapes"]
    best = max(iou(b, s["bbox"]) for s in shapes)
    named = re.findall(r"the (\w+) (circle|ellipse|square|triangle|hexagon|star|cross)", p["response"])
    same = [s for s in shapes if named and (s["colour"], s["kind"]) == named[-1]]
    row = [iou(b, r["bbox"]), best, best > 0.5, iou(b, same[0]["bbox"]) if same else float("nan")]
    d = r["difficulty"]
    for bucket in ("easy" if d < 3.5 else "hard" if d >= 5 else "medium", "all"):
        stats.setdefault(bucket, []).append(row)
for bucket in ("easy", "medium", "hard", "all"):
    v = stats.get(bucket, [])
    named_iou = [x[3] for x in v if x[3] == x[3]]
    print(
        f"{bucket:6s} n {len(v):3d} target IoU {sum(x[0] for x in v) / len(v):.3f} | best any-shape IoU "
        f"{sum(x[1] for x in v) / len(v):.3f} (>0.5: {sum(x[2] for x in v) / len(v):.2f}) | IoU with the named "
        f"shape {sum(named_iou) / max(1, len(named_iou)):.3f} (n {len(named_iou)})"
    )
