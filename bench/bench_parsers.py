"""Parser and reward time vs response length, on adversarial model output (a script, not a test).

Model output is untrusted input. The authors' patterns (``<think>(.*?)</think>``,
``<answer>(.*?)</answer>``, ``{[^}]+}``, the full-match thinking format) backtrack quadratically on
text such as ``"<think>" * 16000``; pixelthink matches them with ``str.find`` in linear time.

For each adversarial family and length this prints the seconds of one call of ``parse_strict``,
``parse_lenient``, ``accuracy_terms`` and ``pixelthink_reward``:

* ``new``: the code as shipped;
* ``old``: the same functions with the three matchers (:func:`find_block`, :func:`json_object_span`,
  :func:`is_thinking_format`) swapped for the authors' regexes, i.e. the code before the linear
  matchers. It is skipped (``-``) once a quadratic extrapolation of the last measured length predicts
  more than ``--old-limit`` seconds.

Usage: ``.venv/bin/python bench/bench_parsers.py [--max-len 1000000] [--old-limit 20]``
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator

GT = "<box>(100,100),(300,300)</box><points>(150,150),(250,250)</points>"
ANSWER = '{"bbox": [100, 100, 300, 300], "points_1": [150, 150], "points_2": [250, 250]}'

FAMILIES: dict[str, Callable[[int], str]] = {
    # unit repeated to the length: each start of a lazy match scans to the end
    "'<think>' * k": lambda n: "<think>" * (n // 7),
    "'<answer>' * k": lambda n: "<answer>" * (n // 8),
    "'{' * n": lambda n: "{" * n,
    "'<think></think><answer>' * k": lambda n: "<think></think><answer>" * (n // 23),
    # a well-formed answer after a very long reasoning (what a runaway generation looks like)
    "long think, valid answer": lambda n: (
        "<think>"
        + "the red cup left of the plate " * (max(0, n - 120) // 30)
        + "</think><answer>"
        + ANSWER
        + "</answer>"
    ),
}


def _regex_matchers() -> dict[str, Callable[..., object]]:
    """The authors' regex semantics for the three matchers (the code before the linear ones)."""
    from pixelthink.answer import JSON_OBJECT_RE, THINKING_FORMAT_RE

    def find_block(text: str, open_tag: str, close_tag: str) -> tuple[int, int] | None:
        m = re.search(re.escape(open_tag) + "(.*?)" + re.escape(close_tag), text, re.DOTALL)
        return m.span(1) if m else None

    def json_object_span(text: str) -> tuple[int, int] | None:
        m = JSON_OBJECT_RE.search(text)
        return m.span() if m else None

    def is_thinking_format(text: str) -> bool:
        return THINKING_FORMAT_RE.fullmatch(text) is not None

    return {
        "find_block": find_block,
        "json_object_span": json_object_span,
        "is_thinking_format": is_thinking_format,
    }


@contextlib.contextmanager
def regex_matchers() -> Iterator[None]:
    """Swap the linear matchers for the regexes wherever they are used."""
    import pixelthink.answer as answer
    import pixelthink.rewards as rewards

    saved: list[tuple[object, str, object]] = []
    for name, fn in _regex_matchers().items():
        for module in (answer, rewards):
            if hasattr(module, name):
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, fn)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-len", type=int, default=1_000_000, help="longest response, characters")
    parser.add_argument(
        "--old-limit", type=float, default=20.0, help="skip an old measurement predicted to take longer (s)"
    )
    args = parser.parse_args(argv)

    from pixelthink.answer import parse_lenient, parse_strict
    from pixelthink.rewards import accuracy_terms, pixelthink_reward

    functions: dict[str, Callable[[str], object]] = {
        "parse_strict": parse_strict,
        "parse_lenient": lambda r: parse_lenient(r, (840, 840)),
        "accuracy_terms": lambda r: accuracy_terms(r, GT),
        "pixelthink_reward": lambda r: pixelthink_reward(r, GT, 6.0, 0.4),
    }
    lengths = [n for n in (1_000, 4_000, 16_000, 64_000, 256_000, 1_000_000) if n <= args.max_len]
    print(
        f"python {platform.python_version()} on {platform.machine()}; seconds per call (new: best of 3; old: one call)"
    )
    header = f"| {'family':<30} | {'function':<17} | " + " | ".join(f"{n:>19,}" for n in lengths) + " |"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    worst_new = 0.0
    for family, make in FAMILIES.items():
        texts = {n: make(n) for n in lengths}
        for fname, fn in functions.items():
            cells = []
            last_old: tuple[int, float] | None = None
            for n in lengths:
                text = texts[n]
                new = min(seconds(lambda text=text, fn=fn: fn(text)) for _ in range(3))
                worst_new = max(worst_new, new)
                predicted = None if last_old is None else last_old[1] * (n / last_old[0]) ** 2
                if predicted is not None and predicted > args.old_limit:
                    old_cell = "-"
                else:
                    with regex_matchers():
                        old = seconds(lambda text=text, fn=fn: fn(text))
                    last_old = (n, old)
                    old_cell = f"{old:.2e}"
                cells.append(f"{old_cell:>8} / {new:.2e}")
            print(f"| {family:<30} | {fname:<17} | " + " | ".join(f"{c:>19}" for c in cells) + " |")
    print(
        f"\ncells: old (authors' regexes) / new (linear matchers), seconds; '-' = old skipped "
        f"(predicted > {args.old_limit:g} s). Slowest new call: {worst_new:.3f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
