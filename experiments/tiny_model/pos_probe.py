"""Do the LLM's image-token states know *where* they are? Linear probe of (row, col) per layer.

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/pos_probe.py CKPT RES BENCH [N_IMAGES]

Runs the checkpoint on N test images (caption prompt "Describe the shapes."), takes the hidden state of
every image token at the LLM input (layer 0 = merged vision features) and after each decoder layer, and
fits a ridge regression from the state to the token's (row, col) in the merged-patch grid (row-major,
merged-patch grid of the processor). Images are split in half (fit / score); prints held-out R^2 of row and col per layer.
R^2 ~ 0 means the state carries no absolute position, so a box cannot be read from it linearly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_samples

from pixelthink.frames import FrameTransform


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def main() -> None:
    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor

    torch.set_num_threads(1)
    ckpt, res, bench = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    proc = load_processor(ckpt)
    model = AutoModelForImageTextToText.from_pretrained(ckpt, dtype=torch.float32).eval()
    samples = load_samples(bench, "test", n)
    msgs = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe the shapes."}]}
    ]
    prompt = proc.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    imgs = []
    for s in samples:
        from PIL import Image

        img = Image.open(bench / s.image).convert("RGB")
        imgs.append(FrameTransform.for_size(s.width, s.height, res).image_to_model(img))
    enc = proc(text=[prompt] * len(imgs), images=imgs, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    is_img = enc["input_ids"] == model.config.image_token_id
    _, gh, gw = (int(v) // m for v, m in zip(enc["image_grid_thw"][0], (1, 2, 2), strict=True))
    k = int(is_img[0].sum())
    if k != gh * gw:
        raise RuntimeError(f"expected {gh * gw} image tokens per image, got {k}")
    rows = np.tile(np.repeat(np.arange(gh), gw), len(imgs)).astype(float)
    cols = np.tile(np.tile(np.arange(gw), gh), len(imgs)).astype(float)
    half = (len(imgs) // 2) * k
    print(f"{ckpt}: {len(imgs)} images, {k} image tokens each; held-out R^2 of a ridge probe")
    for layer, hs in enumerate(out.hidden_states):
        x = hs[is_img].numpy().astype(np.float64)
        x = np.concatenate([x, np.ones((len(x), 1))], 1)
        scores = []
        for y in (rows, cols):
            a = x[:half]
            w = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ y[:half])
            scores.append(r2(y[half:], x[half:] @ w))
        print(f"layer {layer}: R2 row {scores[0]:.3f}  col {scores[1]:.3f}")


if __name__ == "__main__":
    main()
