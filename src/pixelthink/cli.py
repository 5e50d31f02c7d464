"""The ``pixelthink`` command.

Each sub-command lives in its own module under :mod:`pixelthink.commands` and exposes
``register(subparsers)``; this file only discovers and dispatches them, so adding a command
never touches another command's code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from pixelthink import __version__
from pixelthink import commands as _commands
from pixelthink.commands._errors import USER_ERRORS, error_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelthink",
        description="Efficient reasoning segmentation: data, inference, evaluation and training.",
    )
    parser.add_argument("--version", action="version", version=f"pixelthink {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO ("HTTP Request: POST ... 200 OK"): only with --verbose
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except USER_ERRORS as exc:
        print(f"pixelthink {args.command}: error: {error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"pixelthink {args.command}: interrupted (results written so far are kept; re-run to resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
