"""Round 7. Can the tiny model's LLM copy a word from the prompt at a varying distance? Text only.

A fresh random LLM of the shipped architecture (config of CKPT; only ``rope_theta`` changed) learns
"Find 'the COLOUR KIND'. FILLER The query asks for the COLOUR KIND." where FILLER is 0..MAXF random
shape phrases (so the copy distance varies, as the long references' inventory does). Reported:
accuracy of the greedy COLOUR and KIND tokens at the copy position on held-out sequences, by filler
length. INIT=1 starts from CKPT's weights instead of a fresh model (does its training help or hinder?).
Usage: [INIT=1] STEPS=400 python experiments/tiny_model/copy_probe.py CKPT THETA [MAXF]
"""

import os
import random
import sys

import torch
from transformers import AutoConfig, AutoModelForImageTextToText

from pixelthink.models.processors import load_processor

torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("THREADS", 1)))
ck, theta = sys.argv[1], float(sys.argv[2])
maxf = int(sys.argv[3]) if len(sys.argv) > 3 else 8
steps = int(os.environ.get("STEPS", 400))
tok = load_processor(ck).tokenizer
cfg = AutoConfig.from_pretrained(ck)
cfg.text_config.rope_parameters["rope_theta"] = theta
if os.environ.get("INIT"):  # start from the checkpoint's weights (theta must be its own)
    model = AutoModelForImageTextToText.from_pretrained(ck)
else:
    model = AutoModelForImageTextToText.from_config(cfg)
C = ["red", "orange", "yellow", "green", "blue", "purple", "pink"]
K = ["circle", "ellipse", "square", "triangle", "hexagon", "star", "cross"]
P = ["at the top", "at the bottom", "on the left", "on the right", "in the centre", "at the top left"]


def sample(rng, nf=None):
    c, k = rng.choice(C), rng.choice(K)
    nf = rng.randint(0, maxf) if nf is None else nf
    filler = ", ".join(f"a {rng.choice(C)} {rng.choice(K)} {rng.choice(P)}" for _ in range(nf))
    head = f"Find 'the {c} {k}'. I see {nf} shapes: {filler}. The query asks for the"
    return head, f" {c} {k}.", nf


def batch(rng, n, nf=None):
    ids, labels, meta = [], [], []
    for _ in range(n):
        h, t, f = sample(rng, nf)
        a, b = tok(h)["input_ids"], tok(t)["input_ids"]
        ids.append(a + b)
        labels.append([-100] * len(a) + b)
        meta.append((len(a), b, f))
    L = max(map(len, ids))
    pad = tok.pad_token_id or 0
    x = torch.tensor([s + [pad] * (L - len(s)) for s in ids])
    y = torch.tensor([s + [-100] * (L - len(s)) for s in labels])
    m = torch.tensor([[1] * len(s) + [0] * (L - len(s)) for s in ids])
    return x, y, m, meta


opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
rng = random.Random(0)
model.train()
for step in range(steps):
    x, y, m, _ = batch(rng, 32)
    loss = model(input_ids=x, attention_mask=m, labels=y).loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step} loss {loss.item():.3f}", flush=True)
model.eval()
test = random.Random(1)
out = []
for nf in (0, maxf // 2, maxf):
    x, y, m, meta = batch(test, 64, nf)
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=m).logits
    ok = [
        all(int(logits[i, la - 1 + j].argmax()) == t for j, t in enumerate(b))
        for i, (la, b, _) in enumerate(meta)
    ]
    kind_ok = [int(logits[i, la - 1 + len(b) - 2].argmax()) == b[-2] for i, (la, b, _) in enumerate(meta)]
    out.append(f"filler {nf}: copy acc {sum(ok) / len(ok):.2f}, last word {sum(kind_ok) / len(kind_ok):.2f}")
print(
    f"{'init ' + ck if os.environ.get('INIT') else 'fresh'} theta {theta} maxf {maxf} steps {steps}: "
    + "; ".join(out)
)
