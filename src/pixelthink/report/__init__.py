"""The human-readable HTML report of an evaluation: ``pixelthink report``.

``build_report(benchmark, predictions, out_dir, ...) -> Path`` writes ``out_dir/index.html`` (CSS
inline) with the per-bucket table, plots (PNG, matplotlib) and a gallery of examples (JPEG) next to it.
Sits above :mod:`pixelthink.evaluate`; matplotlib is imported only when plots are drawn.
"""

from pixelthink.report.builder import Run, build_report, load_eval_report, parse_compare_spec

__all__ = ["Run", "build_report", "load_eval_report", "parse_compare_spec"]
