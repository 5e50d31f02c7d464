"""Predicting a benchmark as a library call (issue 28): :func:`pixelthink.pipeline.run.run_predictions`
with a pipeline built in Python (no CLI): failures counted by ``Result.error_stage``, resuming without
loading the model, the settings check, both loops writing the same predictions."""

from __future__ import annotations

import json

import pytest
from test_streaming import ScriptedReasoner, _bench, _comparable

from pixelthink.data.format import Benchmark
from pixelthink.models.segmenters import BoxSegmenter
from pixelthink.pipeline import ERROR_STAGES, Pipeline, Result
from pixelthink.pipeline.run import MixedSettingsError, PredictReport, run_file_for, run_predictions
from pixelthink.predictions import read_predictions


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Benchmark:
    """3 images x ("the block", "the left part", "nonsense"), a corrupt image, an over-long query."""
    return Benchmark(_bench(tmp_path_factory.mktemp("run") / "bench"))


def _pipeline(reasoner=None, segmenter=None) -> Pipeline:
    return Pipeline(reasoner or ScriptedReasoner(), segmenter or BoxSegmenter(), resolution=112,
                    max_query_chars=100)  # fmt: skip


class FailingSegmenter(BoxSegmenter):
    """Fails the prompts whose box is narrow (the "left part" answers), one by one: per-sample failures."""

    def predict_many(self, prompts):
        return [
            RuntimeError("out of memory: it happens") if box is not None and box[2] - box[0] < 40
            else self.predict(box, points)
            for box, points in prompts
        ]  # fmt: skip


class ReplyErrorReasoner(ScriptedReasoner):
    """Marks the generation of "nonsense" as failed by the backend (a malformed server reply)."""

    def generate(self, images, queries):
        out = super().generate(images, queries)
        for gen, query in zip(out, queries, strict=True):
            if query == "nonsense":
                gen.error = "reply: no choices: in the body"
        return out


def test_failures_are_counted_by_the_stage_field(bench, tmp_path) -> None:
    out = tmp_path / "preds.jsonl"
    report = run_predictions(bench, _pipeline(), out, settings={"reasoner": "scripted"})
    assert isinstance(report, PredictReport)
    assert (report.selected, report.already, report.written, report.failed) == (11, 0, 11, 5)
    # "nonsense" x 3: no box; the corrupt image; the query over 100 characters
    assert report.errors == {"answer": 3, "image": 1, "query": 1}
    preds = {p.id: p for p in read_predictions(out)}
    assert len(preds) == 11 and preds["long"].error.startswith("query: ")
    assert "failures by stage: answer 3, image 1, query 1" in report.summary()
    run = json.loads(run_file_for(out).read_text())
    assert (run["written"], run["failed"], run["selected"], run["reasoner"]) == (11, 5, 11, "scripted")
    assert run["finished"] and run["loop"] == "stream"


def test_reasoner_and_segmenter_failures_have_their_stage(bench, tmp_path) -> None:
    pipe = _pipeline(ReplyErrorReasoner(), FailingSegmenter())
    report = run_predictions(bench, pipe, tmp_path / "p.jsonl", loop="sequential", batch_size=4)
    # the stage comes from the field, not from the text: these details hold colons of their own
    assert report.errors == {"reasoner": 3, "segmenter": 3, "image": 1, "query": 1}
    preds = {p.id: p for p in read_predictions(tmp_path / "p.jsonl")}
    assert preds["i0q2"].error == "reasoner: reply: no choices: in the body"
    assert preds["i1q1"].error == "segmenter: RuntimeError: out of memory: it happens"
    assert "error_stage" not in json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])  # format kept


def test_result_error_stage_is_set_by_every_stage(tmp_path) -> None:
    result = Result(query="q")
    assert result.error_stage is None and result.ok
    result.fail("segmenter", "boom: twice")
    assert (result.error, result.error_stage, result.ok) == ("segmenter: boom: twice", "segmenter", False)
    assert result.to_json()["error_stage"] == "segmenter"
    assert set(ERROR_STAGES) == {"query", "image", "reasoner", "answer", "segmenter"}
    with pytest.raises(ValueError, match="unknown stage 'decode'"):
        result.fail("decode", "x")
    bad = Pipeline(ScriptedReasoner(), BoxSegmenter(), resolution=112).run(
        tmp_path / "missing.png", "the block"
    )
    assert bad.error_stage == "image"


def test_resume_skips_done_samples_and_loads_no_model_when_finished(bench, tmp_path) -> None:
    out = tmp_path / "preds.jsonl"
    first = run_predictions(bench, _pipeline(), out, limit=4)
    assert (first.selected, first.written) == (4, 4)
    said: list[str] = []
    second = run_predictions(bench, _pipeline, out, say=said.append)  # a factory: built when needed
    assert (second.selected, second.already, second.written) == (11, 4, 7)
    assert said == [f"resuming {out}: 4 of 11 selected samples already done"]
    ids = [p.id for p in read_predictions(out)]
    assert len(ids) == len(set(ids)) == 11

    def no_model() -> Pipeline:
        raise AssertionError("a finished run must not build the pipeline")

    third = run_predictions(bench, no_model, out)
    assert (third.already, third.written, third.failed, third.errors) == (11, 0, 0, {})


def test_other_model_settings_are_refused_unless_mixing_is_allowed(bench, tmp_path) -> None:
    out = tmp_path / "preds.jsonl"
    run_predictions(bench, _pipeline(), out, limit=2, settings={"reasoner": "a", "max_new_tokens": 8})
    before = out.read_text()
    with pytest.raises(MixedSettingsError, match=r"has 2 predictions made with other settings") as caught:
        run_predictions(bench, _pipeline, out, settings={"reasoner": "b", "max_new_tokens": 8})
    assert caught.value.differences == ['--reasoner "b" (was "a")']
    assert out.read_text() == before
    report = run_predictions(bench, _pipeline, out, settings={"reasoner": "b"}, allow_mixed=True)
    assert report.written == 9
    assert [m["reasoner"] for m in report.settings["mixed_settings"]] == ["a", "b"]


def test_both_loops_write_the_same_predictions(bench, tmp_path) -> None:
    stream, sequential = tmp_path / "stream.jsonl", tmp_path / "seq.jsonl"
    run_predictions(bench, _pipeline(), stream, concurrency=3, seg_workers=0)
    run_predictions(bench, _pipeline(), sequential, loop="sequential", batch_size=2)
    assert _comparable(stream) == _comparable(sequential)


def test_an_empty_selection_is_a_clear_error(bench, tmp_path) -> None:
    from pixelthink.data.format import in_shard

    n = 1000
    empty = next(i for i in range(n) if not any(in_shard(s, (i, n)) for s in bench.ids()))
    with pytest.raises(ValueError) as caught:
        run_predictions(bench, _pipeline(), tmp_path / "x.jsonl", shard=(empty, n), source="B")
    assert str(caught.value) == f"B: no samples of shard {empty}/{n}"
    assert not (tmp_path / "x.jsonl").exists()
