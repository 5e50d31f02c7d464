"""``pixelthink segment IMAGE "query"``: reason about one image, segment it, print and draw the result.

Its model options are the ones ``predict``, ``app`` and ``annotate`` share
(:func:`pixelthink.commands._options.add_model_arguments`, :func:`~pixelthink.commands._options.pipeline_from_args`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelthink.commands._options import (
    add_model_arguments,
    baseline_settings,
    check_outputs,
    pipeline_from_args,
)

if TYPE_CHECKING:
    from pixelthink.pipeline import Result


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="reason about one image and segment the answer",
        description="Run the reasoning model on IMAGE and QUERY, segment its box and points, print the "
        "reasoning and the answer (original-image pixels), and write the mask and an overlay picture.",
    )
    parser.add_argument("image", type=Path, help="image file")
    parser.add_argument("query", help="what to segment (a phrase or a question)")
    add_model_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        help="overlay picture to write (default: IMAGE_STEM.overlay.png in the current dir)",
    )
    parser.add_argument(
        "--mask-out",
        type=Path,
        help="mask PNG to write, 255 = target (default: beside the overlay, STEM.mask.png where STEM is "
        "the overlay's name without .png / .overlay.png: IMAGE_STEM.mask.png in the current dir "
        "without --out)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object instead")
    parser.set_defaults(func=handler)


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.1f}" for v in values) + "]"


def describe(result: Result) -> str:
    """Human-readable report of a :class:`~pixelthink.pipeline.Result` (original-frame coordinates)."""
    lines = [f"query: {result.query}"]
    if result.frame is not None:
        f = result.frame
        lines.append(f"image: {f.orig_w}x{f.orig_h} px, model frame {f.model_w}x{f.model_h}")
    lines.append("reasoning:")
    lines.append("  " + (result.think or "(none)").replace("\n", "\n  "))
    lines.append("answer (original pixels):")
    lines.append(f"  box: {_fmt(result.bbox) if result.bbox is not None else '(none)'}")
    lines.append(f"  points: {', '.join(_fmt(p) for p in result.points) or '(none)'}")
    u = "n/a" if result.uncertainty is None else f"{result.uncertainty:.3f}"
    lines.append(f"  uncertainty U: {u}")
    lines.append(f"  tokens: reasoning {result.reasoning_tokens}, answer {result.answer_tokens}")
    if result.problems:
        lines.append(f"  parse problems: {'; '.join(result.problems)}")
    if result.mask is not None:
        score = "" if result.score is None else f", segmenter score {result.score:.3f}"
        lines.append(f"mask: {int(result.mask.sum())} px{score}")
    timings = ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items())
    lines.append(f"timings (s): {timings}")
    if result.error:
        lines.append(f"FAILED: {result.error}")
    return "\n".join(lines)


def default_mask_path(overlay_path: Path) -> Path:
    """Where the mask goes without ``--mask-out``: beside the overlay, ``STEM.mask.png``.

    ``out/cat.png`` -> ``out/cat.mask.png``; ``out/cat.overlay.png`` -> ``out/cat.mask.png``.
    """
    stem = overlay_path.stem
    if stem.endswith(".overlay") and len(stem) > len(".overlay"):
        stem = stem[: -len(".overlay")]
    return overlay_path.with_name(f"{stem}.mask.png")


def handler(args: argparse.Namespace) -> int:
    from pixelthink.answer import check_query
    from pixelthink.jsonio import naming_path
    from pixelthink.pipeline import load_image
    from pixelthink.viz import mask_image, overlay

    check_query(args.query, args.max_query_chars)  # ValueError "query: ..." -> one-line CLI error
    out = args.out or Path(f"{args.image.stem}.overlay.png")
    mask_out = args.mask_out or default_mask_path(out)
    check_outputs({"IMAGE": args.image}, {"--out": out, "--mask-out": mask_out})

    # FileNotFoundError / ValueError (ImageTooLargeError included) -> one-line CLI error
    image = load_image(args.image, max_pixels=args.max_pixels)
    pipeline = pipeline_from_args(args)
    result = pipeline.run(image, args.query)
    mask = result.mask
    for path in (out, mask_out):
        path.parent.mkdir(parents=True, exist_ok=True)
    with naming_path(out):  # a full disk: an error naming the file
        overlay(image, mask, result.bbox, result.points).save(out)
    if mask is not None:
        with naming_path(mask_out):
            mask_image(mask).save(mask_out)
    if args.json:
        payload = result.to_json() | {"overlay": str(out), "mask_file": str(mask_out)}
        payload["settings"] = baseline_settings(args)
        print(json.dumps(payload, ensure_ascii=False))
    else:
        print(describe(result))
        print(f"overlay: {out}")
        print(f"mask: {mask_out}")
    return 0 if result.error is None else 1
