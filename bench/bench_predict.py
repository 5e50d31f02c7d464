"""``pixelthink predict``'s loops side by side (a script, not a test): prints Markdown tables.

Setup: the shipped tiny model (with its own prompt template, at its 224x224 frame) served by ``pixelthink
serve`` on loopback, pinned to core 0 with taskset (one torch thread, batches of 8), and this process (the
predict client, image loading, PNG encoding and segmentation) pinned to core 1, on a generated shapes
benchmark (224x224, the model's world).

1. GrabCut (the streaming loop's process pool gets one worker: one usable core). Rows, best of
   ``--repeats``, measured one after the other in this run:
   - reasoner only: every request through the streaming client (``--concurrency`` in flight), no masks;
   - segmenter only: GrabCut on every usable answer of that run, in this process;
   - both at once: those two at the same time, independently (a thread each): what a perfect overlap
     takes on this machine, where other jobs share the cores;
   - sequential loop (``--loop sequential``, the loop before the streaming one: a batch of
     ``--batch-size`` requests, then their masks, then the next batch): the baseline;
   - streaming loop (``pixelthink predict``'s default): target wall <= 1.15 x max(reasoner only,
     segmenter only).
   The same table again with a stand-in engine that uses no CPU (this process answers each request with
   the text the model gave it, 8 at a time, each held for the model's time per batch of 8): the loop's
   own overlap, without the reasoner and the segmenter competing for cores.
2. SAM2 with random full-size weights (transformers ``Sam2Config()`` defaults: the SAM2.1 hiera-tiny
   layout, 1024x1024 input, 31M parameters; one torch thread) on a benchmark with 4 queries per image:
   image-encoder passes (target: = distinct images) and wall time against the sequential loop (batch 8,
   which happens to align with 4 queries per image, and batch 6, which does not).

Usage: ``.venv/bin/python bench/bench_predict.py [--samples 96] [--images 6] [--repeats 2] [--skip-sam2]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def pin(core: int | None) -> str:
    """Pin this process to ``core`` (if there are 2+ cores); returns a description."""
    if core is None:
        return "not pinned"
    os.sched_setaffinity(0, {core})
    return f"core {core}"


CPU: dict[str, float] = {}
TEMPLATE = ""  # the shipped model's prompt template (main sets it)


def best(fn: Callable[[], Any], repeats: int, name: str = "") -> tuple[float, Any]:
    """(min wall seconds over ``repeats`` calls, the last call's value); the CPU seconds of this process
    (all threads, not the pool's worker processes) during the fastest call go to ``CPU[name]``."""
    times, value = [], None
    for _ in range(repeats):
        cpu = time.process_time()
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
        if times[-1] == min(times):
            CPU[name] = time.process_time() - cpu
    return min(times), value


def shapes_bench(root: Path, samples: int) -> Path:
    from pixelthink.miniature.shapes.generate import ShapesConfig, generate_benchmark

    generate_benchmark(root, n_train=0, n_val=0, n_test=samples, seed=0, image_size=(224, 224),
                       overwrite=True, progress=False, config=ShapesConfig(world="rich"))  # fmt: skip
    return root


def four_queries_bench(source: Path, root: Path, images: int) -> Path:
    """``images`` scenes of ``source``, each with 4 queries (its own and 3 others), ids ``i{k}q{j}``."""
    from PIL import Image

    from pixelthink.data import Benchmark, BenchmarkWriter

    src = Benchmark(source)
    samples = list(src)[:images]
    extra = ["the square", "the red shape", "the biggest shape"]
    with BenchmarkWriter(root, name="four-per-image") as writer:
        for k, sample in enumerate(samples):
            image = Image.open(src.image_path(sample)).convert("RGB")
            for j, query in enumerate([sample.query, *extra]):
                writer.add({"id": f"i{k}q{j}", "query": query, "mask": np.ones((224, 224), bool)}, image,
                           image_name=f"scene{k}.png")  # fmt: skip
    return root


def items_of(bench_dir: Path) -> list[Any]:
    from pixelthink.data import Benchmark
    from pixelthink.pipeline.streaming import StreamItem

    bench = Benchmark(bench_dir)
    return [
        StreamItem(key=s.id, image_key=s.image, source=lambda s=s: bench.load_image(s), query=s.query)
        for s in bench
    ]


def start_server(model: Path, core: int | None) -> tuple[subprocess.Popen, str]:
    from _servers import free_port
    from _servers import start_server as start

    port = free_port()
    cmd = [sys.executable, "-m", "pixelthink.cli", "serve", str(model), "--port", str(port), "--device", "cpu",
           "--model-name", "tiny", "--log-level", "warning", "--batch-size", "8", "--max-queue", "1024"]  # fmt: skip
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the server (torch in this process is set already)
    url = f"http://127.0.0.1:{port}/v1"
    return start(cmd, f"{url}/models"), url


def grabcut_table(
    title: str, pipe: Any, items: list[Any], grabcut: Any, workers: int, args: Any
) -> dict[str, Any]:
    """The GrabCut rows for one reasoner; returns the reasoner-only run's reply texts by request key and
    its wall time."""
    from pixelthink.answer import build_prompt
    from pixelthink.pipeline import Result
    from pixelthink.pipeline.streaming import sequential_predictions, stream_predictions

    texts: dict[str, str] = {}

    def reasoner_only() -> list[Result]:
        results: dict[int, Result] = {}
        images: dict[Any, Any] = {}

        def requests() -> Any:
            for k, item in enumerate(items):
                image = images.setdefault(item.image_key, item.source())
                results[k] = Result(query=item.query, image_size=image.size)
                yield k, image, item.query

        for k, gen in pipe.reasoner.generate_stream(requests(), window=args.concurrency):
            pipe.parse(results[k], gen)
            prompt = build_prompt(items[k].query, pipe.reasoner.prompt_template)
            texts[request_key(images[items[k].image_key], prompt)] = gen.text
        return [results[k] for k in range(len(items))]

    def segmenter_only(answers: list[Result]) -> int:
        done = 0
        for item, result in zip(items, answers, strict=True):
            if result.error is None:
                grabcut.set_image(np.asarray(item.source(), dtype=np.uint8))
                grabcut.predict(result.bbox, result.points)
                done += 1
        return done

    def both_at_once() -> None:
        """Reasoner only and segmenter only at the same time, independently (a thread each): what a
        perfect overlap would take on this machine, with the same contention for the cores."""
        thread = threading.Thread(target=reasoner_only)
        thread.start()
        segmenter_only(answers)
        thread.join()

    list(stream_predictions(pipe, items[:8], concurrency=8, seg_workers=workers))  # warm-up
    t_reason, answers = best(reasoner_only, args.repeats, "reason")
    t_seg, segmented = best(lambda: segmenter_only(answers), args.repeats, "seg")
    t_both, _ = best(both_at_once, args.repeats, "both")
    t_seq, _ = best(
        lambda: list(sequential_predictions(pipe, items, batch_size=args.batch_size)), args.repeats, "seq"
    )
    t_stream, _ = best(
        lambda: list(stream_predictions(pipe, items, concurrency=args.concurrency, seg_workers=workers)),
        args.repeats,
        "stream",
    )
    t_thread, _ = best(
        lambda: list(stream_predictions(pipe, items, concurrency=args.concurrency, seg_workers=0)),
        args.repeats,
        "stream_thread",
    )
    bound = max(t_reason, t_seg)
    n = len(items)
    print(
        f"GrabCut with {title}: {segmented} of {n} answers usable (segmented); best of {args.repeats} runs\n"
    )
    print("| run | wall (s) | samples/s | client CPU (s) | wall / max(reasoner only, segmenter only) |")
    print("|---|---|---|---|---|")

    def row(name: str, wall: float, key: str, ratio: str = "") -> None:
        print(f"| {name} | {wall:.2f} | {n / wall:.1f} | {CPU[key]:.2f} | {ratio} |")

    row(f"reasoner only (streaming client, {args.concurrency} in flight)", t_reason, "reason")
    row("segmenter only (GrabCut in this process)", t_seg, "seg")
    row("both at once, independently (two threads)", t_both, "both", f"{t_both / bound:.2f}")
    row(f"sequential loop (baseline: batches of {args.batch_size})", t_seq, "seq", f"{t_seq / bound:.2f}")
    verdict = "met" if t_stream <= 1.15 * bound else "NOT met"
    ratio = f"**{t_stream / bound:.2f}** (target <= 1.15: {verdict}; / both at once: {t_stream / t_both:.2f})"
    row(
        f"streaming loop (concurrency {args.concurrency}, {workers} GrabCut process)",
        t_stream,
        "stream",
        ratio,
    )
    verdict = "met" if t_thread <= 1.15 * bound else "NOT met"
    ratio = f"**{t_thread / bound:.2f}** (target <= 1.15: {verdict}; / both at once: {t_thread / t_both:.2f})"
    row(
        "streaming loop, GrabCut in the segmentation thread (--seg-workers 0)",
        t_thread,
        "stream_thread",
        ratio,
    )
    print()
    return {"texts": dict(texts), "seconds": t_reason}


def request_key(image: Any, prompt: str) -> str:
    """What the stand-in server recognises a request by: its prompt and the image it was sent (224x224)."""
    from pixelthink.frames import FrameTransform
    from pixelthink.models.reasoner_openai import image_to_data_url

    frame = FrameTransform.for_size(image.size[0], image.size[1], 224)
    return prompt + hashlib.sha1(image_to_data_url(frame.image_to_model(image)).encode()).hexdigest()


def sleeping_server(texts: dict[str, str], hold: float) -> str:
    """An OpenAI chat-completions stand-in in a thread of this process: answers each request with the text
    recorded for it, ``hold`` seconds after it got one of 8 slots (an engine batching 8 that uses no CPU).
    Returns its URL with ``?model=tiny``."""
    from fake_openai import FakeOpenAI

    slots = threading.Semaphore(8)

    def respond(payload: dict[str, Any]) -> str:
        content = payload["messages"][0]["content"]
        url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
        prompt = next(p["text"] for p in content if p["type"] == "text")
        with slots:
            time.sleep(hold)
        return texts.get(prompt + hashlib.sha1(url.encode()).hexdigest(), "")

    return FakeOpenAI(respond, model="tiny").url + "?model=tiny"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=96, help="GrabCut benchmark size (default 96)")
    parser.add_argument(
        "--images", type=int, default=6, help="SAM2 benchmark: images x 4 queries (default 6)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="GrabCut rows: best of N runs (default 2)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8, help="sequential loop's batch (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--skip-sam2", action="store_true")
    args = parser.parse_args()

    import torch
    from _servers import stop_server

    from pixelthink.answer import DEFAULT_PROMPT_TEMPLATE
    from pixelthink.miniature.model import shipped_model_dir
    from pixelthink.models.reasoners import checkpoint_defaults
    from pixelthink.models.segmenters import GrabCutSegmenter
    from pixelthink.pipeline import Pipeline
    from pixelthink.pipeline.streaming import (
        StreamStats,
        seg_workers,
        sequential_predictions,
        stream_predictions,
    )

    torch.set_num_threads(1)
    global TEMPLATE
    TEMPLATE = checkpoint_defaults(shipped_model_dir()).get("prompt_template", DEFAULT_PROMPT_TEMPLATE)
    cores = len(os.sched_getaffinity(0))
    server_core, client_core = (0, 1) if cores >= 2 else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="bench_predict_"))
    proc, url = start_server(shipped_model_dir(), server_core)
    where = pin(client_core)
    try:
        bench = shapes_bench(tmp / "shapes", args.samples)
        items = items_of(bench)

        def pipeline(segmenter: Any) -> Pipeline:
            options = {"max_new_tokens": args.max_new_tokens, "concurrency": args.batch_size,
                       "prompt_template": TEMPLATE}  # fmt: skip
            # resolution: the model's training frame (a URL's "auto" would be 840)
            return Pipeline.from_specs(
                url + "?model=tiny", segmenter, resolution=224, reasoner_options=options
            )

        grabcut = GrabCutSegmenter()
        workers = seg_workers(None, grabcut)
        print(f"server: pixelthink serve (shipped tiny model, batch 8, 1 torch thread), "
              f"{'core ' + str(server_core) if server_core is not None else 'not pinned'}; predict client + "
              f"segmentation: {where}; {len(items)} samples; GrabCut pool workers: {workers}; CPU only "
              f"(no GPU in this run)\n")  # fmt: skip
        replies = grabcut_table("the served model", pipeline(grabcut), items, grabcut, workers, args)
        # The same replies from a stand-in engine that takes no CPU: 8 requests at a time, each held for
        # the real run's time per batch of 8, so its throughput matches the model's.
        hold = replies["seconds"] / -(-len(items) // 8)
        fake_url = sleeping_server(replies["texts"], hold)
        options = {
            "max_new_tokens": args.max_new_tokens,
            "concurrency": args.batch_size,
            "prompt_template": TEMPLATE,
        }
        fake = Pipeline.from_specs(fake_url, grabcut, resolution=224, reasoner_options=options)
        grabcut_table(f"a stand-in engine using no CPU (8 at a time, {hold:.2f} s each)", fake, items, grabcut,
                      workers, args)  # fmt: skip

        if not args.skip_sam2:
            from transformers import Sam2Config, Sam2Model

            from pixelthink.models.sam import Sam2Segmenter

            torch.manual_seed(0)
            model = Sam2Model(Sam2Config()).eval()
            params = sum(p.numel() for p in model.parameters()) / 1e6
            sam2 = Sam2Segmenter(model, input_size=(1024, 1024))
            four = four_queries_bench(bench, tmp / "four", args.images)
            items4 = items_of(four)
            pipe4 = pipeline(sam2)
            print(f"\nSAM2, random weights ({params:.0f}M parameters, transformers Sam2Config() = SAM2.1 "
                  f"hiera-tiny layout, 1024 input), 1 torch thread; {args.images} images x 4 queries\n")  # fmt: skip
            print(
                "| run | wall (s) | image-encoder passes | distinct images segmented | masks | wall / sequential |"
            )
            print("|---|---|---|---|---|---|")
            rows = []
            for name, run in (
                (f"sequential loop (batch {args.batch_size})",
                 lambda: list(sequential_predictions(pipe4, items4, batch_size=args.batch_size))),
                ("sequential loop (batch 6)", lambda: list(sequential_predictions(pipe4, items4, batch_size=6))),
                (f"streaming loop (concurrency {args.concurrency})",
                 lambda: list(stream_predictions(pipe4, items4, concurrency=args.concurrency, stats=StreamStats()))),
            ):  # fmt: skip
                sam2.encoder_calls = 0
                wall, out = best(run, 1)
                usable = [key for key, r in out if r.error is None]
                rows.append(
                    (name, wall, sam2.encoder_calls, len({key.split("q")[0] for key in usable}), len(usable))
                )
            base = rows[0][1]
            for name, wall, calls, distinct, masks in rows:
                print(f"| {name} | {wall:.1f} | {calls} | {distinct} | {masks} | {wall / base:.2f} |")
    finally:
        stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
