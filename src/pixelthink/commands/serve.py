"""``pixelthink serve MODEL_PATH``: an OpenAI-compatible chat-completions server on a local checkpoint."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a local reasoner checkpoint over an OpenAI-compatible API",
        description=(
            "Serve a Qwen2.5-VL / Qwen3-VL checkpoint with an OpenAI-compatible chat-completions API "
            "(POST /v1/chat/completions with image data URLs, logprobs/top_logprobs; GET /v1/models). "
            "Images are used at the resolution the client sends."
        ),
    )
    parser.add_argument("model_path", metavar="MODEL_PATH", help="local checkpoint directory")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument(
        "--model-name", default=None, help="model id clients pass (default: the directory name)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="most requests per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="default max_tokens of a request")
    parser.add_argument(
        "--dtype", default="auto", help="auto (bf16 on CUDA, float32 on CPU) | bfloat16 | float32"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default: %(default)s)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    path = Path(args.model_path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: model directory not found")
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")

    import uvicorn

    from pixelthink.models.reasoner_hf import TransformersReasoner
    from pixelthink.models.server import create_app

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
    uvicorn.run(create_app(reasoner, name), host=args.host, port=args.port, log_level=args.log_level)
    return 0
