"""Command-line options shared by several sub-commands (not a command itself: the CLI skips ``_`` modules)."""

from __future__ import annotations

import argparse

from pixelthink.answer import DEFAULT_MAX_QUERY_CHARS
from pixelthink.images import DEFAULT_MAX_PIXELS


def positive_int(text: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``0`` switches a limit off)."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
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
