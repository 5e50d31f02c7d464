"""Streaming segmentation metrics: gIoU / cIoU under two explicit conventions, plus small statistics.

Every metric here is *stateful and mergeable* in the style of torchmetrics: ``update`` per sample,
``compute`` at the end, ``reset`` to start over and ``merge`` to combine shards by summing states.
Each state is declared once, with :meth:`Metric.add_state` (as torchmetrics' ``add_state``), and the
base class :class:`Metric` derives ``reset``, ``merge``, ``state_dict`` and ``from_state`` from it.
No metric ever stores a mask: per sample only the intersection ``I`` and union ``U`` pixel counts
are folded into running sums, so a sharded evaluation can be combined without re-reading masks.

Conventions (see docs/METRICS.md for the derivation from the reference code):

``lisa`` (LISA ``train_ds.py::validate`` + ``utils/utils.py::intersectionAndUnionGPU``)
    * ignore pixels are removed from both ``I`` and ``U``;
    * per-sample IoU = ``I / (U + 1e-5)``, plus ``1.0`` when ``U == 0`` (an empty target predicted
      empty is a perfect "no-object" answer);
    * gIoU = ``sum(IoU) / (n + 1e-5)`` (``AverageMeter.all_reduce`` divides by ``count + 1e-5``);
    * cIoU = ``sum(I) / (sum(U) + 1e-10)``.
    A failed / missing prediction is scored as an empty prediction (LISA itself never fails).

``segzero`` (Seg-Zero ``evaluation_scripts/evaluation.py`` + ``calculate_iou.py``)
    * ignore regions count as target (their converted ground truth is ``mask.astype(bool)`` of the
      LISA label map, so 255 becomes True);
    * a failure (parse error, exception, missing prediction) is recorded as ``I = 0, U = |GT|``;
    * a successful prediction whose union is empty is dropped (their ``compute_iou`` returns a bare
      ``0`` that fails to unpack, the exception is caught and the sample skipped);
    * per-sample IoU = ``I / U`` (``0`` when ``U == 0``: only reachable by a failure on an empty GT);
    * gIoU = mean of the recorded per-sample IoUs; cIoU = ``sum(I) / sum(U)`` (``0`` when ``sum(U) == 0``).

Masks are ``numpy.ndarray`` of dtype bool, shape (H, W), in the **original** image frame; RLEs are
COCO compressed RLE dicts ``{"size": [h, w], "counts": str}`` in the same frame.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np

Convention = Literal["lisa", "segzero"]
CONVENTIONS: tuple[str, ...] = ("lisa", "segzero")

#: LISA: per-sample IoU = I / (U + LISA_IOU_EPS)
LISA_IOU_EPS = 1e-5
#: LISA: gIoU = sum(IoU) / (n + LISA_MEAN_EPS)  (AverageMeter.all_reduce)
LISA_MEAN_EPS = 1e-5
#: LISA: cIoU = sum(I) / (sum(U) + LISA_CIOU_EPS)
LISA_CIOU_EPS = 1e-10


Reduce = Literal["sum", "cat"] | Callable[[Any, Any], Any]
"""How a state merges: ``"sum"`` (``a + b``), ``"cat"`` (a list extended by the other's), a callable
``(mine, theirs) -> merged``; a state holding a :class:`Metric` merges with that metric's ``merge``."""


class Metric:
    """Base of the mergeable metrics: each state is declared once with :meth:`add_state`.

    ``reset`` (every state back to a copy of its default), ``merge`` (states combined by their reduce,
    after checking both metrics have the same :meth:`config`), ``state_dict`` and ``from_state`` (the
    config plus every state; a state is read back as the type of its default) come from the declarations,
    in the way torchmetrics' ``add_state`` gives ``reset`` / ``merge_state`` / ``state_dict``.
    Subclasses call ``add_state`` in ``__init__`` and implement ``update`` / ``add`` and ``compute``.
    """

    #: names of the ``__init__`` arguments that are settings, not states (e.g. ``convention``)
    CONFIG: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._states: dict[str, tuple[Any, Reduce]] = {}

    def add_state(self, name: str, default: Any, reduce: Reduce = "sum") -> None:
        """Declare the state ``name`` with its ``default`` (copied on every reset) and how it merges."""
        if reduce == "cat" and not isinstance(default, list):
            raise TypeError(f"state {name!r}: a 'cat' state needs a list default, got {default!r}")
        self._states[name] = (default, reduce)
        setattr(self, name, copy.deepcopy(default))

    def config(self) -> dict[str, Any]:
        """The :attr:`CONFIG` settings: two metrics must share them to merge; written into ``state_dict``."""
        return {key: getattr(self, key) for key in self.CONFIG}

    def reset(self) -> None:
        for name, (default, _) in self._states.items():
            setattr(self, name, copy.deepcopy(default))

    def merge(self, other: Self) -> Self:
        """Add ``other``'s states into this metric's (same class and config required); returns ``self``."""
        if type(other) is not type(self) or other.config() != self.config():
            raise ValueError(
                f"cannot merge a {type(other).__name__} {other.config()} into a "
                f"{type(self).__name__} {self.config()}"
            )
        for name, (_, reduce) in self._states.items():
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, Metric):
                mine.merge(theirs)
            elif reduce == "sum":
                setattr(self, name, mine + theirs)
            elif reduce == "cat":
                mine.extend(theirs)
            else:
                setattr(self, name, reduce(mine, theirs))
        return self

    def state_dict(self) -> dict[str, Any]:
        """The config and every state (nested metrics as their own ``state_dict``)."""
        out = dict(self.config())
        for name in self._states:
            value = getattr(self, name)
            out[name] = value.state_dict() if isinstance(value, Metric) else copy.deepcopy(value)
        return out

    def load_state(self, state: Mapping[str, Any]) -> Self:
        """Set every declared state from ``state`` (as written by :meth:`state_dict`); returns ``self``."""
        for name, (default, _) in self._states.items():
            value = state[name]
            if isinstance(default, Metric):
                getattr(self, name).load_state(value)
            elif isinstance(default, bool | int | float):
                setattr(self, name, type(default)(value))
            else:
                setattr(self, name, copy.deepcopy(value))
        return self

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """A metric built from ``state``'s config (the :attr:`CONFIG` keys) and loaded with its states."""
        return cls(**{key: state[key] for key in cls.CONFIG}).load_state(state)


def check_convention(convention: str) -> Convention:
    """Return ``convention`` if it is one of :data:`CONVENTIONS`, else raise ``ValueError``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return convention  # type: ignore[return-value]


def intersection_union(
    pred: np.ndarray | None,
    gt: np.ndarray,
    ignore: np.ndarray | None = None,
    *,
    convention: Convention = "lisa",
) -> tuple[int, int]:
    """Intersection and union pixel counts of one sample under ``convention``.

    Args:
        pred: predicted mask, bool (H, W), original frame; ``None`` means "no prediction" and is
            scored as an empty mask (``I = 0``, ``U`` = the effective ground-truth area).
        gt: ground-truth target mask, bool (H, W), original frame.
        ignore: ignore-region mask (LISA label 255), bool (H, W), or ``None``.
        convention: ``"lisa"`` removes ignore pixels from I and U; ``"segzero"`` adds them to the target.

    Returns:
        ``(I, U)`` as Python ints.
    """
    from pixelthink.masks import as_bool_mask  # lazy: keeps cv2 / pycocotools out of the module import

    check_convention(convention)
    g = as_bool_mask(gt, "gt")
    ign = None if ignore is None else as_bool_mask(ignore, "ignore")
    if ign is not None and ign.shape != g.shape:
        raise ValueError(f"ignore: shape {ign.shape} does not match gt shape {g.shape}")
    p = None if pred is None else as_bool_mask(pred, "pred")
    if p is not None and p.shape != g.shape:
        raise ValueError(f"pred: shape {p.shape} does not match gt shape {g.shape} (original frame expected)")

    if convention == "segzero":
        target = g if ign is None else (g | ign)
        if p is None:
            return 0, int(np.count_nonzero(target))
        inter = int(np.count_nonzero(p & target))
        return inter, int(np.count_nonzero(p)) + int(np.count_nonzero(target)) - inter

    # lisa: ignore pixels leave both the prediction and the target
    if ign is not None:
        valid = ~ign
        g = g & valid
        if p is not None:
            p = p & valid
    if p is None:
        return 0, int(np.count_nonzero(g))
    inter = int(np.count_nonzero(p & g))
    return inter, int(np.count_nonzero(p)) + int(np.count_nonzero(g)) - inter


def _rle_size(rle: Mapping[str, Any], name: str) -> tuple[int, int]:
    try:
        h, w = rle["size"]
        _ = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a COCO RLE dict with 'size' [h, w] and 'counts'") from exc
    return int(h), int(w)


def intersection_union_rle(
    pred: Mapping[str, Any] | None,
    gt: Mapping[str, Any],
    ignore: Mapping[str, Any] | None = None,
    *,
    convention: Convention = "lisa",
) -> tuple[int, int]:
    """Same as :func:`intersection_union` but on COCO RLEs, without decoding to pixels.

    Uses pycocotools' run-length ``merge`` / ``area`` (work proportional to the number of runs), so it
    is much faster than decoding large masks. RLEs must be compressed (``counts`` str or bytes) and all
    have the same ``size`` [h, w] (original frame).
    """
    from pycocotools import mask as mask_utils

    check_convention(convention)
    size = _rle_size(gt, "gt")
    rles: dict[str, dict[str, Any]] = {"gt": dict(gt)}
    if ignore is not None:
        rles["ignore"] = dict(ignore)
    if pred is not None:
        rles["pred"] = dict(pred)
    for name, rle in rles.items():
        if _rle_size(rle, name) != size:
            raise ValueError(
                f"{name}: RLE size {list(_rle_size(rle, name))} does not match gt size {list(size)}"
            )

    def area(r: dict[str, Any]) -> int:
        return int(mask_utils.area(r))

    def inter(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return mask_utils.merge([a, b], intersect=True)

    def union(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        return mask_utils.merge([a, b], intersect=False)

    g = rles["gt"]
    ign = rles.get("ignore")
    p = rles.get("pred")
    if convention == "segzero":
        target = g if ign is None else union(g, ign)
        if p is None:
            return 0, area(target)
        i = area(inter(p, target))
        return i, area(p) + area(target) - i

    if p is None:
        a_g = area(g)
        return 0, a_g if ign is None else a_g - area(inter(g, ign))
    pg_i = inter(p, g)
    pg_u = union(p, g)
    i, u = area(pg_i), area(pg_u)
    if ign is not None:
        i -= area(inter(pg_i, ign))
        u -= area(inter(pg_u, ign))
    return i, u


@dataclass(frozen=True)
class IoUResult:
    """Result of :meth:`IoUMetric.compute`. gIoU / cIoU are fractions in [0, 1] (``None`` when no
    sample was scored); ``n`` samples seen, ``n_scored`` in gIoU, ``n_failed`` failures,
    ``n_skipped`` dropped for an empty union (segzero only)."""

    giou: float | None
    ciou: float | None
    n: int
    n_scored: int
    n_failed: int
    n_skipped: int
    intersection: int
    union: int


class IoUMetric(Metric):
    """Streaming gIoU / cIoU (see the module docstring for both conventions).

    State: ``n``, ``n_scored``, ``n_failed``, ``n_skipped``, ``iou_sum`` (float), ``inter_sum`` and
    ``union_sum`` (exact Python ints). Shards merge by summing states.
    """

    CONFIG = ("convention",)

    def __init__(self, convention: Convention = "lisa") -> None:
        super().__init__()
        self.convention: Convention = check_convention(convention)
        self.n: int
        self.n_scored: int
        self.n_failed: int
        self.n_skipped: int
        self.iou_sum: float
        self.inter_sum: int
        self.union_sum: int
        for name in ("n", "n_scored", "n_failed", "n_skipped", "inter_sum", "union_sum"):
            self.add_state(name, 0)
        self.add_state("iou_sum", 0.0)

    def sample_iou(self, intersection: int, union: int, *, failed: bool = False) -> float | None:
        """The per-sample IoU this convention records for ``(I, U)``; ``None`` if the sample is dropped."""
        if self.convention == "lisa":
            return intersection / (union + LISA_IOU_EPS) + (1.0 if union == 0 else 0.0)
        if union == 0:
            return 0.0 if failed else None
        return intersection / union

    def add(self, intersection: int, union: int, *, failed: bool = False) -> float | None:
        """Fold one sample's counts in. For a failure pass the counts of an empty prediction
        (``intersection_union(None, gt, ignore)``). Returns the recorded IoU, or ``None`` if dropped."""
        intersection, union = int(intersection), int(union)
        if intersection < 0 or union < intersection:
            raise ValueError(f"invalid counts: intersection={intersection}, union={union} (need 0 <= I <= U)")
        self.n += 1
        self.n_failed += int(failed)
        iou = self.sample_iou(intersection, union, failed=failed)
        if iou is None:
            self.n_skipped += 1
            return None
        self.n_scored += 1
        self.iou_sum += iou
        self.inter_sum += intersection
        self.union_sum += union
        return iou

    def update(
        self,
        pred: np.ndarray | None,
        gt: np.ndarray,
        ignore: np.ndarray | None = None,
        *,
        failed: bool = False,
    ) -> float | None:
        """Score one sample from masks (bool (H, W), original frame). ``pred=None`` is an empty
        prediction; pass ``failed=True`` (with ``pred=None``) for a failed / missing prediction."""
        i, u = intersection_union(None if failed else pred, gt, ignore, convention=self.convention)
        return self.add(i, u, failed=failed)

    def compute(self) -> IoUResult:
        giou: float | None
        ciou: float | None
        if self.n_scored == 0:
            giou = ciou = None
        elif self.convention == "lisa":
            giou = self.iou_sum / (self.n_scored + LISA_MEAN_EPS)
            ciou = self.inter_sum / (self.union_sum + LISA_CIOU_EPS)
        else:
            giou = self.iou_sum / self.n_scored
            ciou = self.inter_sum / self.union_sum if self.union_sum > 0 else 0.0
        return IoUResult(
            giou=giou,
            ciou=ciou,
            n=self.n,
            n_scored=self.n_scored,
            n_failed=self.n_failed,
            n_skipped=self.n_skipped,
            intersection=self.inter_sum,
            union=self.union_sum,
        )


@dataclass(frozen=True)
class DistributionSummary:
    """Mean, median and 90th percentile (numpy "linear" interpolation) of ``n`` values; ``None`` if n = 0."""

    n: int
    mean: float | None
    median: float | None
    p90: float | None


class DistributionStat(Metric):
    """Streaming distribution of one scalar per sample (e.g. reasoning length).

    Percentiles need the values, so they are kept (one float per sample, never masks); merge concatenates.
    """

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float]
        self.add_state("values", [], reduce="cat")

    def update(self, value: float) -> None:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"expected a finite value, got {value!r}")
        self.values.append(v)

    def compute(self) -> DistributionSummary:
        if not self.values:
            return DistributionSummary(0, None, None, None)
        arr = np.asarray(self.values, dtype=np.float64)
        return DistributionSummary(
            n=int(arr.size),
            mean=float(arr.mean()),
            median=float(np.median(arr)),
            p90=float(np.percentile(arr, 90)),
        )


class MeanStat(Metric):
    """Streaming mean of a scalar (sum and count); ``compute`` is ``None`` when empty."""

    def __init__(self) -> None:
        super().__init__()
        self.total: float
        self.count: int
        self.add_state("total", 0.0)
        self.add_state("count", 0)

    def update(self, value: float, n: int = 1) -> None:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"expected a finite value, got {value!r}")
        self.total += v * n
        self.count += n

    def compute(self) -> float | None:
        return self.total / self.count if self.count else None


def _merge_keyed(mine: dict[str, MeanStat], theirs: Mapping[str, MeanStat]) -> dict[str, MeanStat]:
    for key, stat in theirs.items():
        mine.setdefault(key, MeanStat()).merge(stat)
    return mine


class KeyedMeanStat(Metric):
    """Streaming per-key means, e.g. latency seconds per pipeline stage (keys seen in any sample)."""

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, MeanStat]
        self.add_state("stats", {}, reduce=_merge_keyed)

    def update(self, values: Mapping[str, float] | Iterable[tuple[str, float]]) -> None:
        items = values.items() if isinstance(values, Mapping) else values
        for key, value in items:
            self.stats.setdefault(str(key), MeanStat()).update(value)

    def compute(self) -> dict[str, float]:
        out = {}
        for key, stat in self.stats.items():
            value = stat.compute()
            if value is not None:
                out[key] = value
        return out
