"""evaluate() end to end on a small benchmark built on the fly (BenchmarkWriter + PredictionWriter).

Images are 20 x 10 (width x height). Hand-computed expectations are written next to each sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.data import Benchmark, BenchmarkWriter
from pixelthink.evaluate import EvalAccumulator, EvalReport, evaluate, format_table, score_sample
from pixelthink.evaluate.runner import parse_response_frame, segzero_parse_problem
from pixelthink.predictions import Prediction, PredictionWriter, read_predictions

H, W = 10, 20


def rect(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """bool (H, W) with rows r0..r1 and cols c0..c1 (inclusive) set."""
    m = np.zeros((H, W), dtype=bool)
    m[r0 : r1 + 1, c0 : c1 + 1] = True
    return m


EMPTY = np.zeros((H, W), dtype=bool)
# 840-frame box of the original-frame rectangle cols 2..9, rows 2..5: x * 840/20 = 42x, y * 840/10 = 84y
RESPONSE_840 = (
    "<think>the large sign in the middle of the picture</think>"
    '<answer>{"bbox": [84, 168, 378, 420], "points_1": [200, 300], "points_2": [250, 350]}</answer>'
)


@pytest.fixture
def bench_and_preds(tmp_path: Path) -> tuple[Path, Path]:
    bench = tmp_path / "bench"
    image = Image.new("RGB", (W, H), (40, 80, 120))
    samples = [
        # s_easy (D 2.0): GT rows 0..1 cols 0..3 (8 px), ignore rows 0..1 cols 4..5 (4 px)
        {
            "id": "s_easy",
            "mask": rect(0, 1, 0, 3),
            "ignore": rect(0, 1, 4, 5),
            "difficulty": 2.0,
            "reasoning_short": "one two three four",
        },
        # s_missing (D 1.0): GT rows 5..6 cols 15..16 (4 px); no prediction
        {"id": "s_missing", "mask": rect(5, 6, 15, 16), "difficulty": 1.0, "reasoning_short": "x y"},
        # s_medium (D 3.5, exactly tau_medium -> medium): GT rows 2..5 cols 2..9 (32 px)
        {"id": "s_medium", "mask": rect(2, 5, 2, 9), "difficulty": 3.5},
        # s_unparsable (D 4.9): GT 4 px; the response has no box
        {"id": "s_unparsable", "mask": rect(5, 6, 15, 16), "difficulty": 4.9},
        # s_hard (D 5.0, exactly tau_hard -> hard): GT 32 px; prediction only a bbox
        {"id": "s_hard", "mask": rect(2, 5, 2, 9), "difficulty": 5.0},
        # s_empty (D 7.0): empty GT, empty predicted mask
        {"id": "s_empty", "mask": EMPTY, "difficulty": 7.0},
        # s_fail (unrated): GT rows 8..9 cols 0..3 (8 px); the prediction reports an error
        {"id": "s_fail", "mask": rect(8, 9, 0, 3), "difficulty": None},
    ]
    with BenchmarkWriter(bench, name="tiny") as writer:
        for s in samples:
            writer.add({"query": "the thing", **s}, image, image_name="img.png")
    preds = tmp_path / "preds.jsonl"
    with PredictionWriter(preds) as pw:
        # prediction rows 0..1 cols 2..5: 4 px on GT (cols 2,3) + 4 px on the ignore region (cols 4,5)
        pw.write(
            Prediction.with_mask(
                "s_easy",
                rect(0, 1, 2, 5),
                response="<think>one two three</think><answer>{}</answer>",
                uncertainty=0.2,
                latency={"total": 1.0, "decode": 0.5},
            )
        )
        pw.write(
            Prediction(
                id="s_medium",
                response=RESPONSE_840,
                reasoning_tokens=12,
                uncertainty=0.4,
                latency={"total": 2.0},
            )
        )
        pw.write(Prediction(id="s_unparsable", response="I cannot tell"))
        pw.write(Prediction(id="s_hard", bbox=(2.0, 2.0, 5.0, 5.0)))  # rows 2..5 cols 2..5 = 16 px
        pw.write(Prediction.with_mask("s_empty", EMPTY, response="<think>a b</think>"))
        pw.write(Prediction(id="s_fail", error="segmenter crashed"))
        pw.write(Prediction(id="not_in_bench", response="x"))
    return bench, preds


def test_lisa_golden(bench_and_preds):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds, convention="lisa")
    b = r.buckets
    # per-sample (I, U) with ignore removed: s_easy (4, 8); s_missing (0, 4); s_medium (32, 32);
    # s_unparsable (0, 4); s_hard (16, 32); s_empty (0, 0) -> IoU 1.0; s_fail (0, 8).
    easy = 4 / (8 + 1e-5)
    assert b["easy"].n == 2 and b["easy"].giou == pytest.approx((easy + 0.0) / (2 + 1e-5), rel=1e-12)
    assert b["easy"].ciou == pytest.approx(4 / 12, rel=1e-9)  # (4 + 0) / (8 + 4)
    assert b["medium"].giou == pytest.approx((32 / (32 + 1e-5)) / (2 + 1e-5), rel=1e-12)
    assert b["medium"].ciou == pytest.approx(32 / 36, rel=1e-9)
    assert b["hard"].giou == pytest.approx((16 / (32 + 1e-5) + 1.0) / (2 + 1e-5), rel=1e-12)
    assert b["hard"].ciou == pytest.approx(16 / 32, rel=1e-9)
    assert b["unrated"].giou == 0.0 and b["unrated"].n_failed == 1
    total = easy + 32 / (32 + 1e-5) + 16 / (32 + 1e-5) + 1.0
    assert b["all"].giou == pytest.approx(total / (7 + 1e-5), rel=1e-12)
    # I = 4 + 32 + 16 = 52; U = 8 + 4 + 32 + 4 + 32 + 0 + 8 = 88
    assert b["all"].ciou == pytest.approx(52 / 88, rel=1e-9)
    # failures: missing, unparsable, error = 3 of 7
    assert b["all"].n_failed == 3 and b["all"].fail_rate == pytest.approx(3 / 7)
    assert r.counts["failures"] == {"missing": 1, "unparsable": 1, "error": 1}
    assert r.counts["mask_sources"] == {"mask": 2, "response": 1, "bbox": 1}


def test_segzero_golden(bench_and_preds):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds, convention="segzero")
    b = r.buckets
    # ignore counted as target: s_easy target 12 px, pred 8 px all on target: I = 8, U = 12 -> 2/3
    # s_missing (0, 4) -> 0; easy gIoU = (2/3 + 0) / 2 = 1/3, cIoU = 8 / 16
    assert b["easy"].giou == pytest.approx(1 / 3) and b["easy"].ciou == pytest.approx(0.5)
    # medium: (32, 32) -> 1, (0, 4) -> 0: gIoU 0.5, cIoU 32/36
    assert b["medium"].giou == pytest.approx(0.5) and b["medium"].ciou == pytest.approx(32 / 36)
    # hard: (16, 32) -> 0.5; s_empty has an empty union -> dropped
    assert b["hard"].giou == pytest.approx(0.5) and b["hard"].n_scored == 1 and b["hard"].n_skipped_empty == 1
    # all: (2/3 + 0 + 1 + 0 + 0.5 + 0) / 6 = 13/36; I = 8 + 32 + 16 = 56, U = 12 + 4 + 32 + 4 + 32 + 8 = 92
    assert b["all"].giou == pytest.approx(13 / 36) and b["all"].ciou == pytest.approx(56 / 92)
    assert b["all"].n == 7 and b["all"].n_scored == 6


def test_buckets_lengths_uncertainty_latency_rscore(bench_and_preds):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds)
    assert {k: v.n for k, v in r.buckets.items()} == {
        "easy": 2,
        "medium": 2,
        "hard": 2,
        "unrated": 1,
        "all": 7,
    }
    a = r.buckets["all"]
    # lengths: s_easy 3 words; s_medium reasoning_tokens 12 (preferred over its 9 words);
    # s_unparsable 0 (no think); s_empty 2 words; no response/tokens for s_hard, s_fail, s_missing.
    # sorted [0, 2, 3, 12]: mean 17/4 = 4.25, median 2.5, p90 at 2.7 -> 3 + 0.7 * 9 = 9.3
    assert (a.tokens_n, a.tokens_mean, a.tokens_median) == (4, 4.25, 2.5)
    assert a.tokens_p90 == pytest.approx(9.3)
    assert r.counts["length_sources"] == {"words": 3, "reasoning_tokens": 1}
    assert r.settings["length_unit"] == "mixed" and any("mix units" in n for n in r.notes)
    assert a.uncertainty_mean == pytest.approx(0.3) and a.uncertainty_n == 2
    assert a.latency == {"total": pytest.approx(1.5), "decode": pytest.approx(0.5)}
    # RScore: s_easy "one two three" vs "one two three four": P = 1, R = 3/4 -> F1 = 1.5/1.75 = 6/7;
    # s_missing has a reference and no prediction -> 0; the 5 others have no references.
    assert a.rscore == pytest.approx((6 / 7 + 0.0) / 2) and a.rscore_n == 2 and a.rscore_no_refs == 5
    assert r.buckets["easy"].rscore == pytest.approx(3 / 7)
    assert r.buckets["easy"].sat is not None and r.buckets["easy"].urss is not None
    assert r.buckets["medium"].rst is None  # no RScore in that bucket


def test_missing_extra_and_notes(bench_and_preds):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds)
    assert r.missing_ids == ["s_missing"]
    assert r.extra_ids == ["not_in_bench"]
    assert r.counts["n_samples"] == 7 and r.counts["n_predictions"] == 7
    assert any("Prediction.bbox" in n for n in r.notes)
    assert any("840 (assumed): 1" in n for n in r.notes)
    assert r.counts["response_frames"] == {"840 (assumed)": 1}
    assert any("not the paper's RScore" in n for n in r.notes)
    table = format_table(r)
    assert "convention=lisa" in table and "s_missing" in table
    for col in ("gIoU", "cIoU", "fail%", "RScore", "SAT", "RST", "URSS", "latency"):
        assert col in table


def test_response_frame_original_changes_the_mask(bench_and_preds):
    bench, preds = bench_and_preds
    r840 = evaluate(bench, preds, response_frame=840)
    rorig = evaluate(bench, preds, response_frame="original")
    by_id = {s.id: s for s in rorig.samples}
    # read in the original frame, the 840-frame box lies outside the 20x10 image: clipped to the
    # corner pixel (19, 9), which is not on the GT -> I = 0, U = 32 + 1
    assert (by_id["s_medium"].intersection, by_id["s_medium"].union) == (0, 33)
    assert {s.id: s for s in r840.samples}["s_medium"].intersection == 32
    assert rorig.settings["response_frame"] == "original"


def test_auto_frame_reads_model_size_from_meta(bench_and_preds):
    bench, _ = bench_and_preds
    # the pipeline records the model frame in meta["model_size"]; here the model saw the native 20x10
    # image, so the response box [2, 2, 9, 5] is already in original pixels: the GT rectangle exactly
    response = (
        '<think>t</think><answer>{"bbox": [2, 2, 9, 5], "points_1": [3, 3], "points_2": [4, 4]}</answer>'
    )
    preds = [Prediction(id="s_medium", response=response, meta={"model_size": [W, H]})]
    auto = {s.id: s for s in evaluate(bench, preds, judge="none").samples}
    assert (auto["s_medium"].intersection, auto["s_medium"].union) == (32, 32)
    # forcing 840 reads the same numbers as 840-frame pixels: x * 20/840, y * 10/840 -> all ~0: 1 px at (0, 0)
    forced = {s.id: s for s in evaluate(bench, preds, judge="none", response_frame=840).samples}
    assert forced["s_medium"].intersection == 0
    report = evaluate(bench, preds, judge="none")
    assert report.counts["response_frames"] == {"20x10 (meta)": 1}
    assert report.settings["response_frame"] == "auto"


def test_tokenizer_and_no_judge(bench_and_preds):
    class CharTokenizer:  # any object with encode(text, add_special_tokens=False)
        name_or_path = "chars"

        def encode(self, text, add_special_tokens=True):
            return list(text.replace(" ", ""))

    bench, preds = bench_and_preds
    r = evaluate(bench, preds, tokenizer=CharTokenizer(), judge="none")
    by_id = {s.id: s for s in r.samples}
    assert by_id["s_easy"].tokens == len("onetwothree")  # 11
    assert by_id["s_medium"].tokens == len("thelargesigninthemiddleofthepicture")
    assert r.settings["length_unit"] == "tokenizer" and r.settings["tokenizer"] == "chars"
    assert r.buckets["all"].rscore is None and r.settings["judge"] is None


def test_strict_parse(bench_and_preds):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds, strict_parse=True)
    by_id = {s.id: s for s in r.samples}
    # s_easy's answer "{}" fails Seg-Zero's extractor, s_empty has no answer: both become failures
    assert by_id["s_easy"].failure == "strict_parse" and by_id["s_empty"].failure == "strict_parse"
    assert by_id["s_medium"].failed is False
    assert segzero_parse_problem(RESPONSE_840) is None
    assert "'<'" in segzero_parse_problem(RESPONSE_840.replace("sign", "sign <b>"))
    # json.loads reads Infinity and 1e309 as float('inf'); Seg-Zero's int() fails on it (OverflowError):
    # a failed sample, not a stopped evaluation
    for value in ("Infinity", "1e309", "-Infinity"):
        problem = segzero_parse_problem(RESPONSE_840.replace("378", value))
        assert problem is not None and "OverflowError" in problem
        problem = segzero_parse_problem(RESPONSE_840.replace("250", value))
        assert problem is not None and "OverflowError" in problem


def test_shards_merge_to_the_full_result(bench_and_preds):
    bench, preds = bench_and_preds
    predictions = {p.id: p for p in read_predictions(preds)}
    full = evaluate(bench, preds, convention="segzero", judge="none")
    shards = [EvalAccumulator("segzero"), EvalAccumulator("segzero")]
    for i, sample in enumerate(Benchmark(bench)):
        out = score_sample(sample, predictions.get(sample.id), convention="segzero")
        shards[i % 2].add(out.record, out.latency, no_refs=out.no_refs)
    merged = shards[0].merge(shards[1]).results()
    for name, res in full.buckets.items():
        assert (
            merged[name].giou == pytest.approx(res.giou)
            if res.giou is not None
            else merged[name].giou is None
        )
        assert merged[name].ciou == res.ciou or merged[name].ciou == pytest.approx(res.ciou)
        assert merged[name].n == res.n and merged[name].tokens_n == res.tokens_n


def test_report_roundtrip_and_settings(bench_and_preds, tmp_path):
    bench, preds = bench_and_preds
    r = evaluate(bench, preds, convention="segzero")
    path = r.save(tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert list(data["buckets"]) == ["easy", "medium", "hard", "unrated", "all"]
    assert data["settings"]["convention"] == "segzero"
    assert set(data["settings"]["versions"]) >= {"pixelthink", "numpy", "pycocotools"}
    assert data["settings"]["tau_medium"] == 3.5 and data["settings"]["tau_hard"] == 5.0
    assert "timestamp" in data["settings"]
    again = EvalReport.from_dict(data)
    assert again.buckets["all"].giou == pytest.approx(r.buckets["all"].giou)
    assert len(again.samples) == 7


def test_options_object_and_keywords_are_one_setting(bench_and_preds):
    """evaluate's settings are one EvalOptions: given as an object, as keywords, or both (keywords win)."""
    from pixelthink.evaluate.runner import EvalOptions

    bench, preds = bench_and_preds
    opts = EvalOptions(convention="segzero", judge="none", tokens="paper")
    by_object = evaluate(bench, preds, opts).to_dict()
    by_keywords = evaluate(bench, preds, convention="segzero", judge="none", tokens="paper").to_dict()
    for d in (by_object, by_keywords):
        d["settings"].pop("timestamp")
    assert by_object == by_keywords
    assert by_object["settings"]["convention"] == "segzero" and by_object["settings"]["judge"] is None
    mixed = evaluate(bench, preds, opts, convention="lisa")
    assert mixed.settings["convention"] == "lisa" and mixed.settings["token_convention"] == "paper"
    with pytest.raises(TypeError, match="conventon"):
        evaluate(bench, preds, conventon="lisa")


def test_bad_inputs(bench_and_preds, tmp_path):
    bench, _ = bench_and_preds
    wrong = [Prediction.with_mask("s_easy", np.zeros((5, 5), bool))]
    with pytest.raises(ValueError, match=r"s_easy.*size \[5, 5\]"):
        evaluate(bench, wrong)
    with pytest.raises(ValueError, match="convention"):
        evaluate(bench, [], convention="coco")
    with pytest.raises(FileNotFoundError):
        evaluate(bench, tmp_path / "nope.jsonl")
    assert parse_response_frame("1024x768") == (1024, 768)
    assert parse_response_frame("native") is None
    with pytest.raises(ValueError, match="response frame"):
        parse_response_frame("big")


def test_predictions_of_another_benchmark_fail_fast(bench_and_preds):
    bench, _ = bench_and_preds
    other = [Prediction(id="coco_1", response="x"), Prediction(id="coco_2", response="x")]
    with pytest.raises(ValueError, match=r"none of the 2 prediction ids .* wrong --data or --split\?"):
        evaluate(bench, other, judge="none")
    # one matching id among extras is fine: the extras are reported, not an error
    r = evaluate(bench, [*other, Prediction(id="s_hard", bbox=(2.0, 2.0, 5.0, 5.0))], judge="none")
    assert r.extra_ids == ["coco_1", "coco_2"] and r.counts["n_extra"] == 2
    # no predictions at all is not a mismatch: every sample is missing
    assert evaluate(bench, [], judge="none").counts["n_missing"] == 7
    # the split is named: the samples have no split, so split "val" holds none of them
    with pytest.raises(ValueError, match=r"\(split val, 0 samples\)"):
        evaluate(Benchmark(bench, split="val"), [Prediction(id="s_hard", response="x")], judge="none")


def test_table_summarises_latency_per_stage(bench_and_preds):
    bench, preds = bench_and_preds
    table = format_table(evaluate(bench, preds, judge="none"))
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("latency per stage (s, mean over"))
    assert "queue = its waiting between stages, not part of total" in lines[start]
    header = lines[start + 2].split()
    assert header == ["bucket", "n", "decode", "total"]  # only the stages present, pipeline order
    rows = {line.split()[0]: line.split()[1:] for line in lines[start + 4 : start + 8] if line[0] != "-"}
    # easy: s_easy only reports latency (decode 0.5, total 1.0); medium: s_medium total 2.0, no decode;
    # hard reports none (no row); all: decode 0.5 (one sample), total (1.0 + 2.0) / 2 = 1.5
    assert rows == {
        "easy": ["2", "0.500", "1.000"],
        "medium": ["2", "-", "2.000"],
        "all": ["7", "0.500", "1.500"],
    }


def test_table_has_no_stage_section_for_total_only_latency(bench_and_preds):
    bench, _ = bench_and_preds
    preds = [Prediction(id="s_hard", bbox=(2.0, 2.0, 5.0, 5.0), latency={"total": 3.0})]
    table = format_table(evaluate(bench, preds, judge="none"))
    assert "latency per stage" not in table and "3.00s" in table


# ------------------------------------------------------------------------------ token conventions


class CharTokenizer:  # any object with encode(text, add_special_tokens=False)
    name_or_path = "chars"

    def encode(self, text, add_special_tokens=True):
        assert add_special_tokens is False
        return list(text.replace(" ", ""))


def test_token_conventions(bench_and_preds):
    bench, preds = bench_and_preds

    def lengths(**kw):
        r = evaluate(bench, preds, judge="none", **kw)
        return {s.id: s.tokens for s in r.samples if s.tokens is not None}, r

    paper, r = lengths(tokens="paper")
    # whitespace words of the whole response: '<think>one' 'two' 'three</think><answer>{}</answer>' -> 3
    assert paper == {"s_easy": 3, "s_medium": len(RESPONSE_840.split()), "s_unparsable": 3, "s_empty": 2}
    assert r.settings["token_convention"] == "paper" and r.settings["length_unit"] == "response_words"
    assert "whole response" in r.settings["token_convention_text"]
    assert "tokens=paper:response_words" in format_table(r)
    model, r = lengths(tokens="model")
    assert model == {"s_medium": 12}  # only the prediction that recorded its reasoning tokens
    assert r.counts["length_left_out"] == 3 and any("left out of the length" in n for n in r.notes)
    wise, r = lengths(tokens="wise", tokenizer=CharTokenizer())
    # tokenizer tokens of the complete think text; the response without a think block is left out
    assert wise == {"s_easy": 11, "s_medium": len("thelargesigninthemiddleofthepicture"), "s_empty": 2}
    assert r.buckets["all"].tokens_n == 3 and r.settings["length_unit"] == "tokenizer"
    auto, r = lengths()
    assert r.settings["token_convention"] == "auto" and auto["s_unparsable"] == 0  # think words, none
    with pytest.raises(ValueError, match="'wise' counts tokenizer tokens"):
        evaluate(bench, preds, tokens="wise")
    with pytest.raises(ValueError, match="token convention"):
        evaluate(bench, preds, tokens="letters")


# ------------------------------------------------------------------------------------ LLM judge


def _judge(url, tmp_path, **kw):
    from pixelthink.evaluate.llm_judge import LLMJudge
    from pixelthink.models.registry import load_chat_model

    chat = load_chat_model(url, model="judge", max_retries=0)[0]
    return LLMJudge(
        chat, model_name="judge", backend=url, cache=tmp_path / "rscore.jsonl", resolution=32, **kw
    )


def test_llm_judge_rscore_cache_and_report(bench_and_preds, chat_server, tmp_path):
    url, requests = chat_server(lambda payload: 'Grade: {"score": 8, "rationale": "same target"}')
    bench, preds = bench_and_preds
    report = evaluate(bench, preds, judge=_judge(url, tmp_path))
    # references: s_easy (judged: 0.8) and s_missing (no prediction: 0)
    by_id = {s.id: s.rscore for s in report.samples}
    assert by_id["s_easy"] == pytest.approx(0.8) and by_id["s_missing"] == 0.0
    assert report.buckets["all"].rscore == pytest.approx(0.4) and report.buckets["all"].rscore_n == 2
    assert len(requests) == 1
    parts = requests[0]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and requests[0]["temperature"] == 0.0
    text = parts[1]["text"]
    assert "[short] one two three four" in text and "<<<\none two three\n>>>" in text
    details = report.settings["judge_details"]
    assert report.settings["judge"] == "llm:judge" and details["prompt"]["id"].startswith("rscore@v1+")
    assert details["scale"].startswith("RScore = score / 10") and details["asked"] == 1
    assert any("LLM judge judge with prompt rscore@v1+" in n for n in report.notes)
    assert "judge=llm:judge" in format_table(report)
    # a new judge on the same cache asks nothing and gives the same numbers
    again = evaluate(bench, preds, judge=_judge(url, tmp_path))
    assert len(requests) == 1 and again.buckets["all"].rscore == pytest.approx(0.4)
    cached = [json.loads(line) for line in (tmp_path / "rscore.jsonl").read_text().splitlines()]
    assert [(c["id"], c["score"], c["rscore"]) for c in cached] == [("s_easy", 8.0, 0.8)]


def test_llm_judge_failures_are_counted_not_raised(bench_and_preds, chat_server, tmp_path):
    url, requests = chat_server(lambda payload: "I would rate it highly")
    bench, preds = bench_and_preds
    report = evaluate(bench, preds, judge=_judge(url, tmp_path, retries=1))
    assert len(requests) == 2  # one retry
    assert {s.id: s.rscore for s in report.samples}["s_easy"] is None
    assert report.counts["judge_failures"] == 1 and report.buckets["all"].rscore_n == 1  # the missing one
    assert any("no usable judge answer" in n and "s_easy" in n for n in report.notes)
    record = json.loads((tmp_path / "rscore.jsonl").read_text())
    assert record["score"] is None and record["errors"][0].startswith("no JSON object")
    # cached failures are not asked again, unless retry_failed
    evaluate(bench, preds, judge=_judge(url, tmp_path, retries=0))
    assert len(requests) == 2
    evaluate(bench, preds, judge=_judge(url, tmp_path, retries=0, retry_failed=True))
    assert len(requests) == 3


def test_llm_judge_from_the_registry_text_only(bench_and_preds, chat_server, tmp_path):
    from pixelthink.evaluate.judges import get_judge

    url, requests = chat_server(lambda payload: '{"score": 10}')
    judge = get_judge(f"llm:{url}?model=judge", cache=tmp_path / "c.jsonl", image=False)
    bench, preds = bench_and_preds
    report = evaluate(bench, preds, judge=judge)
    assert {r.id: r.rscore for r in report.samples}["s_easy"] == pytest.approx(1.0)
    assert [p["type"] for p in requests[0]["messages"][0]["content"]] == ["text"]
    assert judge.score("", next(iter(Benchmark(bench)))) == 0.0 and len(requests) == 1  # empty think: 0
    with pytest.raises(ValueError, match="needs a model"):
        get_judge("llm")
    with pytest.raises(ValueError, match="unknown judge 'gpt:x'"):
        get_judge("gpt:x")


def test_eval_cli_llm_judge_and_tokens(bench_and_preds, chat_server, tmp_path, capsys):
    from pixelthink.cli import main

    url, _requests = chat_server(lambda payload: '{"score": 5}')
    bench, preds = bench_and_preds
    out = tmp_path / "r.json"
    args = ["eval", "--data", str(bench), "--predictions", str(preds), "--out", str(out), "--no-progress"]
    judge = [
        "--judge",
        f"llm:{url}?model=judge",
        "--judge-cache",
        str(tmp_path / "c.jsonl"),
        "--judge-text-only",
    ]
    assert main([*args, *judge, "--tokens", "paper"]) == 0
    printed = capsys.readouterr().out
    assert "tokens=paper:response_words | judge=llm:judge" in printed
    saved = json.loads(out.read_text())
    assert saved["settings"]["judge_details"]["image"] is False
    assert saved["settings"]["token_convention"] == "paper"
    assert main([*args, "--tokens", "wise"]) == 2
    assert "--tokenizer" in capsys.readouterr().err
