"""Samples and benchmarks of the shapes generator: ``ShapesConfig``, ``generate_sample`` (a scene set
up for a query family, one of its queries with a unique target, references and difficulty), the
per-sample generator ``sample_rng``, the record written for a sample and ``generate_benchmark``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.masks import box_from_mask
from pixelthink.miniature.shapes.chains import CHAIN_MENTIONS, COMPARISONS, grounded_references
from pixelthink.miniature.shapes.difficulty import difficulty
from pixelthink.miniature.shapes.queries import ENUMERATORS, FAMILIES, Candidate, Query, evaluate
from pixelthink.miniature.shapes.references import LONG_OPENINGS, references
from pixelthink.miniature.shapes.scene import (
    Scene,
    SceneConfig,
    Shape,
    check_crop,
    check_shape_scale,
    crop_scene,
    generate_scene,
)
from pixelthink.miniature.shapes.world import DEFAULT_WORLD, REFERENCE_STYLES, WORLDS, World

#: the benchmarks' generator name (meta.json, source.generator): a format constant, kept from the
#: package's first home (pixelthink.data.shapes) so that existing benchmarks keep being recognised
GENERATOR = "pixelthink.data.shapes"
# The newest generator version; each world's samples carry their own (``World.generator_version``).
GENERATOR_VERSION = 5  # 2: source.shapes (every shape's attributes and visible box); articles.
#                       3: long references open with what the query asks (``long_opening``)
#                       4: worlds: the simple world (``source.world``); the rich world stays at 3,
#                          its output byte for byte that of version 3
#                       5: the simple world's references are grounded chains (``chains``; every shape
#                          named with its box, original frame); ``references="text"`` keeps version 4's
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

# ------------------------------------------------------------------------------------ samples


@dataclass(frozen=True)
class ShapesConfig:
    """Benchmark-level settings: image size and the query families drawn (with their weights).

    ``world`` names the world preset (``WORLDS``: ``"simple"``, the default, or ``"rich"``).
    ``family_weights`` maps a family name to a sampling weight; None uses the world's families and
    weights (``World.family_weights``, else ``queries.FAMILIES``).
    """

    width: int = 256
    height: int = 256
    family_weights: dict[str, float] | None = None
    max_attempts: int = 60
    #: cap on the number of shapes per scene (None = each family's own range); e.g. 2 for a simple
    #: grounding warm-up set. Families that need more shapes (e.g. ``distractors``) are refused.
    max_shapes: int | None = None
    #: factor on every shape's size (1 = the benchmark's); see SceneConfig.shape_scale
    shape_scale: float = 1.0
    #: recognition crops (needs ``max_shapes=1``): each image becomes a square of ``crop_window`` times
    #: the shape's size around it, resized back to the image size (None = whole scenes); see crop_scene
    crop_window: float | None = None
    #: with ``crop_window``: the crop's centre moves by up to this many shape sizes (uniform, per axis)
    crop_jitter: float = 0.0
    #: where the long reference says what the query asks: ``"query"`` first, before the scene
    #: inventory (the default), or ``"scene"`` after it (generator version 2); see references()
    long_opening: str = "query"
    #: the world preset: what scenes contain and how they are drawn (``world.WORLDS``)
    world: str = DEFAULT_WORLD
    #: reference style: ``"grounded"`` (``chains.grounded_references``) or ``"text"``; None: the world's
    references: str | None = None
    #: grounded chains: how superlatives are decided (``chains.COMPARISONS``: pairwise | pick)
    comparisons: str = "pairwise"
    #: grounded chains: the order of a mention's words (``chains.CHAIN_MENTIONS``): ``"name_first"``
    #: (``the red star [..]``), ``"box_first"`` (``[..] red star``: attributes read where the box is) or
    #: ``"lists_box_first"`` (the scene-wide lists box first, every pick name first)
    mentions: str = "name_first"

    @property
    def reference_style(self) -> str:
        return self.references or self.spec.references

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ValueError(f"ShapesConfig.world must be one of {list(WORLDS)}, got {self.world!r}")
        if self.long_opening not in LONG_OPENINGS:
            raise ValueError(
                f"ShapesConfig.long_opening must be one of {LONG_OPENINGS}, got {self.long_opening!r}"
            )
        if self.max_shapes is not None and self.max_shapes < 1:
            raise ValueError(f"ShapesConfig.max_shapes must be >= 1 or None, got {self.max_shapes}")
        check_shape_scale(self.shape_scale, "ShapesConfig.shape_scale", self.spec)
        check_crop(self.crop_window, self.crop_jitter, self.max_shapes, "ShapesConfig")
        if self.comparisons not in COMPARISONS:
            raise ValueError(
                f"ShapesConfig.comparisons must be one of {COMPARISONS}, got {self.comparisons!r}"
            )
        if self.mentions not in CHAIN_MENTIONS:
            raise ValueError(f"ShapesConfig.mentions must be one of {CHAIN_MENTIONS}, got {self.mentions!r}")
        if self.references is not None and self.references not in REFERENCE_STYLES:
            raise ValueError(
                f"ShapesConfig.references must be one of {REFERENCE_STYLES}, got {self.references!r}"
            )
        self.weights()  # unknown families, or families outside the world, fail here

    @property
    def spec(self) -> World:
        """The world preset named by ``world``."""
        return WORLDS[self.world]

    def families(self) -> list[str]:
        """The query families of the world, in ``FAMILIES`` order."""
        own = self.spec.family_weights
        return [k for k in FAMILIES if own is None or k in own]

    def weights(self) -> tuple[list[str], np.ndarray]:
        """The families drawn and their probabilities."""
        own = self.spec.family_weights
        table = self.family_weights or own or {k: v.weight for k, v in FAMILIES.items()}
        unknown = sorted(set(table) - set(FAMILIES))
        if unknown:
            raise ValueError(
                f"ShapesConfig.family_weights: unknown families {unknown}; known: {list(FAMILIES)}"
            )
        outside = [k for k in table if table[k] > 0 and k not in self.families()]
        if outside:
            raise ValueError(
                f"ShapesConfig.family_weights: {outside} not in the {self.world} world (its families: "
                f"{', '.join(self.families())}; world 'rich' has all)"
            )
        names = [k for k in FAMILIES if table.get(k, 0) > 0]
        if not names:
            raise ValueError("ShapesConfig.family_weights: at least one family needs a positive weight")
        p = np.array([table[k] for k in names], dtype=float)
        return names, p / p.sum()


@dataclass
class GeneratedSample:
    """One generated sample: the scene, the query and its unique target, and the annotations."""

    scene: Scene
    target: int
    family: str
    query: str
    is_sentence: bool
    ast: Query
    difficulty: float
    reasoning_short: str
    reasoning_long: str
    info: dict[str, Any] = field(default_factory=dict)
    world: World = WORLDS[DEFAULT_WORLD]

    @property
    def mask(self) -> np.ndarray:
        """Target mask: bool ``(H, W)``, the target's visible pixels, original frame."""
        return self.scene.masks[self.target]

    @property
    def target_shape(self) -> Shape:
        return self.scene.shapes[self.target]

    def pil_image(self) -> Any:
        from PIL import Image

        return Image.fromarray(self.scene.image, mode="RGB")


def is_unique(query: Query, scene: Scene) -> int | None:
    """The target index when exactly one shape satisfies ``query`` and none is borderline, else None."""
    values = evaluate(query, scene)
    if any(v is None for v in values):
        return None
    hits = [i for i, v in enumerate(values) if v]
    return hits[0] if len(hits) == 1 else None


def generate_sample(
    rng: np.random.Generator, config: ShapesConfig | None = None, *, family: str | None = None
) -> GeneratedSample:
    """Draw a family (unless given), a scene set up for it, and one of its grounded queries with a
    unique target. Scenes without any valid query of the family are redrawn (``config.max_attempts``)."""
    config = config or ShapesConfig()
    if family is None:
        names, p = config.weights()
        family = names[int(rng.choice(len(names), p=p))]
    if family not in FAMILIES:
        raise ValueError(f"unknown query family {family!r}; expected one of {list(FAMILIES)}")
    world = config.spec
    if family not in config.families():
        raise ValueError(f"query family {family!r} is not in the {world.name} world: {config.families()}")
    spec = FAMILIES[family]
    lo, hi = world.n_shapes[family] if world.n_shapes is not None else spec.n_shapes
    cap = config.max_shapes if config.max_shapes is not None else hi
    for _ in range(config.max_attempts):
        n_hi = min(hi, cap)
        forced = tuple(spec.force(rng, n_hi, world)) if spec.force is not None else ()
        n_lo = min(max(lo, min(len(forced), n_hi)), n_hi)
        scene_cfg = SceneConfig(
            width=config.width,
            height=config.height,
            n_shapes=(n_lo, n_hi),
            overlap=spec.overlap if world.overlap else 0.0,
            backgrounds=spec.backgrounds if world.textured_backgrounds else (1.0, 0.0, 0.0),
            forced=forced,
            shape_scale=config.shape_scale,
            world=world,
        )
        scene = generate_scene(rng, scene_cfg)
        if config.crop_window is not None:
            scene = crop_scene(scene, rng, config.crop_window, config.crop_jitter)
        cands: list[tuple[Candidate, int]] = []
        for c in ENUMERATORS[family](scene, rng):
            t = is_unique(c.ast, scene)
            if t is not None:
                cands.append((c, t))
        if not cands:
            continue
        cand, target = cands[int(rng.integers(len(cands)))]
        if config.reference_style == "grounded":
            short, long = grounded_references(
                scene, cand.ast, target, comparisons=config.comparisons, mentions=config.mentions
            )
        else:
            short, long = references(scene, cand, target, opening=config.long_opening)
        return GeneratedSample(
            scene=scene,
            target=target,
            family=family,
            query=cand.text,
            is_sentence=cand.is_sentence,
            ast=cand.ast,
            difficulty=difficulty(family, scene, target, cand.is_sentence),
            reasoning_short=short,
            reasoning_long=long,
            info=dict(cand.info),
            world=world,
        )
    hint = f" with at most {config.max_shapes} shapes" if config.max_shapes is not None else ""
    raise RuntimeError(
        f"family {family!r}: no scene{hint} with a unique query in {config.max_attempts} attempts"
    )


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``split``: independent of every other sample."""
    return np.random.default_rng([int(seed), SPLIT_CODES.get(split, 3), int(index)])


def scene_shapes(scene: Scene) -> list[dict[str, Any]]:
    """Every shape of ``scene`` in drawing order: kind, colour, size, occluded fraction and the box of
    its visible pixels (XYXY, inclusive pixel extremes, original frame); e.g. for caption pre-training."""
    out = []
    for shape, mask in zip(scene.shapes, scene.masks, strict=True):
        extent = box_from_mask(mask)
        box = None if extent is None else [int(v) for v in extent]
        out.append(
            {
                "kind": shape.kind,
                "colour": shape.colour,
                "size": shape.size,
                "occluded": round(shape.occluded, 3),
                "bbox": box,
            }
        )
    return out


def sample_record(
    gen: GeneratedSample, *, sample_id: str, split: str, seed: int, index: int
) -> dict[str, Any]:
    """The mapping handed to ``BenchmarkWriter.add`` (bbox/points/width/height are derived by it).

    ``source.generator_version`` is the sample's world's; from version 4 ``source.world`` names the
    world (version-3 records, the rich world's, stay as they were, without it).
    """
    world = gen.world
    t = gen.target_shape
    return {
        "id": sample_id,
        "query": gen.query,
        "is_sentence": gen.is_sentence,
        "mask": gen.mask,
        "difficulty": gen.difficulty,
        "reasoning_short": gen.reasoning_short,
        "reasoning_long": gen.reasoning_long,
        "source": {
            "dataset": "shapes",
            "generator": GENERATOR,
            "generator_version": world.generator_version,
            **({"world": world.name} if world.generator_version >= 4 else {}),
            "seed": int(seed),
            "split": split,
            "index": int(index),
            "image_id": sample_id,
            "family": gen.family,
            "n_shapes": len(gen.scene.shapes),
            "background": gen.scene.background,
            "target": {"kind": t.kind, "colour": t.colour, "size": t.size, "occluded": round(t.occluded, 3)},
            "shapes": scene_shapes(gen.scene),
        },
        "split": split,
    }


def generate_benchmark(
    out_dir: str | os.PathLike[str],
    *,
    n_train: int = 1000,
    n_val: int = 100,
    n_test: int = 200,
    seed: int = 0,
    image_size: tuple[int, int] = (256, 256),
    progress: bool = True,
    overwrite: bool = False,
    config: ShapesConfig | None = None,
) -> Path:
    """Write a shapes benchmark (train, val, test splits) to ``out_dir`` through ``BenchmarkWriter``.

    ``image_size`` is (width, height). Sample ``i`` of split ``s`` depends only on (seed, s, i), so the
    same arguments give a byte-identical ``samples.jsonl``. Returns the benchmark directory.
    """
    from pixelthink.data.format import BenchmarkWriter

    counts = {"train": n_train, "val": n_val, "test": n_test}
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"generate_benchmark: n_{split} must be >= 0, got {n}")
    width, height = (int(v) for v in image_size)
    cfg = replace(config or ShapesConfig(), width=width, height=height)
    names, p = cfg.weights()
    meta = {
        "generator": {
            "name": GENERATOR,
            "version": cfg.spec.generator_version,
            "world": cfg.world,
            "seed": int(seed),
            "image_size": [width, height],
            "families": dict(zip(names, (round(float(v), 4) for v in p), strict=True)),
            "max_shapes": cfg.max_shapes,
            "shape_scale": cfg.shape_scale,
            "long_opening": cfg.long_opening,
            "references": cfg.reference_style,
            **({"comparisons": cfg.comparisons} if cfg.comparisons != "pairwise" else {}),
            **({"mentions": cfg.mentions} if cfg.mentions != "name_first" else {}),
            **({"crop_window": cfg.crop_window, "crop_jitter": cfg.crop_jitter} if cfg.crop_window else {}),
        }
    }
    out = Path(out_dir)
    total = sum(counts.values())
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="shapes", unit="sample")
    try:
        with BenchmarkWriter(
            out, name="shapes", version=str(cfg.spec.generator_version), overwrite=overwrite, extra_meta=meta
        ) as writer:
            for split, n in counts.items():
                for i in range(n):
                    gen = generate_sample(sample_rng(seed, split, i), cfg)
                    sid = f"shapes-{split}-{i:06d}"
                    rec = sample_record(gen, sample_id=sid, split=split, seed=seed, index=i)
                    writer.add(rec, gen.pil_image(), image_name=f"{sid}.png")
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out
