"""Tests of the procedural shapes benchmark (the package pixelthink.miniature.shapes)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from pixelthink.cli import main
from pixelthink.commands._shapes import parse_size
from pixelthink.data.format import Benchmark, validate_benchmark
from pixelthink.miniature.shapes import (
    GENERATOR_VERSION,
    Scene,
    SceneConfig,
    Shape,
    ShapesConfig,
    generate_benchmark,
    generate_sample,
    generate_scene,
    is_unique,
    sample_rng,
)
from pixelthink.miniature.shapes.grounding import box_text
from pixelthink.miniature.shapes.queries import (
    FAMILIES,
    And,
    Anything,
    Colour,
    CountIs,
    Extreme,
    Kind,
    Not,
    Occluded,
    Region,
    Rel,
    SameAs,
    Select,
    evaluate,
    where,
)
from pixelthink.miniature.shapes.world import WORLDS

# ------------------------------------------------------------------------ hand-built scenes


def _shape(i: int, kind: str, colour: str, cx: float, cy: float, area: int, occluded: float = 0.0) -> Shape:
    return Shape(
        index=i, kind=kind, colour=colour, size="medium", cx=cx, cy=cy, radius=10.0, angle=0.0,
        rgb=(0, 0, 0), area=area, visible_area=round(area * (1 - occluded)), occluded=occluded, covered_by=(),
    )  # fmt: skip


def _scene(*shapes: Shape, w: int = 300, h: int = 300) -> Scene:
    empty = np.zeros((h, w), bool)
    return Scene(
        w, h, "plain", tuple(shapes), np.zeros((h, w, 3), np.uint8), [empty] * len(shapes), [empty] * 3
    )


def test_evaluator_on_hand_built_scene() -> None:
    # 300x300 image: thirds at x = 100 and 200; the region margin is 0.04 * 300 = 12 px,
    # the relation margin 0.05 * 300 = 15 px.
    scene = _scene(
        _shape(0, "triangle", "red", 50, 50, 1000),  # top left
        _shape(1, "triangle", "blue", 250, 250, 1400),  # bottom right; 1400 / 1000 = 1.4 >= 1.3
        _shape(2, "star", "red", 150, 150, 900, occluded=0.3),  # centre, partly hidden
        _shape(3, "circle", "green", 195, 40, 800, occluded=0.01),  # x = 195 is 5 px from the 200 line
    )
    assert evaluate(Select(Kind("triangle")), scene) == [True, True, False, False]
    assert is_unique(Extreme("largest", Kind("triangle")), scene) == 1
    assert is_unique(Extreme("smallest", Kind("triangle")), scene) == 0
    # "the triangle that is not red" -> the blue one; "the red shape that is not a triangle" -> the star
    assert is_unique(Select(And((Kind("triangle"), Not(Colour("red"))))), scene) == 1
    assert is_unique(Select(And((Colour("red"), Not(Kind("triangle"))))), scene) == 2
    # the circle's centre is 5 px from a third-line (< 12 px): top-centre vs top-right is borderline
    assert evaluate(Select(Region("top", "right")), scene) == [False, False, False, None]
    assert is_unique(Select(Region("top", "right")), scene) is None
    assert is_unique(Select(Region("top", "left")), scene) == 0
    # left of the star (cx 150): triangle 0 (dx = 100 >= 15) yes, triangle 1 (dx = -100) no
    star = Select(Kind("star"))
    assert evaluate(Select(Rel("left_of", star)), scene) == [True, False, False, False]
    # circle at cy 40 vs star at 150: dy = 110 -> above
    assert is_unique(Select(And((Kind("circle"), Rel("above", star)))), scene) == 3
    # same colour as the star: the red triangle (the star itself is excluded)
    assert is_unique(Select(SameAs("colour", star)), scene) == 0
    # colour counts: red 2, blue 1, green 1 -> two singletons, not unique
    assert evaluate(Select(CountIs("colour", 1)), scene) == [False, True, False, True]
    assert is_unique(Select(CountIs("colour", 1)), scene) is None
    # occluded 0.3 >= 0.15 -> True; 0.01 <= 0.02 -> False
    assert is_unique(Select(Occluded()), scene) == 2
    # closest to the star (150,150): triangle 0 at distance 141.4, triangle 1 at 141.4, circle at
    # hypot(45, 110) = 118.8; 141.4 / 118.8 = 1.19 < 1.3 -> borderline
    assert is_unique(Extreme("closest", Anything(), star), scene) is None


def test_borderline_values_make_queries_invalid() -> None:
    scene = _scene(
        _shape(0, "square", "red", 60, 150, 1000),
        _shape(1, "square", "blue", 240, 150, 1200, occluded=0.08),  # 0.02 < 0.08 < 0.15: borderline
        _shape(2, "star", "green", 150, 150, 1000),
    )
    # 1200 / 1000 = 1.2 < 1.3: no clear largest square
    assert evaluate(Extreme("largest", Kind("square")), scene) == [None, None, False]
    assert is_unique(Select(And((Kind("square"), Occluded()))), scene) is None
    # Kleene logic: False AND None = False, so the borderline square is simply not "a hidden star"
    assert evaluate(Select(And((Kind("star"), Occluded()))), scene) == [False, False, False]
    assert evaluate(Select(Not(Occluded())), scene) == [True, None, True]
    # an ambiguous referent poisons the whole relation
    assert evaluate(Select(Rel("left_of", Select(Kind("square")))), scene) == [None, None, None]


# -------------------------------------------------------------------------------- scenes


@pytest.mark.parametrize("seed", range(12))
def test_masks_are_the_visible_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = SceneConfig(
        width=200, height=160, n_shapes=(4, 8), overlap=0.6, backgrounds=(1.0, 1.0, 0.0), world=WORLDS["rich"]
    )
    scene = generate_scene(rng, cfg)
    assert scene.image.shape == (160, 200, 3) and scene.image.dtype == np.uint8
    n = len(scene.shapes)
    assert 4 <= n <= 8
    for i, s in enumerate(scene.shapes):
        vis, fullm = scene.masks[i], scene.full_masks[i]
        assert vis.dtype == bool and vis.shape == (160, 200)
        later = np.zeros_like(vis)
        for j in range(i + 1, n):
            later |= scene.full_masks[j]
        assert np.array_equal(vis, fullm & ~later)
        assert vis.sum() == s.visible_area > 0
        assert s.visible_area >= 0.5 * s.area
        # exactly the target's colour where it is visible (no noise on these backgrounds)
        assert (scene.image[vis] == np.array(s.rgb, np.uint8)).all()
        ys, xs = np.nonzero(fullm)
        assert xs.min() >= 0 and xs.max() < 200 and ys.min() >= 0 and ys.max() < 160
        assert set(s.covered_by) == {j for j in range(i + 1, n) if (scene.full_masks[j] & fullm).any()}


def test_scene_config_errors() -> None:
    with pytest.raises(ValueError, match="n_shapes"):
        SceneConfig(n_shapes=(5, 2))
    with pytest.raises(ValueError, match="at least 64"):
        SceneConfig(width=32)
    with pytest.raises(ValueError, match="unknown query family"):
        generate_sample(np.random.default_rng(0), family="nope")
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("256")
    assert parse_size("320x240") == (320, 240)


# ------------------------------------------------------------------------------- samples


def test_generate_sample_is_deterministic() -> None:
    a = generate_sample(sample_rng(7, "train", 3))
    b = generate_sample(sample_rng(7, "train", 3))
    c = generate_sample(sample_rng(7, "train", 4))
    assert (a.query, a.difficulty, a.reasoning_long) == (b.query, b.difficulty, b.reasoning_long)
    assert np.array_equal(a.scene.image, b.scene.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.scene.image, c.scene.image)


WORLD_FAMILIES = [("rich", f) for f in sorted(FAMILIES)] + [
    ("simple", f) for f in sorted(WORLDS["simple"].family_weights or {})
]


@pytest.mark.parametrize(("world", "family"), WORLD_FAMILIES)
def test_every_family_has_exactly_one_target(world: str, family: str) -> None:
    for seed in range(25):
        g = generate_sample(np.random.default_rng([seed, 99]), ShapesConfig(world=world), family=family)
        values = evaluate(g.ast, g.scene)
        assert None not in values, (family, g.query)
        assert [i for i, v in enumerate(values) if v] == [g.target], (family, g.query)
        t = g.target_shape
        assert g.mask.any() and np.array_equal(g.mask, g.scene.masks[g.target])
        # family-specific facts checked directly on the scene, without the evaluator
        others = [s for i, s in enumerate(g.scene.shapes) if i != g.target]
        if family == "direct_kind":
            assert all(s.kind != t.kind for s in others)
        elif family in ("direct_attr", "distractors"):
            assert any(s.kind == t.kind for s in others)
            if family == "distractors":
                assert sum(s.kind == t.kind or s.colour == t.colour for s in others) >= 3
        elif family == "unique_attr":
            attr = "colour" if "colour" in g.query else "kind"
            counts = Counter(getattr(s, attr) for s in g.scene.shapes)
            assert counts[getattr(t, attr)] == 1
            assert all(c >= 2 for v, c in counts.items() if v != getattr(t, attr))
        elif family == "occlusion":
            assert t.occluded >= 0.15 and t.covered_by
        elif family == "negation":
            # "the K that is not C" / "the C shape that is not a K" / "the shape that is not a K":
            # the target lacks the negated attribute, every other shape of the kept group has it
            pred = g.ast.pred
            neg = pred.p if isinstance(pred, Not) else next(p.p for p in pred.ps if isinstance(p, Not))
            keep = None if isinstance(pred, Not) else next(p for p in pred.ps if not isinstance(p, Not))
            attr, val = ("colour", neg.colour) if isinstance(neg, Colour) else ("kind", neg.kind)
            assert getattr(t, attr) != val
            if keep is None:
                group = others
            else:
                keep_attr, keep_val = (
                    ("colour", keep.colour) if isinstance(keep, Colour) else ("kind", keep.kind)
                )
                group = [s for s in others if getattr(s, keep_attr) == keep_val]
            assert group and all(getattr(s, attr) == val for s in group)


# --------------------------------------------------------------------- difficulty, references


@pytest.mark.parametrize("world", ["rich", "simple"])
def test_difficulty_range_and_bucket_shares(world: str) -> None:
    buckets: Counter[str] = Counter()
    per_family: dict[str, list[float]] = {}
    n = 240
    for i in range(n):
        g = generate_sample(sample_rng(11, "train", i), ShapesConfig(world=world))
        assert 1.0 <= g.difficulty <= 10.0
        assert g.difficulty == round(g.difficulty, 1)
        buckets["easy" if g.difficulty < 3.5 else "medium" if g.difficulty < 5.0 else "hard"] += 1
        per_family.setdefault(g.family, []).append(g.difficulty)
    for b in ("easy", "medium", "hard"):  # the simple world's family weights aim at >= 20 % each
        assert buckets[b] >= (0.2 if world == "rich" else 0.17) * n, buckets
    # the formula orders the families: direct lookups are easier than multi-step reasoning
    assert (
        np.mean(per_family["direct_kind"])
        < np.mean(per_family["superlative"])
        < np.mean(per_family["multi_step"])
    )


def test_references_mention_the_target() -> None:
    for i in range(60):
        g = generate_sample(sample_rng(5, "val", i), ShapesConfig(references="text"))
        t = g.target_shape
        for ref in (g.reasoning_short, g.reasoning_long):
            assert t.colour in ref and t.kind in ref, (g.family, g.query, ref)
        assert where(t, g.scene) in g.reasoning_long
        # one sentence saying what the query asks, then the inventory of the scene
        first, _, rest = g.reasoning_long.partition(". ")
        assert not first.startswith("I see") and rest.startswith(f"I see {len(g.scene.shapes)} shapes:")
        n_short, n_long = len(g.reasoning_short.split()), len(g.reasoning_long.split())
        assert 5 <= n_short < n_long <= 250
        if g.difficulty >= 5.0:
            assert n_long >= 60


def test_long_reference_opens_with_the_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene_first = ShapesConfig(long_opening="scene", references="text")
    for i in range(40):
        g = generate_sample(sample_rng(3, "test", i), ShapesConfig(references="text"))
        old = generate_sample(sample_rng(3, "test", i), scene_first)
        # the option moves one sentence and changes nothing else (same scene, query, short reference)
        assert (old.query, old.reasoning_short, old.difficulty) == (g.query, g.reasoning_short, g.difficulty)
        assert sorted(old.reasoning_long.split()) == sorted(g.reasoning_long.split())
        assert old.reasoning_long.startswith(f"I see {len(g.scene.shapes)} shapes:")
        assert old.reasoning_long != g.reasoning_long
        if g.family in ("direct_kind", "direct_attr", "distractors"):
            # the very first words copy the query's name (the words a model must read off the prompt)
            words = g.query.rstrip("?").split()
            name = " ".join(words[words.index("the") :][:3]).removesuffix(" in")
            assert g.reasoning_long.startswith(f"The query asks for {name}"), (g.query, g.reasoning_long)
    with pytest.raises(ValueError, match="long_opening must be one of"):
        ShapesConfig(long_opening="middle")
    out = tmp_path / "old"
    assert main(["data", "shapes", "--out", str(out), "--train", "2", "--val", "0", "--test", "0",
                 "--long-opening", "scene", "--references", "text", "--no-progress"]) == 0  # fmt: skip
    assert json.loads((out / "meta.json").read_text())["generator"]["long_opening"] == "scene"
    assert all(s.reasoning_long.startswith("I see") for s in Benchmark(out))
    with pytest.raises(SystemExit):
        main(["data", "shapes", "--out", str(tmp_path / "x"), "--long-opening", "end"])
    assert "invalid choice: 'end'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- benchmark, CLI


def test_benchmark_validates_and_is_byte_identical(tmp_path: Path) -> None:
    a = generate_benchmark(
        tmp_path / "a", n_train=6, n_val=2, n_test=3, seed=4, image_size=(160, 128), progress=False
    )
    b = generate_benchmark(
        tmp_path / "b", n_train=6, n_val=2, n_test=3, seed=4, image_size=(160, 128), progress=False
    )
    assert validate_benchmark(a, decode_images=True) == []
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
    assert (a / "images/shapes-test-000002.png").read_bytes() == (
        b / "images/shapes-test-000002.png"
    ).read_bytes()
    samples = list(Benchmark(a))
    assert Counter(s.split for s in samples) == {"train": 6, "val": 2, "test": 3}
    for s in samples:
        assert (s.width, s.height) == (160, 128)
        assert s.source["dataset"] == "shapes" and s.source["seed"] == 4 and s.source["family"] in FAMILIES
        assert s.reasoning_short and s.reasoning_long and s.difficulty is not None
        # the stored mask is the regenerated target's visible pixels
        g = generate_sample(
            sample_rng(4, s.split or "", s.source["index"]), ShapesConfig(width=160, height=128)
        )
        assert np.array_equal(s.mask_array(), g.mask) and s.query == g.query
        x1, y1, x2, y2 = s.bbox or (0, 0, -1, -1)
        assert 0 <= x1 <= x2 < 160 and 0 <= y1 <= y2 < 128
        assert all(g.mask[round(y), round(x)] for x, y in s.points)
    meta = json.loads((a / "meta.json").read_text())
    assert meta["generator"]["seed"] == 4 and meta["count"] == 11
    c = generate_benchmark(
        tmp_path / "c", n_train=6, n_val=2, n_test=3, seed=5, image_size=(160, 128), progress=False
    )
    assert (a / "samples.jsonl").read_bytes() != (c / "samples.jsonl").read_bytes()


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench"
    rc = main(["data", "shapes", "--out", str(out), "--train", "3", "--val", "1", "--test", "2", "--seed", "2",
               "--size", "320x240", "--no-progress"])  # fmt: skip
    assert rc == 0
    assert "wrote shapes benchmark" in capsys.readouterr().out
    assert validate_benchmark(out) == []
    samples = list(Benchmark(out))
    assert len(samples) == 6 and {(s.width, s.height) for s in samples} == {(320, 240)}
    assert main(["data", "shapes", "--out", str(out), "--train", "1"]) == 2  # exists, no --overwrite
    assert main(["data", "shapes", "--out", str(tmp_path / "x"), "--size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    boxed = tmp_path / "boxed"  # grounded chains with the box before the words, recorded in meta.json
    assert main(["data", "shapes", "--out", str(boxed), "--train", "2", "--val", "0", "--test", "0",
                 "--world", "simple", "--mentions", "box_first", "--no-progress"]) == 0  # fmt: skip
    assert json.loads((boxed / "meta.json").read_text())["generator"]["mentions"] == "box_first"
    assert all(s.reasoning_short.split("target: ")[-1].startswith("[") for s in Benchmark(boxed))


def test_family_and_shape_count_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pixelthink.commands._shapes import parse_families

    assert parse_families("direct_kind=2, direct_attr") == {"direct_kind": 2.0, "direct_attr": 1.0}
    for bad, words in [("nope=1", "unknown family 'nope'"), ("direct_kind=x", "must be a number"),
                       ("direct_kind=0", "positive weight"), ("direct_kind=-1", ">= 0")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            parse_families(bad)
    out = tmp_path / "warmup"
    rc = main(["data", "shapes", "--out", str(out), "--train", "12", "--val", "0", "--test", "0",
               "--families", "direct_kind,direct_attr", "--max-shapes", "2", "--no-progress"])  # fmt: skip
    assert rc == 0
    samples = list(Benchmark(out))
    assert len(samples) == 12
    assert {s.source["family"] for s in samples} <= {"direct_kind", "direct_attr"}
    assert all(1 <= s.source["n_shapes"] <= 2 for s in samples)
    meta = json.loads((out / "meta.json").read_text())  # the settings are recorded with the benchmark
    assert meta["generator"]["max_shapes"] == 2
    assert set(meta["generator"]["families"]) == {"direct_kind", "direct_attr"}
    # a family whose queries need more shapes than allowed fails with a message naming the cap
    with pytest.raises(RuntimeError, match="at most 1 shapes"):
        generate_sample(np.random.default_rng(0), ShapesConfig(max_shapes=1), family="relation")
    assert main(["data", "shapes", "--out", str(tmp_path / "y"), "--max-shapes", "0"]) == 2
    assert main(["data", "shapes", "--out", str(tmp_path / "z"), "--families", "bogus"]) == 2
    assert "unknown family 'bogus'" in capsys.readouterr().err


def test_shape_scale_draws_larger_shapes(tmp_path: Path, capsys) -> None:
    """``--shape-scale`` (a recognition warm-up set): the same scene recipe with every radius scaled."""
    for scale in (1.0, 2.5):
        g = generate_sample(
            np.random.default_rng(3),
            ShapesConfig(max_shapes=1, shape_scale=scale, world="rich"),
            family="direct_kind",
        )
        shape = g.scene.shapes[g.target]
        lo, hi = WORLDS["rich"].size_ranges[shape.size]  # the size class's radius range, times the scale
        assert lo * scale * 256 - 1e-6 <= shape.radius <= hi * scale * 256 + 1e-6

    def side(s: dict) -> float:
        x1, y1, x2, y2 = s["bbox"]
        return max(x2 - x1, y2 - y1)

    out = tmp_path / "big"
    rc = main(["data", "shapes", "--out", str(out), "--train", "6", "--val", "0", "--test", "0", "--size", "96x96",
               "--families", "direct_kind", "--max-shapes", "1", "--shape-scale", "2.5", "--world", "rich",
               "--no-progress"])  # fmt: skip
    assert rc == 0
    assert json.loads((out / "meta.json").read_text())["generator"]["shape_scale"] == 2.5
    assert all(side(s.source["shapes"][0]) >= 0.2 * 96 for s in Benchmark(out))  # small ones too
    assert (
        main(["data", "shapes", "--out", str(tmp_path / "x"), "--shape-scale", "3", "--world", "rich"]) == 2
    )
    assert "--shape-scale must be in [0.25, 2.5]" in capsys.readouterr().err
    with pytest.raises(ValueError, match="shape_scale"):
        ShapesConfig(shape_scale=0.0)


def test_crop_window_zooms_onto_the_shape_and_rewrites_its_geometry(tmp_path: Path, capsys) -> None:
    """``--crop-window`` (recognition crops): the shape fills the image, mask/box/references follow
    the crop, jitter moves the shape off centre, and bad settings are refused by name."""
    from pixelthink.miniature.shapes import crop_scene

    size = 128
    out = tmp_path / "crops"
    rc = main(["data", "shapes", "--out", str(out), "--train", "12", "--val", "0", "--test", "0", "--size",
               f"{size}x{size}", "--families", "direct_kind", "--max-shapes", "1", "--crop-window", "2",
               "--no-progress"])  # fmt: skip
    assert rc == 0
    gen = json.loads((out / "meta.json").read_text())["generator"]
    assert gen["crop_window"] == 2 and gen["crop_jitter"] == 0
    assert validate_benchmark(out, decode_images=True) == []
    for s in Benchmark(out):
        x1, y1, x2, y2 = s.bbox
        side = max(x2 - x1, y2 - y1) + 1
        assert size / 2 - 3 <= side <= size / 2 + 3  # window 2: the shape is half the image
        assert abs((x1 + x2) / 2 - size / 2) <= 2 and abs((y1 + y2) / 2 - size / 2) <= 2
        assert box_text(s.bbox) in s.reasoning_long  # references: the crop's frame
        assert s.source["shapes"][0]["bbox"] == [int(v) for v in s.bbox]
    # jitter: off centre, still fully determined by the seed; pixels under the mask keep the colour
    rng = np.random.default_rng(5)
    scene = generate_scene(rng, SceneConfig(width=size, height=size, n_shapes=(1, 1)))
    crops = [crop_scene(scene, np.random.default_rng(k), 2.0, 0.5) for k in range(8)]
    centres = {tuple(np.round(np.argwhere(c.masks[0]).mean(0))) for c in crops}
    assert len(centres) > 4
    rgb = np.array(scene.shapes[0].rgb)
    ys, xs = np.nonzero(scene.masks[0])
    zoom = size / (2 * (max(xs.max() - xs.min(), ys.max() - ys.min()) + 1))
    for c in crops:
        inside = c.image[c.masks[0]]
        assert np.abs(inside.astype(int) - rgb).max(axis=1).mean() < 20
        assert c.shapes[0].radius == pytest.approx(scene.shapes[0].radius * zoom)
        assert c.shapes[0].visible_area == int(c.masks[0].sum())
    again = crop_scene(scene, np.random.default_rng(3), 2.0, 0.5)
    assert np.array_equal(again.image, crops[3].image)
    # errors name the option
    assert main(["data", "shapes", "--out", str(tmp_path / "x"), "--crop-window", "2"]) == 2
    assert "crop_window needs max_shapes=1" in capsys.readouterr().err
    assert (
        main(["data", "shapes", "--out", str(tmp_path / "x"), "--crop-jitter", "1", "--max-shapes", "1"]) == 2
    )
    assert "crop_jitter needs crop_window" in capsys.readouterr().err
    with pytest.raises(ValueError, match="crop_window must be a number in"):
        ShapesConfig(max_shapes=1, crop_window=0.5)


def test_articles_in_references() -> None:
    from pixelthink.miniature.shapes.queries import article

    assert article("orange star") == "an orange star" and article("red circle") == "a red circle"
    assert article("ellipse") == "an ellipse"
    for i in range(40):
        g = generate_sample(sample_rng(0, "train", i), ShapesConfig(world="rich"))
        for text in (g.reasoning_long, g.reasoning_short, g.query):
            assert " a orange" not in text and " a ellipse" not in text, text


def test_source_lists_every_shape_with_its_visible_box(tmp_path: Path) -> None:
    from pixelthink.miniature.shapes import scene_shapes

    g = generate_sample(sample_rng(3, "train", 5))
    shapes = scene_shapes(g.scene)
    assert len(shapes) == len(g.scene.shapes)
    for info, shape, mask in zip(shapes, g.scene.shapes, g.scene.masks, strict=True):
        ys, xs = np.nonzero(mask)
        assert info["bbox"] == [xs.min(), ys.min(), xs.max(), ys.max()]
        assert (info["kind"], info["colour"], info["size"]) == (shape.kind, shape.colour, shape.size)
    out = generate_benchmark(tmp_path / "b", n_train=2, n_val=0, n_test=0, seed=3, progress=False)
    first = next(iter(Benchmark(out)))
    target = first.source["shapes"]
    assert first.source["generator_version"] == GENERATOR_VERSION == WORLDS["simple"].generator_version == 5
    # the target's own entry has the sample's box
    assert list(first.bbox) in [s["bbox"] for s in target]


# ------------------------------------------------------------------------------------ worlds


def test_simple_world_draws_only_its_vocabulary_without_overlap() -> None:
    """The simple world (the default): 4 kinds, 5 flat colours, plain light backgrounds, 2-5 shapes
    that never touch (a gap apart) and are fully visible."""
    world = WORLDS["simple"]
    cfg = ShapesConfig(width=160, height=160)
    assert cfg.world == "simple"
    counts: Counter[int] = Counter()
    kinds: set[str] = set()
    gap = np.ones((3, 3), np.uint8)
    for i in range(240):
        g = generate_sample(sample_rng(2, "train", i), cfg)
        scene = g.scene
        n = len(scene.shapes)
        counts[n] += 1
        assert 2 <= n <= 5 and scene.background == "plain"
        covered = np.zeros((160, 160), bool)
        for shape, vis, full in zip(scene.shapes, scene.masks, scene.full_masks, strict=True):
            kinds.add(shape.kind)
            assert shape.kind in world.kinds and shape.colour in world.colours
            assert np.abs(np.array(shape.rgb) - world.colours[shape.colour]).max() <= world.rgb_jitter
            assert np.array_equal(vis, full) and shape.occluded == 0 and not shape.covered_by
            assert not (cv2.dilate(full.astype(np.uint8), gap).astype(bool) & covered).any()  # a gap apart
            covered |= full
            ys, xs = np.nonzero(full)
            assert xs.min() >= 1 and ys.min() >= 1 and xs.max() <= 158 and ys.max() <= 158
        background = scene.image[~covered]
        assert background.min() >= 192 and np.ptp(background, axis=0).max() == 0  # plain and light
        assert g.family in (world.family_weights or {})
    assert kinds == set(world.kinds)
    assert counts[5] >= counts[2] and all(counts[k] > 0 for k in (2, 3, 4, 5)), counts


def test_simple_world_places_five_of_the_bulkiest_shapes() -> None:
    """Five stars (their points keep neighbours away) still find a layout, sizes redrawn if needed."""
    for seed in range(6):
        cfg = SceneConfig(width=224, height=224, n_shapes=(5, 5), forced=(("star", None, None),) * 5)
        scene = generate_scene(np.random.default_rng(seed), cfg)
        assert [s.kind for s in scene.shapes] == ["star"] * 5
    with pytest.raises(ValueError, match="does not overlap"):
        SceneConfig(overlap=0.5)
    with pytest.raises(ValueError, match="plain backgrounds only"):
        SceneConfig(backgrounds=(1.0, 1.0, 0.0))


def test_rich_world_output_is_unchanged(tmp_path: Path) -> None:
    """``world="rich"`` writes exactly what generator version 3 wrote (hashes taken before worlds)."""
    import hashlib

    out = generate_benchmark(
        tmp_path / "b", n_train=10, n_val=2, n_test=4, seed=11, image_size=(128, 96), progress=False,
        config=ShapesConfig(world="rich"),
    )  # fmt: skip
    assert hashlib.sha256((out / "samples.jsonl").read_bytes()).hexdigest() == (
        "128981caf00c8410a1e3cdaade4b83d1465b5799aa30fe3745de0c2eb15ad177"
    )
    images = hashlib.sha256()
    for p in sorted((out / "images").iterdir()):
        images.update(p.name.encode())
        images.update(p.read_bytes())
    assert images.hexdigest() == "9f1103a0d630f085be19f662db4419334b9534aef9fb215bd52b05cc03d34ec1"
    meta = json.loads((out / "meta.json").read_text())["generator"]
    assert (meta["world"], meta["version"]) == ("rich", 3)


def test_cli_world_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for world, version in (("simple", 5), ("rich", 3)):
        out = tmp_path / world
        rc = main(["data", "shapes", "--out", str(out), "--train", "3", "--val", "0", "--test", "1",
                   "--size", "128x128", "--world", world, "--no-progress"])  # fmt: skip
        assert rc == 0
        meta = json.loads((out / "meta.json").read_text())
        assert (meta["generator"]["world"], meta["generator"]["version"]) == (world, version)
        sources = [s.source for s in Benchmark(out)]
        assert {s["generator_version"] for s in sources} == {version}
        assert {s.get("world") for s in sources} == ({"simple"} if world == "simple" else {None})
    default = tmp_path / "default"
    assert main(["data", "shapes", "--out", str(default), "--train", "1", "--val", "0", "--test", "0",
                 "--size", "128x128", "--no-progress"]) == 0  # fmt: skip
    assert json.loads((default / "meta.json").read_text())["generator"]["world"] == "simple"
    capsys.readouterr()
    assert main(["data", "shapes", "--out", str(tmp_path / "x"), "--world", "huge"]) == 2
    err = capsys.readouterr().err
    assert "--world: unknown world 'huge'" in err and "simple, rich" in err
    assert main(["data", "shapes", "--out", str(tmp_path / "x"), "--families", "occlusion"]) == 2
    assert "--families: occlusion not in the simple world" in capsys.readouterr().err
    with pytest.raises(ValueError, match="world must be one of"):
        ShapesConfig(world="huge")
    with pytest.raises(ValueError, match="not in the simple world"):
        generate_sample(np.random.default_rng(0), family="distractors")
