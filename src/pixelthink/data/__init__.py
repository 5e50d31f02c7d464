"""Benchmark data: the on-disk format (samples.jsonl + images/), importers and exporters.

See docs/FORMATS.md. Masks, boxes and points of a benchmark are in the original image frame.
"""

from pixelthink.data.format import (
    FORMAT_VERSION,
    META_FILE,
    SAMPLE_KEYS,
    SAMPLES_FILE,
    Benchmark,
    BenchmarkWriter,
    Sample,
    in_shard,
    rewrite_samples,
    select_ids,
    update_meta,
    update_samples_by_id,
    validate_benchmark,
)

__all__ = [
    "FORMAT_VERSION",
    "META_FILE",
    "SAMPLES_FILE",
    "SAMPLE_KEYS",
    "Benchmark",
    "BenchmarkWriter",
    "Sample",
    "in_shard",
    "rewrite_samples",
    "select_ids",
    "update_meta",
    "update_samples_by_id",
    "validate_benchmark",
]
