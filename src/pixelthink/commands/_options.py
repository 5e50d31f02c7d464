"""Command-line options shared by several sub-commands (not a command itself: the CLI skips ``_`` modules):
number parsers, input limits, outputs that are inputs, and the model options of ``segment``, ``predict``,
``app`` and ``annotate`` (:func:`add_model_arguments`, :func:`pipeline_from_args`)."""

from __future__ import annotations

import argparse
import errno
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelthink.answer import DEFAULT_MAX_QUERY_CHARS, PROMPT_PRESETS
from pixelthink.images import DEFAULT_MAX_PIXELS, frame_size_problem

if TYPE_CHECKING:
    from pixelthink.data.format import Benchmark
    from pixelthink.models.segmenters import Segmenter
    from pixelthink.pipeline import Pipeline


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def frame_side(text: str) -> int:
    """A square model frame's side (``--resolution`` of the exporters): ``0`` (the native size, where a
    command allows it, see :func:`frame_side_or_native`) excluded, a frame over the image limit refused."""
    value = positive_int(text)
    problem = frame_size_problem(value)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def frame_side_or_native(text: str) -> int:
    """:func:`frame_side`, or ``0`` for the native size."""
    return 0 if non_negative_int(text) == 0 else frame_side(text)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``0`` switches a limit off)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds of a timeout: 0 or less would fail every request later)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_limit_arguments(parser: argparse.ArgumentParser, *, query: bool = True) -> None:
    """``--max-pixels`` (images) and, with ``query``, ``--max-query-chars``: bounds on untrusted input."""
    group = parser.add_argument_group("input limits")
    group.add_argument(
        "--max-pixels",
        type=non_negative_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="largest image accepted, in pixels (width x height), read from the file header before "
        "decoding; a larger one fails (per sample in predict); 0 = no limit (default: %(default)s)",
    )
    if query:
        group.add_argument(
            "--max-query-chars",
            type=non_negative_int,
            default=DEFAULT_MAX_QUERY_CHARS,
            metavar="N",
            help="longest query sent to the reasoner, in characters; a longer one fails (per sample in "
            "predict; data validate warns); 0 = no limit (default: %(default)s)",
        )


# ------------------------------------------------------------------------ outputs that are inputs

PathArg = str | os.PathLike[str] | None


def _input_parts(path: str | os.PathLike[str]) -> list[tuple[Path, bool]]:
    """What reading ``path`` reads, resolved: ``(path, is_tree)``. A pixelthink benchmark directory is its
    samples.jsonl, meta.json and images/ tree; another directory (a LISA folder, parquet shards) is a
    tree; a file is itself."""
    from pixelthink.data.format import IMAGES_DIR, META_FILE, SAMPLES_FILE

    real = Path(os.path.realpath(path))
    if real.is_dir():
        if (real / SAMPLES_FILE).is_file():
            return [(real / SAMPLES_FILE, False), (real / META_FILE, False), (real / IMAGES_DIR, True)]
        return [(real, True)]
    return [(real, False)]


def check_outputs(
    inputs: Mapping[str, PathArg | Sequence[PathArg]],
    files: Mapping[str, PathArg] | None = None,
    dirs: Mapping[str, PathArg] | None = None,
    *,
    replaced: bool = False,
) -> None:
    """Refuse outputs that would destroy an input or cannot be written, before any work is done.

    ``inputs``, ``files`` (output files) and ``dirs`` (output directories) map the option that names a
    path (``"--data"``) to the path (None: not given). Paths are compared resolved, through symlinks.
    ``replaced``: the output directories are replaced as a whole (an import with ``--overwrite``), so no
    input may lie inside them.

    Raises:
        ValueError: an output file is one of the inputs (or inside an input benchmark's images), or an
            input lies inside an output directory that is ``replaced``.
        IsADirectoryError: an output file is an existing directory.
        NotADirectoryError: an output directory is an existing file, or an output lies under a file.
    """
    parts: list[tuple[str, str, Path, bool]] = []
    for option, value in inputs.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None:
                parts.extend((option, os.fspath(item), p, tree) for p, tree in _input_parts(item))
    for option, out in (dirs or {}).items():
        if out is None:
            continue
        real = Path(os.path.realpath(out))
        if real.exists() and not real.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, f"{option} is a file, expected a directory", os.fspath(out)
            )
        for in_option, given, part, _tree in parts if replaced else []:
            if part.is_relative_to(real):
                raise ValueError(
                    f"{option} {out} holds the input {in_option} {given}: writing there would destroy that "
                    "input; choose another output directory"
                )
    for option, out in (files or {}).items():
        if out is None:
            continue
        real = Path(os.path.realpath(out))
        if real.is_dir():
            raise IsADirectoryError(
                errno.EISDIR, f"{option} is a directory, expected a file path", os.fspath(out)
            )
        parent = next((p for p in real.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, f"{option} lies under a file, not a directory", os.fspath(parent)
            )
        for in_option, given, part, tree in parts:
            if real == part or (tree and real.is_relative_to(part)):
                raise ValueError(
                    f"{option} {out} is {'inside ' if real != part else ''}the input {in_option} {given}: "
                    "writing it would destroy that input; choose another output path"
                )


# ------------------------------------------------------- model options (segment, predict, app, annotate)


def parse_resolution(text: str) -> int | tuple[int, int] | str | None:
    """``"840"`` -> 840, ``"native"`` -> None, ``"1280x720"`` / ``"1280,720"`` -> (1280, 720),
    ``"auto"`` -> ``"auto"`` (the checkpoint's training resolution, else 840)."""
    value = text.strip().lower()
    if value == "native":
        return None
    if value == "auto":
        return "auto"
    match = re.fullmatch(r"(\d+)\s*[x,]\s*(\d+)", value)
    parsed: int | tuple[int, int] | None = None
    if match:
        w, h = int(match.group(1)), int(match.group(2))
        if w > 0 and h > 0:
            parsed = (w, h)
    elif value.isdigit() and int(value) > 0:
        parsed = int(value)
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, WIDTHxHEIGHT, 'native' or 'auto', got {text!r}"
        )
    problem = frame_size_problem(parsed)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return parsed


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


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a prediction run records in run.json (``--resolution auto`` resolved to the number used)."""
    from pixelthink.models.reasoners import resolve_resolution

    args.resolution = resolve_resolution(args.reasoner, args.resolution)  # "auto" -> the number used
    return {
        "reasoner": args.reasoner,
        "model": args.model,
        "segmenter": args.segmenter,
        "resolution": "native" if args.resolution is None else args.resolution,
        "answer_frame": args.answer_frame,
        "max_new_tokens": args.max_new_tokens,
        **baseline_settings(args),
        "max_query_chars": args.max_query_chars,
        "max_pixels": args.max_pixels,
        "device": args.device,
    }


@dataclass
class PredictionRun:
    """What ``pixelthink predict``'s options give :func:`~pixelthink.pipeline.run.run_predictions`."""

    benchmark: Benchmark
    settings: dict[str, Any]
    pipeline: Callable[[], Pipeline]  # built only when some selected sample is left to predict


def prediction_run(args: argparse.Namespace) -> PredictionRun:
    """``--data`` opened (with ``--split``) once ``--out`` and its run file are known to be writable
    without touching an input, the settings the run records, and the pipeline's builder."""
    from pixelthink.data.resolve import open_benchmark
    from pixelthink.pipeline.run import run_file_for

    check_outputs({"--data": args.data}, {"--out": args.out, "--out's run file": run_file_for(args.out)})
    benchmark = open_benchmark(args.data, split=args.split)
    settings = run_settings(args)
    return PredictionRun(benchmark, settings, lambda: pipeline_from_args(args, batch_size=args.batch_size))


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
