"""Round 6. Teacher-forced name probe on 1-2-shape scenes: after "the", is the argmax colour present; after "the COLOUR",
is the argmax kind that shape's. Usage: RES=224 python experiments/tiny_model/name_probe.py CKPT BENCH"""
import json, sys, os, numpy as np, torch
RES = int(os.environ.get("RES", 112))
from PIL import Image
from pixelthink.models.processors import load_processor
from transformers import AutoModelForImageTextToText
ck, bench = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
proc = load_processor(ck); model = AutoModelForImageTextToText.from_pretrained(ck).eval(); tok = proc.tokenizer
COLS = ["red","orange","yellow","green","blue","purple","pink"]; KINDS=["circle","ellipse","square","triangle","hexagon","star","cross"]
def tid(w):
    ids = tok.encode(" " + w, add_special_tokens=False); return ids
print({c: tok.encode(" "+c, add_special_tokens=False) for c in COLS[:3]}, tok.encode("the red circle [", add_special_tokens=False))
rows = [r for r in (json.loads(l) for l in open(f"{bench}/samples.jsonl")) if r["split"] == os.environ.get("SPLIT", r["split"])][:int(os.environ.get("N", 64))]
cids = [tid(c)[0] for c in COLS]; kids = [tid(k)[0] for k in KINDS]
accc, acck = [], []
for r in rows:
    sh = r["source"]["shapes"]
    if len(sh) > 1 and sh[0]["colour"] == sh[1]["colour"]: continue
    s = sh[0]
    img = Image.open(f"{bench}/{r['image']}").convert("RGB").resize((RES, RES), Image.BICUBIC)
    m = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the shapes."}]}]
    text = proc.apply_chat_template(m, tokenize=False, add_generation_prompt=True) + "the"
    enc = proc(text=[text], images=[img], return_tensors="pt")
    with torch.no_grad(): lg = model(**enc).logits[0, -1]
    accc.append(COLS[int(torch.argmax(lg[cids]))] in {x["colour"] for x in sh})
    text2 = text + " " + s["colour"]
    enc = proc(text=[text2], images=[img], return_tensors="pt")
    with torch.no_grad(): lg = model(**enc).logits[0, -1]
    acck.append(KINDS[int(torch.argmax(lg[kids]))] == s["kind"])
print(f"{ck}: scenes n={len(rows)} colour acc {np.mean(accc):.2f} kind acc {np.mean(acck):.2f}")
