"""LLM-judge plumbing: reply parsing on recorded judge replies, prompt templates, ask-with-retries, cache."""

from __future__ import annotations

import json

import pytest

from pixelthink.annotate.difficulty import DIFFICULTY_FIELDS
from pixelthink.evaluate.llm_judge import RSCORE_FIELDS
from pixelthink.judging import (
    BUILTIN_PROMPTS,
    JudgeCache,
    ReplyField,
    ask,
    load_prompt,
    parse_judge_reply,
    read_cache_records,
)

# ------------------------------------------------------------------------------ recorded replies
# Replies of the kinds real judges give (Qwen2.5-VL-72B / GPT-4o style), with what must be read.
VALID = '{"scene_complexity": 6, "segmentation_challenge": 4, "linguistic_ambiguity": 7, "overall": 6, "rationale": "cluttered kitchen"}'
FENCED = 'Here is my assessment:\n```json\n{\n  "scene_complexity": 3,\n  "segmentation_challenge": 2,\n  "linguistic_ambiguity": 1,\n  "overall": 2\n}\n```'
PROSE = 'The target is small. {"scene_complexity": 8, "segmentation_challenge": 9, "linguistic_ambiguity": 5, "overall": 8.5} I hope this helps!'
PYTHON_LITERAL = (
    "{'scene_complexity': 4, 'segmentation_challenge': 5, 'linguistic_ambiguity': 2, 'overall': 4,}"
)
OUT_OF_RANGE = (
    '{"scene_complexity": 6, "segmentation_challenge": 4, "linguistic_ambiguity": 7, "overall": 15}'
)
ZERO = '{"scene_complexity": 0, "overall": 5}'
WRONG_TYPES = '{"scene_complexity": "high", "segmentation_challenge": [4], "linguistic_ambiguity": true, "overall": null}'
TEXT_NUMBERS = '{"Scene Complexity": "7", "segmentation-challenge": "6/10", "linguistic_ambiguity": 3, "Overall": "7 out of 10"}'
OTHER_SCALE = '{"overall": "4/5"}'
NO_OVERALL = '{"scene_complexity": 3, "segmentation_challenge": 6, "linguistic_ambiguity": 9}'
KEY_VALUE_TEXT = (
    "Scene complexity: 5\nSegmentation challenge: 4\nLinguistic ambiguity: 2\nOverall difficulty: 4/10"
)
GARBAGE = " s~sE 4\ufffd for\ufffd Xe:\x05 <think"
NAN = '{"overall": NaN}'


def test_valid_reply():
    r = parse_judge_reply(VALID, DIFFICULTY_FIELDS)
    assert r.ok and r.problems == []
    assert r.values == {
        "scene_complexity": 6,
        "segmentation_challenge": 4,
        "linguistic_ambiguity": 7,
        "overall": 6,
    }
    assert r.rationale == "cluttered kitchen"


@pytest.mark.parametrize(
    ("reply", "overall", "note"),
    [
        (FENCED, 2.0, "removed code fence"),
        (PROSE, 8.5, None),
        (PYTHON_LITERAL, 4.0, "Python literal"),
        (TEXT_NUMBERS, 7.0, "number given as text"),
        (NO_OVERALL, 6.0, "used the mean"),
        (KEY_VALUE_TEXT, 4.0, "no JSON object"),
    ],
)
def test_lenient_replies(reply, overall, note):
    r = parse_judge_reply(reply, DIFFICULTY_FIELDS)
    assert r.ok, r.error
    assert r.values["overall"] == overall
    if note:
        assert any(note in p for p in r.problems), r.problems


def test_text_numbers_and_keys_read():
    r = parse_judge_reply(TEXT_NUMBERS, DIFFICULTY_FIELDS)
    assert r.values == {
        "scene_complexity": 7,
        "segmentation_challenge": 6,
        "linguistic_ambiguity": 3,
        "overall": 7,
    }
    assert any("read from key 'Scene Complexity'" in p for p in r.problems)
    assert parse_judge_reply(KEY_VALUE_TEXT, DIFFICULTY_FIELDS).values["segmentation_challenge"] == 4


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (OUT_OF_RANGE, "15 is outside 1..10"),
        (ZERO, "field 'overall'"),  # overall fine, the axis is invalid but not required
        (WRONG_TYPES, "field 'overall'"),
        (OTHER_SCALE, "scale to 5"),
        (GARBAGE, "no JSON object"),
        ("", "empty reply"),
        (NAN, "field 'overall'"),
    ],
)
def test_unusable_or_partly_invalid_replies(reply, message):
    r = parse_judge_reply(reply, DIFFICULTY_FIELDS)
    if reply == ZERO:  # an invalid optional axis: the vote stays usable, the problem is noted
        assert r.ok and "scene_complexity" not in r.values and r.values["overall"] == 5
        assert any("0 is outside 1..10" in p for p in r.problems)
        return
    assert not r.ok
    assert message in r.error


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 400, '"' + "1" + "0" * 400 + '"', '"' + "1" + "0" * 400 + '/10"', "1e999", "-1e999"],
)
def test_numbers_too_large_for_a_float_are_invalid_not_an_error(value):
    # a JSON integer of 400 digits once raised OverflowError out of parse_judge_reply ("never raises");
    # judging.ask's safety net turned it into "parser error: OverflowError" instead of the field's problem
    r = parse_judge_reply('{"overall": ' + value + "}", DIFFICULTY_FIELDS)
    assert not r.ok and "field 'overall'" in r.error and "not a finite number" in r.error
    assert all(len(p) < 200 for p in r.problems)  # the value is quoted cut short, not 400 digits long


def test_wrong_types_each_named():
    r = parse_judge_reply(WRONG_TYPES, DIFFICULTY_FIELDS)
    assert "the text 'high'" in r.error and "got list" in r.error and "got True" in r.error
    assert "got None" in r.error
    assert r.values == {}


def test_never_raises_on_odd_inputs():
    for reply in (None, 7, ["overall", 5], "{", "}{", '{"overall": 1e400}', "[" * 5000, '[{"overall": 3}]'):
        r = parse_judge_reply(reply, DIFFICULTY_FIELDS)
        assert isinstance(r.ok, bool)
    assert parse_judge_reply('[{"overall": 3}]', DIFFICULTY_FIELDS).values["overall"] == 3


def test_rscore_fields():
    assert parse_judge_reply('{"score": 7, "rationale": "same target"}', RSCORE_FIELDS).values == {"score": 7}
    assert parse_judge_reply('{"Rating": 0}', RSCORE_FIELDS).values == {"score": 0}
    assert not parse_judge_reply('{"score": 11}', RSCORE_FIELDS).ok
    assert not parse_judge_reply('{"score": -1}', RSCORE_FIELDS).ok


def test_required_field_without_fallback():
    fields = (ReplyField("a", 0, 1), ReplyField("b", 0, 1, required=False))
    r = parse_judge_reply('{"b": 0.5}', fields)
    assert not r.ok and r.error == "field 'a' missing"


# ------------------------------------------------------------------------------------ templates


def test_builtin_prompts_load_with_versioned_ids():
    for task in BUILTIN_PROMPTS:
        p = load_prompt(None, task)
        assert p.task == task and p.source == f"builtin:{task}"
        assert p.id == f"{p.name}@v{p.version}+{p.digest}" and len(p.digest) == 8
        assert p.placeholders() and p.description


def test_render_keeps_braces_and_dollars_of_values():
    p = load_prompt("rscore", "rscore")
    text = p.render(query="a {b}", references="[short] x", reasoning="costs $5 {json}")
    assert 'Query: "a {b}"' in text and "costs $5 {json}" in text and '{"score": <0-10>' in text
    with pytest.raises(ValueError, match="no value for template field"):
        p.render(query="q")


def test_custom_prompt_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("name: mine\ntask: rscore\nversion: 3\ntemplate: 'Grade $reasoning for $query, cost $$1'\n")
    p = load_prompt(f, "rscore")
    assert p.id.startswith("mine@v3+") and p.source == str(f)
    assert p.render(query="q", reasoning="r") == "Grade r for q, cost $1"
    f2 = tmp_path / "edited.yaml"
    f2.write_text("name: mine\ntask: rscore\nversion: 3\ntemplate: 'Grade $reasoning for $query!'\n")
    assert load_prompt(f2, "rscore").id != p.id  # same version, other text: another cache key


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "name: x\ntask: rscore\nversion: 1\ntemplate: 'a $unknown'\n",
            r"unknown field\(s\) \['\$unknown'\]",
        ),
        (
            "name: x\ntask: difficulty\nversion: 1\ntemplate: 'a $query'\n",
            "a 'difficulty' prompt, but this job needs",
        ),
        ("name: x\ntask: rscore\ntemplate: 'a'\n", "field 'version': missing"),
        ("name: x\ntask: nope\nversion: 1\ntemplate: 'a'\n", "field 'task'"),
        ("name: [x\n", "not valid YAML"),
        ("name: x\ntask: rscore\nversion: 1\ntemplate: 'a $ b'\n", r"a '\$' that starts no field"),
    ],
)
def test_bad_prompt_files_name_the_file(tmp_path, body, message):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(ValueError, match=message) as info:
        load_prompt(f, "rscore")
    assert str(f) in str(info.value)


def test_missing_prompt_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_prompt(tmp_path / "nope.yaml", "rscore")


# ------------------------------------------------------------------------------------------- ask


class ScriptedChat:
    """A chat model answering from per-prompt scripts (a list of replies or exceptions, in order)."""

    def __init__(self, scripts):
        self.scripts = {k: list(v) for k, v in scripts.items()}
        self.calls = []

    def chat(self, images, prompts, *, temperature=None, max_new_tokens=None):
        self.calls.append((list(prompts), temperature, max_new_tokens))
        return [self.scripts[p].pop(0) for p in prompts]


def _parse_int(text):
    return (int(text), None) if text.isdigit() else (None, f"not a number: {text!r}")


def test_ask_retries_only_failed_items_and_records_reasons():
    chat = ScriptedChat({"a": ["1"], "b": ["x", RuntimeError("HTTP 500"), "2"], "c": ["y", "z", "w"]})
    out = ask(chat, [None] * 3, ["a", "b", "c"], _parse_int, retries=2, temperature=0.5, max_new_tokens=9)
    assert [o.value for o in out] == [1, 2, None]
    assert [o.attempts for o in out] == [1, 3, 3]
    assert out[1].errors == ["not a number: 'x'", "request: RuntimeError: HTTP 500"]
    assert (
        out[2].errors == ["not a number: 'y'", "not a number: 'z'", "not a number: 'w'"]
        and out[2].reply == "w"
    )
    assert [c[0] for c in chat.calls] == [["a", "b", "c"], ["b", "c"], ["b", "c"]]
    assert chat.calls[0][1:] == (0.5, 9)
    assert out[0].to_record() == {"ok": True, "reply": "1", "errors": [], "attempts": 1}


def test_ask_survives_a_raising_parser():
    def parse(text):
        raise KeyError(text)

    out = ask(ScriptedChat({"a": ["1"]}), [None], ["a"], parse, retries=0)
    assert not out[0].ok and out[0].errors[0].startswith("parser error: KeyError")


def test_ask_checks_lengths():
    with pytest.raises(ValueError, match="images"):
        ask(ScriptedChat({}), [None], ["a", "b"], _parse_int)
    with pytest.raises(ValueError, match="retries"):
        ask(ScriptedChat({}), [None], ["a"], _parse_int, retries=-1)


# ----------------------------------------------------------------------------------------- cache


def test_cache_resume_repairs_truncated_line_and_refuses_duplicates(tmp_path):
    path = tmp_path / "c" / "cache.jsonl"
    with JudgeCache(path) as cache:
        cache.write("a", {"score": 1})
        cache.write("b", {"score": None, "nested": {"x": float("nan")}})
        with pytest.raises(ValueError, match="already cached"):
            cache.write("a", {"score": 2})
    path.write_text(path.read_text() + '{"key": "c", "sco')  # killed in the middle of a line
    with JudgeCache(path) as cache:
        assert cache.repaired and set(cache.records) == {"a", "b"}
        assert cache.records["b"]["nested"] == {"x": None}
        cache.write("c", {"score": 3})
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["key"] for x in lines] == ["a", "b", "c"]


def test_cache_drop_rewrites_without_keys(tmp_path):
    path = tmp_path / "cache.jsonl"
    with JudgeCache(path) as cache:
        for k in "abc":
            cache.write(k, {"v": k})
        assert cache.drop(["b", "zz"]) == 1
        cache.write("b", {"v": "again"})
    assert [json.loads(x)["v"] for x in path.read_text().splitlines()] == ["a", "c", "again"]


def test_cache_errors_and_merge(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": "a"}\n{"key": "a"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: field 'key': duplicate"):
        JudgeCache(bad)
    bad.write_text('{"nokey": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: expected a JSON object with a string field 'key'"):
        JudgeCache(bad)
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    one.write_text('{"key": "a", "v": 1}\n')
    two.write_text('{"key": "b", "v": 2}\n{"key": "c", "v"')  # a shard still being written
    assert set(read_cache_records([one, two])) == {"a", "b"}
    two.write_text('{"key": "a", "v": 3}\n')
    with pytest.raises(ValueError, match="is in both"):
        read_cache_records([one, two])
