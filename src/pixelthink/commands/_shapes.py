"""The command ``pixelthink data shapes``: option parsing (``parse_size``, ``parse_families``) and
``register_shapes``, which ``commands/data.py`` calls (not a command module itself: the CLI skips ``_``
modules). The generator is :mod:`pixelthink.miniature.shapes`."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any

from pixelthink.images import DEFAULT_MAX_PIXELS
from pixelthink.jsonio import naming_path
from pixelthink.miniature.shapes.chains import CHAIN_MENTIONS, COMPARISONS
from pixelthink.miniature.shapes.generate import ShapesConfig, generate_benchmark
from pixelthink.miniature.shapes.queries import FAMILIES
from pixelthink.miniature.shapes.references import LONG_OPENINGS
from pixelthink.miniature.shapes.scene import check_crop, check_shape_scale
from pixelthink.miniature.shapes.world import DEFAULT_WORLD, REFERENCE_STYLES, WORLDS


def parse_size(text: str) -> tuple[int, int]:
    """``"320x240"`` -> (320, 240) (width, height)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size: expected WIDTHxHEIGHT such as 256x256, got {text!r}")
    w, h = int(parts[0]), int(parts[1])
    if w < 64 or h < 64:
        raise ValueError(f"--size: width and height must be at least 64, got {text!r}")
    if w * h > DEFAULT_MAX_PIXELS:
        raise ValueError(
            f"--size: {w}x{h} = {w * h:,} pixels is over the limit of {DEFAULT_MAX_PIXELS:,} pixels "
            "(the input image limit of every command that reads the benchmark)"
        )
    return w, h


def parse_families(text: str) -> dict[str, float]:
    """``"direct_kind=1,direct_attr=2"`` (or ``"direct_kind,direct_attr"``, weight 1) -> weights."""
    out: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, weight = item.partition("=")
        name = name.strip()
        if name not in FAMILIES:
            raise ValueError(f"--families: unknown family {name!r}; known: {', '.join(FAMILIES)}")
        try:
            w = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValueError(f"--families: weight of {name!r} must be a number, got {weight!r}") from None
        if not w >= 0:
            raise ValueError(f"--families: weight of {name!r} must be >= 0, got {weight!r}")
        out[name] = w
    if not any(v > 0 for v in out.values()):
        raise ValueError(f"--families: expected NAME[=WEIGHT],... with a positive weight, got {text!r}")
    return out


def _cli_shapes(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    families = parse_families(args.families) if args.families else None
    if args.max_shapes is not None and args.max_shapes < 1:
        raise ValueError(f"--max-shapes must be >= 1, got {args.max_shapes}")
    if args.world not in WORLDS:
        raise ValueError(f"--world: unknown world {args.world!r}; known: {', '.join(WORLDS)}")
    check_shape_scale(args.shape_scale, "--shape-scale", WORLDS[args.world])
    in_world = ShapesConfig(world=args.world).families()
    outside = [k for k, w in (families or {}).items() if w > 0 and k not in in_world]
    if outside:
        raise ValueError(
            f"--families: {', '.join(outside)} not in the {args.world} world (its families: "
            f"{', '.join(in_world)}; --world rich has all)"
        )
    check_crop(args.crop_window, args.crop_jitter, args.max_shapes, "--crop-window/--crop-jitter")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise NotADirectoryError(errno.ENOTDIR, "--out is a file, expected a directory", args.out)
    progress = not args.no_progress and sys.stderr.isatty()
    from pixelthink.data.format import BenchmarkExistsError

    with naming_path(args.out):  # a full disk: an error naming --out
        try:
            out = generate_benchmark(
                args.out,
                n_train=args.train,
                n_val=args.val,
                n_test=args.test,
                seed=args.seed,
                image_size=size,
                progress=progress,
                overwrite=args.overwrite,
                config=ShapesConfig(
                    world=args.world,
                    family_weights=families,
                    max_shapes=args.max_shapes,
                    shape_scale=args.shape_scale,
                    crop_window=args.crop_window,
                    crop_jitter=args.crop_jitter,
                    long_opening=args.long_opening,
                    references=args.references,
                    comparisons=args.comparisons,
                    mentions=args.mentions,
                ),
            )
        except BenchmarkExistsError:  # the writer's own check; here it names the CLI flag
            raise ValueError(
                f"--out {args.out}: a benchmark already exists there (pass --overwrite to replace it)"
            ) from None
    print(
        f"wrote shapes benchmark to {out}: train={args.train} val={args.val} test={args.test} "
        f"seed={args.seed} size={size[0]}x{size[1]} world={args.world}"
    )
    return 0


def register_shapes(data_sub: Any) -> None:
    """Add ``pixelthink data shapes --out DIR [--train N --val N --test N --seed S --size WxH]``."""
    p = data_sub.add_parser(
        "shapes",
        help="generate the procedural shapes benchmark (difficulty-graded, with references)",
        description="Generate a seeded benchmark of coloured-shape scenes with graded queries, exact "
        "masks, difficulty 1..10 and short/long reference reasoning (docs/SHAPES.md).",
    )
    p.add_argument("--out", required=True, help="benchmark directory to create")
    p.add_argument("--train", type=int, default=1000, help="training samples (default 1000)")
    p.add_argument("--val", type=int, default=100, help="validation samples (default 100)")
    p.add_argument("--test", type=int, default=200, help="test samples (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--world",
        default=DEFAULT_WORLD,
        metavar="NAME",
        help=f"world preset: {' or '.join(WORLDS)} (default {DEFAULT_WORLD}: 4 distinct kinds, 5 flat colours, "
        "2-5 large non-overlapping shapes on plain backgrounds; rich: 7 kinds, 7 colours, textures, noise "
        "and occlusion; docs/SHAPES.md)",
    )
    p.add_argument("--size", default="256x256", help="image size WIDTHxHEIGHT (default 256x256)")
    p.add_argument(
        "--families",
        default=None,
        metavar="NAME[=W],...",
        help="query families and their weights, e.g. direct_kind=1,direct_attr=1 (default: the world's, "
        "with the weights of docs/SHAPES.md)",
    )
    p.add_argument(
        "--max-shapes",
        type=int,
        default=None,
        metavar="N",
        help="at most N shapes per scene (default: each family's own range), e.g. 2 for a simple "
        "grounding warm-up set",
    )
    p.add_argument(
        "--shape-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every shape's size by F (default 1, at most "
        + ", ".join(f"{w.max_shape_scale} in the {w.name} world" for w in WORLDS.values())
        + "), e.g. 2.5 with --world rich --max-shapes 1 for a recognition warm-up set where the shape "
        "fills much of the image",
    )
    p.add_argument(
        "--crop-window",
        type=float,
        default=None,
        metavar="W",
        help="recognition crops (needs --max-shapes 1): zoom every image onto its shape, a square of W "
        "times the shape's size, e.g. 2 for a frame-filling shape (default: whole scenes)",
    )
    p.add_argument(
        "--crop-jitter",
        type=float,
        default=0.0,
        metavar="J",
        help="with --crop-window: move the crop's centre by up to J shape sizes per axis (default 0)",
    )
    p.add_argument(
        "--long-opening",
        choices=LONG_OPENINGS,
        default="query",
        help="where the long reference says what the query asks: 'query' opens with it, before the "
        "scene inventory (default); 'scene' puts it after the inventory (generator version 2)",
    )
    p.add_argument(
        "--references",
        choices=REFERENCE_STYLES,
        default=None,
        help="reference reasoning style: 'grounded' (chains of lookups, every shape named with its box; "
        "the simple world's default) or 'text' (words only; the rich world's default); docs/SHAPES.md",
    )
    p.add_argument(
        "--comparisons",
        choices=COMPARISONS,
        default="pairwise",
        help="grounded chains: decide a superlative by a running comparison of two adjacent boxes per step "
        "('pairwise', default) or in one step over the candidates listed ('pick': fewer tokens)",
    )
    p.add_argument(
        "--mentions",
        choices=CHAIN_MENTIONS,
        default="name_first",
        help="grounded chains: the order of a mention's words, 'name_first' (the red star [x1, y1, x2, y2], "
        "default), 'box_first' ([x1, y1, x2, y2] red star: the attributes after the position) or "
        "'lists_box_first' (the scene-wide lists box first, the anchor, filters, comparisons and target name first)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_shapes)
