"""Round 7. Does a model read the query? From pixelthink predictions on a shapes benchmark, over the
samples whose query has exactly one kind word: the share whose first kind written (after "The query
asks for" when the answer has it) is the query's, the share whose named target ("So the target is the
C K" or "<think>the C K</think>") is exactly the true one, and the box IoU.

Usage: python experiments/tiny_model/query_probe.py PREDICTIONS.jsonl BENCH
"""

import json
import re
import sys

KINDS = ["circle", "ellipse", "square", "triangle", "hexagon", "star", "cross"]


def read_jsonl(path: str) -> dict[str, dict]:
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return {r["id"]: r for r in rows}


def iou(a: list[float] | None, b: list[float]) -> float:
    if a is None:
        return 0.0
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0


def main() -> None:
    pred, gt = read_jsonl(sys.argv[1]), read_jsonl(sys.argv[2] + "/samples.jsonl")
    n = copied = named = 0
    ious = []
    for k, p in pred.items():
        d = gt[k]
        qk = [w for w in KINDS if w in d["query"]]
        if len(qk) != 1:
            continue
        r = p["response"]
        body = r.split("The query asks for", 1)[1] if "The query asks for" in r else r
        kinds = [w for w in re.findall(r"[a-z]+", body) if w in KINDS]
        t = d["source"]["target"]
        m = re.search(r"So the target is (?:the )?(\w+) (\w+)", r) or re.search(
            r"<think>the (\w+) (\w+)</think>", r
        )
        n += 1
        copied += kinds[:1] == qk
        named += bool(m and m.group(1) == t["colour"] and m.group(2) == t["kind"])
        ious.append(iou(p["bbox"], d["bbox"]))
    print(
        f"{sys.argv[1]} n {n} query kind copied {copied / n:.2f} target named {named / n:.2f} "
        f"box IoU {sum(ious) / n:.3f} IoU>0.5 {sum(i > 0.5 for i in ious) / n:.2f}"
    )


if __name__ == "__main__":
    main()
