"""Round 7. A copy of a shapes benchmark whose reference reasoning is only the target's name
("the red star"), short and long alike, so that task SFT learns query -> name -> box at a short,
fixed distance (does the long reasoning keep the tiny model from binding the query to the box?).
Images are symlinked. Usage: python experiments/tiny_model/make_named.py SRC DST
"""

import json
import os
import shutil
import sys

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
if not os.path.lexists(f"{dst}/images"):
    os.symlink(os.path.abspath(f"{src}/images"), f"{dst}/images")
n = 0
with open(f"{src}/samples.jsonl") as f, open(f"{dst}/samples.jsonl", "w") as out:
    for line in f:
        r = json.loads(line)
        t = r["source"]["target"]
        r["reasoning_short"] = r["reasoning_long"] = f"the {t['colour']} {t['kind']}"
        out.write(json.dumps(r) + "\n")
        n += 1
shutil.copy(f"{src}/meta.json", f"{dst}/meta.json")
print(f"wrote {n} samples to {dst}")
