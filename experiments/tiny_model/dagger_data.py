"""Round 18 (issue 30): training rows that start from the model's own mistakes (DAgger with the scene as
the expert).

Round 17 found that a chain's decisions are worse than the direct answer's because every step is taken
on the model's own text, and a model trained only on correct chains (teacher forcing) has never seen a
wrong step and copies it on. This script reads the model's greedy chains on the *training* scenes, finds
the first step that is wrong (a different name, or a box with IoU < 0.5 with the reference's), and writes
a new row: the model's own steps up to and including that one (weight 0 in the loss: never taught), then
the reference's remaining steps (the right continuation from the true scene) and the reference answer.
Rows whose first wrong step is the target step are left out (the answer copies the target step: there is
nothing right to continue with). The output benchmark holds every reference row plus these rows (ids
``...-dagger``), and ``skip.json`` maps each new row's reasoning to the length of its untaught prefix
(read by ``dagger_sft.py``).

Usage: .venv/bin/python experiments/tiny_model/dagger_data.py BENCH OUT PREDICTIONS.jsonl [...]
       [--resolution N]  (the recipe's data.resolution, the frame the model writes its boxes in; 224)
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

from pixelthink.answer import extract_think
from pixelthink.frames import FrameTransform
from pixelthink.miniature.shapes.grounding import rescale_mentions
from pixelthink.predictions import read_predictions
from pixelthink.rewards import box_iou

BOX = re.compile(r"\[(\d+), (\d+), (\d+), (\d+)\]")


def same_step(model: str, ref: str) -> bool:
    """Same words (boxes removed) and every box within IoU 0.5 of the reference's (the reward's box IoU)."""
    if BOX.sub("#", model).strip() != BOX.sub("#", ref).strip():
        return False
    boxes = [tuple(map(int, m)) for m in BOX.findall(model)]
    refs = [tuple(map(int, m)) for m in BOX.findall(ref)]
    return len(boxes) == len(refs) and all(box_iou(a, b) >= 0.5 for a, b in zip(boxes, refs, strict=True))


def dagger_reasoning(model_think: str, ref: str) -> tuple[str, int] | None:
    """``(reasoning, untaught prefix length)`` for a chain with a wrong non-final step, else None."""
    steps, ref_steps = model_think.split("; "), ref.split("; ")
    for i, step in enumerate(steps):
        if i >= len(ref_steps) - 1:
            return None  # wrong at the target step, or longer than the reference: nothing to continue
        if not same_step(step, ref_steps[i]):
            prefix = "; ".join(steps[: i + 1]) + "; "
            return prefix + "; ".join(ref_steps[i + 1 :]), len(prefix)
    return None  # right all along


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("predictions", nargs="+")
    ap.add_argument("--resolution", type=int, default=224, help="the recipe's data.resolution (224)")
    args = ap.parse_args()
    bench, out, preds, resolution = args.bench, args.out, args.predictions, args.resolution
    out.mkdir(parents=True, exist_ok=True)
    rows = {row["id"]: row for row in map(json.loads, (bench / "samples.jsonl").open())}
    skip: dict[str, int] = {}
    added, right, at_target = [], 0, 0
    for path in preds:
        for pred in read_predictions(path):
            row = rows[pred.id]
            ft = FrameTransform.for_size(row["width"], row["height"], resolution)
            ref = rescale_mentions(row["reasoning_short"], ft.box_to_model)  # as the SFT rows have it
            think = extract_think(pred.response or "") or ""
            got = dagger_reasoning(think, ref)
            if got is None:
                steps, ref_steps = think.split("; "), ref.split("; ")
                ok = len(steps) == len(ref_steps) and all(map(same_step, steps, ref_steps))
                right += ok
                at_target += not ok
                continue
            model_frame, n = got
            stored = rescale_mentions(model_frame, ft.box_to_original)  # the benchmark's frame
            seen = rescale_mentions(stored, ft.box_to_model)  # what the SFT row will hold
            n += len(seen) - len(model_frame)  # a box's digits may change length in the round trip
            new = dict(row, id=row["id"] + "-dagger", reasoning_short=stored, reasoning_long=stored)
            added.append(new)
            skip[seen] = n
    with (out / "samples.jsonl").open("w") as fh:
        for row in [*rows.values(), *added]:
            fh.write(json.dumps(row) + "\n")
    meta = json.loads((bench / "meta.json").read_text())
    meta["count"] = len(rows) + len(added)
    meta["splits"] = {"train": meta["count"]}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    (out / "skip.json").write_text(json.dumps(skip))
    if not (out / "images").exists():
        os.symlink((bench / "images").resolve(), out / "images")
    total = right + at_target + len(added)
    print(
        f"{total} chains: {right} right in every step, {len(added)} wrong before the target step "
        f"(new rows), {at_target} wrong only at the target step or longer (left out)"
    )


if __name__ == "__main__":
    main()
