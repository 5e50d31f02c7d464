"""Training data rows (GRPO / SFT) from our benchmark format and Seg-Zero's layout; vLLM top-k helpers."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.data import BenchmarkWriter
from pixelthink.train.config import DataConfig
from pixelthink.train.data import (
    DataStats,
    build_dataset,
    detect_format,
    grpo_rows,
    load_difficulty_file,
    parse_segzero_solution,
    sft_rows,
)
from pixelthink.train.rollout_uncertainty import (
    completion_uncertainties,
    margins_from_vllm_topk,
    sampled_token_logprobs,
)

W, H = 80, 60
# Hand-computed model-frame GT at resolution 112: x * 112/80 = 1.4x, y * 112/60 = 1.8667y
# box (20,10,59,39) -> (28, 18.67, 82.6, 72.8) -> (28,19),(83,73)
# points (34,24) -> (47.6, 44.8) -> (48,45); (54,34) -> (75.6, 63.47) -> (76,63)
GT_112 = "<box>(28,19),(83,73)</box><points>(48,45),(76,63)</points>"


def _bench(path: Path, *, splits=("train", "train", "val"), reasoning=True) -> Path:
    rng = np.random.default_rng(1)
    with BenchmarkWriter(path, name="b") as w:
        for i, split in enumerate(splits):
            mask = np.zeros((H, W), bool)
            mask[10:40, 20:60] = True
            w.add(
                {
                    "id": f"s{i}",
                    "query": f"The Red Box {i}.",
                    "mask": mask,
                    "bbox": [20, 10, 59, 39],
                    "points": [[34, 24], [54, 34]],
                    "difficulty": [2.0, None, 7.0][i % 3],
                    "reasoning_short": "short ref" if reasoning else None,
                    "reasoning_long": "a much longer reference" if (reasoning and i != 0) else None,
                    "split": split,
                    "source": {"image_id": f"img{i}"},
                },
                Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)),
            )
    return path


def test_grpo_rows_are_in_the_model_frame(tmp_path: Path) -> None:
    b = _bench(tmp_path / "b")
    stats = DataStats()
    rows = list(grpo_rows(DataConfig(path=str(b), resolution=112), stats))
    assert [r["id"] for r in rows] == ["s0", "s1"]  # split "train" only
    assert stats.skipped_split == 1 and stats.kept == 2 and stats.difficulty_missing == 1
    r = rows[0]
    assert r["solution"] == GT_112
    assert r["image"].size == (112, 112)
    assert r["difficulty"] == 2.0 and rows[1]["difficulty"] is None
    assert r["prompt"][0]["role"] == "user"
    assert "the red box 0" in r["prompt"][0]["content"]  # Seg-Zero normalisation: lower case, no final dot


def test_difficulty_file_overrides_by_id_then_image_id(tmp_path: Path) -> None:
    b = _bench(tmp_path / "b")
    f = tmp_path / "diff.json"
    f.write_text(
        json.dumps(
            [
                {"image_id": "s0", "difficulty_score_model": 6.5},
                {"image_id": "img1", "difficulty_score_model": 9},
                {"image_id": "s2", "difficulty_score_model": 11},
            ]
        )
    )
    assert load_difficulty_file(f) == {"s0": 6.5, "img1": 9.0}  # 11 is outside 1..10: ignored
    rows = list(grpo_rows(DataConfig(path=str(b), resolution=112, difficulty_file=str(f), split=None)))
    assert [r["difficulty"] for r in rows] == [6.5, 9.0, 7.0]


def test_sft_targets_short_long_and_mix(tmp_path: Path) -> None:
    b = _bench(tmp_path / "b", splits=("train",) * 3)
    answer = '{"bbox": [28, 19, 83, 73], "points_1": [48, 45], "points_2": [76, 63]}'
    short = list(sft_rows(DataConfig(path=str(b), resolution=112, reasoning="short")))
    assert short[0]["completion"][0]["content"] == f"<think>short ref</think><answer>{answer}</answer>"
    stats = DataStats()
    long = list(sft_rows(DataConfig(path=str(b), resolution=112, reasoning="long"), stats))
    assert [r["id"] for r in long] == ["s1", "s2"] and stats.skipped_no_reasoning == 1
    mixed = list(sft_rows(DataConfig(path=str(b), resolution=112, reasoning="mix", long_fraction=1.0)))
    # s0 has no long reference: falls back to the short one; the others take the long one
    assert [r["completion"][0]["content"].split("</think>")[0] for r in mixed] == [
        "<think>short ref",
        "<think>a much longer reference",
        "<think>a much longer reference",
    ]


def test_segzero_layout_roundtrip_through_the_exporter(tmp_path: Path) -> None:
    from pixelthink.data.exporters import export_segzero

    b = _bench(tmp_path / "b", splits=("train",) * 3)
    out = tmp_path / "sz" / "train.parquet"
    export_segzero(b, out, resolution=840, image_format="PNG")
    assert detect_format(out.parent) == "segzero" and detect_format(b) == "benchmark"
    rows = list(grpo_rows(DataConfig(path=str(out.parent), resolution=112)))
    assert len(rows) == 3
    # 840 frame -> 112 frame (factor 2/15) keeps the GT within one pixel of the direct conversion
    box, pts = parse_segzero_solution(rows[0]["solution"])
    ref_box, ref_pts = parse_segzero_solution(GT_112)
    assert np.allclose(box, ref_box, atol=1) and np.allclose(pts, ref_pts, atol=1)
    assert rows[0]["image"].size == (112, 112)


def test_build_dataset_and_errors(tmp_path: Path) -> None:
    b = _bench(tmp_path / "b")
    ds = build_dataset(DataConfig(path=str(b), resolution=112), "grpo", cache_dir=str(tmp_path / "c"))
    assert len(ds) == 2 and ds[0]["solution"] == GT_112 and ds[0]["image"].size == (112, 112)
    assert ds[1]["difficulty"] is None
    with pytest.raises(ValueError, match="no usable"):
        build_dataset(
            DataConfig(path=str(b), resolution=112, split="test"), "grpo", cache_dir=str(tmp_path / "c")
        )
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"x\.parquet: row 3"):
        parse_segzero_solution("<box>1,2</box>", "x.parquet: row 3")


def test_data_path_list_reads_every_dataset_in_order(tmp_path: Path) -> None:
    """``data.path: [a, b]`` (a replay mix) is one training set: a's rows then b's, every setting
    applied to each; a missing entry is named; an empty list is refused by the recipe loader."""
    from pixelthink.train.config import RecipeError, recipe_from_dict

    a = _bench(tmp_path / "a", splits=("train", "train", "val"))
    b = _bench(tmp_path / "b", splits=("train",) * 3)
    stats = DataStats()
    rows = list(grpo_rows(DataConfig(path=[str(a), str(b)], resolution=112), stats))
    assert [r["id"] for r in rows] == ["s0", "s1", "s0", "s1", "s2"]
    assert stats.read == 6 and stats.skipped_split == 1
    ds = build_dataset(
        DataConfig(path=[str(a), str(b)], resolution=112), "sft", cache_dir=str(tmp_path / "c")
    )
    assert len(ds) == 5
    with pytest.raises(FileNotFoundError, match="missing: training data not found"):
        build_dataset(
            DataConfig(path=[str(a), str(tmp_path / "missing")]), "sft", cache_dir=str(tmp_path / "c")
        )
    base = {"kind": "sft", "model": "tiny:qwen2_5_vl", "output_dir": "o"}
    assert recipe_from_dict({**base, "data": {"path": [str(a), str(b)]}}).data.paths() == [str(a), str(b)]
    assert recipe_from_dict({**base, "data": {"path": str(a)}}).data.paths() == [str(a)]
    with pytest.raises(RecipeError, match=r"data\.path: expected a dataset path or a non-empty list"):
        recipe_from_dict({**base, "data": {"path": []}})


def test_vllm_topk_margins_and_sampled_logprob_reordering() -> None:
    # step 0: top-2 probs 0.6, 0.3 -> margin 0.3; step 1: a single candidate -> NaN (skipped)
    lp = [[math.log(0.6), math.log(0.3)], [math.log(0.9)]]
    m = margins_from_vllm_topk(lp)
    assert m[0] == pytest.approx(0.3) and math.isnan(m[1])
    # completion_uncertainties: U = mean(1 - margin) over non-NaN tokens = 1 - 0.3 = 0.7
    assert completion_uncertainties(np.array([m]), [[5, 6]]) == [pytest.approx(0.7)]
    # vLLM with logprobs=2 lists the rank-1 token first; TRL needs the sampled token (id 7) first
    logprobs = [[[-0.5, -1.2, -3.0], [-0.1, -2.5]]]
    token_ids = [[[4, 9, 7], [3, 8]]]
    out = sampled_token_logprobs(logprobs, token_ids, [[7, 3]])
    assert out == [[[-3.0, -0.5, -1.2], [-0.1, -2.5]]]
    with pytest.raises(ValueError, match="sampled token"):
        sampled_token_logprobs(logprobs, token_ids, [[5, 3]])


def test_tokenizer_texts_cover_prompts_references_answers_and_numbers(tmp_path: Path) -> None:
    from pixelthink.train.data import tokenizer_texts

    b = _bench(tmp_path / "b")
    cfg = DataConfig(path=str(b), resolution=112, prompt_template="Find '{question}'.")
    texts = tokenizer_texts(cfg, number_repeats=2)
    assert "Find 'the red box 0'." in texts  # prompts (normalised query), every split
    assert "Find 'the red box 2'." in texts
    assert any(t.startswith("<think>a much longer reference</think><answer>{") for t in texts)
    assert sum(" 110 111" in t and "112" not in t for t in texts) == 2  # model frame 0..111, " 17"
    assert sum("[0], [1]" in t and "[111]" in t and "112" not in t for t in texts) == 2  # "[17"
    assert any("You are a helpful assistant." in t for t in texts)
    with pytest.raises(FileNotFoundError):
        tokenizer_texts(cfg, [str(tmp_path / "missing")])


def test_recipe_tokenizer_from_builds_a_tiny_model_whose_coordinates_are_single_tokens(
    tmp_path: Path,
) -> None:
    from pixelthink.models.processors import load_processor
    from pixelthink.train.common import resolve_model_path
    from pixelthink.train.config import ModelConfig, RecipeError

    b = _bench(tmp_path / "b")
    data = DataConfig(path=str(b), resolution=112, prompt_template="Find '{question}'.")
    model = ModelConfig(
        path="tiny:qwen2_5_vl",
        tiny={"tokenizer_from": [str(b)], "vocab_size": 1024, "hidden_size": 32, "num_layers": 1},
    )
    path = resolve_model_path(model, tmp_path / "run", "r.yaml", data)
    tok = load_processor(path).tokenizer
    assert len(tok) <= 1024 + 20
    pieces = tok.tokenize('{"bbox": [17, 105, 99, 3]')
    for number in ("17", "105", "99", "3"):
        assert any(p.lstrip("Ġ ") == number for p in pieces), pieces
    assert len(tok.tokenize("Find 'the red box 1'.")) <= 8
    bad = ModelConfig(path="tiny:qwen2_5_vl", tiny={"tokenizer_from": [str(tmp_path / "nope")]})
    with pytest.raises(RecipeError, match=r"r\.yaml: model\.tiny\.tokenizer_from"):
        resolve_model_path(bad, tmp_path / "run2", "r.yaml", data)
    with pytest.raises(RecipeError, match="vocab_size"):
        resolve_model_path(
            ModelConfig(path="tiny:qwen2_5_vl", tiny={"vocab_size": 10}), tmp_path / "r3", "r.yaml", data
        )


def _shapes_bench(path: Path) -> Path:
    from pixelthink.miniature.shapes import generate_benchmark

    return generate_benchmark(path, n_train=6, n_val=0, n_test=0, seed=4, image_size=(96, 96), progress=False)


def test_caption_rows_list_every_shape_in_the_model_frame(tmp_path: Path) -> None:
    import re

    from pixelthink.data import Benchmark
    from pixelthink.frames import FrameTransform

    b = _shapes_bench(tmp_path / "s")
    cfg = DataConfig(path=str(b), resolution=48, target="caption", caption_prompt="Describe the shapes.")
    stats = DataStats()
    rows = list(sft_rows(cfg, stats, seed=0))
    samples = {s.id: s for s in Benchmark(b)}
    assert len(rows) == 6 and stats.kept == 6
    orders = set()
    for row in rows:
        assert row["prompt"] == [{"role": "user", "content": "Describe the shapes."}]
        assert row["image"].size == (48, 48)
        text = row["completion"][0]["content"]
        got = re.findall(r"the (\w+) (\w+) \[(\d+), (\d+), (\d+), (\d+)\]", text)
        shapes = samples[row["id"]].source["shapes"]
        assert len(got) == len(shapes)
        ft = FrameTransform.for_size(96, 96, 48)
        want = sorted(
            (s["colour"], s["kind"], *(str(round(v)) for v in ft.box_to_model(tuple(s["bbox"]))))
            for s in shapes
        )
        assert sorted(got) == want
        orders.add(tuple(g[1] for g in got) == tuple(s["kind"] for s in shapes))
    assert False in orders  # a random order, not the drawing order
    # names only (a recognition stage): the same shapes, no coordinates
    names = list(sft_rows(DataConfig(path=str(b), resolution=48, target="caption", caption_boxes=False)))
    for row in names:
        text = row["completion"][0]["content"]
        shapes = samples[row["id"]].source["shapes"]
        assert "[" not in text
        assert sorted(re.findall(r"the (\w+) (\w+)", text)) == sorted(
            (s["colour"], s["kind"]) for s in shapes
        )
    # a share of caption rows inside task SFT
    mixed = list(sft_rows(DataConfig(path=str(b), resolution=48, caption_fraction=0.5), seed=1))
    kinds = {r["prompt"][0]["content"] == "Describe the shapes." for r in mixed}
    assert kinds == {True, False}
    with pytest.raises(ValueError, match="caption_fraction"):
        list(sft_rows(DataConfig(path=str(b), caption_fraction=1.5)))
    # a benchmark without source.shapes cannot give captions, and says why
    plain = _bench(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"no source\.shapes"):
        list(sft_rows(DataConfig(path=str(plain), target="caption")))


def test_name_reasoning_is_the_target_name(tmp_path: Path) -> None:
    """data.reasoning: name (the referring stage): "<think>the red star</think>" + the target's answer."""
    from pixelthink.data import Benchmark

    b = _shapes_bench(tmp_path / "s")
    samples = {s.id: s for s in Benchmark(b)}
    rows = list(sft_rows(DataConfig(path=str(b), resolution=48, reasoning="name")))
    task = {r["id"]: r for r in sft_rows(DataConfig(path=str(b), resolution=48, reasoning="short"))}
    assert len(rows) == 6
    for row in rows:
        t = samples[row["id"]].source["target"]
        text = row["completion"][0]["content"]
        assert text.startswith(f"<think>the {t['colour']} {t['kind']}</think><answer>")
        # same prompt and answer as the task row: only the reasoning differs
        assert row["prompt"] == task[row["id"]]["prompt"]
        assert text.split("</think>")[1] == task[row["id"]]["completion"][0]["content"].split("</think>")[1]
    # a benchmark without source.target cannot name its targets, and says which sample
    plain = _bench(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"sample s0 has no source\.target"):
        list(sft_rows(DataConfig(path=str(plain), reasoning="name")))


def test_name_fraction_replays_referring_rows_in_the_task_mix(tmp_path: Path) -> None:
    """data.name_fraction: that share of the task rows reason with the target's name only."""
    from pixelthink.data import Benchmark
    from pixelthink.frames import FrameTransform
    from pixelthink.miniature.shapes.grounding import rescale_mentions

    b = _shapes_bench(tmp_path / "s")
    samples = {s.id: s for s in Benchmark(b)}
    base = DataConfig(path=str(b), resolution=48, reasoning="mix", long_fraction=1.0)
    plain = {r["id"]: r["completion"][0]["content"] for r in sft_rows(base)}
    named = {
        r["id"]: r["completion"][0]["content"] for r in sft_rows(replace(base, name_fraction=0.5), seed=0)
    }
    assert named.keys() == plain.keys()
    kinds = []
    for sid, text in named.items():
        t = samples[sid].source["target"]
        is_name = text.startswith(f"<think>the {t['colour']} {t['kind']}</think>")
        kinds.append(is_name)
        if not is_name:  # the other rows are untouched: the long reference (long_fraction 1)
            s = samples[sid]  # the long reference, its boxes moved into the model frame (48 px)
            frame = FrameTransform.for_size(s.width, s.height, 48)
            assert text == plain[sid] and rescale_mentions(s.reasoning_long, frame.box_to_model) in text
    assert 0 < sum(kinds) < len(kinds)  # 6 rows at 0.5, seed 0: some of each
    # every task row at 1.0, none at 0 (and the default leaves the earlier rows byte-identical)
    all_named = list(sft_rows(replace(base, name_fraction=1.0)))
    assert all(r["completion"][0]["content"].startswith("<think>the ") for r in all_named)
    assert [r["completion"][0]["content"] for r in sft_rows(base)] == list(plain.values())
    with pytest.raises(ValueError, match=r"data\.name_fraction: expected a number in \[0, 1\], got 2\.0"):
        list(sft_rows(replace(base, name_fraction=2.0)))


def test_l1_target_length_is_stated_in_the_prompt_and_given_as_a_column(tmp_path: Path) -> None:
    from pixelthink.rewards import l1_target_length

    b = _bench(tmp_path / "b")
    plain = list(grpo_rows(DataConfig(path=str(b), resolution=112)))
    assert all(r["target_length"] is None for r in plain)
    cfg = DataConfig(
        path=str(b), resolution=112, target_length=[10, 50], target_length_prompt=" At most {target}."
    )
    rows = list(grpo_rows(cfg))
    for row, base in zip(rows, plain, strict=True):
        target = l1_target_length(row["id"], 10, 50)
        assert row["target_length"] == target
        assert row["prompt"][0]["content"] == base["prompt"][0]["content"] + f" At most {target}."
    ds = build_dataset(cfg, "grpo", cache_dir=str(tmp_path / "cache"))
    assert ds["target_length"] == [float(r["target_length"]) for r in rows]
