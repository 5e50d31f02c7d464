"""Round 9. Does the box get worse after long reasoning, with the reasoning held correct? Teacher-force
the reference reasoning of MODE (name: "the red star" | short | long) on CKPT, then let the model write
the box greedily: prompt + '<think>REF</think><answer>{"bbox": [' -> 4 numbers. Prints, per difficulty
bucket, the box IoU with the target, the best IoU with any shape of the scene and the share of boxes
that hit any shape (IoU > 0.5), with the mean reasoning length in tokens.
Usage: python experiments/tiny_model/prefill_probe.py CKPT BENCH MODE [N]   (RES=224, the test split)"""
import json, os, re, sys
import numpy as np, torch
import yaml
from PIL import Image
from transformers import AutoModelForImageTextToText
from pixelthink.answer import build_prompt
from pixelthink.frames import FrameTransform
from pixelthink.models.processors import load_processor

ck, bench, mode = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
res = int(os.environ.get("RES", 224))
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
template = yaml.safe_load(open(f"{ck}/pixelthink_recipe.yaml"))["data"]["prompt_template"]
proc = load_processor(ck); model = AutoModelForImageTextToText.from_pretrained(ck).eval()
tok = proc.tokenizer; tok.padding_side = "left"
rows = [r for r in map(json.loads, open(f"{bench}/samples.jsonl")) if r["split"] == "test"][:n]


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0])); iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0


def ref(r):
    if mode == "name":
        return f"the {r['source']['target']['colour']} {r['source']['target']['kind']}"
    return r["reasoning_short" if mode == "short" else "reasoning_long"]


stats = {}
for i in range(0, len(rows), 16):
    batch = rows[i : i + 16]
    imgs = [Image.open(f"{bench}/{r['image']}").convert("RGB").resize((res, res), Image.BICUBIC) for r in batch]
    texts = []
    for r in batch:
        msg = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": build_prompt(r["query"], template)}]}]
        texts.append(proc.apply_chat_template(msg, tokenize=False, add_generation_prompt=True)
                     + f'<think>{ref(r)}</think><answer>{{"bbox": [')
    enc = proc(text=texts, images=imgs, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=12, do_sample=False)
    for r, o in zip(batch, out[:, enc["input_ids"].shape[1] :]):
        nums = [int(x) for x in re.findall(r"\d+", tok.decode(o, skip_special_tokens=True))[:4]]
        ft = FrameTransform.for_size(r["width"], r["height"], res)
        box = list(ft.box_to_original(tuple(nums))) if len(nums) == 4 else None
        d = r["difficulty"]; b = "easy" if d < 3.5 else "medium" if d < 5 else "hard"
        t = iou(box, r["bbox"]) if box else 0.0
        best = max((iou(box, s["bbox"]) for s in r["source"]["shapes"]), default=0.0) if box else 0.0
        length = len(tok(ref(r))["input_ids"])
        for k in (b, "all"):
            stats.setdefault(k, []).append((t, best, best > 0.5, length))
for k in ("easy", "medium", "hard", "all"):
    a = np.array(stats[k], dtype=float)
    print(f"{mode:5s} {k:6s} n {len(a):3d} tokens {a[:, 3].mean():5.1f} | target IoU {a[:, 0].mean():.3f} "
          f"(>0.5: {(a[:, 0] > 0.5).mean():.2f}) | best any-shape IoU {a[:, 1].mean():.3f} (hit {a[:, 2].mean():.2f})")
