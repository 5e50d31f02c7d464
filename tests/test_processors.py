"""Torchvision-free processor loading for Qwen2.5-VL / Qwen3-VL checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from pixelthink.models.processors import (
    ImageOnlyQwen2_5_VLProcessor,
    ImageOnlyQwen3VLProcessor,
    load_processor,
    processed_image_size,
)


def _messages():
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "where is it?"}]}]


def _run(processor, image):
    text = processor.apply_chat_template(_messages(), tokenize=False, add_generation_prompt=True)
    return processor(text=[text], images=[image], return_tensors="pt")


def test_load_processor_classes_without_torchvision(tiny_vl_dirs):
    p25 = load_processor(tiny_vl_dirs["qwen2_5_vl"])
    p3 = load_processor(tiny_vl_dirs["qwen3_vl"])
    assert type(p25) is ImageOnlyQwen2_5_VLProcessor and type(p3) is ImageOnlyQwen3VLProcessor
    for p in (p25, p3):
        assert not hasattr(p, "video_processor")
        assert type(p.image_processor).__name__ == "Qwen2VLImageProcessorPil"
        assert p.tokenizer.padding_side == "left"
    assert "torchvision" not in sys.modules


def test_image_tokens_match_the_patch_grid(tiny_vl_dirs):
    # Qwen2.5-VL: 224x224 -> 16x16 patches of 14 px -> 8x8 = 64 merged tokens
    p25 = load_processor(tiny_vl_dirs["qwen2_5_vl"])
    out = _run(p25, Image.new("RGB", (224, 224), (10, 20, 30)))
    assert out["image_grid_thw"].tolist() == [[1, 16, 16]]
    assert int((out["input_ids"] == p25.image_token_id).sum()) == 64
    # Qwen3-VL: 256x256 -> 16x16 patches of 16 px -> 64 merged tokens
    p3 = load_processor(tiny_vl_dirs["qwen3_vl"])
    out = _run(p3, Image.new("RGB", (256, 256), (10, 20, 30)))
    assert out["image_grid_thw"].tolist() == [[1, 16, 16]]
    assert int((out["input_ids"] == p3.image_token_id).sum()) == 64


def _to_hub_layout(src: Path, dst: Path, stock_class: str) -> Path:
    """Rewrite a tiny model dir into the layout of a Hub snapshot (preprocessor_config.json,
    chat_template.json, stock processor_class), as downloaded for Qwen/Qwen2.5-VL-*-Instruct."""
    dst.mkdir()
    for f in src.iterdir():
        if f.name not in ("processor_config.json", "chat_template.jinja"):
            (dst / f.name).write_bytes(f.read_bytes())
    proc = json.loads((src / "processor_config.json").read_text())
    pre = dict(
        proc["image_processor"], processor_class=stock_class, image_processor_type="Qwen2VLImageProcessor"
    )
    (dst / "preprocessor_config.json").write_text(json.dumps(pre))
    template = (src / "chat_template.jinja").read_text()
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    return dst


@pytest.mark.parametrize(
    ("kind", "stock"), [("qwen2_5_vl", "Qwen2_5_VLProcessor"), ("qwen3_vl", "Qwen3VLProcessor")]
)
def test_hub_layout_loads_and_processes_identically(tmp_path, tiny_vl_dirs, kind, stock):
    hub = _to_hub_layout(tiny_vl_dirs[kind], tmp_path / "hub", stock)
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8))
    a = _run(load_processor(tiny_vl_dirs[kind]), image)
    b = _run(load_processor(hub), image)
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_auto_processor_finds_the_registered_subclass(tmp_path, tiny_vl_dirs):
    # A processor saved under our subclass name loads through AutoProcessor (registration).
    load_processor(tiny_vl_dirs["qwen2_5_vl"]).save_pretrained(str(tmp_path))
    for name in ("config.json",):
        (tmp_path / name).write_bytes((tiny_vl_dirs["qwen2_5_vl"] / name).read_bytes())
    assert type(AutoProcessor.from_pretrained(str(tmp_path))) is ImageOnlyQwen2_5_VLProcessor


def test_load_processor_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model directory not found"):
        load_processor(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_processor(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="'llama' is not supported"):
        load_processor(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ValueError, match="invalid JSON"):
        load_processor(tmp_path)


def test_processed_image_size_hand_computed(tiny_vl_dirs):
    ip25 = load_processor(tiny_vl_dirs["qwen2_5_vl"]).image_processor  # factor 28, pixels 3136..1003520
    ip3 = load_processor(tiny_vl_dirs["qwen3_vl"]).image_processor  # factor 32, pixels 65536..16777216
    assert processed_image_size(ip25, 840, 840) == (840, 840)  # 840 = 30 * 28
    # round(1000/28) = 36 -> 1008, round(500/28) = 18 -> 504; 1008*504 = 508032 within bounds
    assert processed_image_size(ip25, 1000, 500) == (1008, 504)
    assert processed_image_size(ip3, 840, 840) == (832, 832)  # round(840/32) = 26 -> 832
    # 100x100 -> 96x96 = 9216 < 65536: beta = sqrt(65536/10000) = 2.56, ceil(256/32)*32 = 256
    assert processed_image_size(ip3, 100, 100) == (256, 256)
    # the processor leaves an image of that size unchanged: 832 / 16 = 52 patches per side
    out = _run(load_processor(tiny_vl_dirs["qwen3_vl"]), Image.new("RGB", (832, 832)))
    assert out["image_grid_thw"].tolist() == [[1, 52, 52]]
    with pytest.raises(ValueError, match="positive"):
        processed_image_size(ip25, 0, 10)
