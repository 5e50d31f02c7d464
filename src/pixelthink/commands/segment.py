"""``pixelthink segment IMAGE "query"``: reason about one image, segment it, print and draw the result.

Also holds the model options shared with ``pixelthink predict`` (:func:`add_model_arguments`,
:func:`pipeline_from_args`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelthink.answer import PROMPT_PRESETS
from pixelthink.commands._options import add_limit_arguments, check_outputs, non_negative_int

if TYPE_CHECKING:
    from pixelthink.models.segmenters import Segmenter
    from pixelthink.pipeline import Pipeline, Result


def parse_resolution(text: str) -> int | tuple[int, int] | str | None:
    """``"840"`` -> 840, ``"native"`` -> None, ``"1280x720"`` / ``"1280,720"`` -> (1280, 720),
    ``"auto"`` -> ``"auto"`` (the checkpoint's training resolution, else 840)."""
    value = text.strip().lower()
    if value == "native":
        return None
    if value == "auto":
        return "auto"
    match = re.fullmatch(r"(\d+)\s*[x,]\s*(\d+)", value)
    if match:
        w, h = int(match.group(1)), int(match.group(2))
        if w > 0 and h > 0:
            return (w, h)
    elif value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(
        f"expected a positive integer, WIDTHxHEIGHT, 'native' or 'auto', got {text!r}"
    )


class _ListSegmenters(argparse.Action):
    """``--list-segmenters [DIR ...]``: print :func:`pixelthink.models.registry.list_segmenters` and exit
    (like ``--version``: the command's other arguments are not needed)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option: Any = None
    ) -> None:
        from pixelthink.models.registry import list_segmenters

        print(format_segmenters(list_segmenters(values or [])))
        parser.exit(0)


def format_segmenters(rows: list[dict[str, Any]]) -> str:
    """The ``--list-segmenters`` table: spec, what it is, and a note (why a family cannot run here)."""
    width = max(len(r["spec"]) for r in rows)
    lines = []
    for kind, heading in (("backend", "--segmenter SPEC"), ("family", "SAM families (sam:PATH)"),
                          ("checkpoint", "checkpoints found")):  # fmt: skip
        chosen = [r for r in rows if r["kind"] == kind]
        if not chosen:
            continue
        lines.append(f"{heading}:")
        for r in chosen:
            mark = "" if r["available"] or "not available" in r["note"] else " [not available]"
            first = r["title"] if kind == "family" else r["spec"]
            text = r["note"] if kind != "checkpoint" else f"{r['title']} ({r['note']})"
            lines.append(f"  {first:<{width}}  {text}{mark}")
    return "\n".join(lines)


def add_model_arguments(
    parser: argparse.ArgumentParser, *, reasoner_default: str | None = None, max_new_tokens: int = 1024
) -> None:
    """The reasoner / segmenter options of ``segment``, ``predict`` and ``app`` (``--reasoner`` is
    required unless ``reasoner_default`` is given)."""
    group = parser.add_argument_group("models")
    group.add_argument(
        "--reasoner",
        required=reasoner_default is None,
        default=reasoner_default,
        metavar="PATH_OR_URL",
        help="local checkpoint directory (transformers) or http(s)://HOST:PORT/v1[?model=NAME] "
        "(OpenAI-compatible server: vLLM, SGLang, pixelthink serve; its token, if any, from $OPENAI_API_KEY)"
        + ("" if reasoner_default is None else "; default: the shipped tiny model"),
    )
    group.add_argument("--model", metavar="NAME", help="model name on the OpenAI-compatible server")
    group.add_argument(
        "--max-retries",
        type=int,
        default=4,
        metavar="N",
        help="retries of a request to a server after a transient failure (connection error, timeout, "
        "HTTP 5xx), with exponential back-off; then the run stops (HTTP 429, a busy server, lowers the "
        "requests in flight and waits without using them up) (default: %(default)s)",
    )
    group.add_argument(
        "--segmenter",
        default="grabcut",
        metavar="SPEC",
        help="sam:PATH or PATH (a promptable SAM-family checkpoint directory in transformers format: SAM, "
        "SAM-HQ, SAM2 / SAM2.1, SAM 3 tracker; the family is read from its config.json) | sam2:PATH (SAM2 / "
        "SAM2.1 only) | grabcut (no weights) | box (default: %(default)s; --list-segmenters shows them all)",
    )
    group.add_argument(
        "--list-segmenters",
        nargs="*",
        metavar="DIR",
        action=_ListSegmenters,
        help="list the segmenters --segmenter accepts and the SAM-family checkpoints found in DIR... (two "
        "levels deep; only config.json files are read), then exit",
    )
    group.add_argument(
        "--resolution",
        type=parse_resolution,
        default="auto",
        metavar="auto|840|WxH|native",
        help="model-frame size the reasoner sees (Seg-Zero: 840, aspect ratio not kept; default: auto = "
        "the resolution a pixelthink-trained checkpoint was trained at, else 840)",
    )
    group.add_argument(
        "--answer-frame",
        choices=["input", "vision"],
        default="input",
        help="frame of the answer's coordinates for local models: input = the working-resolution image "
        "(PixelThink / Seg-Zero checkpoints, default), vision = the processor's snapped grid (stock "
        "Qwen2.5-VL grounding, e.g. with --resolution native)",
    )
    group.add_argument(
        "--max-new-tokens", type=int, default=max_new_tokens, metavar="N", help="default: %(default)s"
    )
    group.add_argument(
        "--device", default="auto", help="torch device for local models: auto | cpu | cuda | cuda:1 ..."
    )
    baselines = parser.add_argument_group("inference-time baselines (no training; docs/METHODS.md)")
    baselines.add_argument(
        "--max-think-tokens",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="think budget: after N generated tokens the reasoning is stopped and '</think><answer>' forced "
        "(0 = no reasoning); default: none",
    )
    baselines.add_argument(
        "--think-budget-via",
        choices=["continue", "server"],
        default="continue",
        help="servers: continue = a second request continuing the cut text (vLLM continue_final_message), "
        "server = the server's own thinking_token_budget (vLLM --reasoning-config); default: %(default)s",
    )
    baselines.add_argument(
        "--prompt-preset",
        choices=sorted(PROMPT_PRESETS),
        default="default",
        help="append a sentence to the model's prompt: brevity (WISE-S style) | no_think; default: none",
    )
    baselines.add_argument(
        "--prompt-suffix",
        default="",
        metavar="TEXT",
        help="append TEXT to the model's prompt (after a preset's sentence), e.g. an L1-trained model's "
        "target: ' Think for 30 words.'",
    )
    add_limit_arguments(parser)


def baseline_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The inference-time baseline options of a run (recorded with its outputs)."""
    return {
        "max_think_tokens": args.max_think_tokens,
        "think_budget_via": args.think_budget_via if args.max_think_tokens is not None else None,
        "prompt_preset": args.prompt_preset,
        "prompt_suffix": args.prompt_suffix,
    }


def pipeline_from_args(
    args: argparse.Namespace, *, batch_size: int | None = None, segmenter: Segmenter | None = None
) -> Pipeline:
    """Build the :class:`~pixelthink.pipeline.Pipeline` named by :func:`add_model_arguments` options
    (``segmenter``: an already loaded one instead of ``--segmenter``)."""
    from pixelthink.models.registry import SEGMENTERS, reasoner_backend
    from pixelthink.pipeline import Pipeline

    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    remote = reasoner_backend(args.reasoner) == "openai"
    reasoner_options: dict[str, Any] = {
        "max_new_tokens": args.max_new_tokens,
        "max_think_tokens": args.max_think_tokens,
        "prompt_preset": args.prompt_preset,
        "prompt_suffix": args.prompt_suffix,
    }
    if args.max_retries < 0:
        raise ValueError(f"--max-retries must be >= 0, got {args.max_retries}")
    if remote:
        reasoner_options["max_retries"] = args.max_retries
        reasoner_options["think_budget_via"] = args.think_budget_via
        if args.model:
            reasoner_options["model"] = args.model
        if os.environ.get("OPENAI_API_KEY"):  # the server's token (pixelthink serve --token, vLLM --api-key)
            reasoner_options["api_key"] = os.environ["OPENAI_API_KEY"]
        if batch_size is not None:
            reasoner_options["concurrency"] = batch_size
    else:
        if args.model:
            raise ValueError("--model names a model on a server; --reasoner is a local directory")
        reasoner_options["device"] = args.device
        reasoner_options["answer_frame"] = args.answer_frame
        if batch_size is not None:
            reasoner_options["batch_size"] = batch_size
    segmenter_options: dict[str, Any] = {}
    if segmenter is None and "device" in SEGMENTERS.resolve(args.segmenter)[0].options:
        segmenter_options["device"] = args.device
    return Pipeline.from_specs(
        args.reasoner,
        segmenter if segmenter is not None else args.segmenter,
        resolution=args.resolution,
        reasoner_options=reasoner_options,
        segmenter_options=segmenter_options,
        max_query_chars=args.max_query_chars,
        max_pixels=args.max_pixels,
    )


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
