"""Prototype: the Qwen2.5-VL vision tower alone, trained on dense per-token targets.

For each merged image token (8x8 at 224, 28 px cells), the shape covering the cell's centre gives the
targets: its colour (or background), its kind (or background) and its box (x1, y1, x2, y2)/224.
Linear heads on the merger output. Experiment code only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world_hack as W  # noqa: E402

CELL = 28
RES = 224
SIDE = RES // CELL


PERIODS = np.geomspace(2.0 * RES, 8.0, 16)


def fcode(v: np.ndarray) -> np.ndarray:
    """[..., 32] cos/sin codes of pixel values (entries in [-1, 1])."""
    ang = 2 * np.pi * np.asarray(v, np.float32)[..., None] / PERIODS
    return np.concatenate([np.cos(ang), np.sin(ang)], -1).astype(np.float32)


_TABLE = torch.from_numpy(fcode(np.arange(RES)))  # [RES, 32]


def fdecode(code: torch.Tensor) -> torch.Tensor:
    """[..., 32] -> argmax value."""
    return (code @ _TABLE.T).argmax(-1)


def labels(scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """colour [64], kind [64] (index in W lists; len = background), box [64, 4] (/RES; nan for bg)."""
    col = np.full(SIDE * SIDE, len(W.COLOURS), np.int64)
    kind = np.full(SIDE * SIDE, len(W.KINDS), np.int64)
    box = np.full((SIDE * SIDE, 4), np.nan, np.float32)
    extra = np.full((SIDE * SIDE, 6), np.nan, np.float32)
    cols = list(W.COLOURS)
    boxes = []
    for m in scene.masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
    for r in range(SIDE):
        for c in range(SIDE):
            y, x = r * CELL + CELL // 2, c * CELL + CELL // 2
            for i, m in enumerate(scene.masks):
                if m[y, x]:
                    sh = scene.shapes[i]
                    col[r * SIDE + c] = cols.index(sh.colour)
                    kind[r * SIDE + c] = W.KINDS.index(sh.kind)
                    box[r * SIDE + c] = np.asarray(boxes[i] + [sh.cx, sh.cy], np.float32)[:4] / RES if not FOURIER else 0
                    if FOURIER:
                        extra[r * SIDE + c] = np.asarray(boxes[i] + [sh.cx, sh.cy], np.float32)
    if FOURIER:
        return col, kind, extra
    return col, kind, box


FOURIER = False


class Tower(torch.nn.Module):
    def __init__(self, visual, out_dim: int):
        super().__init__()
        self.visual = visual
        self.col = torch.nn.Linear(out_dim, len(W.COLOURS) + 1)
        self.kind = torch.nn.Linear(out_dim, len(W.KINDS) + 1)
        self.box = torch.nn.Linear(out_dim, 6 * 32 if FOURIER else 4)

    def forward(self, pixel_values, grid_thw):
        h = self.visual(pixel_values, grid_thw=grid_thw).pooler_output
        return h, self.col(h), self.kind(h), self.box(h)


def batch(rng, proc, n):
    scenes = [W.draw(rng) for _ in range(n)]
    from PIL import Image

    enc = proc(images=[Image.fromarray(s.image) for s in scenes], return_tensors="pt")
    labs = [labels(s) for s in scenes]
    col = torch.from_numpy(np.concatenate([l[0] for l in labs]))
    kind = torch.from_numpy(np.concatenate([l[1] for l in labs]))
    box = torch.from_numpy(np.concatenate([l[2] for l in labs]))
    return enc["pixel_values"], enc["image_grid_thw"], col, kind, box


def evaluate(tower, ev):
    tower.eval()
    with torch.no_grad():
        pv, g, col, kind, box = ev
        h, pc, pk, pb = tower(pv, g)
        fg = kind < len(W.KINDS)
        out = {
            "colour_acc": float((pc.argmax(-1) == col)[fg].float().mean()),
            "kind_acc": float((pk.argmax(-1) == kind)[fg].float().mean()),
            "bg_acc": float((pk.argmax(-1) == kind)[~fg].float().mean()),
            "box_l1_px": float((pb[fg] - box[fg]).abs().mean() * RES) if not FOURIER else float((fdecode(pb[fg].view(-1, 6, 32)).float() - box[fg]).abs()[:, :4].mean()),
            "centre_l1_px": 0.0 if not FOURIER else float((fdecode(pb[fg].view(-1, 6, 32)).float() - box[fg]).abs()[:, 4:].mean()),
            "out_norm": float(h.norm(dim=-1).mean()),
        }
    tower.train()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a tiny Qwen2.5-VL dir (its visual tower is trained)")
    ap.add_argument("--minutes", type=float, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=float, default=2.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--box-weight", type=float, default=5.0)
    ap.add_argument("--fourier", action="store_true")
    ap.add_argument("--init", default=None, help="start from this tower checkpoint (a VLM dir)")
    args = ap.parse_args()
    W.patch()
    global FOURIER
    FOURIER = args.fourier
    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor

    model = AutoModelForImageTextToText.from_pretrained(args.init or args.model, dtype=torch.float32)
    proc = load_processor(args.model).image_processor
    visual = model.model.visual
    tower = Tower(visual, model.config.text_config.hidden_size)
    n_par = sum(p.numel() for p in visual.parameters())
    print(f"tower params {n_par / 1e6:.2f}M", flush=True)
    opt = torch.optim.AdamW(tower.parameters(), lr=args.lr, weight_decay=0.01)
    rng = np.random.default_rng(0)
    ev = batch(np.random.default_rng(12345), proc, 128)
    t0 = time.time()
    next_eval = args.eval_every * 60
    step = 0
    total = args.minutes * 60
    while True:
        el = time.time() - t0
        if el > total:
            break
        lr = args.lr * min(1.0, (step + 1) / 50) * (0.5 * (1 + np.cos(np.pi * min(1.0, el / total))))
        for gr in opt.param_groups:
            gr["lr"] = lr
        pv, g, col, kind, box = batch(rng, proc, args.batch)
        _, pc, pk, pb = tower(pv, g)
        fg = kind < len(W.KINDS)
        if FOURIER:
            tgt = torch.from_numpy(fcode(box[fg].numpy())).view(-1, 6 * 32)
            lb = F.mse_loss(pb[fg], tgt)
        else:
            lb = F.smooth_l1_loss(pb[fg], box[fg], beta=0.02)
        loss = F.cross_entropy(pc, col) + F.cross_entropy(pk, kind) + args.box_weight * lb
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tower.parameters(), 1.0)
        opt.step()
        step += 1
        if time.time() - t0 > next_eval:
            next_eval += args.eval_every * 60
            if args.out:
                model.save_pretrained(args.out)
            print(json.dumps({"step": step, "min": round((time.time() - t0) / 60, 1), "loss": round(float(loss), 3), **{k: round(v, 3) for k, v in evaluate(tower, ev).items()}}), flush=True)
    print(json.dumps({"final": True, "step": step, **{k: round(v, 3) for k, v in evaluate(tower, ev).items()}}), flush=True)
    if args.out:
        model.save_pretrained(args.out)
        torch.save({"col": tower.col.state_dict(), "kind": tower.kind.state_dict(), "box": tower.box.state_dict()}, Path(args.out) / "heads.pt")


if __name__ == "__main__":
    main()
