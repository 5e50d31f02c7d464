"""Round 6. Linear probe of shape kind on the merged vision tokens (centre token / mean pool) of 1-shape scenes
(first 500 train, rest test). Usage: python experiments/tiny_model/kind_probe.py CKPT BENCH RES"""
import json, sys, os, numpy as np, torch
from PIL import Image
from pixelthink.models.processors import load_processor
from transformers import AutoModelForImageTextToText
ck, bench, res = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(1)
proc = load_processor(ck); model = AutoModelForImageTextToText.from_pretrained(ck).eval()
KINDS=["circle","ellipse","square","triangle","hexagon","star","cross"]
rows = [json.loads(l) for l in open(f"{bench}/samples.jsonl")]
G = res // 28
Xc, Xm, y = [], [], []
for i in range(0, len(rows), 32):
    b = rows[i:i+32]
    imgs = [Image.open(f"{bench}/{r['image']}").convert("RGB").resize((res, res), Image.BICUBIC) for r in b]
    ip = proc.image_processor(images=imgs, return_tensors="pt")
    with torch.no_grad():
        feats = model.model.get_image_features(ip["pixel_values"], ip["image_grid_thw"]).pooler_output
    for r, f in zip(b, feats):
        s = r["source"]["shapes"][0]; x1, y1, x2, y2 = s["bbox"]
        cx, cy = (x1 + x2) / 2 * res / r["width"], (y1 + y2) / 2 * res / r["height"]
        k = min(G - 1, int(cy // 28)) * G + min(G - 1, int(cx // 28))
        Xc.append(f[k].numpy()); Xm.append(f.mean(0).numpy()); y.append(KINDS.index(s["kind"]))
y = np.array(y)
def fit(X, y, Xt, yt):
    X, Xt = torch.tensor(X, dtype=torch.float32), torch.tensor(Xt, dtype=torch.float32)
    W = torch.zeros(X.shape[1], 7, requires_grad=True); bb = torch.zeros(7, requires_grad=True)
    opt = torch.optim.Adam([W, bb], lr=0.01)
    for _ in range(500):
        opt.zero_grad(); l = torch.nn.functional.cross_entropy(X @ W + bb, torch.tensor(y)) + 1e-3 * (W ** 2).sum(); l.backward(); opt.step()
    return float(((X @ W + bb).argmax(1).numpy() == y).mean()), float(((Xt @ W + bb).argmax(1).numpy() == yt).mean())
for name, X in (("centre token", np.array(Xc)), ("mean pool", np.array(Xm))):
    X = (X - X[:500].mean(0)) / (X[:500].std(0) + 1e-6)
    tr, te = fit(X[:500], y[:500], X[500:], y[500:])
    print(f"{ck} {name}: kind probe acc train {tr:.2f} test {te:.2f}")
