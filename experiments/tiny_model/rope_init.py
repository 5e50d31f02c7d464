"""Build a random tiny Qwen2.5-VL (round-2 study settings) with a given RoPE base and M-RoPE split.

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/tiny_model/rope_init.py OUT TOKENIZER_DIR RES THETA T H W [INIT]

The tokenizer is loaded from TOKENIZER_DIR (e.g. a round-2 run's ``model`` folder) so that the model
matches the trained runs; run ``pos_probe.py OUT RES BENCH`` on the result to probe row/column at init.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_model


def main() -> None:
    from transformers import AutoTokenizer

    out, tok_dir, res, theta = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    section = [int(v) for v in sys.argv[5:8]]
    tok = AutoTokenizer.from_pretrained(tok_dir)
    init = float(sys.argv[8]) if len(sys.argv) > 8 else 0.02
    build_model(
        out, tok, hidden=128, layers=4, res=res, init_range=init, rope_theta=theta, mrope_section=section
    )
    print(f"built {out}: res {res}, rope_theta {theta}, mrope_section {section}")


if __name__ == "__main__":
    main()
