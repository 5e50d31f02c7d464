"""pixelthink app: a web page and an HTTP API to try reasoning segmentation on your own images.

Upload an image (or pick an embedded example), type a query, and watch the reasoning stream in; then
the answer's box and points are drawn on the image with the mask (toggle), the token counts, the
uncertainty U and the per-stage latency. With --reasoner-b two models answer side by side. With
--run-data and --run-predictions a run browser pages through a benchmark run. With no model
given, the shipped tiny model runs with GrabCut, so pixelthink app works on a fresh machine.
The same server answers POST /v1/segment (JSON with the mask as COCO RLE); see docs/APP.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pixelthink.commands._options import add_model_arguments, pipeline_from_args
from pixelthink.commands.serve import add_server_arguments, limits_from_args

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "app",
        help="web page + HTTP API: try a model on your own image, compare two models, browse a run",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    add_model_arguments(parser, reasoner_default="", max_new_tokens=512)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        metavar="N",
        help="most waiting API requests of one model answered as one batch (streamed ones run alone; "
        "default: %(default)s)",
    )
    group = parser.add_argument_group("second model (side by side)")
    group.add_argument(
        "--reasoner-b",
        metavar="PATH_OR_URL",
        help="a second reasoner answering the same image and query next to the first (same segmenter, "
        "resolution and decoding options)",
    )
    group.add_argument("--model-b", metavar="NAME", help="model name of --reasoner-b on its server")
    group = parser.add_argument_group("run browser")
    group.add_argument("--run-data", type=Path, metavar="DIR", help="benchmark of the run to browse")
    group.add_argument("--run-predictions", type=Path, metavar="FILE", help="its predictions.jsonl")
    group.add_argument(
        "--run-eval", type=Path, metavar="FILE", help="its `pixelthink eval` JSON (default: evaluated here)"
    )
    group = parser.add_argument_group("page")
    group.add_argument(
        "--examples", type=int, default=3, metavar="N", help="embedded example images (default: %(default)s)"
    )
    # --max-pixels and --max-query-chars come with the model arguments (input limits).
    from pixelthink.serving.limits import DEFAULT_APP_MAX_QUEUE

    add_server_arguments(parser, port=DEFAULT_PORT, pixels=False, max_queue=DEFAULT_APP_MAX_QUEUE)
    parser.set_defaults(func=handle)


def _name(spec: str, model: str | None) -> str:
    from pixelthink.models.registry import reasoner_backend

    if reasoner_backend(spec) == "openai":
        from pixelthink.models.reasoners import parse_openai_spec

        return parse_openai_spec(spec, model)[1]
    return Path(spec).expanduser().resolve().name


def _is_shipped(spec: str) -> bool:
    """Whether ``spec`` is the tiny model shipped in the package (``miniature.model.shipped_model_dir``)."""
    from pixelthink.miniature.model import shipped_model_dir

    try:
        return Path(spec).expanduser().resolve() == shipped_model_dir()
    except (OSError, ValueError):
        return False


def handle(args: argparse.Namespace) -> int:
    from pixelthink.miniature.model import shipped_model_dir
    from pixelthink.models.registry import reasoner_backend
    from pixelthink.serving.webapp.examples import make_examples
    from pixelthink.serving.webapp.runs import RunBrowser
    from pixelthink.serving.webapp.server import ModelSlot, create_app

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if (args.run_data is None) != (args.run_predictions is None):
        raise ValueError("the run browser needs both --run-data and --run-predictions")
    if args.run_eval is not None and args.run_data is None:
        raise ValueError("--run-eval needs --run-data and --run-predictions")
    if args.model_b and not args.reasoner_b:
        raise ValueError("--model-b names the model of --reasoner-b, which is not given")
    limits = limits_from_args(args, query_token=True)
    if not args.reasoner:
        args.reasoner = str(shipped_model_dir())
        if not (Path(args.reasoner) / "config.json").is_file():
            raise FileNotFoundError(f"{args.reasoner}: the shipped tiny model is missing (make reproduce)")
    examples = make_examples(args.examples)
    run = None
    if args.run_data is not None:
        print(f"loading the run {args.run_predictions} on {args.run_data} ...", flush=True)
        run = RunBrowser(args.run_data, args.run_predictions, args.run_eval)

    print(f"loading model a: {args.reasoner} ...", flush=True)
    first = pipeline_from_args(args, batch_size=args.batch_size)
    models = [
        ModelSlot(
            "a",
            _name(args.reasoner, args.model),
            args.reasoner,
            first,
            reasoner_backend(args.reasoner),
            embedded=_is_shipped(args.reasoner),
        )
    ]
    if args.reasoner_b:
        print(f"loading model b: {args.reasoner_b} ...", flush=True)
        other = argparse.Namespace(**{**vars(args), "reasoner": args.reasoner_b, "model": args.model_b})
        models.append(
            ModelSlot(
                "b",
                _name(args.reasoner_b, args.model_b),
                args.reasoner_b,
                pipeline_from_args(other, batch_size=args.batch_size, segmenter=first.segmenter),
                reasoner_backend(args.reasoner_b),
                embedded=_is_shipped(args.reasoner_b),
            )
        )
    app = create_app(
        models,
        segmenter=args.segmenter,
        limits=limits,
        examples=examples,
        run=run,
        max_query_chars=args.max_query_chars or None,
        batch_size=args.batch_size,
    )
    from pixelthink.serving.httpsafety import run_server

    host = f"[{args.host}]" if ":" in args.host else args.host
    suffix = f"?token={limits.api_key}" if limits.api_key else ""
    print(f"pixelthink app: http://{host}:{args.port}/{suffix}  (API docs: /docs)", flush=True)
    run_server(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
