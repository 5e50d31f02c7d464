"""``pixelthink report``: HTML page with the bucket table of ``evaluate``, PNG plots, gallery, escaping, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.data import Benchmark, rewrite_samples
from pixelthink.evaluate import evaluate
from pixelthink.evaluate.results import SampleResult
from pixelthink.masks import mask_from_box
from pixelthink.miniature.shapes import ShapesConfig, generate_benchmark
from pixelthink.predictions import Prediction, PredictionWriter
from pixelthink.report import build_report, parse_compare_spec
from pixelthink.report.gallery import prediction_geometry, select_examples

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT_QUERY = 'which shape? <script>alert("x")</script>'
ERROR_TEXT = "RuntimeError: <oom & co>"


class _Page(HTMLParser):
    """Collects the bucket table (data-bucket rows, data-col cells), img sources and data-run rows."""

    def __init__(self) -> None:
        super().__init__()
        self.table: dict[str, dict[str, str]] = {}
        self.images: list[str] = []
        self.runs: list[str] = []
        self.cards: list[str] = []
        self._row: str | None = None
        self._col: str | None = None
        self._in_buckets = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._in_buckets = a.get("class") == "buckets"
        elif tag == "tr" and self._in_buckets and a.get("data-bucket"):
            self._row = a["data-bucket"]
            self.table[self._row] = {}
        elif tag == "tr" and a.get("data-run"):
            self.runs.append(str(a["data-run"]))
        elif tag == "td" and self._row is not None and a.get("data-col"):
            self._col = a["data-col"]
            self.table[self._row][self._col] = ""
        elif tag == "img":
            self.images.append(str(a["src"]))
        elif tag == "div" and (a.get("class") or "").startswith("card"):
            self.cards.append(str(a.get("data-id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._in_buckets = False

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._col is not None:
            self.table[self._row][self._col] += data


def _parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 shapes samples (easy 5, medium 1, hard 5, unrated 1) and two prediction files.

    Predictions of the main run, by sample index i: 0 missing; 1 an error (reasoning_tokens 3);
    even i >= 2 the GT mask; odd i >= 3 the left half of the GT's columns; reasoning_tokens 10 * (i + 1).
    """
    root = tmp_path_factory.mktemp("report")
    bench = generate_benchmark(  # the rich world's seed 0 has these buckets
        root / "bench", n_train=0, n_val=0, n_test=12, image_size=(96, 96), progress=False, seed=0,
        config=ShapesConfig(world="rich"),
    )  # fmt: skip
    ids = Benchmark(bench).ids()

    def update(obj: dict) -> dict:
        if obj["id"] == ids[2]:
            obj["query"] = SCRIPT_QUERY
        if obj["id"] == ids[11]:
            obj["difficulty"] = None
        return obj

    rewrite_samples(bench, update)
    samples = list(Benchmark(bench))
    buckets = [
        "unrated"
        if s.difficulty is None
        else "easy"
        if s.difficulty < 3.5
        else "medium"
        if s.difficulty < 5
        else "hard"
        for s in samples
    ]
    assert {b: buckets.count(b) for b in set(buckets)} == {"easy": 5, "medium": 1, "hard": 5, "unrated": 1}

    def write(path: Path, scale: int) -> None:
        with PredictionWriter(path) as w:
            for i, s in enumerate(samples):
                if i == 0:
                    continue
                if i == 1:
                    w.write(
                        Prediction(
                            id=s.id,
                            response="<think>lost <b>here</b></think>",
                            reasoning_tokens=3,
                            error=ERROR_TEXT,
                        )
                    )
                    continue
                gt = s.mask_array()
                pred = gt.copy()
                if i % 2:
                    xs = np.flatnonzero(gt.any(axis=0))
                    pred[:, xs[len(xs) // 2] :] = False
                w.write(
                    Prediction.with_mask(
                        s.id,
                        pred,
                        response=f"<think>step {i} of the reasoning</think><answer>{{}}</answer>",
                        bbox=s.bbox,
                        points=s.points,
                        reasoning_tokens=scale * (i + 1),
                        answer_tokens=20,
                        uncertainty=0.1,
                        latency={"prefill": 0.1, "decode": 0.2, "total": 0.3},
                    )
                )

    write(root / "preds.jsonl", 10)
    write(root / "other.jsonl", 25)
    return {"root": root, "bench": bench, "preds": root / "preds.jsonl", "other": root / "other.jsonl"}


@pytest.fixture(scope="module")
def built(run: dict[str, Path]) -> tuple[Path, _Page]:
    index = build_report(
        run["bench"],
        run["preds"],
        run["root"] / "out",
        compare={"segzero-like": run["other"]},
        title="my <model>",
        gallery_per_bucket=6,
        eval_options={"judge": None},
    )
    return index, _parse(index)


def test_table_matches_evaluate(run, built):
    index, page = built
    assert index == run["root"] / "out" / "index.html"
    ref = evaluate(run["bench"], run["preds"], judge=None)
    assert set(page.table) == {"easy", "medium", "hard", "unrated", "all"}
    for name, row in page.table.items():
        b = ref.buckets[name]
        assert row["n"] == str(b.n)
        assert row["giou"] == f"{100 * b.giou:.2f}"
        assert row["ciou"] == f"{100 * b.ciou:.2f}"
        assert row["tokens_mean"] == f"{b.tokens_mean:.1f}"
        assert row["tokens_p90"] == f"{b.tokens_p90:.1f}"
        assert row["fail_rate"] == f"{100 * b.fail_rate:.2f}"
        assert row["latency.total"] == f"{b.latency['total']:.3f}"
    # hand-computed: 12 samples, 2 failures (missing + error) -> 16.67 %;
    # lengths of the 11 predictions: 3 + 10 * (3 + 4 + ... + 12) = 3 + 750 = 753 -> mean 68.45
    assert page.table["all"]["n"] == "12"
    assert page.table["all"]["fail_rate"] == "16.67"
    assert page.table["all"]["tokens_mean"] == "68.5"
    # latency: the error prediction reports none, the 10 others 0.3 s total
    assert page.table["all"]["latency.total"] == "0.300"
    assert page.table["all"]["rscore"] == "-"  # no judge
    html_text = index.read_text(encoding="utf-8")
    assert "convention" in html_text and "lisa (LISA" in html_text
    assert json.loads((index.parent / "eval.json").read_text())["buckets"]["all"]["n"] == 12


def test_plots_are_png_files(built):
    index, page = built
    plots = [src for src in page.images if src.startswith("assets/plots/")]
    assert sorted(Path(p).name for p in plots) == [
        "compare.png",
        "iou_vs_tokens.png",
        "tokens_per_bucket.png",
    ]
    for src in plots:
        path = index.parent / src
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 200


def test_gallery_images_and_failures(run, built):
    index, page = built
    gallery = [src for src in page.images if src.startswith("assets/gallery/")]
    # 6 slots per bucket; buckets hold 5 + 1 + 5 + 1 samples -> every sample is shown once
    assert len(gallery) == 12 and len(set(page.cards)) == 12
    for src in gallery:
        with Image.open(index.parent / src) as im:
            assert im.format == "JPEG" and im.size == (96, 96)
    ids = Benchmark(run["bench"]).ids()
    text = index.read_text(encoding="utf-8")
    assert ids[0] in page.cards and "missing from the predictions file" in text
    # a good example: the picture of sample 2 (prediction = GT) has the tint inside the mask
    sample = Benchmark(run["bench"]).get(ids[2])
    picture = next(src for src in gallery if src.endswith(ids[2] + ".jpg"))
    with Image.open(index.parent / picture) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=float)
    with Image.open(Benchmark(run["bench"]).image_path(sample)) as im:
        orig = np.asarray(im.convert("RGB"), dtype=float)
    inner = sample.mask_array()
    # erode by 3 px so the GT contour and JPEG ringing stay out of the compared pixels
    import cv2

    inner = cv2.erode(inner.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert inner.sum() > 20
    # 0.45 * (255, 64, 32) + 0.55 * orig: red rises or stays at 255, mean change well above JPEG noise
    assert np.abs(rgb[inner] - orig[inner]).mean() > 10


def test_untrusted_text_is_escaped(built):
    index, _ = built
    text = index.read_text(encoding="utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "<oom & co>" not in text and "RuntimeError: &lt;oom &amp; co&gt;" in text
    assert "<b>here</b>" not in text and "lost &lt;b&gt;here&lt;/b&gt;" in text
    assert "<h1>my &lt;model&gt;</h1>" in text


def test_compare_section(built):
    _, page = built
    assert page.runs == ["my <model>", "segzero-like"]  # HTMLParser unescapes attribute values


def test_select_examples_mixes_good_and_bad():
    def r(i: str, iou: float | None, failed: bool = False, bucket: str = "easy") -> SampleResult:
        return SampleResult(i, bucket, 1.0, 0, 0, iou, failed)

    results = [
        r("a", 0.9),
        r("b", 0.2),
        r("c", 0.0, True),
        r("d", 0.95),
        r("e", 0.5),
        r("h", 0.7, bucket="hard"),
    ]
    chosen = select_examples(results, 3)
    # easy: ceil(3/2) = 2 best (d 0.95, a 0.9), then failures first (c)
    assert [(x.id, kind) for x, kind in chosen["easy"]] == [("d", "good"), ("a", "good"), ("c", "bad")]
    assert [(x.id, kind) for x, kind in chosen["hard"]] == [("h", "good")]
    assert "medium" not in chosen
    # 4 slots: 2 best, then failure c, then the lowest IoU among the rest (b 0.2)
    assert [x.id for x, _ in select_examples(results, 4)["easy"]] == ["d", "a", "c", "b"]
    assert select_examples(results, 0) == {}


def test_bbox_only_prediction_draws_its_rectangle(run):
    sample = next(iter(Benchmark(run["bench"])))
    pred = Prediction(id=sample.id, bbox=(10.0, 12.0, 30.0, 40.0))
    mask, box, points = prediction_geometry(pred, sample)
    assert box == (10.0, 12.0, 30.0, 40.0) and points == []
    assert mask is not None and np.array_equal(mask, mask_from_box(box, sample.height, sample.width))
    failed = Prediction(id=sample.id, bbox=(10.0, 12.0, 30.0, 40.0), error="boom")
    assert prediction_geometry(failed, sample)[0] is None  # failures were scored as empty masks


def test_cli_with_eval_report_and_compare(run, tmp_path, capsys):
    report_json = tmp_path / "eval.json"
    assert (
        main(
            [
                *("eval", "--data", str(run["bench"]), "--predictions", str(run["preds"])),
                *("--out", str(report_json), "--convention", "segzero", "--judge", "none", "--no-progress"),
            ]
        )
        == 0
    )
    out = tmp_path / "site"
    rc = main(
        [
            *("report", "--data", str(run["bench"]), "--predictions", str(run["preds"])),
            *("--eval", str(report_json), "--compare", f"other={run['other']}", "--out", str(out)),
            *("--gallery", "1", "--title", "cli run"),
        ]
    )
    assert rc == 0
    assert "report written to" in capsys.readouterr().out
    page = _parse(out / "index.html")
    data = json.loads(report_json.read_text())
    assert page.table["all"]["giou"] == f"{100 * data['buckets']['all']['giou']:.2f}"
    assert "segzero (Seg-Zero" in (out / "index.html").read_text(encoding="utf-8")
    assert page.runs == ["cli run", "other"]
    assert (out / "assets" / "plots" / "compare.png").read_bytes()[:8] == PNG_MAGIC
    # --gallery 1: one example per non-empty bucket (easy, medium, hard, unrated)
    assert len([s for s in page.images if s.startswith("assets/gallery/")]) == 4


def _eval_json(run, tmp_path, *extra: str) -> Path:
    """``pixelthink eval --out`` of the run's predictions (no judge); the report's path."""
    report_json = tmp_path / "eval.json"
    args = [
        "eval",
        "--data",
        str(run["bench"]),
        "--predictions",
        str(run["preds"]),
        "--out",
        str(report_json),
    ]
    assert main([*args, "--judge", "none", "--no-progress", *extra]) == 0
    return report_json


def test_eval_report_without_samples_is_completed(run, tmp_path):
    report_json = _eval_json(run, tmp_path, "--no-samples")
    index = build_report(
        run["bench"], run["preds"], tmp_path / "site", eval_report=report_json, gallery_per_bucket=1
    )
    page = _parse(index)
    assert len([s for s in page.images if s.startswith("assets/gallery/")]) == 4
    assert "no per-sample results" in index.read_text(encoding="utf-8")


def test_errors(run, tmp_path, capsys):
    other = generate_benchmark(
        tmp_path / "b2", n_train=0, n_val=0, n_test=3, image_size=(96, 96), progress=False
    )
    report_json = tmp_path / "eval.json"
    args = ["eval", "--data", str(other), "--predictions", str(run["preds"]), "--out", str(report_json)]
    assert main([*args, "--judge", "none", "--no-progress"]) == 0
    with pytest.raises(ValueError, match="evaluated 3 samples but the benchmark"):
        build_report(run["bench"], run["preds"], tmp_path / "x", eval_report=report_json)
    capsys.readouterr()
    rc = main(
        [
            *("report", "--data", str(run["bench"]), "--predictions", str(run["preds"])),
            *("--out", str(tmp_path), "--compare", "nameonly"),
        ]
    )
    assert rc == 2 and "expected NAME=PREDICTIONS.jsonl" in capsys.readouterr().err
    assert parse_compare_spec("a=p.jsonl,e.json") == ("a", "p.jsonl", "e.json")
    with pytest.raises(FileNotFoundError, match="predictions file not found"):
        build_report(run["bench"], tmp_path / "nope.jsonl", tmp_path / "y")


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("buckets", "all", "giou"), "abc", "buckets.all.giou: expected float or null, got 'abc'"),
        (
            ("buckets", "all", "giou"),
            10**400,
            "buckets.all.giou: expected float or null, got 10000000000000000000...",
        ),
        (("buckets", "all", "giou_ci"), [1], "buckets.all.giou_ci: expected [low, high] or null, got [1]"),
        (
            ("buckets", "all", "tokens_mean"),
            [1, 2],
            "buckets.all.tokens_mean: expected float or null, got [1, 2]",
        ),
        (("buckets", "all", "n"), 2.5, "buckets.all.n: expected int, got 2.5"),
        (("samples", 0, "iou"), "x", "samples[0].iou: expected float or null, got 'x'"),
    ],
    ids=["text", "400-digit-int", "short-interval", "list", "float-count", "sample-iou"],
)
def test_a_damaged_eval_report_is_one_line_naming_the_field(run, tmp_path, capsys, where, value, message):
    # each stopped `pixelthink report --eval` with a traceback (OverflowError, IndexError, TypeError) or
    # a formatting error that named no field
    report_json = _eval_json(run, tmp_path)
    data = json.loads(report_json.read_text())
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    report_json.write_text(json.dumps(data))
    capsys.readouterr()
    rc = main(
        [
            *("report", "--data", str(run["bench"]), "--predictions", str(run["preds"])),
            *("--eval", str(report_json), "--out", str(tmp_path / "site")),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"{report_json}: not a pixelthink eval report ({message})" in err, err
    assert len(err.strip().splitlines()) == 1


def test_reference_results_join_the_comparison_without_predictions(run, tmp_path, capsys):
    """--reference NAME=EVAL.json: a shipped evaluation (no predictions) is compared as recorded."""
    ref_json = tmp_path / "shipped.eval.json"
    args = ["eval", "--data", str(run["bench"]), "--predictions", str(run["other"]), "--out", str(ref_json)]
    assert main([*args, "--judge", "none", "--no-samples", "--no-progress"]) == 0
    recorded = json.loads(ref_json.read_text())
    out = tmp_path / "site"
    rc = main(
        [
            *("report", "--data", str(run["bench"]), "--predictions", str(run["preds"])),
            *("--reference", f"shipped={ref_json}", "--out", str(out), "--gallery", "0", "--title", "mine"),
        ]
    )
    assert rc == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    page = _parse(out / "index.html")
    assert page.runs == ["mine", "shipped"]
    row = html.split('<tr data-run="shipped">', 1)[1].split("</tr>", 1)[0]
    giou = recorded["buckets"]["all"]["giou"]
    assert f'<td data-col="all.giou" class="num-main">{100 * giou:.2f}</td>' in row  # as recorded
    assert "shipped: reference result" in html and "not recomputed" in html
    assert (out / "assets" / "plots" / "compare.png").read_bytes()[:8] == PNG_MAGIC
    bad = ["report", "--data", str(run["bench"]), "--predictions", str(run["preds"]), "--out", str(out)]
    assert main([*bad, "--reference", "no-equals-sign"]) == 2
    assert "expected NAME=EVAL.json" in capsys.readouterr().err
    assert main([*bad, "--reference", f"x={tmp_path / 'missing.json'}"]) == 2


def test_against_chance_section_and_n_in_every_comparison_row(built):
    index, _ = built
    html = index.read_text(encoding="utf-8")
    chance = html.split('<section id="chance">', 1)[1].split("</section>", 1)[0]
    assert "Per query family" in chance and "gIoU 95% CI" in chance and "oracle gIoU" in chance
    report = json.loads((index.parent / "eval.json").read_text())
    a = report["buckets"]["all"]
    assert a["chance_n"] == 12 and a["giou_ci"][0] <= a["giou"] <= a["giou_ci"][1]
    row = chance.split('<tr data-row="all" class="all">', 1)[1].split("</tr>", 1)[0]
    assert f'<td data-col="n">{a["n"]}</td>' in row
    assert f'<td data-col="chance_giou">{100 * a["chance_giou"]:.2f}</td>' in row
    compare = html.split('<section id="compare">', 1)[1].split("</section>", 1)[0]
    for run_row in compare.split("<tr data-")[1:]:
        assert '<td data-col="all.n">12</td>' in run_row  # every row, the chance and oracle rows too
    assert '<tr data-baseline="chance" class="baseline">' in compare
    assert "0.7 SAT + 0.3 RST" in html.split('data-kpi="URSS"', 1)[1][:300]  # the headline explains URSS
    assert "not part of total" in html  # queue vs total


def test_reference_with_per_sample_results_is_put_on_this_runs_samples(run):
    from pixelthink.report.builder import restrict_report

    whole = evaluate(run["bench"], run["other"], judge=None, chance=False)
    ids = {s.id for s in whole.samples[:6]}
    part = restrict_report(whole, ids)
    assert part is not None and part.buckets["all"].n == 6 and part.counts["restricted_from"] == 12
    kept = [s for s in whole.samples if s.id in ids]
    assert part.buckets["all"].giou == pytest.approx(sum(s.iou for s in kept) / (6 + 1e-5))
    assert sum(b.n for b in part.families.values()) == 6
    assert restrict_report(whole, {s.id for s in whole.samples}) is whole
    assert restrict_report(replace(whole, samples=[]), ids) is None  # no per-sample results: as recorded
