"""Does a checkpoint use the image / the query? Teacher-forced loss with true vs shuffled images/queries.

Usage: .venv/bin/python experiments/tiny_model/ablate.py CKPT BENCH RES
"""

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_samples
from sft import Data
from transformers import AutoModelForImageTextToText

from pixelthink.models.processors import load_processor

torch.set_num_threads(1)
ckpt, bench, res = sys.argv[1], sys.argv[2], int(sys.argv[3])
proc = load_processor(ckpt)
model = AutoModelForImageTextToText.from_pretrained(ckpt).eval()
data = Data(bench, proc, res, Path(bench))
test = load_samples(bench, "test", 48)


def losses(samples, images_from, style):
    enc, ans = data.train_batch(samples, [style] * len(samples))
    if images_from is not None:
        enc2, _ = data.train_batch(images_from, [style] * len(samples))
        enc["pixel_values"] = enc2["pixel_values"]
    with torch.no_grad():
        out = model(**enc)
    lp = torch.log_softmax(out.logits[:, :-1], -1)
    nll = -lp.gather(-1, enc["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
    lab = enc["labels"][:, 1:] != -100
    a = ans[:, 1:]
    return round(float(nll[lab & ~a].mean()), 4), round(float(nll[a].mean()), 4)


shuf = test[1:] + test[:1]
for style in ("short", "long"):
    print(style, "true (think, answer):", losses(test, None, style))
    print(style, "shuffled images     :", losses(test, shuf, style))
    qs = [copy.copy(s) for s in test]
    for q, o in zip(qs, shuf, strict=True):
        q.query = o.query
    print(style, "shuffled queries    :", losses(qs, None, style))
