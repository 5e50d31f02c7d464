"""Round 6. Can the tiny vision tower alone learn shape kind? Vision tower + linear head on max-pooled merged
tokens, trained directly on 1-shape scenes. Usage: python experiments/tiny_model/vit_kind.py CKPT RES STEPS"""
import json, os, sys, numpy as np, torch, time
from PIL import Image
from pixelthink.models.processors import load_processor
from transformers import AutoModelForImageTextToText
ck, res, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(1); torch.manual_seed(0)
proc = load_processor(ck); model = AutoModelForImageTextToText.from_pretrained(ck)
vis = model.model.visual.train()
KINDS=["circle","ellipse","square","triangle","hexagon","star","cross"]
def load(bench, n):
    rows = [json.loads(l) for l in open(f"{bench}/samples.jsonl")][:n]
    def crop(im, r):  # CROP=1: a square of twice the shape's size around it (the shape fills the frame)
        if os.environ.get("CROP") != "1":
            return im
        x1, y1, x2, y2 = r["source"]["shapes"][0]["bbox"]
        cx, cy, h = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1)
        return im.crop((int(cx - h), int(cy - h), int(cx + h), int(cy + h)))
    imgs = [crop(Image.open(f"{bench}/{r['image']}").convert("RGB"), r).resize((res, res), Image.BICUBIC) for r in rows]
    ip = proc.image_processor(images=imgs, return_tensors="pt")
    P = ip["pixel_values"].view(len(rows), -1, ip["pixel_values"].shape[-1])
    return P, ip["image_grid_thw"][:1], torch.tensor([KINDS.index(r["source"]["shapes"][0]["kind"]) for r in rows])
Ptr, thw, ytr = load(os.environ.get("TRAIN", "runs/s6/one6k"), 3000); Pte, _, yte = load(os.environ.get("TEST", "runs/s6/one_tr"), 300)
D = vis.merger.mlp[2].out_features
head = torch.nn.Linear(D, 7)
opt = torch.optim.AdamW(list(vis.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=0.01)
def fwd(P):
    B = P.shape[0]
    f = vis(P.reshape(-1, P.shape[-1]), grid_thw=thw.repeat(B, 1)).pooler_output.view(B, -1, D)
    return head(f.max(1).values if os.environ.get("POOL", "max") == "max" else f.mean(1))
t0 = time.time()
for s in range(steps + 1):
    idx = torch.randint(0, len(ytr), (32,))
    loss = torch.nn.functional.cross_entropy(fwd(Ptr[idx]), ytr[idx])
    opt.zero_grad(); loss.backward(); opt.step()
    if s % 100 == 0:
        with torch.no_grad(): acc = float((fwd(Pte).argmax(1) == yte).float().mean())
        print(f"step {s} loss {loss.item():.3f} test kind acc {acc:.2f} ({time.time()-t0:.0f}s)", flush=True)
