"""The CLI's user errors: :class:`CommandError` and the other exceptions printed in one line, exit 2.

Commands raise them; :mod:`pixelthink.cli` (the entry point) catches them, so no command imports the
entry point.
"""

from __future__ import annotations

import os


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


#: Errors caused by the user's input or environment (bad files, values, unreachable servers): printed in
#: one line without a traceback, exit status 2. Anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    CommandError,
    FileNotFoundError,
    FileExistsError,
    ConnectionError,
    TimeoutError,
    ValueError,
    OSError,  # a directory where a file is expected, no permission, a full disk: the environment's, not a bug
)


def error_text(exc: BaseException) -> str:
    """The one-line message of a user error; an OS error reads ``PATH: CAUSE`` (``[Errno 28] ...:
    'PATH'`` becomes ``PATH: No space left on device``)."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        where = " -> ".join(os.fsdecode(n) if isinstance(n, (str, bytes)) else str(n) for n in names)
        return f"{where}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} (errno {exc.errno})"
    return str(exc)
