"""The page of `pixelthink app` in a real browser: headless Chromium (Debian's) driven by Playwright.

`make venv` installs Playwright (dev extra) and `make test` installs Chromium when it is missing
(scripts/install_browser.sh). Where the browser cannot start, these tests fail under CI (CI=true)
and are skipped with the reason elsewhere (a developer machine without Chromium).

The app runs the shipped tiny model twice (A and B, side by side) and a run browser on a small
generated benchmark with hand-made predictions; nothing depends on what the model answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import httpx
import pytest
from _servers import free_port, png_bytes, start_server, stop_server

CHROMIUM = os.environ.get("PIXELTHINK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 300_000  # generous: CI may share the machine with training runs


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests need Chromium and Playwright ({reason}; run `make test` to install)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except Exception as exc:
            _unavailable(f"Chromium did not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """A 12-sample shapes benchmark and predictions: every third sample failed, the others the GT mask."""
    from pixelthink.data import Benchmark
    from pixelthink.predictions import Prediction, PredictionWriter

    root = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, "-m", "pixelthink.cli", "data", "shapes", "--out", str(root / "bench"),
           "--train", "0", "--val", "0", "--test", "12", "--size", "96x96", "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    bench = Benchmark(root / "bench")
    with PredictionWriter(root / "preds.jsonl", resume=False) as writer:
        for i, s in enumerate(bench):
            failed = i % 3 == 0
            writer.write(
                Prediction(
                    id=s.id,
                    response="<think>a guess</think>",
                    mask=None if failed else s.mask,
                    bbox=None if failed else s.bbox,
                    points=[] if failed else list(s.points),
                    reasoning_tokens=3 + i,
                    answer_tokens=20,
                    uncertainty=0.25,
                    latency={"total": 0.5},
                    error="answer: no usable box or points" if failed else None,
                    meta={},
                )
            )
    return root / "bench", root / "preds.jsonl", bench


@pytest.fixture(scope="module")
def app(run_files):
    bench, preds, _ = run_files
    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "app", "--reasoner-b", "", "--port", str(port),
           "--max-new-tokens", "48", "--run-data", str(bench), "--run-predictions", str(preds),
           "--log-level", "warning"]  # fmt: skip
    from pixelthink.miniature.model import shipped_model_dir

    cmd[cmd.index("--reasoner-b") + 1] = str(shipped_model_dir())
    url = f"http://127.0.0.1:{port}"
    proc = start_server(cmd, f"{url}/health")
    yield url
    stop_server(proc)


def test_upload_query_and_compare_two_models(browser, app, tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(120, 90, (200, 40, 40)))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app)
    page.wait_for_selector(".modelbox", timeout=TIMEOUT_MS)
    assert page.locator(".modelbox").count() == 2
    assert page.locator("#run").is_disabled()
    page.set_input_files("#file", str(photo))
    page.fill("#query", "the red rectangle")
    page.click("#run")
    for key in ("a", "b"):
        page.wait_for_selector(f"#card-{key} .status.done, #card-{key} .status.fail", timeout=TIMEOUT_MS)
        card = page.locator(f"#card-{key}")
        overlay = card.locator("img.overlay")
        overlay.wait_for(state="visible")
        assert overlay.get_attribute("src").startswith("data:image/png;base64,")
        assert page.evaluate(f"document.querySelector('#card-{key} img.overlay').naturalWidth") == 120
        facts = card.locator("table.facts").inner_text()
        for label in ("reasoning tokens", "uncertainty U", "latency", "box", "points", "difficulty"):
            assert label in facts
        assert card.locator(".tok").inner_text().isdigit()
        assert card.locator(".lat").inner_text().endswith(" s")
        assert card.locator(".reasoning .text").inner_text().strip() != "" or "failure" in facts
    comparison = page.locator("#compare")
    assert comparison.is_visible() and "reasoning tokens" in comparison.inner_text()
    # the mask toggle swaps the picture: with the mask <-> box and points only
    src = "document.querySelector('#card-a img.overlay').src"
    with_mask = page.evaluate("'data:image/png;base64,' + results.a.overlay_png")
    plain = page.evaluate("'data:image/png;base64,' + results.a.overlay_plain_png")
    assert page.evaluate(src) == with_mask
    page.uncheck("#showmask")
    assert page.evaluate(src) == plain
    page.check("#showmask")
    assert page.evaluate(src) == with_mask
    page.close()


def test_example_streams_reasoning_into_the_page(browser, app):
    page = browser.new_page()
    page.goto(app)
    page.wait_for_selector("#examples img", timeout=TIMEOUT_MS)
    page.locator("#examples img").first.click()
    assert page.input_value("#query") != ""  # the example's query is filled in
    page.uncheck(".modelbox[value=b]")
    # record every text the reasoning box shows while the answer streams in
    page.evaluate(
        """() => { window.seen = []; new MutationObserver(() => {
             const t = document.querySelector('#card-a .text'); if (t) window.seen.push(t.textContent); })
           .observe(document.getElementById('cards'), {subtree: true, childList: true, characterData: true}); }"""
    )
    page.click("#run")
    page.wait_for_selector("#card-a .status.done, #card-a .status.fail", timeout=TIMEOUT_MS)
    assert page.locator("#card-b").count() == 0
    seen = [s for s in page.evaluate("window.seen") if s]
    assert len(set(seen)) >= 2  # it grew piece by piece, not in one block
    assert "/ 10" in page.locator("#card-a table.facts").inner_text()  # examples know their difficulty
    page.close()


def test_run_browser_filters_by_bucket(browser, app, run_files):
    _, _, bench = run_files
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app)
    page.wait_for_function("!document.getElementById('tab-run').disabled", timeout=TIMEOUT_MS)
    page.click("#tab-run")
    page.wait_for_selector(".sample", timeout=TIMEOUT_MS)
    assert "12 samples" in page.locator("#runsummary").inner_text()
    from pixelthink.rewards import RewardConfig, difficulty_bucket

    buckets: dict[str, list[str]] = {}
    for s in bench:
        buckets.setdefault(difficulty_bucket(s.difficulty, RewardConfig()), []).append(s.id)
    bucket, ids = max(buckets.items(), key=lambda kv: len(kv[1]))
    page.select_option("#f-bucket", bucket)
    page.click("#f-apply")
    page.wait_for_function(
        f"document.querySelectorAll('.sample').length && [...document.querySelectorAll('.sample')]"
        f".every(e => e.dataset.bucket === '{bucket}')",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#runcount").inner_text() == f"{len(ids)} matching samples"
    assert page.locator(".sample").count() == min(len(ids), 12)
    page.wait_for_function(
        "[...document.querySelectorAll('.sample img')].every(i => i.complete && i.naturalWidth > 0)",
        timeout=TIMEOUT_MS,
    )
    # failures only: every card says why it failed
    page.select_option("#f-bucket", "all")
    page.select_option("#f-failed", "failed")
    page.click("#f-apply")
    page.wait_for_function(
        "document.getElementById('runcount').textContent.startsWith('4 ')", timeout=TIMEOUT_MS
    )
    assert page.locator(".sample .error").count() == 4
    total = httpx.get(f"{app}/v1/run/samples", params={"failed": "failed"}).json()["total"]
    assert total == 4
    page.close()
