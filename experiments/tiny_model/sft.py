"""Self-contained SFT loop for the tiny Qwen2.5-VL design study (plain torch, CPU).

Usage (from the repo root):
    OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/sft.py --run runs/tiny_model/r1 \
        --bench runs/tiny_model/shapes224 --res 112 --hidden 128 --layers 4 --minutes 10

Builds a BPE on the train split's text + a random model (unless --init is given), trains with the loss
on the assistant tokens only (left-padded batches: the response is the last n tokens of each row), logs
loss / samples per second to RUN/log.jsonl and evaluates greedy generations on test samples
(parse rate, box IoU in the model frame, per bucket) every --eval-every minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    answer_json,
    build_model,
    build_model_qwen3,
    coord_inventory,
    load_boxes,
    load_samples,
    pick_style,
    target_text,
    think_with_boxes,
    tokenizer_corpus,
)

from pixelthink.answer import build_prompt, parse_lenient
from pixelthink.frames import FrameTransform
from pixelthink.rewards import RewardConfig, difficulty_bucket


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


class Data:
    def __init__(self, bench: str, processor, res: int, bench_root: Path, boxes: dict | None = None):
        self.processor = processor
        self.res = res
        self.root = bench_root
        self._prompt_cache: dict[str, str] = {}
        self.boxes = boxes or {}
        tok = processor.tokenizer
        # ids of the tokens that spell an integer (with or without the leading-space marker)
        self.digit_ids = torch.tensor(
            [i for t, i in tok.get_vocab().items() if t.lstrip("\u0120").isdigit()], dtype=torch.long
        )

    caption_coords = False
    think_boxes = False

    def response(self, s, style: str) -> str:
        """The assistant text (without ``<|im_end|>``) of the current stage."""
        frame = FrameTransform.for_size(s.width, s.height, self.res)
        if self.caption:
            if self.caption_coords:
                return coord_inventory(s, self.boxes[s.id], frame)
            return s.reasoning_long.split(". ")[0] + "."
        if self.think_boxes and style == "long":
            think = think_with_boxes(s, self.boxes[s.id], frame)
            return f"<think>{think}</think><answer>{answer_json(s, frame)}</answer>"
        return target_text(s, frame, style)

    def image(self, s):
        from PIL import Image

        img = Image.open(self.root / s.image).convert("RGB")
        return FrameTransform.for_size(s.width, s.height, self.res).image_to_model(img)

    caption = False

    def prompt_text(self, s) -> str:
        if self.caption:
            msgs = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": "Describe the shapes."}],
                }
            ]
            return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        msgs = [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": build_prompt(s.query)}],
            }
        ]
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def train_batch(self, samples, styles):
        tok = self.processor.tokenizer
        texts, n_resp, n_ans, resp_ids = [], [], [], []
        for s, st in zip(samples, styles, strict=True):
            resp = self.response(s, st) + "<|im_end|>"
            ids = tok(resp, add_special_tokens=False).input_ids
            resp_ids.append(torch.tensor(ids, dtype=torch.long))
            n_resp.append(len(ids))
            if "<answer>" in resp:
                n_ans.append(len(tok(resp[resp.index("<answer>") + len("<answer>") :]).input_ids))
            else:
                n_ans.append(0)
            texts.append(self.prompt_text(s) + resp)
        enc = self.processor(
            text=texts, images=[self.image(s) for s in samples], padding=True, return_tensors="pt"
        )
        labels = torch.full_like(enc["input_ids"], -100)
        for i, n in enumerate(n_resp):
            labels[i, -n:] = enc["input_ids"][i, -n:]
        ans = torch.zeros_like(labels, dtype=torch.bool)
        coord = torch.zeros_like(labels, dtype=torch.bool)
        for i, n in enumerate(n_ans):
            if n:
                ans[i, -n:] = True
            coord[i, -n_resp[i] :] = torch.isin(resp_ids[i], self.digit_ids)
        if not all(
            torch.equal(enc["input_ids"][i, -n:], resp_ids[i]) for i, n in enumerate(n_resp)
        ):  # the response must tokenize the same alone and after the prompt
            raise RuntimeError("response tokens differ inside the full text; labels would be misaligned")
        enc["labels"] = labels
        self.last_coord = coord
        return enc, ans


@torch.no_grad()
def evaluate_gen(model, data: Data, samples, max_new_tokens: int, batch: int = 16) -> dict:
    model.eval()
    cfg = RewardConfig()
    rows = []
    t0 = time.time()
    for i in range(0, len(samples), batch):
        chunk = samples[i : i + batch]
        enc = data.processor(
            text=[data.prompt_text(s) for s in chunk],
            images=[data.image(s) for s in chunk],
            padding=True,
            return_tensors="pt",
        )
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        gen = out[:, enc["input_ids"].shape[1] :]
        texts = data.processor.tokenizer.batch_decode(gen, skip_special_tokens=True)
        for s, txt, g in zip(chunk, texts, gen, strict=True):
            frame = FrameTransform.for_size(s.width, s.height, data.res)
            p = parse_lenient(txt, image_size=(data.res, data.res))
            gt = frame.box_to_model(tuple(s.bbox))
            iou = box_iou(p.bbox, gt) if p.bbox is not None else 0.0
            rows.append(
                {
                    "id": s.id,
                    "bucket": difficulty_bucket(s.difficulty, cfg),
                    "ok": p.ok,
                    "iou": iou,
                    "len": int((g != data.processor.tokenizer.pad_token_id).sum()),
                    "text": txt,
                }
            )
    res: dict = {"gen_s": round(time.time() - t0, 1)}
    for b in ("easy", "medium", "hard", "all"):
        rs = [r for r in rows if b == "all" or r["bucket"] == b]
        if rs:
            res[b] = {
                "n": len(rs),
                "parse": round(float(np.mean([r["ok"] for r in rs])), 3),
                "box_iou": round(100 * float(np.mean([r["iou"] for r in rs])), 1),
                "acc50": round(float(np.mean([r["iou"] > 0.5 for r in rs])), 3),
                "len": round(float(np.mean([r["len"] for r in rs])), 1),
            }
    res["examples"] = [r["text"] for r in rows[:2]]
    enc, ans = data.train_batch(samples[:32], ["short"] * min(32, len(samples)))
    sh = samples[1:32] + samples[:1]
    enc2, _ = data.train_batch(sh, ["short"] * len(sh))
    for tag, pv in (
        ("ans_loss_true_img", enc["pixel_values"]),
        ("ans_loss_shuffled_img", enc2["pixel_values"]),
    ):
        enc["pixel_values"] = pv
        lab = enc.pop("labels")
        lg = model(**enc).logits[:, :-1]
        enc["labels"] = lab
        nll = -torch.log_softmax(lg, -1).gather(-1, enc["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
        res[tag] = round(float(nll[ans[:, 1:]].mean()), 4)
    f = model.model.get_image_features(enc["pixel_values"], enc["image_grid_thw"])
    f = torch.cat(list(f.pooler_output if hasattr(f, "pooler_output") else f))
    res["img_feat_absmean"] = round(float(f.abs().mean()), 3)
    res["img_feat_std_over_tokens"] = round(float(f.std(0).mean()), 3)
    model.train()
    return res


_BOX_RE = __import__("re").compile(r"\[(\d+), (\d+), (\d+), (\d+)\]")


@torch.no_grad()
def evaluate_caption(model, data: Data, samples, max_new_tokens: int = 160, batch: int = 16) -> dict:
    """Greedy coordinate captions: mean IoU of the k-th generated box with the k-th true box (model frame).

    Also ``first_iou``: the first box only (the shape that is first in reading order), and ``n_ratio``:
    generated boxes / true boxes.
    """
    model.eval()
    ious, first, n_gen, n_true = [], [], 0, 0
    for i in range(0, len(samples), batch):
        chunk = samples[i : i + batch]
        enc = data.processor(
            text=[data.prompt_text(s) for s in chunk],
            images=[data.image(s) for s in chunk],
            padding=True,
            return_tensors="pt",
        )
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        texts = data.processor.tokenizer.batch_decode(
            out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True
        )
        for s, txt in zip(chunk, texts, strict=True):
            frame = FrameTransform.for_size(s.width, s.height, data.res)
            gt = [frame.box_to_model(tuple(sh["box"])) for sh in data.boxes[s.id]["shapes"]]
            pred = [tuple(float(v) for v in m) for m in _BOX_RE.findall(txt)]
            n_gen += len(pred)
            n_true += len(gt)
            for k, g in enumerate(gt):
                ious.append(box_iou(pred[k], g) if k < len(pred) else 0.0)
            first.append(box_iou(pred[0], gt[0]) if pred else 0.0)
    model.train()
    return {
        "cap_box_iou": round(100 * float(np.mean(ious)), 1),
        "cap_first_iou": round(100 * float(np.mean(first)), 1),
        "cap_n_ratio": round(n_gen / max(1, n_true), 2),
        "cap_example": texts[0][:300],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--res", type=int, default=112)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vis-depth", type=int, default=2)
    ap.add_argument("--vis-hidden", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--init", type=Path, help="start from this model dir instead of a fresh one")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--vis-lr-mult", type=float, default=1.0, help="lr multiplier of model.visual")
    ap.add_argument("--ans-weight", type=float, default=1.0, help="loss weight of the <answer> tokens")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--schedule-steps", type=int, default=0, help="cosine length (0: constant after warmup)")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--p-long", type=float, default=0.5)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--eval-every", type=float, default=5.0, help="minutes")
    ap.add_argument("--eval-n", type=int, default=64)
    ap.add_argument("--eval-max-new", type=int, default=200)
    ap.add_argument("--caption-minutes", type=float, default=0.0, help="stage-0 caption warmup minutes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--boxes", type=Path, help="scene_boxes.py output of the train split")
    ap.add_argument("--test-boxes", type=Path, help="scene_boxes.py output of the test split")
    ap.add_argument("--caption-coords", action="store_true", help="caption = inventory with every box")
    ap.add_argument("--think-boxes", action="store_true", help="long reference: inventory with boxes")
    ap.add_argument("--coord-weight", type=float, default=1.0, help="loss weight of integer tokens")
    ap.add_argument("--arch", choices=("qwen2_5", "qwen3"), default="qwen2_5", help="tiny model class")
    ap.add_argument("--task-lr", type=float, default=None, help="lr after the caption stage (default --lr)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rope-theta", type=float, default=10000.0, help="text RoPE base (qwen2_5)")
    ap.add_argument("--mrope", type=int, nargs=3, default=None, help="mrope_section t h w (qwen2_5)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    bench_root = Path(args.bench)

    train = load_samples(args.bench, "train", args.n_train)
    test = load_samples(args.bench, "test")
    # evaluation subset: first eval_n easy + a few medium/hard
    cfg = RewardConfig()
    eval_set = []
    for b, k in (("easy", args.eval_n), ("medium", args.eval_n * 2 // 3), ("hard", args.eval_n * 2 // 3)):
        eval_set += [s for s in test if difficulty_bucket(s.difficulty, cfg) == b][:k]
    boxes: dict = {}
    for pth in (args.boxes, args.test_boxes):
        if pth is not None:
            boxes.update(load_boxes(pth))

    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor
    from pixelthink.models.tiny import build_tiny_tokenizer

    model_dir = args.run / "model"
    if args.init is None:
        tok = build_tiny_tokenizer(None, texts=tokenizer_corpus(train, args.res), vocab_size=args.vocab)
        if args.arch == "qwen3":
            build_model_qwen3(model_dir, tok, hidden=args.hidden, layers=args.layers, res=args.res)
        else:
            build_model(
                model_dir,
                tok,
                hidden=args.hidden,
                layers=args.layers,
                heads=args.heads,
                vis_depth=args.vis_depth,
                vis_hidden=args.vis_hidden,
                res=args.res,
                rope_theta=args.rope_theta,
                mrope_section=args.mrope,
            )
        init_dir = model_dir
    else:
        init_dir = args.init
    processor = load_processor(init_dir)
    model = AutoModelForImageTextToText.from_pretrained(str(init_dir), dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    n_vis = sum(p.numel() for n, p in model.named_parameters() if "visual" in n)
    data = Data(args.bench, processor, args.res, bench_root, boxes)
    data.caption_coords = args.caption_coords
    data.think_boxes = args.think_boxes

    # tokenization statistics
    tok = processor.tokenizer
    s0 = train[0]
    fr = FrameTransform.for_size(s0.width, s0.height, args.res)
    ex_long = target_text(s0, fr, "long")
    enc0, _ = data.train_batch([s0], ["long"])
    stats = {
        "params": n_params,
        "vision_params": n_vis,
        "vocab": len(tok),
        "seq_len_long_example": int(enc0["input_ids"].shape[1]),
        "image_tokens": int((enc0["input_ids"] == model.config.image_token_id).sum()),
        "prompt_tokens": len(tok(data.prompt_text(s0)).input_ids),
        "answer_tokens": len(tok(ex_long[ex_long.index("<answer>") :]).input_ids),
        "answer_pieces": tok.convert_ids_to_tokens(tok(ex_long[ex_long.index("<answer>") :]).input_ids),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.run / "stats.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps({k: v for k, v in stats.items() if k != "answer_pieces"}), flush=True)
    print(" ".join(stats["answer_pieces"]), flush=True)

    vis = [p for n, p in model.named_parameters() if "visual" in n]
    rest = [p for n, p in model.named_parameters() if "visual" not in n]
    opt = torch.optim.AdamW(
        [{"params": rest, "mult": 1.0}, {"params": vis, "mult": args.vis_lr_mult}],
        lr=args.lr,
        weight_decay=args.wd,
        betas=(0.9, 0.95),
    )

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        if args.schedule_steps:
            frac = min(1.0, (step - args.warmup) / max(1, args.schedule_steps - args.warmup))
            return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        return args.lr

    with (args.run / "log.jsonl").open("a", encoding="utf-8") as log:
        train_loop(args, model, processor, data, opt, lr_at, log, train, eval_set, rng)


def train_loop(args, model, processor, data: Data, opt, lr_at, log, train, eval_set, rng) -> None:
    """Caption stage (if any), then task SFT, with evaluations; saves RUN/caption and RUN/final."""
    model.train()
    t_start = time.time()
    train_time = 0.0
    next_eval = args.eval_every * 60
    step, seen, ema = 0, 0, None
    order = list(range(len(train)))
    rng.shuffle(order)
    pos = 0
    data.caption = args.caption_minutes > 0
    while train_time < args.minutes * 60 and step < args.max_steps:
        t0 = time.time()
        if data.caption and train_time >= args.caption_minutes * 60:
            with torch.no_grad():
                model.eval()
                cs = eval_set[:32]
                e1, _ = data.train_batch(cs, ["long"] * len(cs))
                e2, _ = data.train_batch(cs[1:] + cs[:1], ["long"] * len(cs))
                gap = {}
                for tag, pv in (("true", e1["pixel_values"]), ("shuffled", e2["pixel_values"])):
                    e1["pixel_values"] = pv
                    gap["caption_loss_" + tag] = round(float(model(**e1).loss), 4)
                model.train()
            if args.caption_coords:
                gap.update(evaluate_caption(model, data, eval_set[:48]))
            print(json.dumps(gap), flush=True)
            log.write(json.dumps(gap) + "\n")
            model.save_pretrained(str(args.run / "caption"))
            processor.save_pretrained(str(args.run / "caption"))
            data.caption = False
            if args.task_lr is not None:
                args.lr = args.task_lr
            ev = evaluate_gen(model, data, eval_set, args.eval_max_new)
            ev.update({"eval_at_step": step, "train_min": round(train_time / 60, 2), "after_caption": True})
            log.write(json.dumps(ev) + "\n")
            print(json.dumps(ev), flush=True)
        if pos + args.batch > len(order):
            rng.shuffle(order)
            pos = 0
        batch = [train[i] for i in order[pos : pos + args.batch]]
        pos += args.batch
        styles = [pick_style(rng, args.p_long) for _ in batch]
        enc, ans_mask = data.train_batch(batch, styles)
        t1 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step) * g["mult"]
        labels = enc.pop("labels")
        out = model(**enc)
        lp_all = torch.log_softmax(out.logits[:, :-1].float(), -1)
        nll_all = -lp_all.gather(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1)).squeeze(-1)
        coord = data.last_coord[:, 1:]
        w = (labels[:, 1:] != -100).float() * (1.0 + (args.ans_weight - 1.0) * ans_mask[:, 1:].float())
        w = torch.where(coord, torch.full_like(w, args.coord_weight), w)
        wloss = (nll_all * w).sum() / w.sum()
        wloss.backward()
        enc["labels"] = labels
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        seen += len(batch)
        dt = time.time() - t0
        train_time += dt
        with torch.no_grad():
            lab = labels[:, 1:] != -100
            m = ans_mask[:, 1:]
            loss = float(nll_all[lab].mean())
            ans_loss = float(nll_all[m].mean()) if bool(m.any()) else float("nan")
            coord_loss = float(nll_all[coord].mean()) if bool(coord.any()) else float("nan")
        ema = loss if ema is None else 0.9 * ema + 0.1 * loss
        rec = {
            "step": step,
            "seen": seen,
            "loss": round(loss, 4),
            "ema": round(ema, 4),
            "ans_loss": round(ans_loss, 4),
            "coord_loss": round(coord_loss, 4),
            "stage": "caption" if data.caption else "task",
            "gn": round(float(gn), 3),
            "lr": lr_at(step - 1),
            "s_step": round(dt, 3),
            "s_prep": round(t1 - t0, 3),
            "seq": int(enc["input_ids"].shape[1]),
            "train_min": round(train_time / 60, 2),
        }
        log.write(json.dumps(rec) + "\n")
        if step % 10 == 0:
            log.flush()
            print(json.dumps(rec), flush=True)
        if train_time >= next_eval:
            next_eval += args.eval_every * 60
            if data.caption:
                ev = evaluate_caption(model, data, eval_set[:48]) if args.caption_coords else {}
            else:
                ev = evaluate_gen(model, data, eval_set, args.eval_max_new)
            ev.update({"eval_at_step": step, "train_min": round(train_time / 60, 2)})
            log.write(json.dumps(ev) + "\n")
            log.flush()
            print(json.dumps(ev), flush=True)
    ckpt = args.run / "final"
    model.save_pretrained(str(ckpt))
    processor.save_pretrained(str(ckpt))
    ev = evaluate_gen(model, data, eval_set, args.eval_max_new)
    ev.update({"eval_at_step": step, "train_min": round(train_time / 60, 2), "final": True})
    log.write(json.dumps(ev) + "\n")
    print(json.dumps(ev), flush=True)
    print(f"wall {time.time() - t_start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
