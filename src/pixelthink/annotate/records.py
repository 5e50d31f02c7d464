"""The one shape of a failed annotation record, shared by every annotation job.

A job (difficulty by heuristic, pass rate or judge; references by judge) returns one record per sample;
a sample it cannot annotate gets a *failed* record that names what failed in a field of its own
(``"failure"``), so that the run's summary counts failures by kind without reading the error text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FAILURES", "failed_record"]

#: what a failed record failed at (its ``"failure"`` field): the query, the image, the target (no box),
#: the request to a model, or a reply no parser accepted
FAILURES = ("query", "image", "target", "request", "reply")


def failed_record(failure: str, errors: Sequence[str], **fields: Any) -> dict[str, Any]:
    """``{"status": "failed", "failure": FAILURE, "errors": [...], **fields}``: ``failure`` one of
    :data:`FAILURES` (counted by the run's summary), ``errors`` what happened, in words."""
    if failure not in FAILURES:
        raise ValueError(f"failure must be one of {FAILURES}, got {failure!r}")
    return {"status": "failed", "failure": failure, "errors": list(errors), **fields}
