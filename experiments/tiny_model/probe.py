"""Probe a checkpoint: does its greedy short reasoning name the target's colour / kind / 3x3 cell correctly?

Usage: .venv/bin/python experiments/tiny_model/probe.py CKPT BENCH RES [N]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_samples
from sft import Data, box_iou
from transformers import AutoModelForImageTextToText

from pixelthink.answer import parse_lenient
from pixelthink.frames import FrameTransform
from pixelthink.models.processors import load_processor

CELLS = {
    (0, 0): "top left",
    (1, 0): "at the top",
    (2, 0): "top right",
    (0, 1): "on the left",
    (1, 1): "centre",
    (2, 1): "on the right",
    (0, 2): "bottom left",
    (1, 2): "at the bottom",
    (2, 2): "bottom right",
}

torch.set_num_threads(1)
ckpt, bench, res = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = int(sys.argv[4]) if len(sys.argv) > 4 else 96
proc = load_processor(ckpt)
model = AutoModelForImageTextToText.from_pretrained(ckpt).eval()
data = Data(bench, proc, res, Path(bench))
test = load_samples(bench, "test", n)
hits = {"colour": 0, "kind": 0, "cell": 0, "cell_in_text": 0, "box_cell": 0, "iou": 0.0}
with torch.no_grad():
    for i in range(0, len(test), 16):
        chunk = test[i : i + 16]
        enc = proc(
            text=[data.prompt_text(s) for s in chunk],
            images=[data.image(s) for s in chunk],
            padding=True,
            return_tensors="pt",
        )
        out = model.generate(**enc, max_new_tokens=200, do_sample=False)
        texts = proc.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for s, t in zip(chunk, texts, strict=True):
            tg = s.source["target"]
            think = t.split("</think>")[0]
            cx = (s.bbox[0] + s.bbox[2]) / 2 / s.width
            cy = (s.bbox[1] + s.bbox[3]) / 2 / s.height
            cell = CELLS[(min(2, int(cx * 3)), min(2, int(cy * 3)))]
            hits["colour"] += tg["colour"] in think
            hits["kind"] += tg["kind"] in think
            hits["cell"] += cell in think
            hits["cell_in_text"] += any(c in think for c in CELLS.values())
            p = parse_lenient(t, image_size=(res, res))
            if p.bbox is not None:
                fr = FrameTransform.for_size(s.width, s.height, res)
                gt = fr.box_to_model(tuple(s.bbox))
                hits["iou"] += box_iou(p.bbox, gt)
                bx = (p.bbox[0] + p.bbox[2]) / 2 / res
                by = (p.bbox[1] + p.bbox[3]) / 2 / res
                hits["box_cell"] += CELLS[(min(2, max(0, int(bx * 3))), min(2, max(0, int(by * 3))))] == cell
print({k: round(v / len(test), 3) for k, v in hits.items()}, "n", len(test))
