"""Round 6. Caption probe: greedy "Describe the shapes." on CKPT; per true shape: is its name (colour kind)
generated, the IoU of the same-named box and of the nearest box, and for located shapes (IoU > 0.3) whether
colour and kind match. Usage: RES=224 python experiments/tiny_model/caption_probe.py CKPT BENCH SPLIT easy|all N"""
import json, re, sys
import numpy as np, torch
from PIL import Image
from pixelthink.models.processors import load_processor
from transformers import AutoModelForImageTextToText
from pixelthink.frames import FrameTransform
ck, bench, split, bucket, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
import os; res = int(os.environ.get("RES", 112))
torch.set_num_threads(1)
proc = load_processor(ck); model = AutoModelForImageTextToText.from_pretrained(ck).eval()
tok = proc.tokenizer; tok.padding_side = "left"
rows = [r for r in (json.loads(l) for l in open(f"{bench}/samples.jsonl")) if r["split"] == split and (bucket == "all" or r["difficulty"] < 3.5)][:n]
def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1); iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    u = (a[2]-a[0]+1)*(a[3]-a[1]+1) + (b[2]-b[0]+1)*(b[3]-b[1]+1) - ix*iy
    return ix*iy/u if u > 0 else 0
named, namehit, anyiou, cnt, col, kin = [], [], [], [], [], []
for i in range(0, len(rows), 16):
    batch = rows[i:i+16]
    imgs = [Image.open(f"{bench}/{r['image']}").convert("RGB").resize((res, res), Image.BICUBIC) for r in batch]
    msgs = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the shapes."}]}] for _ in batch]
    texts = [proc.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs]
    enc = proc(text=texts, images=imgs, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=260, do_sample=False)
    for r, o in zip(batch, out[:, enc["input_ids"].shape[1]:]):
        t = tok.decode(o, skip_special_tokens=True)
        gen = [(m.group(1), [int(m.group(k)) for k in (2, 3, 4, 5)]) for m in re.finditer(r"the (\w+ \w+) \[(\d+), (\d+), (\d+), (\d+)\]", t)]
        ft = FrameTransform.for_size(r["width"], r["height"], res)
        truth = [(f"{s['colour']} {s['kind']}", [round(v) for v in ft.box_to_model(tuple(s["bbox"]))]) for s in r["source"]["shapes"]]
        cnt.append(len(gen) - len(truth))
        for name, box in truth:
            cands = [iou(box, g) for gn, g in gen if gn == name]
            named.append(max(cands) if cands else 0.0); namehit.append(bool(cands))
            ious=[iou(box, g) for _, g in gen]
            anyiou.append(max(ious, default=0.0))
            if ious and max(ious) > 0.3:
                gn = gen[int(np.argmax(ious))][0].split()
                col.append(gn[0] == name.split()[0]); kin.append(gn[1] == name.split()[1])
print(f"{ck} [{bench} {bucket} n={len(rows)}]: name hit {np.mean(namehit):.2f} | name-matched IoU {np.mean(named):.3f} | any-box IoU {np.mean(anyiou):.3f} | count err {np.mean(cnt):+.2f} | located(IoU>.3) colour {np.mean(col):.2f} kind {np.mean(kin):.2f} (n={len(col)})")
