"""Seconds per image (image encoder) and per prompt (decoder) of each SAM family at its published size.

A script, not a test: prints a Markdown table (the README's segmenter section shows it). Each model is built
from its transformers configuration at the size of a published checkpoint, with random weights (the compute
is the same as with the real weights), and run through :class:`pixelthink.models.sam.SamSegmenter` as
``--segmenter`` runs it: ``set_image`` (preprocessing + image encoder, once per image) and ``predict`` (one
box + two points: prompt encoder, mask decoder, upsampling to the original image), on 640x480 images.
Each cell is the median wall time and, in brackets, the CPU time of this process (all its threads: about
threads x wall on an idle machine, and much less inflated than wall time on a busy one); the load average
after each model is printed so that a busy machine shows.

Usage: ``nice -n 10 .venv/bin/python bench/bench_segmenters.py [--images 2] [--prompts 3] [--only sam2.1-large ...]``
(the first image of each model is a warm-up and not counted unless ``--images 1``).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _sam(hidden: int, layers: int, heads: int, global_attn: list[int]) -> dict[str, Any]:
    return {"vision_config": {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                              "global_attn_indexes": global_attn}}  # fmt: skip


def _hiera(dims: list[int], blocks: list[int], heads: list[int], windows: list[int], global_blocks: list[int],
           background: list[int]) -> dict[str, Any]:  # fmt: skip
    backbone = {"model_type": "sam2_hiera_det_model", "hidden_size": dims[0], "num_attention_heads": heads[0],
                "blocks_per_stage": blocks, "embed_dim_per_stage": dims, "num_attention_heads_per_stage": heads,
                "window_size_per_stage": windows, "global_attention_blocks": global_blocks,
                "window_positional_embedding_background_size": background}  # fmt: skip
    return {"vision_config": {"backbone_config": backbone, "backbone_channel_list": dims[::-1]}}


#: name -> (family, published checkpoint it has the size of, configuration keyword arguments)
MODELS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "sam-vit-base": ("sam", "facebook/sam-vit-base", _sam(768, 12, 12, [2, 5, 8, 11])),
    "sam-vit-huge": ("sam", "facebook/sam-vit-huge", _sam(1280, 32, 16, [7, 15, 23, 31])),
    "sam-hq-vit-base": ("sam_hq", "syscv-community/sam-hq-vit-base", {}),
    "sam2.1-tiny": ("sam2", "facebook/sam2.1-hiera-tiny", {}),
    "sam2.1-large": ("sam2", "facebook/sam2.1-hiera-large",
                     _hiera([144, 288, 576, 1152], [2, 6, 36, 4], [2, 4, 8, 16], [8, 4, 16, 8], [23, 33, 43], [7, 7])),
    "sam3": ("sam3_tracker", "facebook/sam3 (its tracker)", {}),
}  # fmt: skip
DEFAULT = ["sam2.1-tiny", "sam-vit-base", "sam-hq-vit-base", "sam2.1-large", "sam3"]


def build(name: str, device: str = "cpu") -> Any:
    """A :class:`SamSegmenter` with a random-weight model of ``name``'s published size (float32, on ``device``)."""
    import torch
    import transformers

    from pixelthink.models.sam import FAMILIES, SamSegmenter

    family_name, _, kwargs = MODELS[name]
    family = FAMILIES[family_name]
    config = getattr(transformers, family.config_class)(**kwargs)
    if family_name == "sam_hq":  # the HQ decoder reads the ViT's width
        config.mask_decoder_config.vit_dim = config.vision_config.hidden_size
    torch.manual_seed(0)
    model = getattr(transformers, family.model_class)(config).eval().to(device)
    size = config.prompt_encoder_config.image_size
    return SamSegmenter(model, input_size=(size, size), mean=family.mean, std=family.std, family=family)


def seconds(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process: all its threads) of one call (CUDA work finished)."""
    import torch

    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(name: str, images: int, prompts: int, device: str = "cpu") -> dict[str, Any]:
    seg = build(name, device)
    params = sum(p.numel() for p in seg.model.parameters())
    rng = np.random.default_rng(0)
    encode: list[tuple[float, float]] = []
    decode: list[tuple[float, float]] = []
    for i in range(images):
        image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        t_enc = seconds(lambda seg=seg, image=image: seg.set_image(image))
        t_dec = []
        for k in range(prompts):
            box = (100.0 + 10 * k, 80.0, 420.0, 360.0 - 10 * k)
            t_dec.append(seconds(lambda seg=seg, box=box: seg.predict(box, [(250.0, 200.0), (300.0, 250.0)])))
        if i > 0 or images == 1:  # the first image warms up (allocations, lazy initialisation)
            encode.append(t_enc)
            decode.extend(t_dec)
    result = {"name": name, "family": seg.family.title, "params": params, "input": seg.input_size[0],
              "encode": statistics.median(w for w, _ in encode), "encode_cpu": statistics.median(c for _, c in encode),
              "decode": statistics.median(w for w, _ in decode), "decode_cpu": statistics.median(c for _, c in decode),
              "load": os.getloadavg()[0]}  # fmt: skip
    del seg
    gc.collect()
    return result


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2, help="images per model (the first is a warm-up)")
    parser.add_argument("--prompts", type=int, default=3, help="prompts per image")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda (a GPU table)")
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), default=DEFAULT, help="models to run")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    where = "CPU" if args.device == "cpu" else f"{args.device} ({torch.cuda.get_device_name()})"
    print(f"{where}, float32, torch {torch.__version__}, {threads} CPU threads; 640x480 images; "
          f"{args.images} image(s) x {args.prompts} prompts per model "
          f"({'the first image a warm-up' if args.images > 1 else 'no warm-up'})", flush=True)  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.1f} (wall seconds grow with the machine's other work; "
          "CPU seconds, summed over this process's threads, much less)", flush=True)  # fmt: skip
    print("| model (published size) | family | params | input | s / image (encoder), wall (CPU) | "
          "s / prompt (decoder), wall (CPU) | load avg |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.only:
        r = run(name, args.images, args.prompts, args.device)
        print(f"| {name} ({MODELS[name][1]}) | {r['family']} | {r['params'] / 1e6:.0f}M | {r['input']} | "
              f"{r['encode']:.2f} ({r['encode_cpu']:.2f}) | {r['decode']:.3f} ({r['decode_cpu']:.3f}) | "
              f"{r['load']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
