"""A resumable JSONL cache of judge answers: one line per key, written as each answer arrives.

Built on :class:`pixelthink.jsonio.JsonlAppender` (the pattern of ``predictions.jsonl``): every line is
flushed when written, so a killed process (``kill -9``) loses at most the line being written; re-opening
the file cuts off a truncated last line and continues. Each line is a JSON object with a string ``key``
(a sample id for annotations, a hash of the judged text for RScore) and whatever the job records.
A key is written at most once per file; :meth:`JudgeCache.drop` rewrites the file without some keys
(to ask again for recorded failures), atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pixelthink.jsonio import JsonlAppender, dumps_line, plain, scan_jsonl

__all__ = ["JudgeCache", "read_cache_records"]


RecordCheck = Callable[[Mapping[str, Any]], str | None]
"""``check(record) -> problem or None``: what a job requires of its records beyond a string ``key``."""


def _records(
    path: Path, entries: Iterable[tuple[int, Any]], check: RecordCheck | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, int] = {}
    for lineno, obj in entries:
        if not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
            raise ValueError(f"{path}:{lineno}: expected a JSON object with a string field 'key'")
        problem = None if check is None else check(obj)
        if problem is not None:
            raise ValueError(f"{path}:{lineno}: {problem}")
        key = obj["key"]
        if key in seen:
            raise ValueError(
                f"{path}:{lineno}: field 'key': duplicate key {key!r} (first on line {seen[key]})"
            )
        seen[key] = lineno
        yield key, obj


class JudgeCache:
    """Append-only cache file: ``records`` (key -> record) holds what earlier runs wrote.

    Args:
        path: the JSONL file (created with its folder when missing).
        fsync: force every line to disk (slower; flushing alone survives a killed process, not a
            power cut).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._open()

    def _open(self) -> None:
        self._out = JsonlAppender(self.path, resume=True, fsync=self._fsync)
        try:
            self.records: dict[str, dict[str, Any]] = dict(_records(self.path, self._out.records))
        except ValueError:
            self._out.close()
            raise
        self._out.records = []
        self.repaired = self._out.repaired

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._out.close()

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def write(self, key: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append ``{"key": key, **record}`` (one flushed line) and return it. ValueError if ``key`` is cached."""
        if key in self.records:
            raise ValueError(f"{self.path}: key {key!r} is already cached")
        obj = plain({"key": key, **{k: v for k, v in record.items() if k != "key"}}, nonfinite_to_none=True)
        self._out.write(obj)
        self.records[key] = obj
        return obj

    def drop(self, keys: Iterable[str]) -> int:
        """Rewrite the file without ``keys`` (temporary file + ``os.replace``); returns how many went."""
        gone = {k for k in keys if k in self.records}
        if not gone:
            return 0
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                for key, obj in self.records.items():
                    if key not in gone:
                        fh.write(dumps_line(obj) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._open()
        return len(gone)


def read_cache_records(
    paths: Sequence[str | os.PathLike[str]], check: RecordCheck | None = None
) -> dict[str, dict[str, Any]]:
    """The records of several cache files (the shards of one job), merged by key.

    A truncated last line (an interrupted run) is skipped; a key in two files is an error naming both;
    a record ``check`` finds a problem with is an error naming ``FILE:LINE``.
    """
    merged: dict[str, dict[str, Any]] = {}
    where: dict[str, Path] = {}
    for path in paths:
        p = Path(path)
        entries, _truncated = scan_jsonl(p)
        for key, obj in _records(p, entries, check):
            if key in merged:
                raise ValueError(f"judge cache: key {key!r} is in both {where[key]} and {p}")
            merged[key], where[key] = obj, p
    return merged
