"""Tiny model builders: real architectures from small configs, saved and reloaded like checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForImageTextToText, AutoTokenizer, Sam2Model

from pixelthink.miniature.model import (
    SPECIAL_TOKENS,
    build_tiny_qwen2_5_vl,
    build_tiny_qwen3_vl,
    build_tiny_sam2,
    build_tiny_tokenizer,
)

FIVE_MB = 5 * 1024 * 1024


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def test_tokenizer_special_tokens_are_single_ids_and_text_round_trips(tmp_path, tokenizer):
    tokenizer.save_pretrained(str(tmp_path))
    tok = AutoTokenizer.from_pretrained(str(tmp_path))
    ids = [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    assert ids == list(range(len(SPECIAL_TOKENS)))  # trained first, in order
    for token in SPECIAL_TOKENS:
        assert tok(token, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(token)]
    text = '<think>a cup, 12 px</think><answer>{"bbox": [1, 2, 839, 840]}</answer>'
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.padding_side == "left"


def test_tokenizer_from_custom_texts_and_empty_texts_error():
    tok = build_tiny_tokenizer(texts=["hello hello hello world"], vocab_size=300)
    assert tok.convert_tokens_to_ids("<|image_pad|>") == 5
    with pytest.raises(ValueError, match="texts is empty"):
        build_tiny_tokenizer(texts=[])


def test_chat_template_renders_image_placeholder(tokenizer):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "find it"}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>find it<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("builder", [build_tiny_qwen2_5_vl, build_tiny_qwen3_vl])
def test_qwen_builders_save_small_checkpoints_that_reload_identically(tmp_path, tokenizer, builder):
    out = builder(tmp_path / "m", tokenizer=tokenizer, seed=3)
    assert _dir_size(out) < FIVE_MB
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    config = AutoConfig.from_pretrained(str(out))
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) * 2 == head_dim
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    if config.model_type == "qwen3_vl":
        assert config.vision_config.patch_size == 16
        assert list(config.vision_config.deepstack_visual_indexes) == [0, 1]
    model = AutoModelForImageTextToText.from_pretrained(str(out))
    # same seed -> same random weights: the checkpoint is what was built
    again = builder(tmp_path / "again", tokenizer=tokenizer, seed=3)
    model2 = AutoModelForImageTextToText.from_pretrained(str(again))
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2), k1
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [2, 0] and gen["pad_token_id"] == 0


def test_qwen_builder_rejects_bad_hidden_size(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="multiple of 4"):
        build_tiny_qwen2_5_vl(tmp_path, tokenizer=tokenizer, hidden_size=30)


@pytest.mark.parametrize("builder", [build_tiny_qwen2_5_vl, build_tiny_qwen3_vl])
def test_fourier_number_init_codes_the_number_tokens_by_value(tmp_path, builder):
    texts = ["[" + ", ".join(str(i) for i in range(224)) + "]", "the red star 5 17 150"] * 20
    tok = build_tiny_tokenizer(texts=texts, vocab_size=600)
    plain = builder(tmp_path / "plain", tokenizer=tok, seed=1, image_size=224, hidden_size=64)
    coded = builder(
        tmp_path / "coded", tokenizer=tok, seed=1, image_size=224, hidden_size=64, number_init="fourier"
    )
    w0 = AutoModelForImageTextToText.from_pretrained(str(plain)).get_input_embeddings().weight.detach()
    w1 = AutoModelForImageTextToText.from_pretrained(str(coded)).get_input_embeddings().weight.detach()
    vocab = tok.get_vocab()
    value = {i: int(t.lstrip("\u0120")) for t, i in vocab.items() if t.lstrip("\u0120").isdecimal()}
    coded_ids = {i for i, n in value.items() if n < 224}
    assert len(coded_ids) > 100
    for idx in range(len(vocab)):  # every other row is the random one of the same seed
        assert torch.equal(w0[idx], w1[idx]) == (idx not in coded_ids), idx
    e = {n: w1[i] for i, n in value.items() if n < 224}
    assert torch.allclose(w1[list(coded_ids)].norm(dim=1), torch.tensor(0.25), atol=1e-5)
    assert torch.all(w1[list(coded_ids), 32:] == 0)
    # nearby values are closer than distant ones
    d = lambda a, b: float((e[a] - e[b]).norm())  # noqa: E731
    assert d(100, 101) < d(100, 110) < d(100, 180)


def test_number_init_errors_name_the_problem(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="number_init must be one of"):
        build_tiny_qwen2_5_vl(tmp_path / "a", tokenizer=tokenizer, image_size=224, number_init="gauss")
    with pytest.raises(ValueError, match="needs image_size"):
        build_tiny_qwen2_5_vl(tmp_path / "b", tokenizer=tokenizer, number_init="fourier")


def test_tiny_sam2_runs_a_box_prompt(tmp_path):
    out = build_tiny_sam2(tmp_path / "sam2", image_size=256)
    assert _dir_size(out) < FIVE_MB
    pre = json.loads((out / "preprocessor_config.json").read_text())
    assert pre["size"] == {"height": 256, "width": 256}
    model = Sam2Model.from_pretrained(str(out)).eval()
    pixels = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 3, 256, 256)).astype(np.float32))
    with torch.no_grad():
        result = model(
            pixel_values=pixels,
            input_boxes=torch.tensor([[[10.0, 20.0, 200.0, 220.0]]]),
            multimask_output=True,
        )
    # 3 candidate masks at a quarter of the input size (256 / 4 = 64), one IoU score each
    assert tuple(result.pred_masks.shape) == (1, 1, 3, 64, 64)
    assert tuple(result.iou_scores.shape) == (1, 1, 3)
    with pytest.raises(ValueError, match="multiple of 32"):
        build_tiny_sam2(tmp_path / "bad", image_size=250)
