#!/usr/bin/env bash
# Usage: experiments/tiny_model/eval_grabcut.sh CKPT RES BENCH OUTDIR [LIMIT]
# pixelthink predict (GrabCut segmenter, model frame RES x RES) on the test split, then pixelthink eval (lisa).
set -euo pipefail
CKPT=$1; RES=$2; BENCH=$3; OUT=$4; LIMIT=${5:-300}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
.venv/bin/pixelthink predict --data "$BENCH" --split test --out "$OUT/predictions.jsonl" \
  --reasoner "$CKPT" --segmenter grabcut --resolution "$RES" --max-new-tokens 384 --device cpu \
  --batch-size 16 --limit "$LIMIT" --no-progress
.venv/bin/pixelthink eval --data "$BENCH" --split test --predictions "$OUT/predictions.jsonl" \
  --convention lisa --out "$OUT/report.json" --tokenizer "$CKPT" --no-progress
