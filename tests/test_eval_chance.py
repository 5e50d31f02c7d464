"""``pixelthink eval`` against chance: bootstrap intervals, chance level and oracle of shapes benchmarks
(cached), box-on-target hit rate, per-family results and the exact faithfulness of grounded mentions."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pixelthink.cli import main
from pixelthink.data.resolve import open_benchmark
from pixelthink.evaluate import EvalAccumulator, evaluate, format_table
from pixelthink.evaluate import chance as chance_mod
from pixelthink.evaluate.intervals import bootstrap_ci
from pixelthink.evaluate.metrics import intersection_union
from pixelthink.evaluate.shapes import scene_shapes, target_index
from pixelthink.masks import decode_rle
from pixelthink.miniature.shapes import generate_benchmark
from pixelthink.models.segmenters import GrabCutSegmenter
from pixelthink.predictions import Prediction
from pixelthink.rewards import box_iou

# ------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_the_percentile_interval_of_resampled_means() -> None:
    values = [0.0, 0.25, 0.5, 1.0, 0.75, 0.1]
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(values), size=(500, len(values)))
    means = np.asarray(values)[idx].mean(axis=1)
    expected = tuple(np.percentile(means, [2.5, 97.5]))
    assert bootstrap_ci(values, n_resamples=500, seed=7) == pytest.approx(expected, abs=1e-12)
    assert bootstrap_ci(values, n_resamples=500, seed=7) == bootstrap_ci(values, n_resamples=500, seed=7)
    assert bootstrap_ci(values, n_resamples=500, seed=8) != bootstrap_ci(values, n_resamples=500, seed=7)


def test_bootstrap_ci_known_cases() -> None:
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([0.4]) == (0.4, 0.4)
    assert bootstrap_ci([0.3] * 50) == pytest.approx((0.3, 0.3))
    # two values: resample means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4 -> the 95 % interval is [0, 1]
    assert bootstrap_ci([0.0, 1.0], n_resamples=4000) == (0.0, 1.0)
    # 1000 Bernoulli(0.3) hits: the normal-theory interval is 0.3 +- 1.96 * sqrt(0.21 / 1000) = +- 0.0284
    hits = [1.0] * 300 + [0.0] * 700
    low, high = bootstrap_ci(hits)
    assert low == pytest.approx(0.3 - 0.0284, abs=0.006) and high == pytest.approx(0.3 + 0.0284, abs=0.006)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci([1.0], level=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([1.0], n_resamples=0)


# ------------------------------------------------------------------------------------ shapes bench


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shapes") / "bench"
    generate_benchmark(root, n_train=0, n_val=0, n_test=3, seed=0, progress=False)
    return root


def _response(think: str, box: list[float]) -> str:
    return f'<think>{think}</think><answer>{{"bbox": {box}, "points_1": [1, 1], "points_2": [2, 2]}}</answer>'


def _direct_chance(root: Path) -> dict[str, tuple[float, float]]:
    """Chance and oracle IoU per sample, re-implemented here with GrabCut directly."""
    bench = open_benchmark(root)
    seg = GrabCutSegmenter()
    out = {}
    for s in bench:
        seg.set_image(np.asarray(bench.load_image(s)))
        gt = decode_rle(s.mask).astype(bool)
        ious = []
        for _, _, (x1, y1, x2, y2) in scene_shapes(s):
            c = ((x1 + x2) / 2, (y1 + y2) / 2)
            i, u = intersection_union(seg.predict((x1, y1, x2, y2), [c, c])[0], gt)
            ious.append(i / (u + 1e-5))
        i, u = intersection_union(seg.predict(s.bbox, s.points)[0], gt)
        out[s.id] = (sum(ious) / len(ious), i / (u + 1e-5))
    return out


def test_chance_and_oracle_through_grabcut_are_cached_and_reused(
    bench_dir: Path, tmp_path: Path, monkeypatch
):
    root = tmp_path / "bench"
    generate_benchmark(root, n_train=0, n_val=0, n_test=3, seed=0, progress=False)
    samples = list(open_benchmark(root))
    # sample 0 hits with a box in its raw answer (model frame 512: coordinates doubled), sample 1 misses
    t0 = scene_shapes(samples[0])[target_index(samples[0], scene_shapes(samples[0]))][2]
    preds = [
        Prediction(
            "shapes-test-000000", response=_response("", [2 * v for v in t0]), meta={"model_size": [512, 512]}
        ),
        Prediction("shapes-test-000001", bbox=(0.0, 0.0, 5.0, 5.0)),
    ]
    report = evaluate(root, preds, judge=None)
    direct = _direct_chance(root)
    a = report.buckets["all"]
    assert a.chance_n == a.oracle_n == 3 and a.n == 3
    assert a.chance_giou == pytest.approx(sum(c for c, _ in direct.values()) / 3)
    assert a.oracle_giou == pytest.approx(sum(o for _, o in direct.values()) / 3)
    assert 0.2 < a.chance_giou < 0.6 and a.oracle_giou > 0.9  # a flat-colour world: GrabCut is exact
    assert [s.chance_iou for s in report.samples] == pytest.approx([c for c, _ in direct.values()])
    assert a.hit_n == 3 and a.hit_rate == pytest.approx(1 / 3)  # the missing prediction is a miss
    assert [s.hit for s in report.samples] == [True, False, False]
    assert a.giou_ci is not None and a.giou_ci[0] <= a.giou <= a.giou_ci[1]
    assert report.settings["chance"] == {
        "computed": True,
        "segmenter": "grabcut",
        "segmenter_source": "assumed",
        "cache": str(root / "annotations" / "chance-grabcut.jsonl"),
    }
    # per query family, with n
    fams = {s.source["family"] for s in samples}
    assert set(report.families) == fams
    assert sum(f.n for f in report.families.values()) == 3
    assert sum(f.chance_n for f in report.families.values()) == 3
    # cached: one line per sample; a second evaluation segments nothing
    cache = root / "annotations" / "chance-grabcut.jsonl"
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [line["id"] for line in lines] == [s.id for s in samples]

    def boom(*args, **kwargs):
        raise AssertionError("recomputed a cached sample")

    monkeypatch.setattr(chance_mod, "compute_baselines", boom)
    again = evaluate(root, preds, judge=None)
    assert again.buckets["all"].chance_giou == a.chance_giou
    # another convention is another key: recomputed (and then appended)
    with pytest.raises(AssertionError, match="recomputed"):
        evaluate(root, preds, judge=None, convention="segzero")


def test_chance_cache_is_recomputed_for_a_changed_sample(bench_dir: Path, tmp_path: Path) -> None:
    bench = open_benchmark(bench_dir)
    cache = tmp_path / "chance.jsonl"
    first = chance_mod.scene_baselines(bench, cache=cache)
    lines = cache.read_text().splitlines()
    forged = json.loads(lines[1])
    forged["fp"] = "0" * 16  # a regenerated benchmark with other content under the same id
    forged["shapes"] = [[0, 1]]
    cache.write_text("\n".join([lines[0], json.dumps(forged), lines[2]]) + "\n")
    second = chance_mod.scene_baselines(bench, cache=cache)
    assert second == first  # the forged line was not used
    # GrabCut is deterministic (OpenCV's RNG is seeded before each call): without a cache, same counts
    assert chance_mod.scene_baselines(bench, cache=None) == first


def test_no_chance_and_the_runs_segmenter(bench_dir: Path, tmp_path: Path) -> None:
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "shapes-test-000000", "bbox": [0, 0, 9, 9]}) + "\n")
    off = evaluate(bench_dir, preds, judge=None, chance=False, chance_cache=tmp_path / "c.jsonl")
    assert off.buckets["all"].chance_giou is None and not (tmp_path / "c.jsonl").exists()
    assert any("not computed: --no-chance" in n for n in off.notes)
    # the segmenter is the run's (run.json): box here, cached under its own name
    (tmp_path / "p.run.json").write_text(json.dumps({"segmenter": "box"}))
    boxed = evaluate(bench_dir, preds, judge=None, chance_cache=tmp_path / "box.jsonl")
    assert boxed.settings["chance"]["segmenter"] == "box"
    assert boxed.settings["chance"]["segmenter_source"] == "run.json"
    assert boxed.buckets["all"].oracle_giou < 0.95  # a box is not the shape
    # a segmenter with weights: not computed unless asked
    (tmp_path / "p.run.json").write_text(json.dumps({"segmenter": "sam2:/models/sam2"}))
    sam = evaluate(bench_dir, preds, judge=None)
    assert sam.buckets["all"].chance_giou is None
    assert any("needs weights" in n for n in sam.notes)
    assert chance_mod.cache_path(bench_dir, "sam2:/models/sam2/").name == "chance-sam2-sam2.jsonl"


# ---------------------------------------------------------------------------------- faithfulness


def test_faithfulness_of_grounded_mentions(bench_dir: Path) -> None:
    samples = list(open_benchmark(bench_dir))
    s0, s1, s2 = samples
    sh0, sh1 = scene_shapes(s0), scene_shapes(s1)
    t0, t1 = target_index(s0, sh0), target_index(s1, sh1)
    other1 = next(i for i in range(len(sh1)) if i != t1)

    def m(shape, scale=1):
        kind, colour, box = shape
        return f"the {colour} {kind} [{', '.join(str(round(v * scale)) for v in box)}]"

    k0, c0, b0 = sh0[t0]
    wrong_colour = "red" if c0 != "red" else "blue"
    preds = [
        # s0, answer frame 512 (boxes doubled): a real mention, an invented one, then the target: hit, faithful
        Prediction(
            s0.id,
            response=_response(
                f"{m(sh0[1 - t0], 2)}, the {wrong_colour} {k0} [{', '.join(str(2 * round(v)) for v in b0)}], "
                f"so {m(sh0[t0], 2)}",
                [2 * v for v in b0],
            ),
            meta={"model_size": [512, 512]},
        ),
        # s1: names the target first, ends on another real shape; its answer box is the other shape (a miss)
        Prediction(
            s1.id,
            response=_response(f"{m(sh1[t1])} then {m(sh1[other1])}", list(sh1[other1][2])),
            meta={"model_size": [256, 256]},
        ),
        # s2: hits the target without any grounded mention
        Prediction(s2.id, response=_response("the target", list(s2.bbox)), meta={"model_size": [256, 256]}),
    ]
    report = evaluate(bench_dir, preds, judge=None, chance=False)
    a = report.buckets["all"]
    assert a.faith_n == 3 and a.faith_n_without_mentions == 1
    assert a.faith_mentions_mean == pytest.approx(5 / 3)
    assert a.faith_real == pytest.approx(4 / 5)  # the wrong-colour mention is not a real shape
    assert a.faith_n_with_mentions == 2 and a.faith_last_is_target == pytest.approx(1 / 2)
    assert a.faith_n_hits == 2 and a.faith_last_is_target_hits == pytest.approx(1 / 2)  # s2: no mention
    assert a.hit_rate == pytest.approx(2 / 3)
    by_id = {s.id: s for s in report.samples}
    assert (by_id[s0.id].mentions, by_id[s0.id].real_mentions, by_id[s0.id].last_is_target) == (3, 2, True)
    assert by_id[s2.id].mentions == 0 and by_id[s2.id].last_is_target is None
    table = format_table(report)
    assert "faithfulness of grounded mentions (exact, shapes benchmarks only" in table
    assert any("faithfulness is exact, shapes benchmarks only" in n for n in report.notes)


def _cancelling_box(box: tuple[float, ...] | list[float]) -> list[int]:
    """A box with swapped x corners whose area (+1 convention: -1 wide, A high) is minus ``box``'s area A,
    so that the reward's integer-pixel IoU against ``box`` divides by a union of zero."""
    x1, _, x2, _ = (round(v) for v in box)
    y1, y2 = round(box[1]), round(box[3])
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    return [x1 + 1, 0, x1 - 1, area - 1]


def test_a_box_with_swapped_corners_is_a_miss_not_a_crash(bench_dir: Path) -> None:
    # a model wrote it (seen in GRPO rollouts of the tiny model); the union of the reward's IoU is zero
    # there, and the reward's iou term scores it 0 (the authors' try/except): eval must too
    s0 = next(iter(open_benchmark(bench_dir)))
    sh0 = scene_shapes(s0)
    t0 = target_index(s0, sh0)
    kind, colour, box = sh0[t0]
    bad = _cancelling_box(box)
    assert box_iou(bad, box) == 0.0
    think = f"the {colour} {kind} [{', '.join(map(str, bad))}], so the {colour} {kind} [{', '.join(map(str, bad))}]"
    pred = Prediction(s0.id, response=_response(think, bad), meta={"model_size": [256, 256]})
    for strict in (False, True):  # the strict parser keeps the swapped corners of the answer's box
        report = evaluate(bench_dir, [pred], judge=None, chance=False, strict_parse=strict)
        a = report.buckets["all"]
        assert a.faith_mentions_mean == 2 and a.faith_real == 0.0  # neither mention is a real shape
        if strict:
            assert a.hit_rate == 0.0


_ODD_NUMBERS = ["0", "-1", "255", "256", "9" * 30, "1e309", "-0", "3.5", "NaN", "Infinity", "-5", "1" * 400]


def _odd_response(rnd: random.Random, shapes: list[tuple[str, str, Any]]) -> str:
    """A model-like response with odd numbers: grounded mentions in both word orders, answers in the
    strict and the lenient formats, cut-off and missing blocks."""

    def box() -> str:
        return (
            "[" + ", ".join(rnd.choice([*_ODD_NUMBERS, str(rnd.randint(-50, 300))]) for _ in range(4)) + "]"
        )

    def mention() -> str:
        kind, colour, _ = rnd.choice(shapes)
        return rnd.choice(
            [f"the {colour} {kind} {box()}", f"{box()} {colour} {kind}", f"{kind}s: the big {kind} {box()}"]
        )

    think = "; ".join(mention() for _ in range(rnd.randint(0, 4)))
    answer = rnd.choice(
        [
            f'{{"bbox": {box()}, "points_1": [{rnd.choice(_ODD_NUMBERS)}, 1], "points_2": [2, {rnd.choice(_ODD_NUMBERS)}]}}',
            f"{{'bbox_2d': {box()}, 'point_1': [1, {rnd.choice(_ODD_NUMBERS)}]}}",
            f'{{"bbox": {box()}}}',
            "{",
            "",
        ]
    )
    return rnd.choice(
        [f"<think>{think}</think><answer>{answer}</answer>", f"<think>{think}", answer, think + answer]
    )


def test_odd_model_responses_are_scored_never_stop_the_evaluation(bench_dir: Path) -> None:
    # swapped corners, Infinity, 1e309, NaN, 400-digit numbers, in mentions and answers, both parsers; on
    # the old code this finds the strict parser's OverflowError (the rarer ZeroDivisionError of box_iou
    # has its own test above)
    samples = list(open_benchmark(bench_dir))
    rnd = random.Random(0)
    for _ in range(25):
        preds = [
            Prediction(
                s.id,
                response=_odd_response(rnd, scene_shapes(s)),
                meta={"model_size": rnd.choice([[256, 256], [224, 224], [512, 128]])},
            )
            for s in samples
        ]
        for strict in (False, True):
            a = evaluate(bench_dir, preds, judge=None, chance=False, strict_parse=strict).buckets["all"]
            assert a.n == len(samples) and 0.0 <= a.hit_rate <= 1.0
            assert a.faith_real is None or 0.0 <= a.faith_real <= 1.0


def test_shards_merge_families_and_intervals(bench_dir: Path) -> None:
    preds = [Prediction(s.id, bbox=tuple(float(v) for v in s.bbox)) for s in open_benchmark(bench_dir)]
    whole = evaluate(bench_dir, preds, judge=None, chance=False)
    acc_a, acc_b = EvalAccumulator("lisa"), EvalAccumulator("lisa")
    for k, rec in enumerate(whole.samples):
        (acc_a if k % 2 else acc_b).add(rec)
    merged = acc_a.merge(acc_b)
    assert sorted(merged.families) == sorted(whole.families)
    assert merged.results()["all"].hit_rate == whole.buckets["all"].hit_rate == 1.0
    assert merged.results()["all"].giou_ci is not None


def test_cli_eval_prints_chance_families_and_writes_them(bench_dir: Path, tmp_path: Path, capsys) -> None:
    preds = tmp_path / "p.jsonl"
    s0 = next(iter(open_benchmark(bench_dir)))
    preds.write_text(json.dumps({"id": s0.id, "bbox": list(s0.bbox)}) + "\n")
    out = tmp_path / "r.json"
    args = ["eval", "--data", str(bench_dir), "--predictions", str(preds), "--judge", "none", "--no-progress"]
    assert (
        main([*args, "--out", str(out), "--chance-cache", str(tmp_path / "c.jsonl"), "--bootstrap", "200"])
        == 0
    )
    text = capsys.readouterr().out
    assert "against chance" in text and "chance gIoU" in text and "oracle gIoU" in text
    assert "per query family" in text and s0.source["family"] in text
    data = json.loads(out.read_text())
    assert data["buckets"]["all"]["chance_n"] == 3 and data["buckets"]["all"]["hit_n"] == 3
    assert data["settings"]["bootstrap"]["n_resamples"] == 200
    assert s0.source["family"] in data["families"]
    assert main([*args, "--no-chance"]) == 0
    assert "chance level and oracle not computed: --no-chance" in capsys.readouterr().out
    assert main([*args, "--segmenter", "nope"]) == 2
