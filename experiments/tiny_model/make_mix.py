"""Round 6. Concatenate the train splits of several benchmarks into one (replay mix of the
recognition rungs); ids and image names get the benchmark's tag, images are symlinked.

Usage (the round-6 MIX / MIX3 data):
  python experiments/tiny_model/make_mix.py runs/s6/mix crop=runs/s6/crop jit=runs/s6/jit w3=runs/s6/w3 big=runs/s6/big
  python experiments/tiny_model/make_mix.py runs/s6/mix2 crop=runs/s6/crop jit=runs/s6/jit w3=runs/s6/w3 \
      big=runs/s6/big s15=runs/s6/s15 s10=runs/s6/one6k
(big = data shapes --families direct_kind --max-shapes 1 --shape-scale 2.5 --seed 9, s15 = the same
with --shape-scale 1.5 --seed 10.)
"""

from __future__ import annotations

import json
import os
import shutil
import sys


def main() -> None:
    dst, parts = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    os.makedirs(f"{dst}/images", exist_ok=True)
    n = 0
    with open(f"{dst}/samples.jsonl", "w") as out:
        for tag, src in parts:
            with open(f"{src}/samples.jsonl") as f:
                for line in f:
                    r = json.loads(line)
                    if r["split"] != "train":
                        continue
                    name = f"{tag}-{os.path.basename(r['image'])}"
                    link = f"{dst}/images/{name}"
                    if not os.path.lexists(link):
                        os.symlink(os.path.abspath(f"{src}/{r['image']}"), link)
                    r["id"], r["image"] = f"{tag}-{r['id']}", f"images/{name}"
                    out.write(json.dumps(r) + "\n")
                    n += 1
    shutil.copy(f"{parts[0][1]}/meta.json", f"{dst}/meta.json")
    print(f"wrote {n} samples to {dst}")


if __name__ == "__main__":
    main()
