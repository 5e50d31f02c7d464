"""``pixelthink compare``: one table across evaluated runs, intervals, refusals, Pareto plot, HTML/Markdown."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pixelthink.cli import main
from pixelthink.evaluate.compare import check_comparable, compare_rows, load_runs
from pixelthink.evaluate.intervals import bootstrap_ci
from pixelthink.report.compare import pareto_front

SHIPPED = Path(__file__).resolve().parents[1] / "src" / "pixelthink" / "assets" / "tiny_model" / "eval"


def _report(ious: list[float], *, tokens: float = 20.0, **settings: Any) -> dict[str, Any]:
    samples = [
        {"id": f"s{i}", "bucket": "easy" if i % 2 else "hard", "iou": v, "failed": False}
        for i, v in enumerate(ious)
    ]

    def bucket(rows: list[dict[str, Any]]) -> dict[str, Any]:
        values = [r["iou"] for r in rows]
        return {
            "n": len(rows),
            "giou": sum(values) / len(values),
            "ciou": 0.5,
            "tokens_mean": tokens,
            "tokens_median": tokens - 1,
            "latency": {"total": 0.25},
            "sat": 0.4,
            "rst": None,
            "urss": None,
        }

    base = {"benchmark_name": "shapes", "split": "test", "convention": "lisa", "token_convention": "model"}
    return {
        "settings": {**base, "length_unit": "reasoning_tokens", **settings},
        "buckets": {
            "easy": bucket([s for s in samples if s["bucket"] == "easy"]),
            "hard": bucket([s for s in samples if s["bucket"] == "hard"]),
            "all": bucket(samples),
        },
        "counts": {"n_samples": len(samples)},
        "samples": samples,
    }


def _write(tmp_path: Path, name: str, report: dict[str, Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(report))
    return str(path)


def test_intervals_come_from_the_report_or_a_seeded_bootstrap_of_its_samples(tmp_path: Path) -> None:
    ious = [0.1, 0.9, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6]
    own = _report(ious)
    own["buckets"]["all"]["giou_ci"] = [0.11, 0.22]  # pixelthink eval's own interval wins
    runs = load_runs([f"a={_write(tmp_path, 'a', _report(ious))}", f"b={_write(tmp_path, 'b', own)}"])
    rows = {(r["bucket"], r["run"]): r for r in compare_rows(runs)}
    assert rows["all", "b"]["giou_ci"] == [0.11, 0.22] and rows["all", "b"]["giou_ci_source"] == "report"
    expected = bootstrap_ci(ious, n_resamples=1000, seed=0)
    assert rows["all", "a"]["giou_ci"] == pytest.approx(list(expected))
    assert rows["all", "a"]["giou_ci_source"] == "bootstrap"
    easy = [v for i, v in enumerate(ious) if i % 2]
    assert rows["easy", "a"]["giou_ci"] == pytest.approx(list(bootstrap_ci(easy, seed=0)))
    lo, hi = rows["all", "a"]["giou_ci"]
    assert lo < sum(ious) / len(ious) < hi
    assert compare_rows(runs) == compare_rows(runs)  # seeded
    other_seed = {(r["bucket"], r["run"]): r for r in compare_rows(runs, seed=1)}
    assert other_seed["all", "a"]["giou_ci"] == pytest.approx(list(bootstrap_ci(ious, seed=1)))
    # buckets no run has are left out; the row order is bucket-major
    assert [(r["bucket"], r["run"]) for r in compare_rows(runs)] == [
        ("easy", "a"), ("easy", "b"), ("hard", "a"), ("hard", "b"), ("all", "a"), ("all", "b"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"benchmark_name": "reasonseg"}, "benchmark differs (a: 'shapes', b: 'reasonseg')"),
        ({"split": "val"}, "split differs"),
        ({"convention": "segzero"}, "convention differs (a: 'lisa', b: 'segzero')"),
        ({"token_convention": "paper"}, "token convention differs"),
        ({"length_unit": "words"}, "length unit differs (a: 'reasoning_tokens', b: 'words')"),
    ],
)
def test_runs_that_do_not_measure_the_same_thing_are_refused(
    tmp_path: Path, change: dict[str, str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path, "a", _report([0.5, 0.6]))
    b = _write(tmp_path, "b", _report([0.5, 0.6], **change))
    assert any(needle in p for p in check_comparable(load_runs([a, b])))
    assert main(["compare", a, b, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "runs cannot be compared" in err and needle in err
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_different_sample_count_is_another_benchmark(tmp_path: Path) -> None:
    a = _write(tmp_path, "a", _report([0.5, 0.6]))
    b = _write(tmp_path, "b", _report([0.5, 0.6, 0.7]))
    assert check_comparable(load_runs([a, b])) == ["samples differs (a: 2, b: 3)"]


def test_faithfulness_is_shown_only_where_an_eval_has_it(tmp_path: Path) -> None:
    plain = _report([0.5, 0.6])
    faithful = copy.deepcopy(plain)
    faithful["buckets"]["all"]["faithfulness"] = 0.75
    out = tmp_path / "out"
    assert (
        main(
            [
                "compare",
                f"p={_write(tmp_path, 'p', plain)}",
                f"f={_write(tmp_path, 'f', faithful)}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    md = (out / "compare.md").read_text()
    assert "| faithfulness |" in md
    row = next(line for line in md.splitlines() if line.startswith("| all | f |"))
    assert "75.00" in row
    out2 = tmp_path / "out2"
    assert (
        main(
            [
                "compare",
                f"p={_write(tmp_path, 'p', plain)}",
                f"q={_write(tmp_path, 'q', plain)}",
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    assert "faithfulness" not in (out2 / "compare.md").read_text()


def test_shipped_evaluations_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The evaluations shipped with the tiny model (no per-sample records: no intervals)."""
    out = tmp_path / "cmp"
    specs = [f"{name}={SHIPPED / f'{name}.eval.json'}" for name in ("sft", "segzero", "pixelthink")]
    assert main(["compare", *specs, "--out", str(out), "--title", "tiny <model>"]) == 0
    printed = capsys.readouterr().out
    shipped = json.loads((SHIPPED / "pixelthink.eval.json").read_text())
    for name in ("sft", "segzero", "pixelthink"):
        assert f"| all | {name} |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| easy | pixelthink |"))
    assert f"{100 * shipped['buckets']['easy']['giou']:.2f}" in row
    assert f"{shipped['buckets']['easy']['tokens_mean']:.1f}" in row
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "index.html").read_text()
    assert "tiny &lt;model&gt;" in html and "<model>" not in html  # escaped
    assert html.count('data-run="pixelthink"') == len(
        {r["bucket"] for r in json.loads((out / "compare.json").read_text())["rows"]}
    )
    data = json.loads((out / "compare.json").read_text())
    # no per-sample records in the shipped reports: each row's interval is the one its report carries
    for r in data["rows"]:
        report = json.loads((SHIPPED / f"{r['run']}.eval.json").read_text())
        assert "samples" not in report
        assert r["giou_ci"] == report["buckets"][r["bucket"]].get("giou_ci")
        assert r["giou_ci_source"] == ("report" if r["giou_ci"] else None)


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path, "a", _report([0.5, 0.6]))
    assert main(["compare", a, "--out", str(tmp_path / "o")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert main(["compare", a, a, "--out", str(tmp_path / "o")]) == 2
    assert "two runs are named 'a'" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    assert main(["compare", a, str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not an evaluation report" in capsys.readouterr().err


def test_a_number_too_large_for_a_float_is_a_missing_value_not_a_crash(tmp_path: Path) -> None:
    # a hand-edited report with a 400-digit integer raised OverflowError out of `pixelthink compare`
    huge = _report([0.5, 0.6])
    huge["buckets"]["all"]["tokens_mean"] = 10**400
    text = json.dumps(huge)
    path = tmp_path / "huge.json"
    path.write_text(text)
    a = _write(tmp_path, "a", _report([0.5, 0.6]))
    assert main(["compare", a, str(path), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o").exists()


def test_pareto_front() -> None:
    # (tokens, gIoU): (10, 50) and (30, 70) are on the front; (20, 40) and (40, 70) are dominated
    assert pareto_front([(20, 40), (10, 50), (40, 70), (30, 70)]) == [1, 3]
    assert pareto_front([(5, 5)]) == [0]


def test_pareto_runs_never_share_a_look() -> None:
    """14 runs (the method table) on a 10-colour palette: colour and marker together tell every run apart."""
    from pixelthink.report.compare import RUN_COLORS, run_styles

    runs = [f"run{k}" for k in range(len(RUN_COLORS) + 4)]
    styles = run_styles(runs)
    assert len(set(styles.values())) == len(runs)
    assert (
        styles["run0"][0] == styles[f"run{len(RUN_COLORS)}"][0]
    )  # the palette starts over, the marker differs
