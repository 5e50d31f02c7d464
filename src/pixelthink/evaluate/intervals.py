"""Bootstrap confidence intervals of a mean (percentile method, seeded, pure numpy).

``bootstrap_ci(values)`` resamples the per-sample values with replacement ``n_resamples`` times, takes
the mean of each resample and returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of
those means (numpy's default linear interpolation). The same values and seed always give the same
interval. Used by ``pixelthink eval`` for gIoU (the mean of the per-sample IoUs) and the box-on-target
hit rate (the mean of 0/1 hits) per bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["DEFAULT_LEVEL", "DEFAULT_RESAMPLES", "bootstrap_ci"]

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval ``(low, high)`` of the mean of ``values``; None when empty.

    Args:
        values: per-sample values (e.g. IoUs in [0, 1], or 0/1 hits); non-finite values are an error.
        n_resamples: bootstrap resamples (>= 1).
        seed: seed of ``numpy.random.default_rng`` (the resample indices depend only on it and ``len``).
        level: coverage in (0, 1), e.g. 0.95.

    A single value (or identical values) gives a zero-width interval at that value.
    """
    if n_resamples < 1:
        raise ValueError(f"bootstrap_ci: n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: level must be in (0, 1), got {level}")
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        return None
    if not np.isfinite(data).all():
        raise ValueError("bootstrap_ci: values must be finite")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, 4_000_000 // data.size)  # bound the index matrix to ~32 MB
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)
