"""Issue 30, lever 3 (a larger language model), the cheap way: depth up-scaling without a new tower.

usage: python experiments/tiny_model/upscale_depth.py SRC_MODEL OUT_DIR [--factor 2]

Every decoder layer of SRC_MODEL's language model is repeated FACTOR times; each copy after the first
has its two residual writes (``self_attn.o_proj`` and ``mlp.down_proj``) set to zero, so the new model
computes exactly what the old one does (checked below on one sample's logits) while it has FACTOR times
the language model's layers to learn with. The vision tower, the merger, the embeddings and the
tokenizer are kept, so neither the tower stage nor the referring stage has to run again: the gate's
two SFT runs (grounded chains vs name-only answers) start from the up-scaled model exactly as they
started from the shipped one.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForImageTextToText

ZEROED = ("self_attn.o_proj.weight", "mlp.down_proj.weight")


def upscale(src: Path, out: Path, factor: int) -> None:
    config = AutoConfig.from_pretrained(src)
    text = config.text_config
    n = text.num_hidden_layers
    old = AutoModelForImageTextToText.from_pretrained(src, dtype=torch.float32).eval()
    text.num_hidden_layers = n * factor
    text.layer_types = [text.layer_types[0]] * (n * factor)
    text.max_window_layers = max(text.max_window_layers, n * factor)
    new = AutoModelForImageTextToText.from_config(config).eval()
    state = old.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if ".layers." not in key or "visual" in key:
            mapped[key] = value
            continue
        head, rest = key.split(".layers.", 1)
        index, name = rest.split(".", 1)
        for copy in range(factor):
            tensor = value.clone()
            if copy > 0 and name in ZEROED:
                tensor.zero_()
            mapped[f"{head}.layers.{int(index) * factor + copy}.{name}"] = tensor
    missing, unexpected = new.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if "lm_head" not in k]  # tied to the embeddings
    if missing or unexpected:
        raise SystemExit(f"weights do not map: missing {missing[:5]}, unexpected {unexpected[:5]}")
    new.tie_weights()
    ids = torch.tensor([[0, 11, 12, 13, 14, 15, 16, 17]])
    with torch.no_grad():
        a, b = old(input_ids=ids).logits, new(input_ids=ids).logits
    gap = (a - b).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"the up-scaled model does not compute the old one's logits (max gap {gap})")
    out.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.is_file() and item.name not in {"model.safetensors", "config.json", "README.md"}:
            shutil.copy2(item, out / item.name)
    new.save_pretrained(out)
    params = sum(p.numel() for p in new.parameters())
    print(f"{src} -> {out}: {n} -> {n * factor} layers, {params / 1e6:.2f} M parameters, logit gap {gap:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--factor", type=int, default=2)
    args = parser.parse_args()
    upscale(args.src, args.out, args.factor)


if __name__ == "__main__":
    main()
