"""Segmenters: GrabCut and box on synthetic scenes, SAM2 (tiny random weights) plumbing and prompt mapping."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pixelthink.models.registry import load_segmenter
from pixelthink.models.segmenters import (
    BoxSegmenter,
    GrabCutSegmenter,
    _box_pixels,
    clip_box,
    points_inside,
)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def _scene(shape: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy dark background with one bright object: (image (H, W, 3) uint8, object mask)."""
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    if shape == "disc":
        obj = (xx - 90) ** 2 + (yy - 60) ** 2 <= 30**2
    else:
        obj = (xx >= 30) & (xx < 100) & (yy >= 40) & (yy < 90)
    image = rng.normal(60, 15, (h, w, 3))
    image[obj] = rng.normal([200, 90, 50], 15, (int(obj.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8), obj


# ---------------------------------------------------------------------------------------------- helpers
def test_clip_box_reorders_clips_and_rejects_degenerate() -> None:
    assert clip_box((30, 40, 10, 20), 100, 50) == (10.0, 20.0, 30.0, 40.0)  # corners swapped back
    assert clip_box((-5, -5, 120, 60), 100, 50) == (0.0, 0.0, 100.0, 50.0)  # clipped to W=100, H=50
    assert clip_box((10, 10, 10, 30), 100, 50) is None  # zero width
    assert clip_box((150, 10, 200, 30), 100, 50) is None  # entirely right of the image
    assert clip_box((1, 2, float("nan"), 4), 100, 50) is None
    assert clip_box(None, 100, 50) is None


def test_points_inside_drops_outside_and_nonfinite() -> None:
    pts = [(0, 0), (99.5, 49.5), (100, 10), (-1, 3), (float("inf"), 2)]
    assert points_inside(pts, 100, 50) == [(0.0, 0.0), (99.5, 49.5)]


def test_box_pixels_inclusive_with_margin() -> None:
    # columns floor(10.5)-2 = 8 .. floor(30)+2 = 32 -> [8, 33); rows floor(20)-2 = 18 .. floor(40.9)+2 = 42 -> [18, 43)
    assert _box_pixels((10.5, 20, 30, 40.9), 100, 100, 2) == (8, 18, 33, 43)
    # clipped at the image border: columns up to W=35 exclusive, rows from 0
    assert _box_pixels((10.5, 1, 34, 40.9), 35, 100, 2) == (8, 0, 35, 43)


# ---------------------------------------------------------------------------------------------- GrabCut
@pytest.mark.parametrize("shape", ["disc", "rectangle"])
def test_grabcut_segments_a_clear_object(shape: str) -> None:
    image, obj = _scene(shape)
    ys, xs = np.nonzero(obj)
    box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    centre = (float(xs.mean()), float(ys.mean()))
    seg = GrabCutSegmenter()
    seg.set_image(image)
    mask, score = seg.predict(box, [centre, (centre[0] + 5, centre[1])])
    assert mask.dtype == bool and mask.shape == obj.shape
    assert _iou(mask, obj) > 0.8
    assert score == 1.0


def test_grabcut_is_deterministic_and_handles_loose_and_full_boxes() -> None:
    image, obj = _scene("disc", seed=1)
    seg = GrabCutSegmenter(iterations=3)
    seg.set_image(image)
    a, _ = seg.predict((50, 20, 135, 105), [(90, 60)])
    b, _ = seg.predict((50, 20, 135, 105), [(90, 60)])
    assert np.array_equal(a, b)
    assert _iou(a, obj) > 0.8
    # A box covering the whole image leaves no sure background: the border ring seeds it instead.
    full, score = seg.predict((-10, -10, 1000, 1000), [(90, 60)])
    assert full.shape == obj.shape and score == 1.0
    assert _iou(full, obj) > 0.8


def test_grabcut_scales_a_large_image_down_and_its_mask_back_up() -> None:
    """Issue 26 item 4: above ``max_pixels`` GrabCut runs on a scaled-down copy (a 40 MP image took
    67 s and 8.8 GB at full size); the mask comes back at the original size and still fits."""
    image, obj = _scene("disc", seed=3)
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 640 x 480 = 307,200 pixels
    big_obj = np.repeat(np.repeat(obj, 4, axis=0), 4, axis=1)
    seg = GrabCutSegmenter(max_pixels=160 * 120)
    seg.set_image(big)
    assert seg._bgr is not None and seg._bgr.shape[0] * seg._bgr.shape[1] <= 160 * 120  # what GrabCut sees
    mask, score = seg.predict((240, 120, 480, 360), [(360, 240)])
    assert mask.dtype == bool and mask.shape == big_obj.shape and score == 1.0
    assert _iou(mask, big_obj) > 0.8
    full = GrabCutSegmenter(max_pixels=10**9)
    full.set_image(big)
    assert full._bgr is not None and full._bgr.shape[:2] == big.shape[:2]
    assert _iou(mask, full.predict((240, 120, 480, 360), [(360, 240)])[0]) > 0.8


def test_a_mask_from_a_scaled_down_copy_says_so_in_the_result() -> None:
    """Issue 26 item 4: "downscale for the segmenter (and say so in the answer)": the result's problems
    (the app's JSON answer, each prediction's meta) name the bound; an image within it says nothing."""
    from pixelthink.pipeline import Result, segment_results

    image, _ = _scene("disc", seed=3)
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 640 x 480
    seg = GrabCutSegmenter(max_pixels=160 * 120)
    for picture, said in ((big, True), (image, False)):
        h, w = picture.shape[:2]
        scale = w / image.shape[1]
        result = Result("q", bbox=(60 * scale, 30 * scale, 120 * scale, 90 * scale), image_size=(w, h))
        segment_results(seg, picture, [result])
        assert result.error is None and result.mask is not None and result.mask.shape == (h, w)
        notes = [p for p in result.problems if "scaled down to at most 19,200 pixels" in p]
        assert bool(notes) is said, result.problems
        assert result.to_json()["problems"] == result.problems


def test_grabcut_points_only_uses_a_box_around_the_points() -> None:
    image, obj = _scene("disc", seed=2)
    seg = GrabCutSegmenter()
    seg.set_image(image)
    mask, score = seg.predict(None, [(90, 60), (100, 70)])
    assert score == 1.0 and _iou(mask, obj) > 0.8


@pytest.mark.parametrize(
    "box, points",
    [((10, 10, 10, 50), []), ((500, 500, 600, 600), []), (None, []), (None, [(-5, 3), (400, 2)])],
)
def test_grabcut_degenerate_prompts_give_an_empty_mask(box, points) -> None:
    image, _ = _scene("disc")
    seg = GrabCutSegmenter()
    seg.set_image(image)
    mask, score = seg.predict(box, points)
    assert mask.shape == (120, 160) and not mask.any() and score == 0.0


def test_grabcut_tiny_image_falls_back_to_the_seed() -> None:
    seg = GrabCutSegmenter()
    seg.set_image(np.zeros((2, 2, 3), np.uint8))
    mask, score = seg.predict((0, 0, 2, 2), [])  # no pixel left for a background model
    assert mask.all() and score == 1.0


def test_segmenter_errors() -> None:
    seg = GrabCutSegmenter()
    with pytest.raises(RuntimeError, match="before set_image"):
        seg.predict((0, 0, 5, 5), [])
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        seg.set_image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        seg.set_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="iterations"):
        GrabCutSegmenter(iterations=0)


# ---------------------------------------------------------------------------------------------- Box
def test_box_segmenter_fills_the_box_inclusively() -> None:
    seg = BoxSegmenter()
    seg.set_image(np.zeros((10, 12, 3), np.uint8))
    mask, score = seg.predict((2.4, 3.6, 5.5, 7.0), [(1, 1)])
    # inclusive pixels after rounding: x = round(2.4)=2 .. round(5.5)=6 (5 columns), y = 4 .. 7 (4 rows)
    assert score == 1.0 and mask.sum() == 5 * 4
    assert mask[4:8, 2:7].all()
    many = seg.predict_many([((0, 0, 0, 0), []), ((-3, -3, 30, 30), [])])
    assert not many[0][0].any() and many[0][1] == 0.0
    assert many[1][0].all()  # clipped to the whole 12x10 image


# ---------------------------------------------------------------------------------------------- registry
def test_load_segmenter_by_name() -> None:
    assert isinstance(load_segmenter("grabcut"), GrabCutSegmenter)
    assert load_segmenter("grabcut", iterations=2).iterations == 2
    assert isinstance(load_segmenter(" box "), BoxSegmenter)
    with pytest.raises(
        ValueError, match=r"unknown segmenter 'sam3'.*'sam:PATH', 'sam2:PATH', 'grabcut', 'box'"
    ):
        load_segmenter("sam3")
    with pytest.raises(ValueError, match="needs a model directory"):
        load_segmenter("sam2")
    with pytest.raises(ValueError, match="takes no argument"):
        load_segmenter("grabcut:5")


def test_registries_resolve_specs_for_the_commands(tmp_path) -> None:
    """The commands ask the registries which backend a spec names instead of matching spec strings."""
    from pixelthink.backends import Backend, Registry
    from pixelthink.models.registry import REASONERS, SEGMENTERS, reasoner_backend

    assert reasoner_backend("http://127.0.0.1:8000/v1?model=m") == "openai"
    assert reasoner_backend("HTTPS://host/v1") == "openai"
    assert reasoner_backend(str(tmp_path)) == "transformers"
    assert REASONERS.resolve("openai:http://h/v1")[1] == "http://h/v1"  # the explicit form works too
    backend, argument = SEGMENTERS.resolve(f"SAM2:{tmp_path}")  # names are case-insensitive
    assert backend.name == "sam2" and argument == str(tmp_path) and "device" in backend.options
    assert SEGMENTERS.resolve(str(tmp_path)) == (SEGMENTERS.get("sam"), str(tmp_path))  # a bare directory
    assert SEGMENTERS.resolve("grabcut") == (SEGMENTERS.get("grabcut"), None)
    assert "device" not in SEGMENTERS.get("grabcut").options
    registry = Registry("widget")
    with pytest.raises(ValueError, match="without ':'"):
        registry.register(Backend("a:b", "a:b", "", lambda arg: arg))
    registry.register(Backend("echo", "echo:TEXT", "", lambda arg, **kw: (arg, kw)))
    assert registry.load("echo:hi", x=1) == ("hi", {"x": 1})
    with pytest.raises(ValueError, match=r"unknown widget 'other': expected one of 'echo:TEXT'"):
        registry.load("other")


def test_load_segmenter_sam2_missing_directory(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not a SAM2 / SAM2\.1 model directory"):
        load_segmenter(f"sam2:{tmp_path / 'nope'}")


# ---------------------------------------------------------------------------------------------- SAM2
def test_to_input_frame_hand_computed() -> None:
    from pixelthink.models.sam import to_input_frame

    # original W=200, H=400 -> 1024x1024: x * 1024/200 = x * 5.12, y * 1024/400 = y * 2.56
    box, pts = to_input_frame((10, 20, 30, 40), [(100, 200), (0, 400)], (200, 400), (1024, 1024))
    assert box == pytest.approx((51.2, 51.2, 153.6, 102.4))
    assert np.allclose(pts, [(512.0, 512.0), (0.0, 1024.0)])
    # non-square input (in_w=64, in_h=32) from 128x128: x / 2, y / 4
    box, pts = to_input_frame(None, [(10, 8)], (128, 128), (64, 32))
    assert box is None and np.allclose(pts, [(5.0, 2.0)])


def test_to_input_frame_matches_transformers_processor() -> None:
    torch = pytest.importorskip("torch")
    from transformers.models.sam2.processing_sam2 import Sam2Processor

    from pixelthink.models.sam import to_input_frame

    box, pts = to_input_frame((13.0, 7.5, 181.0, 333.0), [(44.0, 91.0)], (200, 400), (1024, 1024))
    # Sam2Processor._normalize_coordinates(target_size, coords, original_size=(H, W), ...) uses no state.
    ref_box = Sam2Processor._normalize_coordinates(
        None, 1024, torch.tensor([[13.0, 7.5, 181.0, 333.0]]), (400, 200), is_bounding_box=True
    )
    ref_pts = Sam2Processor._normalize_coordinates(None, 1024, torch.tensor([[44.0, 91.0]]), (400, 200))
    assert box == pytest.approx(tuple(ref_box[0].tolist()))
    assert np.allclose(pts, ref_pts.numpy())


def test_preprocess_image_normalises_with_imagenet_stats() -> None:
    from pixelthink.models.sam import preprocess_image

    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :, 1] = 255
    pixels = preprocess_image(image, (16, 8))
    assert pixels.shape == (1, 3, 8, 16) and pixels.dtype == np.float32
    # red/blue 0 -> (0 - mean) / std; green 255 -> (1 - 0.456) / 0.224
    assert pixels[0, 0] == pytest.approx(np.full((8, 16), -0.485 / 0.229), abs=1e-5)
    assert pixels[0, 1] == pytest.approx(np.full((8, 16), 0.544 / 0.224), abs=1e-5)
    assert pixels[0, 2] == pytest.approx(np.full((8, 16), -0.406 / 0.225), abs=1e-5)


def test_sam2_tiny_masks_and_batching(tiny_sam2_dir) -> None:
    seg = load_segmenter(f"sam2:{tiny_sam2_dir}", device="cpu")
    assert seg.input_size == (128, 128)  # from preprocessor_config.json
    image = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
    seg.set_image(image)
    prompts = [
        ((10, 10, 60, 50), [(20, 20), (30, 30)]),
        ((0, 0, 100, 80), [(50, 40), (60, 60)]),
        (None, [(5, 5)]),
        ((10, 10, 60, 50), []),
        ((500, 500, 600, 600), [(-4, -4)]),  # nothing usable left
    ]
    many = seg.predict_many(prompts)
    assert len(many) == len(prompts)
    for mask, score in many[:4]:
        assert mask.dtype == bool and mask.shape == (90, 130)
        assert np.isfinite(score)
    assert not many[4][0].any() and many[4][1] == 0.0
    # batched decoding (the first two prompts share one call) equals one prompt at a time
    for (box, pts), (mask, score) in zip(prompts[:4], many[:4], strict=True):
        single_mask, single_score = seg.predict(box, pts)
        assert np.array_equal(single_mask, mask)
        assert single_score == pytest.approx(score, abs=1e-5)


# The full-forward comparison of SAM2 (cached embeddings == Sam2Model.forward(pixel_values)) is in
# tests/test_sam_family.py::test_square_families_match_a_full_forward_pass, with SAM 3's.


def test_sam2_single_mask_mode(tiny_sam2_dir) -> None:
    seg = load_segmenter(f"sam2:{tiny_sam2_dir}", multimask=False, device="cpu")
    seg.set_image(np.full((40, 40, 3), 128, np.uint8))
    mask, score = seg.predict((5, 5, 30, 30), [(10, 10)])
    assert mask.shape == (40, 40) and np.isfinite(score)


# ------------------------------------------------------------------------ SAM2: only SAM2 checkpoints load
def _sam2_video_checkpoint(sam2_dir, out):
    """A tiny SAM2.1-style checkpoint: model_type "sam2_video" (image model + video memory modules),
    with the image part's weights copied from ``sam2_dir``, as the published SAM2.1 checkpoints are."""
    import json

    import torch
    from safetensors.torch import load_file
    from transformers.models.sam2_video import Sam2VideoConfig, Sam2VideoModel

    image_config = json.loads((sam2_dir / "config.json").read_text())
    config = Sam2VideoConfig(
        vision_config=image_config["vision_config"],
        prompt_encoder_config=image_config["prompt_encoder_config"],
        mask_decoder_config=image_config["mask_decoder_config"],
        image_size=image_config["prompt_encoder_config"]["image_size"],
        memory_attention_hidden_size=32, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=32, memory_encoder_hidden_size=32,
        memory_encoder_output_channels=16, mask_downsampler_embed_dim=32, memory_fuser_embed_dim=32,
        memory_fuser_intermediate_dim=64, memory_attention_rope_feat_sizes=[4, 4],
    )  # fmt: skip
    torch.manual_seed(1)
    video = Sam2VideoModel(config)
    image_weights = load_file(str(sam2_dir / "model.safetensors"))
    missing, _ = video.load_state_dict(image_weights, strict=False)
    assert any(k.startswith("memory_") for k in missing)  # the video model has more than the image one
    video.save_pretrained(str(out))
    (out / "preprocessor_config.json").write_bytes((sam2_dir / "preprocessor_config.json").read_bytes())
    return out, image_weights


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_sam2_video_checkpoint_loads_its_image_model_quietly(tiny_sam2_dir, tmp_path) -> None:
    import json

    from safetensors.torch import load_file

    from pixelthink.models.sam import Sam2Segmenter

    path, image_weights = _sam2_video_checkpoint(tiny_sam2_dir, tmp_path / "sam2.1")
    assert json.loads((path / "config.json").read_text())["model_type"] == "sam2_video"
    stored = load_file(str(path / "model.safetensors"))
    assert any(k.startswith("memory_") for k in stored)  # memory tensors present, not used
    records = (
        _Records()
    )  # transformers' own handler holds the stderr of its import time: listen to its logger
    logging.getLogger("transformers").addHandler(records)
    try:
        seg = Sam2Segmenter.from_pretrained(path, device="cpu")
    finally:
        logging.getLogger("transformers").removeHandler(records)
    text = "\n".join(records.messages)
    assert "sam2_video" not in text and "MISSING" not in text and "UNEXPECTED" not in text, text
    # every tensor of the image model comes from the checkpoint (none random)
    for name, tensor in seg.model.state_dict().items():
        if name in image_weights:
            assert (tensor == image_weights[name]).all(), name
    assert set(image_weights) <= set(seg.model.state_dict())
    # and it segments like the plain SAM2 checkpoint with the same image weights
    image, _ = _scene("box")
    plain = Sam2Segmenter.from_pretrained(tiny_sam2_dir, device="cpu")
    for s in (seg, plain):
        s.set_image(image)
    mask, score = seg.predict((30, 40, 99, 89), [(60, 60), (50, 70)])
    mask2, score2 = plain.predict((30, 40, 99, 89), [(60, 60), (50, 70)])
    assert (mask == mask2).all() and score == pytest.approx(score2)


def test_sam2_refuses_a_qwen_checkpoint(tiny_vl_dirs, tmp_path, capsys) -> None:
    from pixelthink.cli import main

    qwen = tiny_vl_dirs["qwen2_5_vl"]
    with pytest.raises(ValueError, match=r"model_type 'qwen2_5_vl' is not a SAM2 / SAM2\.1 checkpoint"):
        load_segmenter(f"sam2:{qwen}", device="cpu")
    from PIL import Image

    Image.fromarray(_scene("box")[0]).save(tmp_path / "scene.png")
    rc = main(["segment", str(tmp_path / "scene.png"), "the block", "--reasoner", str(qwen),
               "--segmenter", f"sam2:{qwen}", "--out", str(tmp_path / "o.png")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a SAM2 / SAM2.1 checkpoint" in err[0], err


def test_sam2_refuses_foreign_tensor_names_and_shapes(tiny_sam2_dir, tmp_path) -> None:
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    # the original facebookresearch/sam2 names (image_encoder.*), not transformers' (vision_encoder.*)
    foreign = shutil.copytree(tiny_sam2_dir, tmp_path / "foreign")
    weights = load_file(str(foreign / "model.safetensors"))
    renamed = {k.replace("vision_encoder.", "image_encoder."): v for k, v in weights.items()}
    assert renamed.keys() != weights.keys()
    save_file(renamed, str(foreign / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(
        ValueError, match=r"tensors of the SAM2 / SAM2\.1 image model are missing .*vision_encoder"
    ):
        load_segmenter(f"sam2:{foreign}", device="cpu")

    # a config of another size than the weights
    other = shutil.copytree(tiny_sam2_dir, tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    config["mask_decoder_config"].update(hidden_size=48, mlp_dim=96, iou_head_hidden_dim=48)
    config["prompt_encoder_config"]["hidden_size"] = 48
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"tensor shapes do not match its config\.json"):
        load_segmenter(f"sam2:{other}", device="cpu")
