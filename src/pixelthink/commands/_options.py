"""Command-line options shared by several sub-commands (not a command itself: the CLI skips ``_`` modules)."""

from __future__ import annotations

import argparse
import errno
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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
