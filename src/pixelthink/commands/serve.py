"""``pixelthink serve MODEL_PATH``: an OpenAI-compatible chat-completions server on a local checkpoint."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelthink.serving.limits import ServerLimits

logger = logging.getLogger(__name__)

#: the environment variable of the server token: the one place it is named (app and serve read it here)
TOKEN_ENV = "PIXELTHINK_TOKEN"


def add_server_arguments(
    parser: argparse.ArgumentParser, *, port: int, pixels: bool = True, max_queue: int | None = None
) -> None:
    """Bind address, token and limits: the options ``serve`` and ``app`` share (``pixels=False`` when
    the command already has ``--max-pixels`` from :func:`~pixelthink.commands._options.add_limit_arguments`;
    ``max_queue``: the default of ``--max-queue``, else :data:`~pixelthink.serving.limits.DEFAULT_MAX_QUEUE`)."""
    from pixelthink.images import DEFAULT_MAX_PIXELS
    from pixelthink.serving.limits import (
        DEFAULT_BODY_TIMEOUT_S,
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_QUEUE,
    )

    group = parser.add_argument_group("server and safety")
    group.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default: %(default)s, this machine only; another address without a token "
        "prints a warning)",
    )
    group.add_argument("--port", type=int, default=port, help="port (default: %(default)s)")
    group.add_argument(
        "--token",
        "--api-key",
        dest="token",
        default=None,
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' on every request (default: ${TOKEN_ENV} if set, "
        "else no token)",
    )
    group.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_BYTES / 2**20,
        metavar="MB",
        help="largest request body in MiB; larger ones get 413 (default: %(default)g)",
    )
    if pixels:
        group.add_argument(
            "--max-pixels",
            type=int,
            default=DEFAULT_MAX_PIXELS,
            metavar="N",
            help="largest image (width x height) accepted, read from its header before decoding; larger "
            "ones get 413; 0 = no limit (default: %(default)d)",
        )
    group.add_argument(
        "--max-queue",
        type=int,
        default=max_queue or DEFAULT_MAX_QUEUE,
        metavar="N",
        help="requests admitted at once, running or waiting (a request is admitted once its body has "
        "arrived); more get 429 with Retry-After (default: %(default)d"
        + (", pixelthink predict's default --concurrency)" if max_queue is None else ")"),
    )
    group.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT_S,
        metavar="SECONDS",
        help="seconds a client has to send its whole request body; a slower one gets 408 and its "
        "connection is closed (default: %(default)g)",
    )
    group.add_argument("--log-level", default="info", help="uvicorn log level (default: %(default)s)")


def limits_from_args(args: argparse.Namespace, *, query_token: bool = False) -> ServerLimits:
    """The :class:`~pixelthink.serving.limits.ServerLimits` of :func:`add_server_arguments` options; prints
    the exposure warning (stderr) when binding a non-loopback address without a token."""
    from pixelthink.serving.httpsafety import exposure_warning
    from pixelthink.serving.limits import DEFAULT_BODY_TIMEOUT_S, ServerLimits

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.max_body_mb <= 0:
        raise ValueError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    if args.max_pixels < 0:
        raise ValueError(f"--max-pixels must be >= 0, got {args.max_pixels}")
    if args.max_queue < 1:
        raise ValueError(f"--max-queue must be >= 1, got {args.max_queue}")
    body_timeout = getattr(args, "body_timeout", DEFAULT_BODY_TIMEOUT_S)
    if not 0 < body_timeout < float("inf"):
        raise ValueError(f"--body-timeout must be a positive number of seconds, got {body_timeout}")
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise ValueError("--token must not be empty")
    warning = exposure_warning(args.host, token, "--token", TOKEN_ENV)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return ServerLimits(
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_pixels=args.max_pixels or None,
        max_queue=args.max_queue,
        body_timeout_s=body_timeout,
        api_key=token,
        query_token=query_token,
    )


def register(subparsers: Any) -> None:
    from pixelthink.serving.limits import DEFAULT_MAX_TOKENS_CAP

    parser = subparsers.add_parser(
        "serve",
        help="serve a local reasoner checkpoint over an OpenAI-compatible API",
        description=(
            "Serve a Qwen2.5-VL / Qwen3-VL checkpoint with an OpenAI-compatible chat-completions API "
            "(POST /v1/chat/completions with image data URLs, logprobs/top_logprobs; GET /v1/models). "
            "Images are used at the resolution the client sends. Binds 127.0.0.1 by default; every "
            "error is an OpenAI-style JSON body; bodies, images, max_tokens and the queue are limited "
            "(see the options)."
        ),
    )
    parser.add_argument("model_path", metavar="MODEL_PATH", help="local checkpoint directory")
    parser.add_argument(
        "--model-name", default=None, help="model id clients pass (default: the directory name)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="most requests per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="default max_tokens of a request")
    parser.add_argument(
        "--max-tokens-cap",
        type=int,
        default=DEFAULT_MAX_TOKENS_CAP,
        metavar="N",
        help="largest max_tokens a request may ask for; more gets 400 (default: %(default)s)",
    )
    parser.add_argument(
        "--dtype", default="auto", help="auto (bf16 on CUDA, float32 on CPU) | bfloat16 | float32"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_server_arguments(parser, port=8000)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    path = Path(args.model_path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: model directory not found")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.max_tokens_cap < args.max_new_tokens:
        raise ValueError(
            f"--max-tokens-cap ({args.max_tokens_cap}) must be >= --max-new-tokens ({args.max_new_tokens})"
        )
    limits = limits_from_args(args)

    from pixelthink.models.reasoner_hf import TransformersReasoner
    from pixelthink.serving.httpsafety import run_server
    from pixelthink.serving.openai_server import create_app

    reasoner = TransformersReasoner.from_pretrained(
        path,
        resolution=None,
        max_new_tokens=args.max_new_tokens,
        dtype=args.dtype,
        device=args.device,
        batch_size=args.batch_size,
    )
    name = args.model_name or path.resolve().name
    logger.info("serving %s as %r on http://%s:%d/v1", path, name, args.host, args.port)
    app = create_app(reasoner, name, limits=limits, max_tokens_cap=args.max_tokens_cap)
    run_server(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
