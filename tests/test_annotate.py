"""pixelthink annotate: judge difficulty (votes, failures, resume, shards), references, heuristic, agreement.

The judge is an HTTP server on loopback (the ``chat_server`` fixture) spoken to by the real OpenAI client.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.annotate import (
    HeuristicDifficulty,
    JudgeDifficulty,
    JudgeReferences,
    aggregate_votes,
    agreement,
    apply_difficulty,
    apply_references,
    cached_records,
    heuristic_difficulty,
    judge_view,
    load_difficulty_source,
    run_annotation,
)
from pixelthink.annotate.difficulty import heuristic_features, heuristic_terms
from pixelthink.cli import main
from pixelthink.data import Benchmark, BenchmarkWriter
from pixelthink.models.registry import load_chat_model

W, H = 64, 48
IDS = ["s0", "s1", "s2", "s3", "s4", "s5"]


def _bench(root: Path, n: int = 6) -> Benchmark:
    """Samples whose target is a rectangle that grows with the index; query 'object number I'."""
    rng = np.random.default_rng(0)
    with BenchmarkWriter(root, name="toy") as w:
        for i in range(n):
            image = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
            mask = np.zeros((H, W), bool)
            mask[10 : 14 + 4 * i, 8 : 16 + 5 * i] = True
            w.add({"id": IDS[i], "query": f"object number {i}", "mask": mask, "split": "test"}, image)
    return Benchmark(root)


def _chat(url: str, **kw):
    return load_chat_model(url, model="judge", concurrency=4, **kw)[0]


def _prompt_text(payload) -> str:
    return next(p["text"] for p in payload["messages"][0]["content"] if p["type"] == "text")


def _sample_index(payload) -> int:
    return int(re.search(r"object number (\d+)", _prompt_text(payload)).group(1))


# ----------------------------------------------------------------------------------- judge difficulty


def test_judge_difficulty_votes_apply_and_export(chat_server, tmp_path):
    counters: dict[int, int] = {}
    lock = threading.Lock()

    def reply(payload):
        i = _sample_index(payload)
        with lock:
            k = counters[i] = counters.get(i, 0) + 1
        overall = [4, 6, 8][(k - 1) % 3] if i != 5 else 2
        return f'```json\n{{"scene_complexity": 3, "segmentation_challenge": {min(i + 1, 10)}, "linguistic_ambiguity": 2, "overall": {overall}}}\n```'

    url, requests = chat_server(reply)
    bench = _bench(tmp_path / "b")
    judge = JudgeDifficulty(_chat(url), model_name="judge", votes=3, temperature=0.7, resolution=64)
    summary = run_annotation(bench, judge, batch_size=4)
    assert (summary.written, summary.ok, summary.failed) == (6, 6, 0)
    assert len(requests) == 18
    # every request: the drawn image (a data URL) and the prompt with the query and the target's corners.
    # Four requests go out at once, so the arrival order is the scheduler's: find sample 0's by its query.
    first = next(r for r in requests if _sample_index(r) == 0)
    parts = first["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )
    assert first["temperature"] == 0.7 and first["max_tokens"] == 256
    text = _prompt_text(first)
    assert (
        'Query (a short referring phrase): "object number 0"' in text
        and "The image is 64 x 64 pixels" in text
    )
    assert re.search(r"green box with corners \(\d+, \d+\) to \(\d+, \d+\)", text)

    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    r0 = records["s0"]
    assert r0["status"] == "ok" and r0["difficulty"] == 6.0 and r0["n_votes"] == 3
    assert r0["spread"] == {"std": pytest.approx(1.633, abs=1e-3), "min": 4, "max": 8}
    assert r0["axes"] == {"scene_complexity": 3.0, "segmentation_challenge": 1.0, "linguistic_ambiguity": 2.0}
    assert r0["prompt"] == judge.prompt.id and "removed code fence" in r0["votes"][0]["problems"]
    assert records["s5"]["difficulty"] == 2.0 and records["s5"]["spread"]["std"] == 0.0

    rated, failed = apply_difficulty(bench, records, key=judge.key, settings=judge.settings)
    assert (rated, failed) == (6, 0)
    assert [s.difficulty for s in Benchmark(bench.root)] == [6.0] * 5 + [2.0]
    meta = Benchmark(bench.root).meta["annotations"]["difficulty"]
    assert meta["prompt"]["id"] == judge.prompt.id and meta["votes"] == 3 and meta["rated"] == 6

    from pixelthink.data.exporters import export_difficulty

    out = tmp_path / "difficulty.json"
    assert export_difficulty(bench.root, out) == 6
    assert json.loads(out.read_text())[5] == {"image_id": "s5", "difficulty_score_model": 2.0}


def test_garbage_and_http_errors_become_recorded_failures(chat_server, tmp_path):
    def reply(payload):
        i = _sample_index(payload)
        if i == 1:
            return " s~sE 4\ufffd for\ufffd"  # the tiny model's kind of reply
        if i == 2:
            return (400, "exactly one image per request is supported")
        if i == 3:
            return '{"overall": 42}'
        return '{"overall": 3}'

    url, requests = chat_server(reply)
    bench = _bench(tmp_path / "b", n=4)
    judge = JudgeDifficulty(_chat(url, max_retries=0), model_name="judge", retries=2, resolution=64)
    summary = run_annotation(bench, judge, batch_size=8)
    assert (summary.ok, summary.failed) == (1, 3)
    assert len(requests) == 1 + 3 * 3  # every bad sample asked 1 + retries times
    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    assert records["s0"]["difficulty"] == 3.0
    assert records["s1"]["status"] == "failed" and records["s1"]["errors"][0].startswith("no JSON object")
    assert records["s1"]["failed_replies"][0].startswith(" s~sE")
    assert "HTTP 400" in records["s2"]["errors"][0] and records["s2"]["errors"][0].startswith("request:")
    assert "42 is outside 1..10" in records["s3"]["errors"][-1]
    # each failed record names what failed in a field of its own, and the summary counts those fields
    assert [records[f"s{i}"]["failure"] for i in (1, 2, 3)] == ["reply", "request", "reply"]
    assert summary.errors == {"reply": 2, "request": 1}
    assert "failures: reply 2, request 1" in summary.summary()
    # applying writes the one success and leaves the failed samples unrated
    assert apply_difficulty(bench, records, key=judge.key, settings=judge.settings) == (1, 3)
    assert [s.difficulty for s in Benchmark(bench.root)] == [3.0, None, None, None]


def test_resume_limit_shards_and_retry_failed(chat_server, tmp_path):
    bad = {"on": True}

    def reply(payload):
        i = _sample_index(payload)
        return "no json" if (i == 4 and bad["on"]) else f'{{"overall": {i + 1}}}'

    url, requests = chat_server(reply)
    bench = _bench(tmp_path / "b")
    judge = JudgeDifficulty(_chat(url), model_name="judge", retries=0, resolution=64)
    assert run_annotation(bench, judge, limit=2).written == 2
    assert len(requests) == 2
    again = run_annotation(bench, judge, limit=2)
    assert (again.already, again.written, len(requests)) == (2, 0, 2)  # resumed: nothing asked
    # two shards, each in its own file, after the unsharded start
    s0 = run_annotation(bench, judge, shard=(0, 2))
    s1 = run_annotation(bench, judge, shard=(1, 2))
    assert s0.cache != s1.cache and s0.cache.name.endswith(".shard0of2.jsonl")
    assert s0.written + s1.written == 4 and len(requests) == 6
    # without --shard: every sample is in some file, nothing is asked
    final = run_annotation(bench, judge)
    assert (final.already, final.written, len(requests)) == (6, 0, 6)
    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    assert sorted(records) == IDS and records["s4"]["status"] == "failed"
    # the failure is asked again only with retry_failed, in the file that holds it
    bad["on"] = False
    holder = next(
        s for s in (s0, s1) if "s4" in {json.loads(x)["id"] for x in s.cache.read_text().splitlines()}
    )
    shard = (0, 2) if holder is s0 else (1, 2)
    retried = run_annotation(bench, judge, shard=shard, retry_failed=True)
    assert (retried.retried, retried.written, len(requests)) == (1, 1, 7)
    records = cached_records(bench.root / "annotations", "difficulty", judge.key)
    assert records["s4"]["difficulty"] == 5.0 and len(records) == 6


def test_settings_that_change_answers_change_the_cache_file(chat_server, tmp_path):
    url, _requests = chat_server(lambda p: '{"overall": 5}')
    chat = _chat(url)
    a = JudgeDifficulty(chat, model_name="judge", votes=1)
    b = JudgeDifficulty(chat, model_name="judge", votes=3, temperature=0.7)
    c = JudgeDifficulty(chat, model_name="judge", votes=1, show_target="box")
    assert len({a.key, b.key, c.key}) == 3 and a.key.startswith("judge.judge.difficulty@v1+")
    assert JudgeDifficulty(chat, model_name="judge", votes=1, aggregate="median").key == a.key  # same answers


def test_aggregate_votes():
    assert aggregate_votes([2, 4, 9]) == (
        5.0,
        {"std": pytest.approx(2.944, abs=1e-3), "min": 2.0, "max": 9.0},
    )
    assert aggregate_votes([2, 4, 9], "median")[0] == 4.0
    assert aggregate_votes([7]) == (7.0, {"std": 0.0, "min": 7.0, "max": 7.0})
    with pytest.raises(ValueError, match="no votes"):
        aggregate_votes([])
    with pytest.raises(ValueError, match="aggregate"):
        aggregate_votes([1], "mode")


def test_judge_view_frames_and_target(tmp_path):
    sample = next(iter(_bench(tmp_path / "b", n=1)))
    image = Image.new("RGB", (W, H), (0, 0, 0))
    view = judge_view(image, sample, resolution=128, show_target="both")
    assert view.image.size == (128, 128) and (view.width, view.height) == (128, 128)
    # box (8,10)-(15,13) in the 64x48 image -> x * 2, y * 128/48 in the judge frame
    assert "(16, 27) to (30, 35)" in view.target
    pixels = np.asarray(view.image)
    assert pixels[30, 20, 0] > 100  # tinted red inside the target
    plain = judge_view(image, sample, resolution=None, show_target="none")
    assert plain.image.size == (W, H) and not np.asarray(plain.image).any()
    assert "not drawn" in plain.target
    with pytest.raises(ValueError, match="show_target"):
        judge_view(image, sample, show_target="glow")


# ----------------------------------------------------------------------------------------- references


def _answer_from_prompt(text: str, *, miss: bool = False) -> str:
    x1, y1, x2, y2 = (int(v) for v in re.search(r"\((\d+), (\d+)\) to \((\d+), (\d+)\)", text).groups())
    if miss:
        x1, y1, x2, y2 = x2 + 5, y2 + 5, x2 + 30, y2 + 30
    words = int(re.search(r"in about (\d+) words", text).group(1))
    think = " ".join(["word"] * words)
    return f'<think>{think}</think><answer>{{"bbox": [{x1}, {y1}, {x2}, {y2}], "points_1": [{x1}, {y1}], "points_2": [{x2}, {y2}]}}</answer>'


def test_references_kept_only_when_the_answer_hits(chat_server, tmp_path):
    attempts: dict[tuple[int, str], int] = {}
    lock = threading.Lock()

    def reply(payload):
        text = _prompt_text(payload)
        i = _sample_index(payload)
        kind = "short" if "in about 7 words" in text else "long"
        with lock:
            n = attempts[(i, kind)] = attempts.get((i, kind), 0) + 1
        if i == 1 and kind == "long" and n == 1:
            return _answer_from_prompt(text, miss=True)  # wrong box first, right the second time
        if i == 2 and kind == "short":
            return _answer_from_prompt(text, miss=True)  # always wrong
        if i == 0 and kind == "long" and n == 1:
            return "<think>too short</think><answer>{}</answer>"
        return _answer_from_prompt(text)

    url, requests = chat_server(reply)
    bench = _bench(tmp_path / "b", n=3)
    refs = JudgeReferences(
        _chat(url), model_name="judge", short_words=7, long_words=40, retries=2, resolution=80
    )
    summary = run_annotation(bench, refs)
    assert (summary.ok, summary.failed) == (2, 1)
    # every request (short and long chains, retries) carries the settings: no request is "the first"
    assert all(r["temperature"] == 0.7 and r["max_tokens"] == 1024 for r in requests)
    records = cached_records(bench.root / "annotations", "references", refs.key)
    assert records["s0"]["reasoning_short"] == " ".join(["word"] * 7)
    assert records["s0"]["long"]["attempts"] == 2 and records["s0"]["long"]["errors"][0].startswith(
        "length: 2 words"
    )
    assert records["s1"]["long"]["attempts"] == 2 and "does not hit" in records["s1"]["long"]["errors"][0]
    assert records["s2"]["status"] == "failed" and records["s2"]["reasoning_short"] is None
    assert records["s2"]["short"]["attempts"] == 3 and records["s2"]["reasoning_long"]
    assert apply_references(bench, records, key=refs.key, settings=refs.settings) == (3, 1)
    samples = list(Benchmark(bench.root))
    assert samples[2].reasoning_short is None and samples[2].reasoning_long == " ".join(["word"] * 40)
    assert Benchmark(bench.root).meta["annotations"]["references"]["failed"] == 1


# ----------------------------------------------------------------------------------------- heuristic


def test_heuristic_terms_hand_computed(tmp_path):
    bench = _bench(tmp_path / "b", n=2)
    sample = next(iter(bench))  # an 8 x 4 rectangle in a 64 x 48 image, query of 3 words, no image
    f = heuristic_features(sample)
    assert f == {
        "area": 32 / (64 * 48),
        "parts": 1.0,
        "fill": 1.0,
        "ignore": 0.0,
        "query_words": 3.0,
        "sentence": 0.0,
    }
    t = heuristic_terms(f)
    assert t["size"] == pytest.approx(np.log10(0.25 / (32 / 3072)) / np.log10(250))
    assert (t["parts"], t["shape"], t["ignore"], t["sentence"]) == (0.0, 0.0, 0.0, 0.0)
    assert t["query"] == pytest.approx(1 / 18) and "clutter" not in t
    d, _, _ = heuristic_difficulty(sample)
    weights = {"size": 0.25, "parts": 0.10, "shape": 0.05, "ignore": 0.05, "query": 0.25, "sentence": 0.10}
    expected = 1 + 9 * sum(weights[k] * t[k] for k in weights) / sum(weights.values())
    assert d == round(expected, 2)
    # a plain image adds a zero clutter term (with its weight); a noisy one a positive term
    flat = Image.new("RGB", (W, H), (128, 128, 128))
    assert heuristic_difficulty(sample, flat)[2]["clutter"] == 0.0
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8))
    assert heuristic_difficulty(sample, noisy)[2]["clutter"] > 0.5


def test_heuristic_orders_the_obvious_cases(tmp_path):
    from dataclasses import replace

    sample = next(iter(_bench(tmp_path / "b", n=1)))
    easy, _, _ = heuristic_difficulty(replace(sample, query="cup"))
    long_query, _, _ = heuristic_difficulty(
        replace(
            sample,
            query="what could a person use to keep their coffee warm on a long winter trip",
            is_sentence=True,
        )
    )
    two_parts = np.zeros_like(sample.mask_array())  # the same 32 pixels in two pieces
    two_parts[10:14, 8:12] = True
    two_parts[30:34, 40:44] = True
    from pixelthink.masks import box_from_mask, encode_rle

    split, _, terms = heuristic_difficulty(
        replace(sample, query="cup", mask=encode_rle(two_parts), bbox=box_from_mask(two_parts))
    )
    assert easy < split < long_query and terms["parts"] == pytest.approx(1 / 3)


def test_heuristic_annotator_and_cli(tmp_path, capsys):
    bench = _bench(tmp_path / "b")
    heuristic = HeuristicDifficulty()
    summary = run_annotation(bench, heuristic)
    assert summary.ok == 6 and heuristic.key.startswith("heuristic.v1.")
    rec = cached_records(bench.root / "annotations", "difficulty", heuristic.key)["s5"]
    assert set(rec["terms"]) == {"size", "parts", "shape", "ignore", "query", "sentence", "clutter"}
    # the CLI: annotate in place and export the authors' file
    out = tmp_path / "d.json"
    assert (
        main(["annotate", "difficulty", str(bench.root), "--method", "heuristic", "--export", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "6 already cached" in printed and "wrote 6 sample(s)" in printed and "exported 6" in printed
    difficulties = {s.id: s.difficulty for s in Benchmark(bench.root)}
    assert difficulties == {e["image_id"]: e["difficulty_score_model"] for e in json.loads(out.read_text())}
    assert difficulties["s5"] < difficulties["s0"]  # the largest target is the easiest here


# ----------------------------------------------------------------------------------------- agreement


def test_agreement_numbers():
    a = {"x": 1.0, "y": 2.0, "z": 4.0, "w": 6.0, "only_a": 3.0}
    same = agreement(a, dict(a))
    assert same["spearman"] == pytest.approx(1.0) and same["kendall"] == pytest.approx(1.0)
    assert same["bucket_agreement"] == 1.0 and same["cohen_kappa"] == pytest.approx(1.0) and same["n"] == 5
    rev = agreement(a, {k: 11 - v for k, v in a.items() if k != "only_a"} | {"only_b": 1.0})
    assert rev["spearman"] == pytest.approx(-1.0) and rev["n"] == 4
    assert (rev["n_only_a"], rev["n_only_b"]) == (1, 1)
    # buckets: a = easy, easy, medium, hard; b = 10, 9, 7, 5 -> all hard: 1 of 4 agree
    assert rev["confusion"] == [[0, 0, 2], [0, 0, 1], [0, 0, 1]] and rev["bucket_agreement"] == 0.25
    assert rev["mean_abs_diff"] == pytest.approx((9 + 7 + 3 + 1) / 4)
    constant = agreement(a, dict.fromkeys(a, 5.0))
    assert constant["spearman"] is None and constant["bucket_agreement"] == 0.2


def test_agreement_sources_and_cli(tmp_path, capsys):
    bench = _bench(tmp_path / "b")
    run_annotation(bench, HeuristicDifficulty(use_image=False))
    cache = next((bench.root / "annotations").glob("difficulty.*.jsonl"))
    records = cached_records(
        bench.root / "annotations", "difficulty", cache.name[len("difficulty.") : -len(".jsonl")]
    )
    file = tmp_path / "d.json"
    file.write_text(
        json.dumps(
            [{"image_id": k, "difficulty_score_model": 11 - r["difficulty"]} for k, r in records.items()]
        )
    )
    from_cache, name = load_difficulty_source(str(cache))
    assert set(from_cache) == set(IDS) and name.startswith("annotation cache")
    assert load_difficulty_source(str(file))[0]["s0"] == pytest.approx(11 - from_cache["s0"])
    assert main(["annotate", "agreement", str(cache), str(file)]) == 0
    text = capsys.readouterr().out
    assert "Spearman rho -1.000" in text and "samples rated by both: 6" in text
    assert main(["annotate", "agreement", str(cache), str(file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kendall"] == pytest.approx(-1.0)
    # the benchmark has no difficulty yet: nothing in common is a one-line error
    assert main(["annotate", "agreement", str(bench.root), str(file)]) == 2
    assert "rate no sample in common" in capsys.readouterr().err
    assert main(["annotate", "agreement", str(tmp_path / "nope.json"), str(file)]) == 2


def test_cli_user_errors_are_one_line(tmp_path, capsys):
    bench = _bench(tmp_path / "b", n=1)
    lisa = tmp_path / "lisa"
    lisa.mkdir()
    assert main(["annotate", "difficulty", str(lisa), "--method", "heuristic"]) == 2
    assert "not a pixelthink benchmark directory" in capsys.readouterr().err
    assert main(["annotate", "difficulty", str(bench.root)]) == 2
    assert "--method judge needs --judge" in capsys.readouterr().err
    assert main(["annotate", "difficulty", str(bench.root), "--method", "passrate"]) == 2
    assert "needs --reasoner" in capsys.readouterr().err
    assert main(["annotate", "difficulty", str(bench.root), "--judge", "http://127.0.0.1:9/v1"]) == 2
    assert "no model name" in capsys.readouterr().err


def test_calibrate_keeps_ranks_and_takes_the_reference_scale(tmp_path, capsys):
    from pixelthink.annotate.agreement import calibrate

    scores = {"a": 2.0, "b": 2.1, "c": 2.1, "d": 3.0}
    mapped = calibrate(scores, [1.0, 5.0, 9.0])
    # mid-rank quantiles 1/8, 1/2, 1/2, 7/8 of the reference [1, 5, 9] (linear): 2.0, 5.0, 5.0, 8.0
    assert mapped == {"a": 2.0, "b": 5.0, "c": 5.0, "d": 8.0}
    assert agreement(scores, mapped)["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no difficulty"):
        calibrate(scores, [])
    # the CLI: heuristic scores written on the scale of a difficulty file, raw scores kept in the cache
    bench = _bench(tmp_path / "b")
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({f"x{i}": v for i, v in enumerate([2.0, 4.0, 6.0, 8.0])}))
    assert (
        main(["annotate", "difficulty", str(bench.root), "--method", "heuristic", "--calibrate", str(ref)])
        == 0
    )
    assert "calibrated 6 score(s)" in capsys.readouterr().out
    written = [s.difficulty for s in Benchmark(bench.root)]
    assert min(written) >= 2.0 and max(written) <= 8.0 and len(set(written)) == 6
    meta = Benchmark(bench.root).meta["annotations"]["difficulty"]
    assert "quantile matching" in meta["calibrated_to"]
    cache = next((bench.root / "annotations").glob("difficulty.heuristic.*.jsonl"))
    raw = {json.loads(x)["id"]: json.loads(x)["difficulty"] for x in cache.read_text().splitlines()}
    assert agreement(raw, {s.id: s.difficulty for s in Benchmark(bench.root)})["spearman"] == pytest.approx(
        1.0
    )
    assert raw != {s.id: s.difficulty for s in Benchmark(bench.root)}


def test_failures_are_counted_by_the_record_field_not_by_the_error_text(tmp_path) -> None:
    """A job's failed record names its failure (``failed_record``); error text that looks like another kind
    ("image: ..." of a reply) does not change the count, and an unknown kind is refused where it is made."""
    from pixelthink.annotate.records import failed_record

    class Job:
        task, key, settings = "difficulty", "test-job", {"method": "test"}

        def annotate(self, samples, bench):
            return [failed_record("reply", ["image: the reply talked about an image"]) for _ in samples]

    bench = _bench(tmp_path / "b", n=2)
    summary = run_annotation(bench, Job(), batch_size=8)
    assert summary.errors == {"reply": 2} and summary.failed == 2
    with pytest.raises(ValueError, match="failure must be one of"):
        failed_record("timeout", ["x"])
