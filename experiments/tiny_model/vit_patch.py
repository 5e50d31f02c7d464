"""Round 12. Does a finer patch grid let the tiny vision tower learn shape kinds? The tower alone + a
linear head on pooled merged tokens, trained directly on kind of 1-shape benchmark-size scenes.
Usage: python experiments/tiny_model/vit_patch.py BENCH PATCH MERGE STEPS [POOL=max|mean] [WIDTH] [DEPTH]"""
import json
import sys
import time

import torch
from PIL import Image
from transformers import Qwen2VLImageProcessorPil
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

bench, patch, merge, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pool = sys.argv[5] if len(sys.argv) > 5 else "max"
width = int(sys.argv[6]) if len(sys.argv) > 6 else 64
depth = int(sys.argv[7]) if len(sys.argv) > 7 else 2
torch.set_num_threads(1)
torch.manual_seed(0)
KINDS = ["circle", "ellipse", "square", "triangle", "hexagon", "star", "cross"]
cfg = Qwen2_5_VLVisionConfig(depth=depth, hidden_size=width, intermediate_size=2 * width, num_heads=2,
    patch_size=patch, spatial_merge_size=merge, temporal_patch_size=2, out_hidden_size=128,
    window_size=112, fullatt_block_indexes=list(range(depth)), initializer_range=0.02)
vis = Qwen2_5_VisionTransformerPretrainedModel._from_config(cfg)
vis.train()
LOCAL = [float(v) for v in __import__("os").environ.get("LOCAL", "").split(",") if v]


def local_init(vis, strengths, freq_index=1):
    """ConViT-style locality at init: q and k biases of head i get sqrt(strengths[i]) on the rotary pair of
    frequency ``freq_index`` of both axes, so attention starts as a kernel a*cos(theta*dh)+a*cos(theta*dw)
    peaked at the token itself (content terms still learnable)."""
    for blk in vis.blocks:
        qkv = blk.attn.qkv
        dim = qkv.in_features
        heads = blk.attn.num_heads
        hd = dim // heads
        with torch.no_grad():
            for h, a in enumerate(strengths[:heads]):
                for j in (freq_index, hd // 4 + freq_index):  # h-axis pair, w-axis pair
                    qkv.bias[h * hd + j] = (a * hd**0.5) ** 0.5  # q (scores are scaled by 1/sqrt(hd))
                    qkv.bias[dim + h * hd + j] = (a * hd**0.5) ** 0.5  # k


if LOCAL:
    local_init(vis, LOCAL)
proc = Qwen2VLImageProcessorPil(size={"shortest_edge": 224 * 224, "longest_edge": 224 * 224}, patch_size=patch,
    temporal_patch_size=2, merge_size=merge, image_mean=[0.48145466, 0.4578275, 0.40821073],
    image_std=[0.26862954, 0.26130258, 0.27577711])


def load(split, n):
    rows = [json.loads(x) for x in open(f"{bench}/samples.jsonl")]
    rows = [r for r in rows if r["split"] == split][:n]
    imgs = [Image.open(f"{bench}/{r['image']}").convert("RGB") for r in rows]
    ip = proc(images=imgs, return_tensors="pt")
    P = ip["pixel_values"].view(len(rows), -1, ip["pixel_values"].shape[-1])
    y = torch.tensor([KINDS.index(r["source"]["shapes"][0]["kind"]) for r in rows])
    return P, ip["image_grid_thw"][:1], y


Ptr, thw, ytr = load("train", 3000)
Pte, _, yte = load("test", 300)
head = torch.nn.Linear(128, 7)
opt = torch.optim.AdamW(list(vis.parameters()) + list(head.parameters()), lr=float(__import__("os").environ.get("LR", "1e-3")), weight_decay=0.01)


def fwd(P):
    B = P.shape[0]
    f = vis(P.reshape(-1, P.shape[-1]), grid_thw=thw.repeat(B, 1)).pooler_output.view(B, -1, 128)
    return head(f.max(1).values if pool == "max" else f.mean(1))


t0 = time.time()
print(json.dumps({"patch": patch, "merge": merge, "pool": pool, "tokens": int(thw.prod()) // merge**2}))
for s in range(steps + 1):
    idx = torch.randint(0, len(ytr), (32,))
    loss = torch.nn.functional.cross_entropy(fwd(Ptr[idx]), ytr[idx])
    opt.zero_grad()
    loss.backward()
    opt.step()
    if s % 100 == 0:
        with torch.no_grad():
            acc = float((fwd(Pte).argmax(1) == yte).float().mean())
        print(f"step {s} loss {loss.item():.3f} test kind acc {acc:.2f} ({time.time() - t0:.0f}s)", flush=True)
