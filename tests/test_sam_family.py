"""The promptable SAM family (SAM, SAM-HQ, SAM2, SAM 3 tracker) through ``--segmenter``.

Each family is built from a tiny configuration with random weights, saved as its published checkpoints are
laid out (``miniature.model.build_tiny_sam_family``), loaded through the users' path (``sam:PATH`` or a bare
directory) and run as ``segment`` / ``predict`` / the app run it. Configurations at the published sizes
(rebuilt from transformers' documented defaults, see ``PUBLISHED``) go through the loader's config step.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from test_cli_segment_predict import GOOD
from test_cli_segment_predict import _scene as cli_scene

from pixelthink.cli import main
from pixelthink.models.registry import SEGMENTERS, list_segmenters, load_segmenter

# model_type saved -> family the loader must pick
TINY = {
    "sam": "sam",
    "sam_hq": "sam_hq",
    "sam2": "sam2",
    "sam3_tracker": "sam3_tracker",
    "sam3_video": "sam3_tracker",
}


@pytest.fixture(scope="module")
def tiny_sams(tmp_path_factory) -> dict:
    from pixelthink.miniature.model import build_tiny_sam_family

    root = tmp_path_factory.mktemp("sams")
    return {t: build_tiny_sam_family(root / t, t) for t in TINY}


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """160x120, a bright block at x 30..99, y 40..89: the scene of test_cli_segment_predict, as an array."""
    image, obj = cli_scene()
    return np.asarray(image), obj


def _full_forward(model, pixels, box, points):
    """``model(pixel_values, one box, its points as positive labels, multimask)``: (pred_masks of the best
    candidate ``[1, 1, h', w']``, its predicted IoU), the reference our cached-embedding path must equal."""
    import torch

    with torch.no_grad():
        out = model(
            pixel_values=torch.from_numpy(pixels),
            input_boxes=torch.tensor([[list(box)]], dtype=torch.float32),
            input_points=torch.tensor([[[list(p) for p in points]]], dtype=torch.float32),
            input_labels=torch.ones((1, 1, len(points)), dtype=torch.int64),
            multimask_output=True,
        )
    best = int(out.iou_scores[0, 0].argmax())
    return out.pred_masks[0, :, best : best + 1], float(out.iou_scores[0, 0, best])


PROMPTS = [
    ((30, 40, 99, 89), [(64, 64), (50, 80)]),  # the pixelthink prompt: a box and two points
    ((0, 0, 150, 110), [(60, 60), (70, 70)]),
    (None, [(5, 5)]),
    ((10, 10, 60, 50), []),
    ((500, 500, 600, 600), [(-4, -4)]),  # nothing usable left
]


# ------------------------------------------------------------------------------------ loading, by family
@pytest.mark.parametrize("model_type", list(TINY))
def test_each_family_loads_by_path_and_segments(tiny_sams, model_type) -> None:
    path = tiny_sams[model_type]
    seg = load_segmenter(f"sam:{path}", device="cpu")
    assert seg.family.name == TINY[model_type]
    bare = load_segmenter(str(path), device="cpu")  # a bare directory is sam:PATH
    assert bare.family.name == TINY[model_type]
    assert seg.input_size == {"sam3_tracker": (56, 56), "sam3_video": (56, 56), "sam2": (128, 128)}.get(
        model_type, (64, 64)
    )  # from preprocessor_config.json
    image, _ = _scene()
    seg.set_image(image)
    many = seg.predict_many(PROMPTS)
    assert len(many) == len(PROMPTS)
    for mask, score in many[:4]:
        assert mask.dtype == bool and mask.shape == (120, 160) and np.isfinite(score)
    assert not many[4][0].any() and many[4][1] == 0.0
    for (box, pts), (mask, score) in zip(PROMPTS[:4], many[:4], strict=True):  # batched == one at a time
        single_mask, single_score = seg.predict(box, pts)
        assert np.array_equal(single_mask, mask) and single_score == pytest.approx(score, abs=1e-5)
    assert seg.encoder_calls == 1  # several queries on one image encode it once

    # the per-image state the streaming loop keeps: another image, then back without encoding again
    state = seg.image_state()
    seg.set_image(np.ascontiguousarray(image[::-1]))
    seg.restore_image_state(state)
    assert seg.encoder_calls == 2
    again = seg.predict(*PROMPTS[0])
    assert np.array_equal(again[0], many[0][0])


def test_sam_letterbox_matches_transformers_processor_and_forward(tiny_sams) -> None:
    """SAM / SAM-HQ: our preprocessing, prompt mapping and post-processing == transformers' own
    (``SamImageProcessorPil``, which needs no torchvision, and ``SamProcessor._normalize_coordinates``),
    and cached embeddings == ``SamModel.forward(pixel_values)``."""
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil
    from transformers.models.sam.processing_sam import SamProcessor

    from pixelthink.models.sam import preprocess_image, resized_size, to_input_frame

    image = np.random.default_rng(3).integers(0, 255, (50, 80, 3), dtype=np.uint8)  # landscape: padded below
    processor = SamImageProcessorPil(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    ref = processor(images=image, return_tensors="np")
    assert resized_size((80, 50), (64, 64), letterbox=True) == (64, 40)
    assert tuple(ref["reshaped_input_sizes"][0]) == (40, 64)
    ours = preprocess_image(image, (64, 64), letterbox=True)
    assert ours.shape == ref["pixel_values"].shape == (1, 3, 64, 64)
    assert np.abs(ours - ref["pixel_values"]).max() < 0.02  # the same PIL bilinear resize, up to rounding
    assert (ours[:, :, 40:] == 0).all()  # zero padding below the resized image

    box, pts = (5.0, 8.0, 70.0, 45.0), [(20.0, 30.0), (25.0, 40.0)]
    stub = SamProcessor.__new__(SamProcessor)
    stub.image_processor = processor
    ref_box = stub._normalize_coordinates(64, np.array([list(box)]), (50, 80), is_bounding_box=True)
    ref_pts = stub._normalize_coordinates(64, np.array(pts), (50, 80))
    mbox, mpts = to_input_frame(box, pts, (80, 50), resized_size((80, 50), (64, 64), letterbox=True))
    assert np.allclose(mbox, ref_box[0]) and np.allclose(mpts, ref_pts)

    for model_type in ("sam", "sam_hq"):
        seg = load_segmenter(f"sam:{tiny_sams[model_type]}", device="cpu")
        seg.set_image(image)
        mask, score = seg.predict(box, pts)
        logits, ref_score = _full_forward(seg.model, ours, mbox, mpts)
        masks = processor.post_process_masks(logits[None], [(50, 80)], [(40, 64)])
        assert np.array_equal(mask, masks[0][0, 0].numpy()), model_type
        assert score == pytest.approx(ref_score, abs=1e-5)


@pytest.mark.parametrize("model_type", ["sam2", "sam3_tracker", "sam3_video"])
def test_square_families_match_a_full_forward_pass(tiny_sams, model_type) -> None:
    """SAM2 / SAM 3: square resize (mean/std ImageNet's / 0.5, Sam2- / Sam3ImageProcessor's defaults), cached
    embeddings + our post-processing == ``model.forward(pixel_values)`` + transformers' recipe (masks
    upsampled straight to the original size, bilinear, align_corners=False, threshold 0)."""
    import torch.nn.functional as F

    from pixelthink.models.sam import IMAGENET_MEAN, IMAGENET_STD, preprocess_image, to_input_frame

    seg = load_segmenter(f"sam:{tiny_sams[model_type]}", device="cpu")
    mean, std = ((0.5,) * 3, (0.5,) * 3) if model_type.startswith("sam3") else (IMAGENET_MEAN, IMAGENET_STD)
    assert seg.mean == pytest.approx(mean) and seg.std == pytest.approx(std)
    size = seg.input_size
    image = np.random.default_rng(4).integers(0, 255, (70, 50, 3), dtype=np.uint8)
    pixels = preprocess_image(image, size, mean, std)
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))[0, 0]
    assert pixels[0, :, 0, 0] == pytest.approx((resized / 255 - np.asarray(mean)) / np.asarray(std), abs=1e-5)
    box, pts = (5.0, 8.0, 40.0, 60.0), [(20.0, 30.0), (25.0, 40.0)]
    seg.set_image(image)
    mask, score = seg.predict(box, pts)
    mbox, mpts = to_input_frame(box, pts, (50, 70), size)
    logits, ref_score = _full_forward(seg.model, pixels, mbox, mpts)
    ref = F.interpolate(logits, size=(70, 50), mode="bilinear", align_corners=False)
    assert np.array_equal(mask, (ref[0, 0] > 0).numpy())
    assert score == pytest.approx(ref_score, abs=1e-5)


def test_sam3_video_checkpoint_fills_the_tracker_from_its_own_tensors(tiny_sams) -> None:
    """facebook/sam3's layout: the tracker's vision backbone is the detector's (``detector_model.vision_encoder
    .backbone.*``), its neck ``tracker_neck.*``, the rest ``tracker_model.*``; none of it random."""
    from safetensors.torch import load_file

    path = tiny_sams["sam3_video"]
    stored = load_file(str(path / "model.safetensors"))
    assert any(k.startswith("tracker_model.mask_decoder.") for k in stored)
    assert not any(k.startswith("tracker_model.tracker_model.") for k in stored)
    seg = load_segmenter(f"sam:{path}", device="cpu")
    state = seg.model.state_dict()
    for name, source in (
        ("vision_encoder.backbone.embeddings.patch_embeddings.projection.weight",
         "detector_model.vision_encoder.backbone.embeddings.patch_embeddings.projection.weight"),
        ("vision_encoder.neck.fpn_layers.0.proj1.weight", "tracker_neck.fpn_layers.0.proj1.weight"),
        ("mask_decoder.iou_prediction_head.proj_in.weight", "tracker_model.mask_decoder.iou_prediction_head.proj_in.weight"),
    ):  # fmt: skip
        assert (state[name] == stored[source]).all(), name


# ------------------------------------------------------------------------------------ refusals
def test_only_checkpoints_of_the_family_are_accepted(tiny_sams, tiny_vl_dirs, tmp_path) -> None:
    qwen = tiny_vl_dirs["qwen2_5_vl"]
    with pytest.raises(ValueError, match=r"config\.json: model_type 'qwen2_5_vl' is not a SAM / SAM-HQ"):
        load_segmenter(f"sam:{qwen}", device="cpu")
    with pytest.raises(ValueError, match=r"model_type 'sam' is not a SAM2 / SAM2.1 checkpoint"):
        load_segmenter(f"sam2:{tiny_sams['sam']}", device="cpu")  # sam2: keeps meaning SAM2 only
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_segmenter(f"sam:{tmp_path}", device="cpu")
    with pytest.raises(ValueError, match=r"unknown segmenter .*'sam:PATH'"):
        load_segmenter(str(tmp_path / "no-such-dir"))
    for model_type, words in (
        ("edgetam_video", r"EdgeTAM checkpoints cannot run here: .*timm .*torchvision"),
        ("sam3", r"text-prompted detector .*sam3_video"),
    ):
        folder = tmp_path / model_type
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
        with pytest.raises(ValueError, match=words):
            load_segmenter(f"sam:{folder}", device="cpu")


@pytest.mark.parametrize("model_type", ["sam", "sam_hq", "sam3_video"])
def test_missing_or_misshaped_weights_are_refused(tiny_sams, tmp_path, model_type) -> None:
    from safetensors.torch import load_file, save_file

    foreign = shutil.copytree(tiny_sams[model_type], tmp_path / "foreign")
    weights = load_file(str(foreign / "model.safetensors"))
    # another model's names (not one of the legacy names transformers maps, such as sam_mask_decoder.*)
    renamed = {k.replace("mask_decoder.", "other_decoder."): v for k, v in weights.items()}
    save_file(renamed, str(foreign / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=rf"{foreign}: \d+ tensors of the .* are missing .*mask_decoder"):
        load_segmenter(f"sam:{foreign}", device="cpu")

    other = shutil.copytree(tiny_sams[model_type], tmp_path / "other")
    config = json.loads((other / "config.json").read_text())
    inner = config["tracker_config"] if model_type == "sam3_video" else config
    inner["mask_decoder_config"]["iou_head_hidden_dim"] = 24
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"{other}: .*do not match its config\.json"):
        load_segmenter(f"sam:{other}", device="cpu")


# ------------------------------------------------------------------------------------ published configurations
def _published() -> dict[str, dict]:
    """``config.json`` of the published checkpoints, rebuilt from transformers 5.23's configuration classes:
    their defaults are documented as those of the named checkpoint, and the other sizes change the fields
    their model cards give. Written as ``save_pretrained`` writes them (``to_dict()``), in the composite
    layouts the Hub uses (SAM2.1: ``sam2_video``; SAM 3: ``sam3_video`` with ``tracker_config``)."""
    import transformers as T

    vit_h = {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
             "global_attn_indexes": [7, 15, 23, 31]}  # fmt: skip
    return {
        "facebook/sam-vit-base": T.SamConfig().to_dict(),
        "facebook/sam-vit-huge": T.SamConfig(vision_config=vit_h).to_dict(),
        "syscv-community/sam-hq-vit-base": T.SamHQConfig().to_dict(),
        "facebook/sam2-hiera-tiny": T.Sam2Config().to_dict(),
        "facebook/sam2.1-hiera-tiny": T.Sam2VideoConfig().to_dict(),
        "facebook/sam3": T.Sam3VideoConfig().to_dict(),
        "yonigozlan/EdgeTAM-hf": {"model_type": "edgetam_video"},  # refused before its config is read
    }


# published checkpoint -> (family, encoder input, parameters of the image model in millions (rounded), where
# the model card gives them for the image model alone: SAM ViT-B 93.7M, ViT-H 641M)
PUBLISHED = {
    "facebook/sam-vit-base": ("sam", 1024, 94),
    "facebook/sam-vit-huge": ("sam", 1024, 641),
    "syscv-community/sam-hq-vit-base": ("sam_hq", 1024, None),
    "facebook/sam2-hiera-tiny": ("sam2", 1024, None),
    "facebook/sam2.1-hiera-tiny": ("sam2", 1024, None),
    "facebook/sam3": ("sam3_tracker", 1008, None),
    "yonigozlan/EdgeTAM-hf": ("edgetam", None, None),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_configurations_go_through_the_loader(name, tmp_path) -> None:
    """Config level (no weights): the family is found, its image model's configuration is built from the
    file and the model has the published size (built on the meta device, no memory)."""
    import torch
    import transformers

    from pixelthink.models.sam import FAMILIES, _check_family

    family_name, size, millions = PUBLISHED[name]
    config = _published()[name]
    path = tmp_path / name.replace("/", "--")
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    if family_name == "edgetam":
        with pytest.raises(ValueError, match="EdgeTAM checkpoints cannot run here"):
            load_segmenter(f"sam:{path}")
        return
    family = _check_family(path, config, list(FAMILIES.values()), "sam:PATH")
    assert family.name == family_name
    image_config = getattr(transformers, family.config_class).from_dict(family.image_config(config))
    assert image_config.prompt_encoder_config.image_size == size
    with torch.device("meta"):
        model = getattr(transformers, family.model_class)(image_config)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    if millions is not None:
        assert round(params) == millions, params
    with pytest.raises(FileNotFoundError, match=r"no weights \(model\.safetensors\) beside config\.json"):
        load_segmenter(f"sam:{path}", device="cpu")  # a config without weights is never completed at random


# ------------------------------------------------------------------------------------ segment, predict, app
@pytest.fixture(scope="module")
def server_url(scripted_server):
    return scripted_server(lambda prompt: GOOD, usage={"completion_tokens": 40})


@pytest.mark.parametrize("model_type", list(TINY))
def test_segment_and_predict_with_each_family(tiny_sams, server_url, tmp_path, capsys, model_type) -> None:
    from pixelthink.data import BenchmarkWriter
    from pixelthink.predictions import read_predictions

    image, obj = _scene()
    Image.fromarray(image).save(tmp_path / "scene.png")
    spec = f"sam:{tiny_sams[model_type]}"
    rc = main(["segment", str(tmp_path / "scene.png"), "the block", "--reasoner", server_url, "--model", "scripted",
               "--segmenter", spec, "--device", "cpu", "--json", "--out", str(tmp_path / "ov.png")])  # fmt: skip
    payload = json.loads(capsys.readouterr().out)
    assert rc == 0 and payload["error"] is None
    assert payload["bbox"] == [30.0, 40.0, 99.0, 89.0]
    assert isinstance(payload["score"], float)
    assert Image.open(tmp_path / "ov.mask.png").size == (160, 120)

    bench = tmp_path / "bench"
    with BenchmarkWriter(bench, name="tiny") as writer:
        for i in range(3):  # three queries on one image: encoded once
            writer.add({"id": f"s{i}", "query": f"the block {i}", "mask": obj}, Image.fromarray(image),
                       image_name="scene.png")  # fmt: skip
    out = tmp_path / "preds.jsonl"
    rc = main(["predict", "--data", str(bench), "--out", str(out), "--reasoner", server_url, "--model", "scripted",
               "--segmenter", spec, "--device", "cpu"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    preds = list(read_predictions(out))
    assert len(preds) == 3 and all(p.error is None and p.mask is not None for p in preds)


def test_list_segmenters_shows_backends_families_and_found_checkpoints(tiny_sams, tmp_path, capsys) -> None:
    rows = list_segmenters([tiny_sams["sam"].parent])
    specs = {r["spec"] for r in rows if r["kind"] == "backend"}
    assert specs == {b.syntax for b in SEGMENTERS} >= {"sam:PATH", "sam2:PATH", "grabcut", "box"}
    families = {r["title"]: r["available"] for r in rows if r["kind"] == "family"}
    assert families == {
        "SAM": True,
        "SAM-HQ": True,
        "SAM2 / SAM2.1": True,
        "SAM 3 tracker": True,
        "EdgeTAM": False,
    }
    found = {r["spec"]: r["title"] for r in rows if r["kind"] == "checkpoint"}
    assert found == {
        f"sam:{tiny_sams['sam']}": "SAM", f"sam:{tiny_sams['sam_hq']}": "SAM-HQ",
        f"sam:{tiny_sams['sam2']}": "SAM2 / SAM2.1", f"sam:{tiny_sams['sam3_tracker']}": "SAM 3 tracker",
        f"sam:{tiny_sams['sam3_video']}": "SAM 3 tracker",
    }  # fmt: skip

    with pytest.raises(SystemExit) as exit_info:  # no image or query needed, like --version
        main(["segment", "--list-segmenters", str(tiny_sams["sam"].parent)])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "sam:PATH" in text and "EdgeTAM" in text and "not available" in text
    assert f"sam:{tiny_sams['sam_hq']}" in text


def test_app_segments_with_a_sam_family_model_and_lists_the_segmenters(tiny_sams, server_url) -> None:
    """The app's code (create_app, as ``pixelthink app --segmenter sam:PATH`` builds it) in process."""
    import base64
    import io

    from starlette.testclient import TestClient

    from pixelthink.masks import decode_rle
    from pixelthink.pipeline import Pipeline
    from pixelthink.serving.httpsafety import ServerLimits
    from pixelthink.serving.webapp.server import ModelSlot, create_app

    spec = f"sam:{tiny_sams['sam3_video']}"
    pipeline = Pipeline.from_specs(f"{server_url}?model=scripted", spec, segmenter_options={"device": "cpu"})
    app = create_app([ModelSlot("a", "scripted", server_url, pipeline, "openai")], segmenter=spec,
                     limits=ServerLimits())  # fmt: skip
    image, _ = _scene()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with TestClient(app) as client:
        info = client.get("/v1/models").json()
        assert info["segmenter"] == spec and info["segmenter_family"] == "SAM 3 tracker"
        titles = {r["title"]: r["available"] for r in info["segmenters"]}
        assert titles["SAM-HQ"] is True and titles["EdgeTAM"] is False and titles["grabcut"] is True
        body = client.post("/v1/segment", json={"image": base64.b64encode(buffer.getvalue()).decode(),
                                                "query": "the block"}).json()  # fmt: skip
    assert body["ok"] and body["bbox"] == [30.0, 40.0, 99.0, 89.0]
    assert decode_rle(body["mask"]).shape == (120, 160) and isinstance(body["score"], float)
