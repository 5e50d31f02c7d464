"""Golden and property tests of the streaming gIoU / cIoU metrics (lisa and segzero conventions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelthink import masks
from pixelthink.evaluate.metrics import (
    DistributionStat,
    IoUMetric,
    KeyedMeanStat,
    MeanStat,
    Metric,
    intersection_union,
    intersection_union_rle,
)


def grid(rows: list[str]) -> np.ndarray:
    """'#' = True, '.' = False."""
    return np.array([[c == "#" for c in r] for r in rows], dtype=bool)


# Sample A: 4x4, GT = 2x2 top-left (4 px), ignore = row 0 cols 2..3 (2 px), prediction = 4 px, one of
# them on the ignore region and one GT pixel missed.
GT_A = grid(["##..", "##..", "....", "...."])
IGN_A = grid(["..##", "....", "....", "...."])
PRED_A = grid(["###.", "#...", "....", "...."])
EMPTY = np.zeros((4, 4), dtype=bool)


def test_sample_a_counts_both_conventions():
    # lisa: ignore pixels leave pred and GT: pred' = {(0,0),(0,1),(1,0)} = 3, GT' = 4,
    # I = 3 (all three are GT), U = 3 + 4 - 3 = 4.
    assert intersection_union(PRED_A, GT_A, IGN_A, convention="lisa") == (3, 4)
    # segzero: target = GT | ignore = 6 px; I = all 4 predicted px are target = 4; U = 4 + 6 - 4 = 6.
    assert intersection_union(PRED_A, GT_A, IGN_A, convention="segzero") == (4, 6)
    # without ignore both conventions agree: I = 3, U = 4 + 4 - 3 = 5
    assert intersection_union(PRED_A, GT_A, None, convention="lisa") == (3, 5)
    assert intersection_union(PRED_A, GT_A, None, convention="segzero") == (3, 5)


def test_failure_counts():
    # a failure is an empty prediction: I = 0, U = effective GT area
    assert intersection_union(None, GT_A, IGN_A, convention="lisa") == (0, 4)
    assert intersection_union(None, GT_A, IGN_A, convention="segzero") == (0, 6)  # 4 GT + 2 ignore


def _feed(metric: IoUMetric) -> list[float | None]:
    return [
        metric.update(PRED_A, GT_A, IGN_A),  # A
        metric.update(EMPTY, EMPTY),  # B: empty GT, empty prediction
        metric.update(None, GT_A, failed=True),  # C: failure on a 4-px GT (no ignore)
        metric.update(None, EMPTY, failed=True),  # D: failure on an empty GT
        metric.update(EMPTY, GT_A),  # E: empty prediction on a 4-px GT
    ]


def test_golden_lisa():
    m = IoUMetric("lisa")
    ious = _feed(m)
    # A: 3 / (4 + 1e-5); B: U = 0 -> 0 / 1e-5 + 1.0 = 1.0; C: 0 / (4 + 1e-5) = 0;
    # D: failure scored as an empty prediction on an empty GT -> 1.0; E: 0.
    assert ious == pytest.approx([3 / 4.00001, 1.0, 0.0, 1.0, 0.0], rel=1e-12, abs=0)
    r = m.compute()
    # gIoU = sum / (n + 1e-5) = (0.7499981250046875 + 2) / 5.00001
    assert r.giou == pytest.approx((3 / 4.00001 + 2.0) / 5.00001, rel=1e-12)
    # cIoU = (3 + 0 + 0 + 0 + 0) / ((4 + 0 + 4 + 0 + 4) + 1e-10) = 3 / 12 = 0.25
    assert r.ciou == pytest.approx(3 / (12 + 1e-10), rel=1e-12)
    assert (r.n, r.n_scored, r.n_failed, r.n_skipped) == (5, 5, 2, 0)
    assert (r.intersection, r.union) == (3, 12)


def test_golden_segzero():
    m = IoUMetric("segzero")
    ious = _feed(m)
    # A: 4 / 6; B: empty union on a successful prediction -> dropped (None);
    # C: I = 0, U = |GT| = 4 -> 0; D: failure with U = |GT| = 0 -> recorded as 0 (calculate_iou's
    # "iou = 0 if union == 0"); E: 0 / 4 = 0.
    assert ious == [pytest.approx(4 / 6), None, 0.0, 0.0, 0.0]
    r = m.compute()
    # gIoU = (4/6 + 0 + 0 + 0) / 4 = 1/6; cIoU = 4 / (6 + 4 + 0 + 4) = 4 / 14
    assert r.giou == pytest.approx(1 / 6, rel=1e-12)
    assert r.ciou == pytest.approx(4 / 14, rel=1e-12)
    assert (r.n, r.n_scored, r.n_failed, r.n_skipped) == (5, 4, 2, 1)


def test_lisa_perfect_sample_is_slightly_below_one():
    # LISA divides by U + 1e-5: a perfect 4-px match scores 4 / 4.00001, and gIoU of one sample
    # is that over (1 + 1e-5).
    m = IoUMetric("lisa")
    assert m.update(GT_A, GT_A) == pytest.approx(4 / 4.00001, rel=1e-12)
    assert m.compute().giou == pytest.approx(4 / 4.00001 / 1.00001, rel=1e-12)
    assert m.compute().giou < 1.0


def test_empty_metric_and_segzero_all_empty():
    assert IoUMetric("lisa").compute().giou is None
    m = IoUMetric("segzero")
    assert m.update(EMPTY, EMPTY) is None
    r = m.compute()
    assert (r.giou, r.ciou, r.n, r.n_skipped) == (None, None, 1, 1)


def test_ignore_overlapping_gt_is_excluded_in_lisa_and_target_in_segzero():
    gt = grid(["##", ".."])
    ign = grid(["#.", "#."])  # overlaps GT pixel (0,0)
    pred = grid(["#.", ".."])
    # lisa: (0,0) ignored -> pred' empty, GT' = {(0,1)}: I = 0, U = 1
    assert intersection_union(pred, gt, ign, convention="lisa") == (0, 1)
    # segzero: target = {(0,0),(0,1),(1,0)}: I = 1, U = 1 + 3 - 1 = 3
    assert intersection_union(pred, gt, ign, convention="segzero") == (1, 3)


def test_merge_equals_single_pass_and_state_roundtrip():
    for convention in ("lisa", "segzero"):
        whole = IoUMetric(convention)
        _feed(whole)
        a, b = IoUMetric(convention), IoUMetric(convention)
        a.update(PRED_A, GT_A, IGN_A)
        a.update(EMPTY, EMPTY)
        b.update(None, GT_A, failed=True)
        b.update(None, EMPTY, failed=True)
        b.update(EMPTY, GT_A)
        merged = IoUMetric.from_state(a.state_dict()).merge(b)
        assert merged.compute() == whole.compute()
        whole.reset()
        assert whole.compute().n == 0
    with pytest.raises(ValueError, match="cannot merge"):
        IoUMetric("lisa").merge(IoUMetric("segzero"))


def test_bad_inputs():
    with pytest.raises(ValueError, match="convention"):
        IoUMetric("coco")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        intersection_union(np.zeros((3, 4), bool), GT_A)
    with pytest.raises(ValueError, match="2-D"):
        intersection_union(None, np.zeros(4, bool))
    with pytest.raises(ValueError, match="invalid counts"):
        IoUMetric().add(5, 3)
    with pytest.raises(ValueError, match="size"):
        intersection_union_rle(masks.encode_rle(np.zeros((3, 4), bool)), masks.encode_rle(GT_A))


# ------------------------------------------------------------------ reference re-implementations


def lisa_reference(
    samples: list[tuple[np.ndarray | None, np.ndarray, np.ndarray | None]],
) -> tuple[float, float]:
    """LISA train_ds.py validate(), transcribed to numpy: a label map 0/1/255, intersectionAndUnionGPU
    with K = 2 (histograms over classes 0..1), acc_iou += I/(U+1e-5), acc_iou[U == 0] += 1,
    AverageMeter.all_reduce: avg = sum / (count + 1e-5); cIoU = sum I / (sum U + 1e-10). Class 1."""
    inter_sum = np.zeros(2)
    union_sum = np.zeros(2)
    acc_sum = np.zeros(2)
    count = 0
    for pred, gt, ign in samples:
        target = gt.astype(np.int64).ravel().copy()
        if ign is not None:
            target[ign.ravel()] = 255
        output = (np.zeros_like(gt) if pred is None else pred).astype(np.int64).ravel().copy()
        output[target == 255] = 255
        inter = output[output == target]
        area_i = np.array([np.sum(inter == k) for k in range(2)], dtype=float)
        area_o = np.array([np.sum(output == k) for k in range(2)], dtype=float)
        area_t = np.array([np.sum(target == k) for k in range(2)], dtype=float)
        area_u = area_o + area_t - area_i
        acc = area_i / (area_u + 1e-5)
        acc[area_u == 0] += 1.0
        inter_sum += area_i
        union_sum += area_u
        acc_sum += acc
        count += 1
    giou = (acc_sum / (count + 1e-5))[1]
    ciou = (inter_sum / (union_sum + 1e-10))[1]
    return float(giou), float(ciou)


def segzero_reference(
    samples: list[tuple[np.ndarray | None, np.ndarray, np.ndarray | None]],
) -> tuple[float, float]:
    """Seg-Zero evaluation.py + calculate_iou.py, transcribed: GT = label map cast to bool (ignore
    becomes target); compute_iou returns a bare 0 on an empty union, which fails to unpack and the
    sample is skipped; a failure (pred None) records I = 0, U = GT.sum(); then iou = I/U if U > 0 else 0,
    gIoU = mean, cIoU = sum I / sum U if sum U > 0 else 0."""

    def compute_iou(m1, m2):
        intersection = np.logical_and(m1, m2).sum()
        union = np.logical_or(m1, m2).sum()
        if union == 0:
            return 0
        return intersection, union

    items = []
    for pred, gt, ign in samples:
        gt_mask = gt if ign is None else (gt | ign)
        if pred is None:
            items.append((0, int(gt_mask.sum())))
            continue
        try:
            intersection, union = compute_iou(pred, gt_mask)
        except TypeError:
            continue
        items.append((int(intersection), int(union)))
    ious = [i / u if u > 0 else 0 for i, u in items]
    total_i = sum(i for i, _ in items)
    total_u = sum(u for _, u in items)
    return float(np.mean(ious)), (total_i / total_u if total_u > 0 else 0)


masks_4x5 = st.lists(st.booleans(), min_size=20, max_size=20).map(lambda v: np.array(v, bool).reshape(4, 5))
sample_st = st.tuples(
    st.one_of(st.none(), masks_4x5),
    masks_4x5,
    st.one_of(st.none(), masks_4x5),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(sample_st, min_size=1, max_size=6))
def test_matches_lisa_reference(samples):
    m = IoUMetric("lisa")
    for pred, gt, ign in samples:
        # LISA's label map cannot hold a pixel that is both target and ignore: ignore wins
        m.update(pred, gt, ign, failed=pred is None)
    giou, ciou = lisa_reference(samples)
    r = m.compute()
    assert r.giou == pytest.approx(giou, rel=1e-9, abs=1e-12)
    assert r.ciou == pytest.approx(ciou, rel=1e-9, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.lists(sample_st, min_size=1, max_size=6))
def test_matches_segzero_reference(samples):
    m = IoUMetric("segzero")
    for pred, gt, ign in samples:
        m.update(pred, gt, ign, failed=pred is None)
    r = m.compute()
    ref_items = [
        s for s in samples if s[0] is None or (s[0] | s[1] | (s[2] if s[2] is not None else s[1])).any()
    ]
    if not ref_items:  # the reference script would take np.mean([]) -> nan
        assert r.giou is None
        return
    giou, ciou = segzero_reference(samples)
    assert r.giou == pytest.approx(giou, rel=1e-12, abs=1e-12)
    assert r.ciou == pytest.approx(ciou, rel=1e-12, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(sample_st, st.sampled_from(["lisa", "segzero"]))
def test_rle_path_equals_pixel_path(sample, convention):
    pred, gt, ign = sample
    rle = intersection_union_rle(
        None if pred is None else masks.encode_rle(pred),
        masks.encode_rle(gt),
        None if ign is None else masks.encode_rle(ign),
        convention=convention,
    )
    assert rle == intersection_union(pred, gt, ign, convention=convention)


@settings(max_examples=50, deadline=None)
@given(sample_st)
def test_agrees_with_masks_module(sample):
    pred, gt, ign = sample
    # masks.intersection_union removes ignore from I and U (lisa); segzero = ignore merged into GT
    assert intersection_union(pred, gt, ign, convention="lisa") == masks.intersection_union(pred, gt, ign)
    merged = gt if ign is None else gt | ign
    assert intersection_union(pred, gt, ign, convention="segzero") == masks.intersection_union(pred, merged)


# ------------------------------------------------------------------ small statistics


def test_distribution_stat():
    d = DistributionStat()
    for v in (1, 2, 3, 4, 10):
        d.update(v)
    s = d.compute()
    # mean 20/5 = 4; median 3; p90 (linear): position 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6
    assert (s.n, s.mean, s.median) == (5, 4.0, 3.0)
    assert s.p90 == pytest.approx(7.6)
    other = DistributionStat()
    other.update(0)
    d.merge(other)
    assert d.compute().n == 6 and d.compute().mean == pytest.approx(20 / 6)
    assert DistributionStat().compute().mean is None
    with pytest.raises(ValueError, match="finite"):
        d.update(float("nan"))


def test_mean_stats():
    m = MeanStat()
    m.update(0.2)
    m.update(0.4)
    other = MeanStat()
    other.update(0.9)
    assert m.merge(other).compute() == pytest.approx(0.5)  # (0.2 + 0.4 + 0.9) / 3
    assert MeanStat().compute() is None
    k = KeyedMeanStat()
    k.update({"total": 1.0, "decode": 0.5})
    k.update({"total": 2.0})
    assert k.compute() == {"total": pytest.approx(1.5), "decode": pytest.approx(0.5)}


# ------------------------------------------------------------------ the metric base


class _Toy(Metric):
    CONFIG = ("scale",)

    def __init__(self, scale: int = 1) -> None:
        super().__init__()
        self.scale = scale
        self.add_state("count", 0)
        self.add_state("values", [], reduce="cat")
        self.add_state("mean", MeanStat())
        self.add_state("biggest", 0.0, reduce=max)

    def update(self, v: float) -> None:
        self.count += 1
        self.values.append(v)
        self.mean.update(v)
        self.biggest = max(self.biggest, v)


def test_metric_base_derives_reset_merge_and_state_from_one_declaration():
    a, b = _Toy(), _Toy()
    for v in (1.0, 4.0):
        a.update(v)
    b.update(2.0)
    a.merge(b)
    assert (a.count, a.values, a.mean.compute(), a.biggest) == (3, [1.0, 4.0, 2.0], 7 / 3, 4.0)
    state = a.state_dict()
    assert state == {
        "scale": 1,
        "count": 3,
        "values": [1.0, 4.0, 2.0],
        "mean": {"total": 7.0, "count": 3},
        "biggest": 4.0,
    }
    back = _Toy.from_state(state)
    assert back.state_dict() == state and back.mean.compute() == a.mean.compute()
    a.reset()
    assert (a.count, a.values, a.mean.compute(), a.biggest) == (0, [], None, 0.0)
    assert b.values == [2.0]  # merge copied nothing by reference into the other metric's lists
    with pytest.raises(ValueError, match="cannot merge"):
        _Toy(1).merge(_Toy(2))
    # every metric of evaluate/ is one
    assert all(issubclass(cls, Metric) for cls in (IoUMetric, DistributionStat, MeanStat, KeyedMeanStat))
    assert IoUMetric("segzero").state_dict() == {
        "convention": "segzero",
        **dict.fromkeys(("n", "n_scored", "n_failed", "n_skipped", "inter_sum", "union_sum"), 0),
        "iou_sum": 0.0,
    }
