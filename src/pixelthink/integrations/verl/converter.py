"""``python -m pixelthink.integrations.verl.converter DATA OUT.parquet [--split train] [--resolution 840]``.

The verl converter's entry point, kept at the path the docs and launch scripts name: its arguments are
parsed in :mod:`pixelthink.commands._verl`, the conversion is
:func:`pixelthink.integrations.verl.parquet.convert_benchmark`.
"""

from __future__ import annotations

from pixelthink.commands._verl import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
