"""Round 4: position pre-stage on 1-2-shape images, captions without cell words, random order.

Usage (from the repo root):
    OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/poscap.py --run runs/tiny_model/h_poscap \
        --minutes 9 --eval-every 2.5

Draws each training image fresh (PIL, plain background, 112x112 = the model frame, so no resize): 1 or 2
non-overlapping shapes (circle / square / triangle, 6 colours). Caption: the shapes in random order,
"the red circle [x1, y1, x2, y2], the blue square [x1, y1, x2, y2]" (inclusive pixel extremes, integer
model-frame coordinates), loss on the caption tokens only, coordinate weight 1 (plain mean CE).
Every --eval-every minutes: greedy captions of 64 held-out images -> box IoU (matched by name, and the
best assignment ignoring names) and a ridge (row, col) probe of the image tokens at every LLM layer.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_model, fmt_box

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (230, 210, 20),
    "purple": (140, 40, 170),
    "orange": (240, 130, 20),
}
KINDS = ("circle", "square", "triangle")
BG = (235, 235, 235)
PROMPT = "Describe the shapes."


def draw_scene(rng: random.Random, res: int) -> tuple[Image.Image, list[tuple[str, list[int]]]]:
    """A ``res`` x ``res`` RGB image with 1-2 shapes and their (name, inclusive model-frame box)."""
    img = Image.new("RGB", (res, res), BG)
    d = ImageDraw.Draw(img)
    n = rng.choice((1, 2))
    names = rng.sample([f"{c} {k}" for c in COLORS for k in KINDS], n)
    shapes: list[tuple[str, list[int]]] = []
    placed: list[tuple[int, int, int, int]] = []
    masks: list[np.ndarray] = []
    for name in names:
        for _ in range(100):
            size = rng.randint(res // 8, res * 3 // 8)
            x1, y1 = rng.randint(0, res - size), rng.randint(0, res - size)
            b = (x1, y1, x1 + size - 1, y1 + size - 1)
            if all(b[2] < p[0] - 1 or p[2] < b[0] - 1 or b[3] < p[1] - 1 or p[3] < b[1] - 1 for p in placed):
                break
        else:
            raise RuntimeError("could not place a non-overlapping shape in 100 tries")
        colour, kind = name.split()
        mask = Image.new("L", (res, res), 0)
        md = ImageDraw.Draw(mask)
        if kind == "circle":
            md.ellipse(b, fill=255)
        elif kind == "square":
            md.rectangle(b, fill=255)
        else:
            md.polygon([((b[0] + b[2]) / 2, b[1]), (b[0], b[3]), (b[2], b[3])], fill=255)
        d.bitmap((0, 0), mask, fill=COLORS[colour])
        ys, xs = np.nonzero(np.asarray(mask))
        shapes.append((name, [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]))
        masks.append(np.asarray(mask) > 0)
        placed.append(b)
    img.info["masks"] = masks
    return img, shapes


def caption(shapes: list[tuple[str, list[int]]]) -> str:
    return ", ".join(f"the {name} {fmt_box(box)}" for name, box in shapes)


def box_iou(a, b) -> float:
    """IoU of inclusive integer boxes."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / ua if ua > 0 else 0.0


_ITEM = re.compile(r"the (\w+ \w+) \[(\d+), (\d+), (\d+), (\d+)\]")


def cell_labels(img, shapes, tok, mode: str, rng: random.Random, res: int, cell: int = 28) -> list[int]:
    """Round 12 dense image-token labels: for each merged image token (raster order), the id of a word
    saying what covers its cell (>= 30 % of it): ``kind`` -> the shape's kind word; ``all`` -> one of its
    colour, kind, x1, y1, x2, y2 tokens at random. -100 for background cells."""
    side = res // cell
    out = []
    masks = img.info["masks"]
    for r in range(side):
        for c in range(side):
            best, frac = None, 0.3
            for (name, box), m in zip(shapes, masks, strict=True):
                f = m[r * cell : (r + 1) * cell, c * cell : (c + 1) * cell].mean()
                if f >= frac:
                    best, frac = (name, box), f
            if best is None:
                out.append(-100)
                continue
            colour, kind = best[0].split()
            words = ["\u0120" + kind] if mode == "kind" else [
                "\u0120" + colour, "\u0120" + kind, *("\u0120" + str(v) for v in best[1])]
            tid = tok.convert_tokens_to_ids(rng.choice(words))
            out.append(-100 if tid is None or tid == tok.unk_token_id else tid)
    return out


class Batcher:
    def __init__(self, processor, res: int, dense: str = "none"):
        self.proc = processor
        self.res = res
        self.dense = dense
        self.rng = random.Random(7)
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
        self.prompt = processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def train(self, scenes):
        tok = self.proc.tokenizer
        texts, n_resp = [], []
        for _, shapes in scenes:
            resp = caption(shapes) + "<|im_end|>"
            n_resp.append(len(tok(resp, add_special_tokens=False).input_ids))
            texts.append(self.prompt + resp)
        enc = self.proc(text=texts, images=[im for im, _ in scenes], padding=True, return_tensors="pt")
        labels = torch.full_like(enc["input_ids"], -100)
        for i, n in enumerate(n_resp):  # left padding: the response is the last n tokens
            labels[i, -n:] = enc["input_ids"][i, -n:]
        if self.dense != "none":
            img_id = tok.convert_tokens_to_ids("<|image_pad|>")
            for i, (im, shapes) in enumerate(scenes):
                pos = (enc["input_ids"][i] == img_id).nonzero().squeeze(1)
                lab = torch.tensor(cell_labels(im, shapes, tok, self.dense, self.rng, self.res))
                # labels are shifted inside the model: label at position p is predicted from p - 1,
                # so put the cell's label one step later (predicted *at* the image token)
                labels[i, pos + 1] = lab
        enc["labels"] = labels
        return enc

    def prompts(self, scenes):
        return self.proc(
            text=[self.prompt] * len(scenes),
            images=[im for im, _ in scenes],
            padding=True,
            return_tensors="pt",
        )


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())


@torch.no_grad()
def evaluate(model, bat: Batcher, scenes, max_new: int = 48) -> dict:
    """Caption box IoU (name-matched and best assignment) + (row, col) ridge probe per LLM layer."""
    model.eval()
    named, best, name_ok, n_ratio_g, n_ratio_t, texts_all = [], [], [], 0, 0, []
    for i in range(0, len(scenes), 16):
        chunk = scenes[i : i + 16]
        enc = bat.prompts(chunk)
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False)
        texts = bat.proc.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for (_, gt), txt in zip(chunk, texts, strict=True):
            texts_all.append(txt)
            pred = [(m[0], [int(v) for v in m[1:]]) for m in _ITEM.findall(txt)]
            n_ratio_g += len(pred)
            n_ratio_t += len(gt)
            pd = dict(pred)
            for name, box in gt:
                named.append(box_iou(pd[name], box) if name in pd else 0.0)
                name_ok.append(name in pd)
            pb = [b for _, b in pred]
            scores = []
            for perm in itertools.permutations(range(max(len(pb), len(gt))), len(gt)):
                scores.append(
                    np.mean(
                        [box_iou(pb[p], g[1]) if p < len(pb) else 0.0 for p, g in zip(perm, gt, strict=True)]
                    )
                )
            best.append(float(max(scores)))
    # probe
    enc = bat.prompts(scenes)
    hs = model(**enc, output_hidden_states=True).hidden_states
    is_img = enc["input_ids"] == model.config.image_token_id
    _, gh, gw = (int(v) // m for v, m in zip(enc["image_grid_thw"][0], (1, 2, 2), strict=True))
    k = gh * gw
    rows = np.tile(np.repeat(np.arange(gh), gw), len(scenes)).astype(float)
    cols = np.tile(np.tile(np.arange(gw), gh), len(scenes)).astype(float)
    half = (len(scenes) // 2) * k
    probe = []
    for h in hs:
        x = h[is_img].numpy().astype(np.float64)
        x = np.concatenate([x, np.ones((len(x), 1))], 1)
        sc = []
        for y in (rows, cols):
            a = x[:half]
            w = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ y[:half])
            sc.append(round(r2(y[half:], x[half:] @ w), 3))
        probe.append(sc)
    model.train()
    return {
        "box_iou_named": round(100 * float(np.mean(named)), 1),
        "box_iou_best": round(100 * float(np.mean(best)), 1),
        "acc50_named": round(float(np.mean([v > 0.5 for v in named])), 3),
        "name_hit": round(float(np.mean(name_ok)), 3),
        "n_ratio": round(n_ratio_g / max(1, n_ratio_t), 2),
        "probe_row_col": probe,
        "examples": [f"{caption(g)}  ||  {t}" for (_, g), t in zip(scenes[:3], texts_all[:3], strict=True)],
    }


def fourier_number_init(model, tok, res: int) -> int:
    """Number tokens' (tied) embeddings as Fourier codes of their value (the package's
    ``pixelthink.models.tiny.fourier_number_rows``, i.e. ``model.tiny.number_init: fourier``)."""
    from pixelthink.models.tiny import fourier_number_rows

    emb = model.get_input_embeddings().weight
    rows = fourier_number_rows(tok, res, emb.shape[1])
    with torch.no_grad():
        for idx, row in rows.items():
            emb[idx] = row
    return len(rows)


def add_abs_pos_hook(model, res: int) -> None:
    """Register a learned [tokens, hidden] absolute position table added to the vision tower's output."""
    side = res // 28
    hidden = model.config.text_config.hidden_size
    table = torch.nn.Parameter(torch.randn(side * side, hidden) * 0.02)
    model.register_parameter("abs_pos_table", table)

    def hook(_module, _inputs, out):
        n = out.pooler_output.shape[0] // (side * side)
        out.pooler_output = out.pooler_output + table.repeat(n, 1)
        return out

    model.model.visual.register_forward_hook(hook)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--res", type=int, default=112)
    ap.add_argument("--minutes", type=float, default=9.0)
    ap.add_argument("--eval-every", type=float, default=2.5)
    ap.add_argument("--eval-n", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rope-theta", type=float, default=10.0)
    ap.add_argument("--mrope", type=int, nargs=3, default=[2, 7, 7])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=4, help="LLM layers (round 10 depth test)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop here too (0: time only)")
    ap.add_argument("--eval-steps", type=int, default=0, help="evaluate every N steps instead of minutes")
    ap.add_argument(
        "--number-init",
        choices=("random", "fourier"),
        default="random",
        help="fourier: the (tied) embeddings of the number tokens start as cos/sin codes of their value",
    )
    ap.add_argument(
        "--abs-pos",
        action="store_true",
        help="upper-bound test (not the architecture): add a learned absolute position embedding to every "
        "merged image token (a forward hook on the vision tower), as Qwen3-VL's tower has",
    )
    ap.add_argument("--dense", choices=("none", "kind", "all"), default="none",
                    help="round 12: labels at the image-token positions (see cell_labels)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor
    from pixelthink.models.tiny import build_tiny_tokenizer

    corpus_rng = random.Random(12345)
    corpus = [PROMPT] + [caption(draw_scene(corpus_rng, args.res)[1]) for _ in range(2000)]
    corpus += [" ".join(str(i) for i in range(args.res)), ", ".join(str(i) for i in range(args.res))] * 50
    tok = build_tiny_tokenizer(None, texts=corpus, vocab_size=512)
    model_dir = args.run / "model"
    build_model(
        model_dir,
        tok,
        hidden=128,
        layers=args.layers,
        res=args.res,
        rope_theta=args.rope_theta,
        mrope_section=list(args.mrope),
    )
    proc = load_processor(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(str(model_dir), dtype=torch.float32)
    if args.number_init == "fourier":
        print(json.dumps({"fourier_numbers": fourier_number_init(model, tok, args.res)}), flush=True)
    if args.abs_pos:
        add_abs_pos_hook(model, args.res)
    bat = Batcher(proc, args.res, args.dense)
    test_rng = random.Random(999)
    test = [draw_scene(test_rng, args.res) for _ in range(args.eval_n)]
    ex = caption(test[0][1])
    print(json.dumps({"example": ex, "pieces": tok.convert_ids_to_tokens(tok(ex).input_ids)}), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.95))
    log = (args.run / "log.jsonl").open("a", encoding="utf-8")

    def do_eval(step: int, tmin: float) -> None:
        t0 = time.time()
        ev = evaluate(model, bat, test)
        ev.update({"step": step, "train_min": round(tmin, 2), "eval_s": round(time.time() - t0, 1)})
        log.write(json.dumps(ev) + "\n")
        log.flush()
        print(json.dumps(ev), flush=True)
        model.save_pretrained(str(args.run / "ckpt"))
        proc.save_pretrained(str(args.run / "ckpt"))

    do_eval(0, 0.0)
    train_time, step, next_eval = 0.0, 0, args.eval_every * 60
    model.train()
    while train_time < args.minutes * 60 and not (args.max_steps and step >= args.max_steps):
        t0 = time.time()
        enc = bat.train([draw_scene(rng, args.res) for _ in range(args.batch)])
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        out = model(**enc)
        out.loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            lab = enc["labels"][:, 1:]
            nll = -torch.log_softmax(out.logits[:, :-1].float(), -1)
            nll = nll.gather(-1, lab.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            ids = enc["input_ids"][:, 1:]
            digit = torch.tensor(
                [[tok.convert_ids_to_tokens(int(t)).lstrip("\u0120").isdigit() for t in r] for r in ids]
            )
            coord = digit & (lab != -100)
            coord_loss = float(nll[coord].mean())
        step += 1
        dt = time.time() - t0
        train_time += dt
        rec = {
            "step": step,
            "loss": round(float(out.loss), 4),
            "coord_loss": round(coord_loss, 4),
            "gn": round(float(gn), 3),
            "s_step": round(dt, 3),
            "train_min": round(train_time / 60, 2),
        }
        log.write(json.dumps(rec) + "\n")
        if step % 20 == 0:
            print(json.dumps(rec), flush=True)
        if args.eval_steps:
            if step % args.eval_steps == 0:
                do_eval(step, train_time / 60)
        elif train_time >= next_eval:
            next_eval += args.eval_every * 60
            do_eval(step, train_time / 60)
    if not (args.eval_steps and step % args.eval_steps == 0):
        do_eval(step, train_time / 60)


if __name__ == "__main__":
    main()
