"""Shared helpers of the tiny-model design study (data -> SFT examples, tokenizer, model builder).

Everything here is experiment code, not part of the package. Checkpoints go under runs/ (git-ignored).

Frames: the benchmark images are stored at ``orig`` size (e.g. 224x224); the model sees them resized
to ``res`` x ``res`` (the *model frame*, FrameTransform.for_size(w, h, res)); SFT targets are written in
the model frame as integers.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pixelthink.answer import build_prompt
from pixelthink.data.format import Benchmark, Sample
from pixelthink.frames import FrameTransform


def answer_json(sample: Sample, frame: FrameTransform) -> str:
    """``{"bbox": [...], "points_1": [...], "points_2": [...]}`` with integer model-frame coordinates."""
    x1, y1, x2, y2 = frame.box_to_model(tuple(sample.bbox))
    pts = frame.points_to_model([tuple(p) for p in sample.points])
    if len(pts) == 1:
        pts = [pts[0], pts[0]]
    box = [round(x1), round(y1), round(x2), round(y2)]
    p1 = [round(pts[0][0]), round(pts[0][1])]
    p2 = [round(pts[1][0]), round(pts[1][1])]
    return json.dumps({"bbox": box, "points_1": p1, "points_2": p2})


def target_text(sample: Sample, frame: FrameTransform, style: str) -> str:
    """The SFT response: ``<think>REF</think><answer>JSON</answer>`` (style 'long' | 'short')."""
    ref = sample.reasoning_long if style == "long" else sample.reasoning_short
    return f"<think>{ref}</think><answer>{answer_json(sample, frame)}</answer>"


def load_samples(bench_dir: str | Path, split: str, limit: int | None = None) -> list[Sample]:
    out = []
    for s in Benchmark(bench_dir, split=split, check_images=False):
        out.append(s)
        if limit is not None and len(out) >= limit:
            break
    return out


def tokenizer_corpus(samples: list[Sample], res: int) -> list[str]:
    """Texts the BPE is trained on: prompts, both references and the answers (model frame).

    All integers 0..res-1 are added as space-separated text so every coordinate becomes one token.
    """
    texts: list[str] = []
    for s in samples:
        frame = FrameTransform.for_size(s.width, s.height, res)
        texts.append(build_prompt(s.query))
        texts.append(target_text(s, frame, "long"))
        texts.append(target_text(s, frame, "short"))
    nums = " ".join(str(i) for i in range(res))
    texts.extend(
        [nums, ", ".join(str(i) for i in range(res)), "[" + ",".join(str(i) for i in range(res))] * 50
    )
    return texts


def build_model(
    out_dir: str | Path,
    tok: Any,
    *,
    hidden: int,
    layers: int,
    heads: int = 4,
    kv_heads: int = 2,
    inter_mult: int = 3,
    vis_depth: int = 2,
    vis_hidden: int = 64,
    vis_heads: int = 2,
    res: int = 224,
    init_range: float = 0.02,
    seed: int = 0,
    rope_theta: float = 10000.0,
    mrope_section: list[int] | None = None,
) -> Path:
    """A random Qwen2_5_VLForConditionalGeneration for training, built by the package builder.

    Thin wrapper of ``pixelthink.models.tiny.build_tiny_qwen2_5_vl`` with the study's settings: stock
    init (0.02), tied embeddings, MLP ``inter_mult`` x hidden, a vision tower of ``vis_depth`` blocks of
    width ``vis_hidden``, all with full attention, and the processor capped at ``res`` x ``res`` pixels.
    """
    from pixelthink.models.tiny import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(
        out_dir,
        seed=seed,
        tokenizer=tok,
        hidden_size=hidden,
        num_layers=layers,
        image_size=res,
        initializer_range=init_range,
        num_heads=heads,
        num_kv_heads=kv_heads,
        intermediate_size=hidden * inter_mult,
        vision_depth=vis_depth,
        vision_hidden_size=vis_hidden,
        vision_num_heads=vis_heads,
        vision_fullatt_block_indexes=list(range(vis_depth)),
        tie_word_embeddings=True,
        rope_theta=rope_theta,
        mrope_section=mrope_section,
    )


def build_model_qwen3(
    out_dir: str | Path, tok: Any, *, hidden: int, layers: int, res: int, seed: int = 0
) -> Path:
    """A random tiny Qwen3-VL (absolute vision position embeddings, deepstack) for the round-2 A/B.

    ``pixelthink.models.tiny.build_tiny_qwen3_vl`` with init 0.02: 4 heads, MLP 2x, a vision tower of
    2 blocks of width 32, patch 16 (``res`` should be a multiple of 32).
    """
    from pixelthink.models.tiny import build_tiny_qwen3_vl

    return build_tiny_qwen3_vl(
        out_dir,
        seed=seed,
        tokenizer=tok,
        hidden_size=hidden,
        num_layers=layers,
        image_size=res,
        initializer_range=0.02,
    )


def load_boxes(path: str | Path) -> dict[str, dict]:
    """``scene_boxes.py`` output: sample id -> {"shapes": [{"desc", "where", "box"}], "target": k}.

    Boxes are in the **original** frame (inclusive pixel extremes of the visible pixels).
    """
    out: dict[str, dict] = {}
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            out[rec["id"]] = rec
    return out


def model_box(box: list[int] | tuple, frame: FrameTransform) -> list[int]:
    """An original-frame box as integer model-frame pixels."""
    return [round(v) for v in frame.box_to_model(tuple(box))]


def fmt_box(box: list[int]) -> str:
    """``[x1, y1, x2, y2]`` with the same spacing as the answer JSON (so the coordinate tokens match)."""
    return "[" + ", ".join(str(v) for v in box) + "]"


def coord_inventory(sample: Sample, boxes: dict, frame: FrameTransform) -> str:
    """``"I see 3 shapes: a red circle at the top left [x1, y1, x2, y2], ... and ...."`` (model frame).

    The same inventory as the first sentence of ``reasoning_long``, with each shape's box appended.
    """
    items = [f"a {sh['desc']} {sh['where']} {fmt_box(model_box(sh['box'], frame))}" for sh in boxes["shapes"]]
    body = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return f"I see {len(items)} shapes: {body}."


def think_with_boxes(sample: Sample, boxes: dict, frame: FrameTransform) -> str:
    """``reasoning_long`` with its inventory sentence replaced by :func:`coord_inventory`."""
    ref = sample.reasoning_long or ""
    head = ref.split(". ")[0] + "."
    if not head.startswith("I see "):
        raise ValueError(f"{sample.id}: reasoning_long does not start with the inventory: {ref[:60]!r}")
    return coord_inventory(sample, boxes, frame) + ref[len(head) :]


def pick_style(rng: random.Random, p_long: float) -> str:
    return "long" if rng.random() < p_long else "short"
