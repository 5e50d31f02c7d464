"""Predicting a benchmark: a pipeline over the selected samples of a benchmark, into ``predictions.jsonl``.

:func:`run_predictions` is what ``pixelthink predict`` and ``pixelthink demo`` call. The samples stream
through :func:`pixelthink.pipeline.streaming.stream_predictions` (``loop="stream"``: ``concurrency`` of
them at the reasoner, segmentation overlapped with generation, GrabCut in ``seg_workers`` processes) or
:func:`~pixelthink.pipeline.streaming.sequential_predictions` (``loop="sequential"``: the former loop, one
batch generated, then segmented, then written, in benchmark order). Each prediction is written (and
flushed) as soon as it completes, so the run is resumable: a re-run on the same ``out`` skips the ids
already written and repairs a truncated last line left by a crash. ``shard=(i, n)`` keeps the samples with
``crc32(id) % n == i`` (a split that depends only on the ids); ``limit`` the first selected ones.

A per-sample failure (unreadable image, unparseable answer, segmenter error) is written as a prediction
with ``error`` set and counted by the stage that failed (:attr:`PredictReport.errors`, from
``Result.error_stage``); a reasoner failure stops the run. The writer holds an exclusive lock on ``out``
for the whole run (a second writer gets :class:`~pixelthink.predictions.OutputLockedError`).

Run settings go to ``OUT_STEM.run.json`` next to the predictions (written when the run starts, updated
when it ends). Resuming compares the model settings (:data:`MODEL_SETTINGS`) with that file and refuses to
mix predictions made with different ones (:class:`MixedSettingsError`) unless ``allow_mixed`` (then
run.json lists every setting used in ``mixed_settings``). The sample selection may change between runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pixelthink.data.format import select_ids
from pixelthink.jsonio import atomic_write_text
from pixelthink.pipeline.core import Pipeline
from pixelthink.pipeline.streaming import StreamItem, sequential_predictions, stream_predictions
from pixelthink.pipeline.streaming import seg_workers as default_seg_workers
from pixelthink.provenance import versions

if TYPE_CHECKING:
    from pixelthink.data.format import Benchmark
    from pixelthink.pipeline.core import Result
    from pixelthink.predictions import PredictionWriter

__all__ = [
    "MODEL_SETTINGS",
    "MixedSettingsError",
    "PredictReport",
    "run_file_for",
    "run_predictions",
    "settings_differences",
]

logger = logging.getLogger(__name__)

#: run.json keys that change what a prediction is, with the ``pixelthink predict`` option that sets each
MODEL_SETTINGS: dict[str, str] = {
    "reasoner": "--reasoner",
    "model": "--model",
    "segmenter": "--segmenter",
    "resolution": "--resolution",
    "answer_frame": "--answer-frame",
    "max_new_tokens": "--max-new-tokens",
    "max_think_tokens": "--max-think-tokens",
    "think_budget_via": "--think-budget-via",
    "prompt_preset": "--prompt-preset",
    "prompt_suffix": "--prompt-suffix",
}


class MixedSettingsError(ValueError):
    """``out`` holds predictions made with other model settings (and ``allow_mixed`` is off)."""

    def __init__(self, out: Path, done: int, differences: list[str]) -> None:
        self.out, self.done, self.differences = out, done, differences
        super().__init__(
            f"{out}: has {done} predictions made with other settings ({'; '.join(differences)}); "
            "write to another file, overwrite it, or allow mixed settings"
        )


@dataclass
class PredictReport:
    """What :func:`run_predictions` did.

    Attributes:
        out: the predictions file; run_file: its run.json.
        selected: samples selected (split, shard, limit); already: of them, done before this run.
        written: predictions written by this run; failed: of them, with ``error`` set.
        errors: failed predictions per stage (``Result.error_stage``: image, query, reasoner, answer,
            segmenter).
        seconds: wall time of the prediction loop.
        settings: the run.json written at the end.
    """

    out: Path
    run_file: Path
    selected: int
    already: int = 0
    written: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """The lines ``pixelthink predict`` prints at the end (written, failed, rate; failures by stage)."""
        rate = f", {self.written / self.seconds:.2f} samples/s" if self.written and self.seconds > 0 else ""
        text = (
            f"wrote {self.written} predictions to {self.out} ({self.failed} failed{rate}); "
            f"settings in {self.run_file}"
        )
        if self.errors:
            text += "\nfailures by stage: " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items()))
        return text


def run_file_for(out: Path) -> Path:
    """``OUT_STEM.run.json`` beside the predictions file ``out``."""
    return out.with_name(out.stem + ".run.json")


def _model_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`MODEL_SETTINGS` part of a run.json mapping, JSON-normalised (tuples -> lists)."""
    return json.loads(json.dumps({k: settings[k] for k in MODEL_SETTINGS if k in settings}))


def settings_differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``["--max-new-tokens 8 (was 1024)", ...]`` for the model settings that differ.

    A key missing from ``previous`` (a run.json written by an older version) is not compared.
    """
    old, new = _model_settings(previous), _model_settings(current)
    return [
        f"{flag} {json.dumps(new.get(key))} (was {json.dumps(old[key])})"
        for key, flag in MODEL_SETTINGS.items()
        if key in old and old[key] != new.get(key)
    ]


def _read_run_file(run_file: Path) -> dict[str, Any] | None:
    """The previous run.json, or None (with a warning) when it is missing or unreadable."""
    if not run_file.is_file():
        logger.warning("%s not found: cannot check that the resumed run uses the same settings", run_file)
        return None
    try:
        data = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("%s: unreadable (%s): cannot check the resumed run's settings", run_file, exc)
        return None
    if not isinstance(data, dict):
        logger.warning("%s: not a JSON object: cannot check the resumed run's settings", run_file)
        return None
    return data


def _check_resume(
    writer: PredictionWriter, run_file: Path, settings: dict[str, Any], *, allow_mixed: bool
) -> None:
    """Compare the model settings with the previous run's; refuse a mix unless ``allow_mixed`` (then
    ``settings["mixed_settings"]`` lists every setting used)."""
    previous = _read_run_file(run_file)
    if previous is None:
        return
    diffs = settings_differences(previous, settings)
    mixed = [m for m in previous.get("mixed_settings") or [] if isinstance(m, dict)]
    if diffs and not allow_mixed:
        raise MixedSettingsError(writer.path, len(writer.done_ids), diffs)
    if diffs or mixed:
        seen = mixed or [_model_settings(previous)]
        if _model_settings(settings) not in seen:
            seen.append(_model_settings(settings))
        settings["mixed_settings"] = seen
    if diffs:
        logger.warning("%s: mixing settings (allowed): %s", writer.path, "; ".join(diffs))


def _predict_loop(
    benchmark: Benchmark,
    pipeline: Pipeline,
    todo: set[str],
    *,
    loop: str,
    batch_size: int,
    concurrency: int,
    seg_workers: int | None,
) -> Iterator[tuple[Any, Result]]:
    """The ``(sample id, Result)`` iterator of the chosen loop over the samples in ``todo``."""
    items = (
        StreamItem(
            key=sample.id,
            image_key=sample.image,
            source=lambda s=sample: benchmark.load_image(s, max_pixels=pipeline.max_pixels),
            query=sample.query,
        )
        for sample in benchmark
        if sample.id in todo
    )
    if loop == "sequential":
        return sequential_predictions(pipeline, items, batch_size=batch_size)
    return stream_predictions(
        pipeline,
        items,
        concurrency=concurrency,
        seg_workers=default_seg_workers(seg_workers, pipeline.segmenter),
    )


def run_predictions(
    benchmark: Benchmark,
    pipeline: Pipeline | Callable[[], Pipeline],
    out: str | Path,
    *,
    shard: tuple[int, int] | None = None,
    limit: int | None = None,
    settings: Mapping[str, Any] | None = None,
    loop: Literal["stream", "sequential"] = "stream",
    batch_size: int = 8,
    concurrency: int = 64,
    seg_workers: int | None = None,
    overwrite: bool = False,
    allow_mixed: bool = False,
    progress: bool = False,
    source: str | Path | None = None,
    say: Callable[[str], None] | None = None,
) -> PredictReport:
    """Predict the selected samples of ``benchmark`` into ``out`` (``predictions.jsonl``), resuming it.

    Args:
        benchmark: the benchmark, opened with its split (e.g. by
            :func:`pixelthink.data.resolve.open_benchmark`).
        pipeline: the pipeline, or a zero-argument function that builds it: called only when some
            selected sample is left to predict (a finished run loads no model).
        out: the predictions file; ``OUT_STEM.run.json`` beside it records the run (:func:`run_file_for`).
        shard: ``(i, n)``: only the samples with ``crc32(id) % n == i``; limit: only the first selected.
        settings: what made the predictions, recorded in run.json (the :data:`MODEL_SETTINGS` keys are
            compared when resuming; give ``resolution`` as the number used, not ``"auto"``).
        loop: ``"stream"`` (:func:`~pixelthink.pipeline.streaming.stream_predictions`) or
            ``"sequential"`` (:func:`~pixelthink.pipeline.streaming.sequential_predictions`, batches of
            ``batch_size`` in benchmark order).
        batch_size, concurrency, seg_workers: as those loops take them (``seg_workers`` None: one process
            per usable core for GrabCut, :func:`~pixelthink.pipeline.streaming.seg_workers`).
        overwrite: start over instead of resuming; allow_mixed: resume even with other model settings.
        progress: show a progress bar (tqdm, on stderr).
        source: how the benchmark is named in messages and run.json's ``data`` (default: its directory).
        say: receives the one line a person running it wants before the work starts (the resume note).

    Returns: a :class:`PredictReport`. The per-sample images are read with ``pipeline.max_pixels``.

    Raises:
        ValueError: no sample selected (names the benchmark, split and shard).
        MixedSettingsError: resuming ``out`` made with other model settings without ``allow_mixed``.
        OutputLockedError: another process writes ``out``.
    """
    from pixelthink.predictions import PredictionWriter

    if loop not in ("stream", "sequential"):
        raise ValueError(f"loop must be 'stream' or 'sequential', got {loop!r}")
    out = Path(out)
    name = str(source if source is not None else benchmark.root)
    selected = select_ids(benchmark, shard=shard, limit=limit)
    if not selected:
        where = f" in split {benchmark.split!r}" if benchmark.split else ""
        part = f" of shard {shard[0]}/{shard[1]}" if shard else ""
        raise ValueError(f"{name}: no samples{where}{part}")
    shard_text = None if shard is None else f"{shard[0]}/{shard[1]}"
    recorded: dict[str, Any] = {"data": name, "split": benchmark.split, "shard": shard_text, "limit": limit}
    recorded |= {"selected": len(selected), **(settings or {}), "batch_size": batch_size, "loop": loop}
    recorded |= {"concurrency": concurrency if loop == "stream" else None, "seg_workers": seg_workers}
    recorded["versions"] = versions(loaded=("torch", "transformers", "cv2"))
    report = PredictReport(out=out, run_file=run_file_for(out), selected=len(selected))
    with PredictionWriter(out, resume=not overwrite, overwrite=overwrite) as writer:
        if writer.done_ids:
            _check_resume(writer, report.run_file, recorded, allow_mixed=allow_mixed)
        # written now so that an interrupted run can be resumed with its settings checked
        started = recorded | {"finished": None, "written": 0, "failed": 0, "seconds": None}
        atomic_write_text(report.run_file, json.dumps(started, indent=2) + "\n")
        report.already = len(set(selected) & writer.done_ids)
        if report.already and say is not None:
            say(f"resuming {out}: {report.already} of {len(selected)} selected samples already done")
        start = time.perf_counter()
        if report.already < len(selected):
            built = pipeline if isinstance(pipeline, Pipeline) else pipeline()
            todo = set(selected) - writer.done_ids  # a snapshot: the writer adds ids while samples are read
            loop_options = {"batch_size": batch_size, "concurrency": concurrency, "seg_workers": seg_workers}
            results = _predict_loop(benchmark, built, todo, loop=loop, **loop_options)
            _write(writer, results, report, progress=progress)
        report.seconds = time.perf_counter() - start
        report.settings = recorded | {
            "versions": versions(
                loaded=("torch", "transformers", "cv2")
            ),  # torch / transformers are imported by now if the run used them
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "written": report.written,
            "failed": report.failed,
            "seconds": round(report.seconds, 3),
        }
        atomic_write_text(report.run_file, json.dumps(report.settings, indent=2) + "\n")  # under the lock
    return report


def _write(
    writer: PredictionWriter, results: Iterator[tuple[Any, Result]], report: PredictReport, *, progress: bool
) -> None:
    """Write each result as it comes and count it (and its failure, by the stage that failed)."""
    from tqdm import tqdm

    with tqdm(
        total=report.selected, initial=report.already, unit="sample", desc="predict", disable=not progress
    ) as bar:
        for sample_id, result in results:
            writer.write(result.to_prediction(sample_id))
            _count(report, sample_id, result)
            bar.update(1)


def _count(report: PredictReport, sample_id: str, result: Result) -> None:
    """Count one written prediction (and its failure, by the stage that failed)."""
    report.written += 1
    if result.error is not None:
        report.failed += 1
        stage = result.error_stage or "unknown"
        report.errors[stage] = report.errors.get(stage, 0) + 1
        logger.debug("sample %s failed: %s", sample_id, result.error)
