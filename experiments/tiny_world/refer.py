"""Prototype: the referring task ("Find 'the blue star'" -> "<think>the blue star</think><answer>{box}")
on the simple world, from a dense-pretrained vision tower. Custom loop (fast iteration); experiment code.

Measures on held-out scenes: box on the queried shape (IoU > 0.5 with its box), box on any shape.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world_hack as W  # noqa: E402

PROMPT = "Find '{q}'. Think in <think></think>, answer in <answer></answer>."


def box_of(mask):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def make(rng, lo=2, hi=5):
    """(scene, query, response, target index)."""
    from pixelthink.masks import points_from_mask
    from pixelthink.train.data import answer_json

    while True:
        scene = W.draw(rng, lo, hi)
        sh = scene.shapes
        cands = []
        for i, s in enumerate(sh):
            if sum(o.kind == s.kind for o in sh) == 1:
                cands.append((i, f"the {s.kind}"))
            if sum(o.kind == s.kind and o.colour == s.colour for o in sh) == 1:
                cands.append((i, f"the {s.colour} {s.kind}"))
            if sum(o.colour == s.colour for o in sh) == 1:
                cands.append((i, f"the {s.colour} shape"))
        if cands:
            break
    i, q = cands[int(rng.integers(len(cands)))]
    s = sh[i]
    box = box_of(scene.masks[i])
    pts = points_from_mask(scene.masks[i])
    resp = f"<think>the {s.colour} {s.kind}</think><answer>{answer_json(tuple(box), pts)}</answer>"
    return scene, q, resp, i


def corpus(n=3000):
    rng = np.random.default_rng(99)
    out = []
    for _ in range(n):
        scene, q, resp, i = make(rng)
        out += [PROMPT.format(q=q), resp]
    out += [" ".join(str(i) for i in range(224)), ", ".join(str(i) for i in range(224))] * 50
    return out


def build(out, hidden, layers, vdepth, vhidden, tower=None, number_init="fourier"):
    from pixelthink.models.tiny import build_tiny_qwen2_5_vl, build_tiny_tokenizer

    from pixelthink.train.config import DataConfig
    from pixelthink.train.data import tokenizer_texts

    cfg = DataConfig(path="runs/w/bench", resolution=224, prompt_template=PROMPT.replace("{q}", "{question}"))
    tok = build_tiny_tokenizer(texts=tokenizer_texts(cfg), vocab_size=1024)
    head_dim = hidden // 4
    q = head_dim // 2
    build_tiny_qwen2_5_vl(out, tokenizer=tok, hidden_size=hidden, num_layers=layers, image_size=224,
        initializer_range=0.02, intermediate_size=3 * hidden, vision_depth=vdepth, vision_hidden_size=vhidden,
        vision_num_heads=max(1, vhidden // 32), vision_fullatt_block_indexes=list(range(vdepth)),
        tie_word_embeddings=True, rope_theta=10.0, mrope_section=[q - 2 * (7 * q // 16), 7 * q // 16, 7 * q // 16],
        number_init=number_init)
    if tower:
        from safetensors.torch import load_file, save_file

        src = load_file(str(Path(tower) / "model.safetensors"))
        dst = load_file(str(Path(out) / "model.safetensors"))
        n = 0
        for k, v in src.items():
            if ".visual." in k or k.startswith("visual.") or "model.visual" in k:
                assert dst[k].shape == v.shape, k
                dst[k] = v
                n += 1
        save_file(dst, str(Path(out) / "model.safetensors"), metadata={"format": "pt"})
        print("copied", n, "tower tensors")


def encode(proc, items, with_labels=True):
    from PIL import Image

    tok = proc.tokenizer
    prompts = [proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT.format(q=q)}]}],
                                        tokenize=False, add_generation_prompt=True) for _, q, _, _ in items]
    imgs = [Image.fromarray(s.image) for s, _, _, _ in items]
    if not with_labels:
        tok.padding_side = "left"
        return proc(text=prompts, images=imgs, padding=True, return_tensors="pt")
    enc = proc(text=prompts, images=imgs, padding=False)
    ids, labs, types = [], [], []
    for p, tt, (_, _, r, _) in zip(enc["input_ids"], enc["mm_token_type_ids"], items, strict=True):
        rid = tok(r + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids.append(list(p) + rid)
        labs.append([-100] * len(p) + rid)
        types.append(list(tt) + [0] * len(rid))
    L = max(map(len, ids))
    pad = tok.pad_token_id
    input_ids = torch.tensor([x + [pad] * (L - len(x)) for x in ids])
    labels = torch.tensor([x + [-100] * (L - len(x)) for x in labs])
    att = torch.tensor([[1] * len(x) + [0] * (L - len(x)) for x in ids])
    mm = torch.tensor([x + [0] * (L - len(x)) for x in types])
    return {"input_ids": input_ids, "attention_mask": att, "labels": labels, "mm_token_type_ids": mm,
            "pixel_values": torch.tensor(np.concatenate(enc["pixel_values"])) if isinstance(enc["pixel_values"], list) else torch.as_tensor(enc["pixel_values"]),
            "image_grid_thw": torch.as_tensor(enc["image_grid_thw"])}


_NUM_IDS: set | None = None


def pointer_loss(att, batch, items, model, proc, heads):
    """-log attention mass on the target's image tokens, from every answer position that predicts a number."""
    from pixelthink.data.shapes import cell_owners

    global _NUM_IDS
    tok = proc.tokenizer
    if _NUM_IDS is None:
        _NUM_IDS = {i for t, i in tok.get_vocab().items() if t.lstrip("\u0120").isdigit()}
    img_id = model.config.image_token_id
    total, n = 0.0, 0
    for b, (scene, q, resp, t) in enumerate(items):
        ids = batch["input_ids"][b].tolist()
        labels = batch["labels"][b].tolist()
        img_pos = [i for i, x in enumerate(ids) if x == img_id]
        own = cell_owners(scene, 28).reshape(-1)
        tgt = torch.tensor([img_pos[k] for k in range(len(own)) if own[k] == t])
        if len(tgt) == 0:
            continue
        # position p predicts labels[p+1]... labels are aligned with input_ids (shifted inside the model)
        slots = [p - 1 for p in range(1, len(ids)) if labels[p] in _NUM_IDS]
        a = att[b][heads][:, slots][:, :, tgt].sum(-1)  # heads x slots
        total = total - torch.log(a.clamp_min(1e-6)).mean()
        n += 1
    return total / max(n, 1)


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    i = ix * iy
    u = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - i
    return i / u if u > 0 else 0.0


def evaluate(model, proc, items, bs=32):
    from pixelthink.answer import parse_lenient

    model.eval()
    hit = anyhit = name_ok = 0
    texts = []
    with torch.no_grad():
        for k in range(0, len(items), bs):
            chunk = items[k : k + bs]
            enc = encode(proc, chunk, with_labels=False)
            out = model.generate(**enc, max_new_tokens=48, do_sample=False)
            gen = proc.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for (scene, q, resp, t), g in zip(chunk, gen, strict=True):
                texts.append(g)
                p = parse_lenient(g)
                want = resp.split("</think>")[0]
                name_ok += g.startswith(want)
                if p.bbox is None:
                    continue
                b = [round(v) for v in p.bbox]
                boxes = [box_of(m) for m in scene.masks]
                hit += iou(b, boxes[t]) > 0.5
                anyhit += max(iou(b, x) for x in boxes) > 0.5
    model.train()
    n = len(items)
    return {"hit": round(hit / n, 3), "any": round(anyhit / n, 3), "name": round(name_ok / n, 3), "example": texts[0][:120]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--tower", default=None)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--vdepth", type=int, default=3)
    ap.add_argument("--vhidden", type=int, default=96)
    ap.add_argument("--freeze-tower", action="store_true")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--eval-every", type=float, default=3)
    ap.add_argument("--number-init", default="fourier")
    ap.add_argument("--curriculum", default=None, help="e.g. 1-2:0.2,2-3:0.4 (shape range until a time fraction)")
    ap.add_argument("--pointer-weight", type=float, default=0.0)
    ap.add_argument("--pointer-layer", type=int, default=2)
    ap.add_argument("--pointer-heads", default="0,1")
    ap.add_argument("--eval-shapes", default="2-5")
    ap.add_argument("--img-scale", type=float, default=None, help="rescale the merger's output norm to this")
    args = ap.parse_args()
    W.patch()
    run = Path(args.run)
    if not (run / "init" / "model.safetensors").exists():
        build(run / "init", args.hidden, args.layers, args.vdepth, args.vhidden, args.tower, args.number_init)
    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor

    model = AutoModelForImageTextToText.from_pretrained(
        str(run / "init"), dtype=torch.float32, **({"attn_implementation": "eager"} if args.pointer_weight else {}))
    proc = load_processor(str(run / "init"))
    if args.img_scale:
        lin = model.model.visual.merger.mlp[-1]
        with torch.no_grad():
            ev0 = encode(proc, [make(np.random.default_rng(5)) for _ in range(8)])
            h = model.model.visual(ev0["pixel_values"], grid_thw=ev0["image_grid_thw"]).pooler_output
            f = args.img_scale / float(h.norm(dim=-1).mean())
            lin.weight.mul_(f)
            lin.bias.mul_(f)
        print("scaled merger output by", f)
    if args.freeze_tower:
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"params {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M trainable {sum(p.numel() for p in params) / 1e6:.2f}M", flush=True)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    rng = np.random.default_rng(1)
    elo, ehi = (int(v) for v in args.eval_shapes.split("-"))
    held = [make(np.random.default_rng([7, i]), elo, ehi) for i in range(128)]
    t0 = time.time()
    total = args.minutes * 60
    next_eval = args.eval_every * 60
    step = 0
    while time.time() - t0 < total:
        el = time.time() - t0
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.5 * (1 + np.cos(np.pi * min(1.0, el / total))))
        for g in opt.param_groups:
            g["lr"] = lr
        lo, hi = 2, 5
        if args.curriculum:
            for part in args.curriculum.split(","):
                rng_s, frac = part.split(":")
                if el / total < float(frac):
                    lo, hi = (int(v) for v in rng_s.split("-"))
                    break
        items = [make(rng, lo, hi) for _ in range(args.batch)]
        batch = encode(proc, items)
        if args.pointer_weight:
            out = model(**batch, output_attentions=True)
            loss = out.loss + args.pointer_weight * pointer_loss(out.attentions[args.pointer_layer], batch, items, model, proc,
                                                                 [int(h) for h in args.pointer_heads.split(",")])
        else:
            loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            print(json.dumps({"step": step, "min": round((time.time() - t0) / 60, 2), "loss": round(float(loss), 3)}), flush=True)
        if time.time() - t0 > next_eval:
            next_eval += args.eval_every * 60
            print(json.dumps({"eval": True, "step": step, "min": round((time.time() - t0) / 60, 1), **evaluate(model, proc, held)}), flush=True)
    print(json.dumps({"final": True, "step": step, **evaluate(model, proc, held)}), flush=True)
    model.save_pretrained(str(run / "final"))
    proc.save_pretrained(str(run / "final"))


if __name__ == "__main__":
    main()
