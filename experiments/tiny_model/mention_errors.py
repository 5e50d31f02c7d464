"""What is wrong with the mentions of grounded chains that are not real shapes (FINDINGS round 15)?

For every grounded mention of every answer, the scene shape whose box overlaps the mention's box most
(box IoU, in the answer's frame) decides the class: ``real`` (IoU > 0.5 and the named kind and colour,
as ``pixelthink eval``'s faithfulness counts it), ``wrong colour`` / ``wrong kind`` (IoU > 0.5 with a
shape of another colour / kind), ``loose box`` (0.1 < IoU <= 0.5) or ``no shape there``.

Usage: .venv/bin/python experiments/tiny_model/mention_errors.py BENCH PREDICTIONS.jsonl
"""

from __future__ import annotations

import collections
import sys

from pixelthink.answer import extract_think
from pixelthink.data.format import Benchmark
from pixelthink.evaluate.shapes import scene_shapes
from pixelthink.frames import FrameTransform
from pixelthink.miniature.shapes.grounding import parse_mentions
from pixelthink.predictions import read_predictions
from pixelthink.rewards import box_iou


def main() -> None:
    bench = Benchmark(sys.argv[1], check_images=False)
    counts: collections.Counter[str] = collections.Counter()
    for pred in read_predictions(sys.argv[2]):
        sample = bench.get(pred.id)
        frame = FrameTransform.for_size(sample.width, sample.height, tuple(pred.meta["model_size"]))
        shapes = [(k, c, frame.box_to_model(b, segzero_rounding=True)) for k, c, b in scene_shapes(sample)]
        for m in parse_mentions(extract_think(pred.response or "") or ""):
            ious = [box_iou(m.box, box) for _, _, box in shapes]
            best = max(range(len(ious)), key=ious.__getitem__)
            kind, colour, _ = shapes[best]
            attrs_ok = m.kind == kind and (m.colour is None or m.colour == colour)
            if ious[best] > 0.5:
                counts["real" if attrs_ok else ("wrong kind" if m.kind != kind else "wrong colour")] += 1
            elif ious[best] > 0.1:
                counts["loose box, attributes ok" if attrs_ok else "loose box, attributes wrong"] += 1
            else:
                counts["no shape there"] += 1
    total = sum(counts.values())
    for name, n in counts.most_common():
        print(f"{name:28s} {n:5d} {100 * n / total:5.1f} %")


if __name__ == "__main__":
    main()
