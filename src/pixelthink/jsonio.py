"""Small JSON helpers shared by every on-disk format (benchmark, predictions, reports, recipes).

Layer 0: imports nothing from pixelthink.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

logger = logging.getLogger(__name__)


#: the UTF-8 byte order mark some Windows tools put at the start of a text file; readers skip it
UTF8_BOM = b"\xef\xbb\xbf"


def skip_bom(fh: IO[bytes]) -> int:
    """Position a file just opened in binary mode after its byte order mark, if any; returns the offset
    where its content starts (0 or 3)."""
    start = len(UTF8_BOM) if fh.read(len(UTF8_BOM)) == UTF8_BOM else 0
    fh.seek(start)
    return start


def dumps_line(obj: Any) -> str:
    """Compact, deterministic JSON for one JSONL line (key order as given, UTF-8 kept, no NaN).

    A string holding a lone surrogate (``"\\ud800"``: legal in JSON, not encodable as UTF-8) makes the
    whole line use ``\\uXXXX`` escapes, so the line can be written and reads back to the same value.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def to_number(value: Any, where: str = "JSON") -> int | float:
    """``value`` as a JSON number: integral values become ``int``; NaN/inf raise ``ValueError``."""
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"non-finite number {value!r} cannot be written to {where}")
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def is_number(value: Any, *, finite: bool = True) -> bool:
    """True for a finite int/float that is not a bool (an int beyond float range, e.g. 400 digits, is not);
    with ``finite=False`` NaN and infinities count too."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) or not finite
    except OverflowError:
        return False


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with "...", for a value quoted in an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def rle_to_json(rle: Mapping[str, Any]) -> dict[str, Any]:
    """A COCO RLE with ``counts`` as ``str`` (pycocotools returns bytes) and ``size`` as plain ints."""
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def plain(obj: Any, *, nonfinite_to_none: bool = False) -> Any:
    """Convert numpy scalars/arrays and tuples inside ``obj`` to plain JSON types (recursively).

    With ``nonfinite_to_none`` NaN/inf floats become ``None`` instead of being left for the writer to reject.
    """
    if isinstance(obj, Mapping):
        return {str(k): plain(v, nonfinite_to_none=nonfinite_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, nonfinite_to_none=nonfinite_to_none) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist(), nonfinite_to_none=nonfinite_to_none)
    if isinstance(obj, np.generic):
        return plain(obj.item(), nonfinite_to_none=nonfinite_to_none)
    if nonfinite_to_none and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json_file(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Parse a JSON file; a missing file or invalid JSON raises an error naming the path (and line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8-sig"))  # -sig: a leading BOM is skipped
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # an integer of > 4300 digits, nesting beyond the stack
        raise ValueError(f"{p}: invalid JSON ({_load_problem(exc)})") from None


def _load_problem(exc: BaseException) -> str:
    """What ``json.loads`` refused, in words (its messages for these two name no place)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]


# ------------------------------------------------------------------------ writing files


@contextmanager
def naming_path(path: str | os.PathLike[str], *aliases: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise an ``OSError`` without a file name (a ``write`` on a full disk: ``ENOSPC``), or naming one
    of ``aliases`` (a temporary file written in its place), with ``path`` as its file name, so the error
    says which file could not be written."""
    try:
        yield
    except OSError as exc:
        named = exc.filename is not None and os.fspath(exc.filename) not in {os.fspath(a) for a in aliases}
        if named or exc.errno is None or exc.filename2 is not None:
            raise
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), os.fspath(path)) from None


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and ``os.replace``: a full disk or a
    crash leaves the old file (or none), never a partial one. Parent directories are created.

    A path that resolves to something other than a regular file (``/dev/stdout``, a pipe) is written in
    place; a symlink stays a link (its target is replaced). Errors are ``OSError`` naming the path.
    """
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file path", os.fspath(path))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with naming_path(path, target, tmp):
        if target.exists() and not target.is_file():
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
            return Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return Path(path)


# ------------------------------------------------------------------------ resumable JSONL files


def scan_jsonl(path: str | os.PathLike[str]) -> tuple[list[tuple[int, Any]], int | None]:
    """Parse every non-blank line of a JSONL file. Returns ``([(lineno, obj)], truncated_offset)``.

    ``truncated_offset`` is the byte offset where a truncated last line starts (a last line without a
    newline that is not valid JSON: a write interrupted by a crash or ``kill -9``), or None. Any other
    invalid line raises ``ValueError`` naming ``FILE:LINE``.
    """
    p = Path(path)
    records: list[tuple[int, Any]] = []
    truncated: int | None = None
    with open(p, "rb") as fh:
        data = fh.read()
    pos = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0  # a BOM (Windows editors) is not content
    lineno = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        last = end < 0
        raw = data[pos:] if last else data[pos:end]
        lineno += 1
        if raw.strip():
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                if last:
                    truncated = pos
                    break
                raise ValueError(f"{p}:{lineno}: invalid JSON ({exc})") from None
            # an integer of > 4300 digits, nesting beyond the stack: complete lines, never a truncation
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"{p}:{lineno}: invalid JSON ({_load_problem(exc)})") from None
            records.append((lineno, obj))
        pos = len(data) if last else end + 1
    return records, truncated


class OutputLockedError(FileExistsError):
    """Another process holds the lock of an output file (two writers would corrupt it).

    A :class:`FileExistsError` (the file exists and is in use), which the CLI reports in one line.
    """


def _lock(fh: IO[str], path: Path) -> None:
    """Take an exclusive, non-blocking ``flock`` on ``fh`` (released when it is closed).

    Raises:
        OutputLockedError: another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise OutputLockedError(
            f"{path} is being written by another process (it holds the file's lock); wait for it to "
            "finish, or write to another file (e.g. one --out per --shard i/n)"
        ) from None
    except OSError as exc:  # a file system without locks (some network mounts): write, but say so
        logger.warning("%s: cannot lock (%s); a concurrent writer would not be detected", path, exc)


class JsonlAppender:
    """Append-only, crash-safe JSONL file: one line per record, flushed as it is written.

    ``JsonlAppender(path, resume=True)``: with ``resume`` an existing file is parsed first (its records are
    in ``records`` as ``(lineno, obj)`` for the caller to validate), a truncated last line left by a
    crash is cut off with a warning (``repaired``), and new lines are appended; without ``resume`` an
    existing non-empty file is an error unless ``overwrite=True``. :meth:`write` writes one record as one
    line (:func:`dumps_line`) and flushes it (``fsync=True`` also forces it to disk), so a killed process
    loses at most the line being written. Usable as a context manager; ``close()`` otherwise.

    The appender holds an exclusive ``flock`` on the file from before it reads it until ``close()``: a
    second writer of the same file gets :class:`OutputLockedError` instead of interleaving lines or
    writing the same records again. Readers are not blocked.

    Used by :class:`pixelthink.predictions.PredictionWriter` and the annotation / judge caches.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        resume: bool = True,
        *,
        overwrite: bool = False,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.repaired = False
        self.records: list[tuple[int, Any]] = []
        if self.path.is_dir():
            raise ValueError(
                f"{self.path} is a directory; the output must be a file path (e.g. {self.path / 'out.jsonl'})"
            )
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists and not resume and not overwrite:
            raise FileExistsError(f"{self.path} exists; resume it (resume=True) or pass overwrite=True")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened for appending (creates, never truncates) and locked before anything is read or cut.
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        _lock(self._fh, self.path)
        try:
            if resume:
                self._resume()
            else:
                self._fh.truncate(0)  # overwrite (or a new file): start over, under the lock
        except BaseException:
            self._fh.close()
            raise

    def _resume(self) -> None:
        if self.path.stat().st_size == 0:
            return
        self.records, truncated = scan_jsonl(self.path)
        if truncated is not None:
            logger.warning(
                "%s: dropping a truncated last line from an interrupted run (byte %d)", self.path, truncated
            )
            self._fh.truncate(truncated)
            self.repaired = True
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            needs_newline = False
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        if needs_newline:
            self._fh.write("\n")
            self._fh.flush()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def close(self) -> None:
        if not self._fh.closed:
            with naming_path(self.path):  # closing flushes: a full disk names the file
                self._fh.close()

    def write(self, obj: Any) -> None:
        """Append ``obj`` as one line (:func:`dumps_line`: a newline inside a string is escaped) and flush it."""
        line = dumps_line(obj)
        with naming_path(self.path):  # a full disk: an error naming the file
            self._fh.write(line + "\n")
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
