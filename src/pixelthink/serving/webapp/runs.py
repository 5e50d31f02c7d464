"""The run browser of ``pixelthink app``: one benchmark + predictions (+ evaluation) named on the command
line, paged and filtered by difficulty bucket, IoU range and failure.

The evaluation is the report's (:func:`pixelthink.report.builder.make_run`: the given eval JSON, or
``pixelthink eval``'s defaults when none is given) and the pictures are the report gallery's
(:func:`pixelthink.report.gallery.draw_example`): prediction over the image, GT contour. Only the files
given at start-up are ever opened: requests name samples by id, never by path.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from pixelthink.evaluate.results import BUCKET_ORDER, SampleResult

__all__ = ["FAILED_CHOICES", "RunBrowser", "RunFilter"]

FAILED_CHOICES = ("any", "failed", "ok")


@dataclass(frozen=True)
class RunFilter:
    """Which samples to list: bucket (None = all), IoU in [iou_min, iou_max], failed / ok / any."""

    bucket: str | None = None
    iou_min: float = 0.0
    iou_max: float = 1.0
    failed: str = "any"

    def keep(self, r: SampleResult) -> bool:
        if self.bucket is not None and r.bucket != self.bucket:
            return False
        if self.failed == "failed" and not r.failed:
            return False
        if self.failed == "ok" and r.failed:
            return False
        iou = 0.0 if r.iou is None else float(r.iou)
        return self.iou_min <= iou <= self.iou_max


class RunBrowser:
    """A loaded run: the benchmark, the predictions and per-sample evaluation results, in file order.

    Args:
        data: benchmark directory (any layout ``--data`` accepts).
        predictions: ``predictions.jsonl``.
        eval_report: ``pixelthink eval`` JSON of these predictions, or None to evaluate them here.
    """

    def __init__(
        self,
        data: str | os.PathLike[str],
        predictions: str | os.PathLike[str],
        eval_report: str | os.PathLike[str] | None = None,
    ) -> None:
        from pixelthink.data.resolve import open_benchmark
        from pixelthink.evaluate.runner import parse_response_frame
        from pixelthink.report.builder import load_eval_report, make_run

        report = None if eval_report is None else load_eval_report(eval_report)
        split = report.settings.get("split") if report is not None else None
        self.bench = open_benchmark(data, split=split)
        self.notes: list[str] = []
        run = make_run(None, self.bench, set(self.bench.ids()), predictions, report, {}, self.notes)
        self.name = run.name
        self.report = run.report
        self.predictions = run.predictions
        self.results: list[SampleResult] = list(run.report.samples)
        self.by_id = {r.id: r for r in self.results}
        self.frame = parse_response_frame(run.report.settings.get("response_frame", 840))

    def summary(self) -> dict[str, Any]:
        """Name, convention, sample counts per bucket and the bucket table's gIoU / cIoU / fail rate."""
        buckets = [b for b in BUCKET_ORDER if b in self.report.buckets]
        table = {}
        for b in buckets:
            row = self.report.buckets[b]
            table[b] = {"n": row.n, "giou": row.giou, "ciou": row.ciou, "fail_rate": row.fail_rate}
        return {
            "name": self.name,
            "samples": len(self.results),
            "convention": self.report.settings.get("convention"),
            "buckets": table,
            "notes": self.notes,
        }

    def select(self, rule: RunFilter, offset: int = 0, limit: int = 24) -> tuple[int, list[dict[str, Any]]]:
        """(number of matches, the items of one page) for ``rule``."""
        from pixelthink.report.gallery import describe_prediction

        hits = [r for r in self.results if rule.keep(r)]
        page = []
        for r in hits[offset : offset + limit]:
            sample = self.bench.get(r.id)
            pred = self.predictions.get(r.id)
            page.append(
                {
                    "id": r.id,
                    "query": sample.query,
                    "bucket": r.bucket,
                    "difficulty": r.difficulty,
                    "iou": r.iou,
                    "failed": r.failed,
                    "failure": r.failure,
                    "error": None if pred is None else pred.error,
                    "tokens": r.tokens,
                    "uncertainty": r.uncertainty,
                    "facts": {k: str(v) for k, v in describe_prediction(pred).items()},
                }
            )
        return len(hits), page

    def picture(self, sample_id: str, max_side: int = 480) -> bytes:
        """The report gallery's picture of one sample, as PNG bytes.

        Raises:
            KeyError: ``sample_id`` is not in the run.
            FileNotFoundError / ValueError: its image is missing or cannot be decoded.
        """
        from pixelthink.report.gallery import draw_example

        if sample_id not in self.by_id:
            raise KeyError(sample_id)
        sample = self.bench.get(sample_id)
        pic = draw_example(
            self.bench,
            sample,
            self.predictions.get(sample_id),
            max_side=max_side,
            response_frame=self.frame,
        )
        buffer = io.BytesIO()
        pic.save(buffer, format="PNG")
        return buffer.getvalue()
