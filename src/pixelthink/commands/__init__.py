"""Sub-commands of the ``pixelthink`` CLI: one module per command, each with ``register(subparsers)``.

A command's handler receives the parsed ``argparse.Namespace`` and returns an exit status.
Raise :class:`pixelthink.commands._errors.CommandError` (or ``ValueError`` / ``FileNotFoundError``) for
user errors: the CLI prints them in one line, without a traceback.
"""
