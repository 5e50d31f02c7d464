"""The resumable annotation loop shared by every annotator, and writing results into a benchmark.

:func:`run_annotation` walks the selected samples (``shard``, ``limit``, the benchmark's split) in batches,
asks the annotator for one record per sample and appends each record to a JSONL cache
(:class:`pixelthink.judging.JudgeCache`: flushed per line, a truncated last line repaired on resume) as
soon as its batch completes. A re-run skips the samples already in the cache, so a crash or ``kill -9``
loses at most the batch in flight, and no sample is written twice. ``retry_failed`` first removes the
records of failed samples from this run's file, so they are asked again. Samples that another file of the
same job holds (another shard's, or the unsharded run's) count as done, so a run without ``--shard`` after
sharded runs annotates only what the shards left.

Cache files live in ``cache_dir`` (default ``BENCH/annotations``), one per job::

    {task}.{key}.jsonl                 e.g. difficulty.judge.Qwen2.5-VL-72B-Instruct.difficulty@v1+19c56419.3f0a9b12.jsonl
    {task}.{key}.shard{i}of{n}.jsonl   one per shard with --shard i/n (shards can run at once)
    {task}.{key}.settings.json         the settings the key stands for

``key`` names the method, the model and the prompt id, and ends in a hash of every setting that changes the
answers (votes, temperature, frame, ...): other settings write another file instead of mixing.
:func:`cached_records` merges a job's files; :func:`apply_difficulty` / :func:`apply_references` write the
successful records into ``samples.jsonl`` (atomically, by exact id) and the provenance into ``meta.json``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pixelthink.annotate.records import failed_record
from pixelthink.answer import query_problem
from pixelthink.data.format import (
    DIFFICULTY_RANGE,
    Benchmark,
    Sample,
    select_ids,
    update_meta,
    update_samples_by_id,
)
from pixelthink.jsonio import is_number
from pixelthink.judging import JudgeCache, read_cache_records

__all__ = [
    "ANNOTATIONS_DIR",
    "Annotator",
    "RunSummary",
    "apply_difficulty",
    "apply_references",
    "cache_files",
    "cache_path",
    "cached_records",
    "job_key",
    "run_annotation",
    "slug",
]

logger = logging.getLogger(__name__)

ANNOTATIONS_DIR = "annotations"


class Annotator(Protocol):
    """One annotation job: ``annotate(samples, bench)`` returns one record per sample, in order.

    Each record is a JSON-ready dict with ``"status": "ok" | "failed"`` (failed ones with ``"errors"``),
    plus the job's fields (``difficulty``, ``reasoning_short``, ...). A per-sample problem is a failed
    record, never an exception; exceptions stop the run (a server that cannot be reached, a bug).
    """

    task: str
    key: str
    settings: dict[str, Any]

    def annotate(self, samples: Sequence[Sample], bench: Benchmark) -> list[dict[str, Any]]: ...


def slug(text: str, limit: int = 60) -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``._@+-``)."""
    return re.sub(r"[^A-Za-z0-9_.@+-]+", "_", str(text)).strip("_.")[:limit] or "x"


def job_key(*readable: str, settings: Mapping[str, Any]) -> str:
    """``readable.parts.HASH``: HASH = 8 hex digits of the SHA-256 of ``settings`` (sorted JSON)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:8]
    return ".".join([*(slug(r) for r in readable if r), digest])


def cache_path(cache_dir: str | Path, task: str, key: str, shard: tuple[int, int] | None = None) -> Path:
    """The cache file of a job (of one shard of it)."""
    suffix = "" if shard is None else f".shard{shard[0]}of{shard[1]}"
    return Path(cache_dir) / f"{task}.{key}{suffix}.jsonl"


def cache_files(cache_dir: str | Path, task: str, key: str) -> list[Path]:
    """Every cache file of a job: the unsharded one and those of any shards."""
    root = Path(cache_dir)
    files = [root / f"{task}.{key}.jsonl", *sorted(root.glob(f"{task}.{key}.shard*of*.jsonl"))]
    return [f for f in files if f.is_file()]


def difficulty_record_problem(record: Mapping[str, Any]) -> str | None:
    """What is wrong with a difficulty cache record, or None: an ok record's ``difficulty`` must be null
    or a finite number in :data:`~pixelthink.data.format.DIFFICULTY_RANGE` (not NaN, not 5000 digits)."""
    value = record.get("difficulty")
    if record.get("status") != "ok" or value is None:
        return None
    lo, hi = DIFFICULTY_RANGE
    if not is_number(value) or not lo <= float(value) <= hi:
        shown = repr(value)
        if len(shown) > 40:
            shown = f"{shown[:20]}... ({len(shown)} characters)"
        return f"field 'difficulty': expected null or a number in {lo:g}..{hi:g}, got {shown}"
    return None


def cached_records(cache_dir: str | Path, task: str, key: str) -> dict[str, dict[str, Any]]:
    """The records of a job (all its cache files merged), sample id -> record; a difficulty record with
    an unusable value is an error naming its file and line (:func:`difficulty_record_problem`)."""
    check = difficulty_record_problem if task == "difficulty" else None
    return read_cache_records(cache_files(cache_dir, task, key), check)


@dataclass
class RunSummary:
    """What :func:`run_annotation` did."""

    task: str
    key: str
    cache: Path
    selected: int = 0
    already: int = 0
    written: int = 0
    ok: int = 0
    failed: int = 0
    retried: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        rate = f", {self.written / self.seconds:.2f} samples/s" if self.written and self.seconds > 0 else ""
        text = (
            f"{self.task}: {self.selected} selected, {self.already} already cached, {self.written} annotated "
            f"({self.ok} ok, {self.failed} failed{rate}); cache {self.cache}"
        )
        if self.errors:
            text += "; failures: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items()))
        return text


def _error_kind(record: Mapping[str, Any]) -> str:
    """The failure a record names; ``"unknown"`` for a record cached before records named it."""
    failure = record.get("failure")
    return failure if isinstance(failure, str) and failure else "unknown"


def run_annotation(
    bench: Benchmark,
    annotator: Annotator,
    *,
    cache_dir: str | Path | None = None,
    shard: tuple[int, int] | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    retry_failed: bool = False,
    progress: bool = False,
) -> RunSummary:
    """Annotate the selected samples not cached yet (see the module docstring).

    Args:
        bench: the benchmark (its ``split`` restricts the selection).
        annotator: the job (:class:`Annotator`).
        cache_dir: where the cache files go (default ``BENCH/annotations``).
        shard: ``(i, n)``: only samples with ``crc32(id) % n == i``, cached in their own file.
        limit: at most this many selected samples (in file order, after the shard).
        batch_size: samples per ``annotate`` call (a judge sends ``batch_size`` x votes requests at once).
        retry_failed: drop failed records of this cache file first, so those samples are asked again.
        progress: tqdm progress bar.
    """
    from tqdm import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    root = Path(cache_dir) if cache_dir is not None else bench.root / ANNOTATIONS_DIR
    path = cache_path(root, annotator.task, annotator.key, shard)
    settings_file = root / f"{annotator.task}.{annotator.key}.settings.json"
    root.mkdir(parents=True, exist_ok=True)
    if not settings_file.is_file():
        settings_file.write_text(
            json.dumps(annotator.settings, indent=2, default=str) + "\n", encoding="utf-8"
        )
    selected = select_ids(bench, shard=shard, limit=limit)
    summary = RunSummary(annotator.task, annotator.key, path, selected=len(selected))
    # samples another file of this job holds (other shards, or the unsharded run) are done too
    elsewhere = set(
        read_cache_records([f for f in cache_files(root, annotator.task, annotator.key) if f != path])
    )
    wanted = set(selected) - elsewhere
    with JudgeCache(path) as cache:
        if retry_failed:
            summary.retried = cache.drop([k for k, r in cache.records.items() if r.get("status") != "ok"])
        done = wanted & set(cache.records)
        summary.already = len(done) + len(set(selected) & elsewhere)
        start = time.perf_counter()
        with tqdm(
            total=len(selected),
            initial=summary.already,
            unit="sample",
            desc=annotator.task,
            disable=not progress,
        ) as bar:
            batch: list[Sample] = []

            def flush() -> None:
                # a query no model can take (a lone surrogate) is this sample's recorded failure
                refused = {s.id: p for s in batch if (p := query_problem(s.query, None))}
                asked = [s for s in batch if s.id not in refused]
                answers = iter(annotator.annotate(asked, bench) if asked else [])
                records = [
                    failed_record("query", [f"query: {refused[s.id]}"])
                    if s.id in refused
                    else next(answers, None)
                    for s in batch
                ]
                if None in records or next(answers, None) is not None:
                    raise RuntimeError(f"annotator did not return one record per sample ({len(asked)} asked)")
                for sample, record in zip(batch, records, strict=True):
                    written = cache.write(sample.id, {"id": sample.id, **record})
                    summary.written += 1
                    if written.get("status") == "ok":
                        summary.ok += 1
                    else:
                        summary.failed += 1
                        kind = _error_kind(written)
                        summary.errors[kind] = summary.errors.get(kind, 0) + 1
                    bar.update(1)
                batch.clear()

            for sample in bench:
                if sample.id not in wanted or sample.id in cache:
                    continue
                batch.append(sample)
                if len(batch) >= batch_size:
                    flush()
            if batch:
                flush()
        summary.seconds = time.perf_counter() - start
    return summary


def _record_provenance(
    bench: Benchmark, task: str, key: str, settings: Mapping[str, Any], **counts: Any
) -> None:
    """``meta.json``: ``annotations[task] = {key, settings..., counts..., creator, timestamp}``."""
    from pixelthink import __version__

    annotations = bench.meta.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, Mapping) else {}
    annotations[task] = {
        "key": key,
        **dict(settings),
        **counts,
        "creator": f"pixelthink {__version__}",
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    update_meta(bench.root, {"annotations": annotations})


def _ok_records(records: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {sid: r for sid, r in records.items() if r.get("status") == "ok"}


def apply_difficulty(
    bench: Benchmark, records: Mapping[str, Mapping[str, Any]], *, key: str, settings: Mapping[str, Any]
) -> tuple[int, int]:
    """Write the ``difficulty`` of every ok record into ``samples.jsonl`` (by exact sample id) and the
    job's provenance into ``meta.json`` under ``annotations.difficulty``. Samples without an ok record keep
    their difficulty. Returns ``(samples rated, failed records)``."""
    ok = _ok_records(records)
    updates = {
        sid: {"difficulty": float(r["difficulty"])}
        for sid, r in ok.items()
        if r.get("difficulty") is not None
    }
    changed = update_samples_by_id(bench.root, updates)
    failed = len(records) - len(ok)
    _record_provenance(bench, "difficulty", key, settings, rated=changed, failed=failed)
    return changed, failed


def apply_references(
    bench: Benchmark, records: Mapping[str, Mapping[str, Any]], *, key: str, settings: Mapping[str, Any]
) -> tuple[int, int]:
    """Write ``reasoning_short`` / ``reasoning_long`` of the records (each chain that was accepted, also
    from records where the other chain failed) into ``samples.jsonl`` and the provenance into ``meta.json``
    under ``annotations.references``. Returns ``(samples updated, records with a failed chain)``."""
    updates: dict[str, dict[str, Any]] = {}
    for sid, r in records.items():
        fields = {
            f: r[f] for f in ("reasoning_short", "reasoning_long") if isinstance(r.get(f), str) and r[f]
        }
        if fields:
            updates[sid] = fields
    changed = update_samples_by_id(bench.root, updates)
    failed = sum(1 for r in records.values() if r.get("status") != "ok")
    _record_provenance(bench, "references", key, settings, updated=changed, failed=failed)
    return changed, failed
