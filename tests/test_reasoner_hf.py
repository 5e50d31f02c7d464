"""TransformersReasoner on tiny random Qwen2.5-VL / Qwen3-VL checkpoints (CPU, real code paths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelthink.answer import build_prompt
from pixelthink.miniature.model import build_tiny_tokenizer
from pixelthink.models import (
    Generation,
    Reasoner,
    count_reasoning_tokens,
    load_reasoner,
)
from pixelthink.models.reasoner_hf import TransformersReasoner, resolve_dtype
from pixelthink.uncertainty import margins_from_logits, reasoning_token_mask, uncertainty_from_margins

MAX_NEW = 24


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(320, 240), (200, 300), (256, 256)]
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


# queries of very different lengths, so the batch is left-padded
QUERIES = ["cup", "what is the largest animal in the picture that could carry a person across a river", "x y"]


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen3_vl"])
def reasoner(request, tiny_vl_dirs) -> TransformersReasoner:
    r = load_reasoner(str(tiny_vl_dirs[request.param]), resolution=224, max_new_tokens=MAX_NEW, batch_size=8)
    assert isinstance(r, TransformersReasoner)
    return r


@pytest.fixture(scope="module")
def batch(reasoner) -> list[Generation]:
    return reasoner.generate(_images(), QUERIES)


def test_generation_fields(reasoner, batch):
    from pixelthink.models.reasoners import StreamingReasoner

    assert isinstance(reasoner, Reasoner) and isinstance(reasoner, StreamingReasoner)
    assert len(batch) == 3
    eos = reasoner.eos_ids
    for g in batch:
        assert 1 <= len(g.token_ids) <= MAX_NEW
        # stops at the first EOS, or runs to max_new_tokens
        assert g.token_ids[-1] in eos or len(g.token_ids) == MAX_NEW
        assert not any(t in eos for t in g.token_ids[:-1])
        counted = [t for t in g.token_ids if t not in reasoner.special_ids]
        assert g.reasoning_tokens + g.answer_tokens == len(counted)
        texts = [reasoner.tokenizer.decode([t]) for t in counted]
        assert g.reasoning_tokens == int(reasoning_token_mask(texts).sum())
        assert g.text == reasoner.tokenizer.decode(g.token_ids, skip_special_tokens=True)
        assert g.uncertainty is not None and 0.0 <= g.uncertainty <= 1.0
        assert set(g.timings) >= {"preprocess", "prefill", "decode"}
        assert all(v > 0 for k, v in g.timings.items())
        assert g.timings["batch_size"] == 3.0


def test_batched_equals_one_by_one(reasoner, batch):
    """Left padding must not change greedy outputs or U."""
    images = _images()
    for i, (image, query) in enumerate(zip(images, QUERIES, strict=True)):
        single = reasoner.generate([image], [query])[0]
        assert single.token_ids == batch[i].token_ids, i
        assert single.text == batch[i].text
        assert single.uncertainty == pytest.approx(batch[i].uncertainty, abs=1e-6)


def test_uncertainty_equals_independent_computation_from_scores(reasoner, batch):
    """U of the batched run == U from transformers' own output_scores, computed independently,
    over the tokens up to and including the first EOS (padding excluded)."""
    images = _images()
    for i in range(3):
        frame = reasoner.frame_for(*images[i].size)
        inputs = reasoner.build_inputs([reasoner.messages_for(QUERIES[i])], [frame.image_to_model(images[i])])
        with torch.no_grad():
            out = reasoner.model.generate(
                **inputs,
                max_new_tokens=MAX_NEW,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
            )
        ids = out.sequences[0, inputs["input_ids"].shape[1] :].tolist()
        n = len(batch[i].token_ids)
        assert ids[:n] == batch[i].token_ids
        scores = torch.stack(out.scores)[:n, 0]  # [T, V] for this sample
        expected = uncertainty_from_margins(margins_from_logits(scores))
        assert batch[i].uncertainty == pytest.approx(expected, abs=1e-6)


def test_model_frame_and_coordinates_map_back(tiny_vl_dirs):
    image = Image.new("RGB", (320, 240), (200, 30, 30))
    r25 = load_reasoner(str(tiny_vl_dirs["qwen2_5_vl"]), max_new_tokens=2)  # default resolution 840
    r3 = load_reasoner(str(tiny_vl_dirs["qwen3_vl"]), max_new_tokens=2)
    g25 = r25.generate([image], ["a"])[0]
    g3 = r3.generate([image], ["a"])[0]
    # answer_frame="input" (default): the 840x840 image handed to the processor, as PixelThink trains
    assert g25.frame.model_size == (840, 840)
    assert g3.frame.model_size == (840, 840)
    # what the vision tower saw: 840/14 = 60 patches per side for Qwen2.5-VL (840 = 30 * 28 is kept);
    # Qwen3-VL snaps 840 to round(840/32)*32 = 832 -> 832/16 = 52 patches, answers stay in the 840 frame
    inputs = r25.build_inputs([r25.messages_for("a")], [r25.frame_for(320, 240).image_to_model(image)])
    assert inputs["image_grid_thw"].tolist() == [[1, 60, 60]]
    inputs = r3.build_inputs([r3.messages_for("a")], [r3.frame_for(320, 240).image_to_model(image)])
    assert inputs["image_grid_thw"].tolist() == [[1, 52, 52]]
    # model-frame box -> original: x * 320/840, y * 240/840
    assert g25.frame.box_to_original((84, 84, 420, 420)) == pytest.approx((32, 24, 160, 120))
    assert g3.frame.box_to_original((84, 84, 420, 420)) == pytest.approx((32, 24, 160, 120))
    # answer_frame="vision": the processor's grid. Qwen3-VL: x * 320/832, y * 240/832
    # (83.2*320/832 = 32, 416*240/832 = 120)
    v3 = load_reasoner(str(tiny_vl_dirs["qwen3_vl"]), max_new_tokens=2, answer_frame="vision")
    gv = v3.generate([image], ["a"])[0]
    assert gv.frame.model_size == (832, 832)
    assert gv.frame.box_to_original((83.2, 83.2, 416, 416)) == pytest.approx((32, 24, 160, 120))
    assert gv.frame.points_to_original([(416, 416)])[0] == pytest.approx((160, 120))
    with pytest.raises(ValueError, match="answer_frame"):
        load_reasoner(str(tiny_vl_dirs["qwen2_5_vl"]), answer_frame="pixels")


def test_native_resolution_frames(tiny_vl_dirs):
    image = Image.new("RGB", (300, 200))
    r = load_reasoner(str(tiny_vl_dirs["qwen2_5_vl"]), resolution=None, max_new_tokens=2)
    # input frame at native resolution: the original image itself (the processor snaps it internally)
    assert r.frame_for(300, 200).model_size == (300, 200)
    assert r.generate([image], ["a"])[0].frame.model_size == (300, 200)
    v = load_reasoner(
        str(tiny_vl_dirs["qwen2_5_vl"]), resolution=None, max_new_tokens=2, answer_frame="vision"
    )
    # vision frame: round(300/28) = 11 -> 308, round(200/28) = 7 -> 196
    assert v.frame_for(300, 200).model_size == (308, 196)
    g = v.generate([image], ["a"])[0]
    assert g.frame.original_size == (300, 200) and g.frame.model_size == (308, 196)


def test_prompt_template_is_applied(tiny_vl_dirs):
    r = load_reasoner(str(tiny_vl_dirs["qwen2_5_vl"]), resolution=224, max_new_tokens=2)
    text = r.processor.apply_chat_template(
        r.messages_for("The Cup."), tokenize=False, add_generation_prompt=True
    )
    assert build_prompt("The Cup.") in text and "'the cup'" in text


def test_count_reasoning_tokens_with_tiny_tokenizer():
    tok = build_tiny_tokenizer()
    response = "<think>a b</think><answer>{}</answer>"
    texts = [tok.decode([t]) for t in tok(response)["input_ids"]]
    # the byte-level pre-tokenizer splits the tags off: "<" "think" ">" | "a" " b" | "</" "think" ">"
    # "<" "answer" ">" "{" "}" "</" "answer" ">"  -> 16 tokens, 2 of them inside <think>
    assert texts[3:5] == ["a", " b"] and len(texts) == 16
    reasoning, answer = count_reasoning_tokens(texts)
    assert (reasoning, answer) == (2, 14)
    assert count_reasoning_tokens([]) == (0, 0)


def test_errors(tmp_path, tiny_vl_dirs):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_reasoner(str(tmp_path / "nope"))
    r = load_reasoner(str(tiny_vl_dirs["qwen2_5_vl"]), resolution=224, max_new_tokens=2)
    with pytest.raises(ValueError, match="2 images but 1 queries"):
        r.generate([Image.new("RGB", (8, 8))] * 2, ["a"])
    assert r.generate([], []) == []
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(ValueError, match="dtype 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))


def test_trained_checkpoint_brings_its_resolution_and_prompt(
    tiny_vl_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """`pixelthink train` writes pixelthink_recipe.yaml; resolution="auto" and no template use it."""
    import shutil

    from pixelthink.answer import DEFAULT_PROMPT_TEMPLATE
    from pixelthink.models.reasoner_hf import checkpoint_defaults
    from pixelthink.models.registry import load_reasoner
    from pixelthink.pipeline import Pipeline

    plain = tiny_vl_dirs["qwen2_5_vl"]
    assert checkpoint_defaults(plain) == {}
    r = load_reasoner(str(plain), max_new_tokens=4)  # no recipe: Seg-Zero's frame and prompt
    assert r.resolution == 840 and r.prompt_template == DEFAULT_PROMPT_TEMPLATE
    trained = tmp_path / "trained"
    shutil.copytree(plain, trained)
    (trained / "pixelthink_recipe.yaml").write_text(
        "kind: sft\ndata:\n  path: x\n  resolution: 112\n  prompt_template: \"Find '{question}'.\"\n"
    )
    assert checkpoint_defaults(trained) == {"resolution": 112, "prompt_template": "Find '{question}'."}
    r = load_reasoner(str(trained), max_new_tokens=4)
    assert r.resolution == 112 and r.prompt_template == "Find '{question}'."
    pipe = Pipeline.from_specs(str(trained), "box", reasoner_options={"max_new_tokens": 4})
    assert pipe.resolution == 112
    (res,) = pipe.run_many([Image.new("RGB", (224, 160), "white")], ["the red circle"])
    assert res.frame is not None and (res.frame.model_w, res.frame.model_h) == (112, 112)
    assert load_reasoner(str(trained), resolution=224, max_new_tokens=4).resolution == 224  # explicit wins
    assert load_reasoner(str(trained), resolution=None, max_new_tokens=4).resolution is None  # native
    (trained / "pixelthink_recipe.yaml").write_text("- not a recipe\n")
    with pytest.raises(ValueError, match=r"pixelthink_recipe\.yaml: expected a recipe mapping"):
        load_reasoner(str(trained))
