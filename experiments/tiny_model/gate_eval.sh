#!/usr/bin/env bash
# Gate 1 of issue 30: box on target and faithfulness of one checkpoint on the held-out gate split.
# usage: bash experiments/tiny_model/gate_eval.sh MODEL_DIR NAME [BENCH]   (writes runs/gate/eval/NAME.*)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=$1 name=$2 bench=${3:-runs/gate/test}
mkdir -p runs/gate/eval
OMP_NUM_THREADS=${THREADS:-1} .venv/bin/pixelthink predict --data "$bench" --split test --reasoner "$model" \
    --segmenter box --max-new-tokens 400 --batch-size 16 --seg-workers 1 \
    --out "runs/gate/eval/$name.jsonl" --overwrite --no-progress > "runs/gate/eval/$name.log" 2>&1
.venv/bin/python experiments/tiny_model/box_hits.py "$bench" "runs/gate/eval/$name.jsonl" | tee "runs/gate/eval/$name.hits.txt"
