#!/usr/bin/env bash
# Reproduce the shipped tiny PixelThink model (docs/TINY_MODEL.md) with the project's own commands:
#   1. generate the data      pixelthink data shapes (grounding warm-up set + the benchmark)
#   2. SFT stage 1 (captions) pixelthink train sft --config "$RECIPES/sft_caption.yaml"
#   3. SFT stage 2 (task)     pixelthink train sft --config "$RECIPES/sft.yaml"
#   4. GRPO, twice            pixelthink train grpo --config recipes/shapes_tiny/grpo_{segzero,pixelthink}.yaml
#   5. evaluate all three     pixelthink predict + pixelthink eval (test split, GrabCut, lisa)
#   6. package                scripts/package_tiny_model.py (model + eval results + model card)
# About 60 minutes on 2 CPU cores. Every stage is skipped when its output is complete and resumes from
# its last checkpoint when it is not, so an interrupted run continues where it stopped.
#
# Settings (environment variables; the defaults are the shipped model's):
#   RECIPES=recipes/shapes_tiny   OUT=runs/reproduce   WARMUP_N=6000 TRAIN_N=3000 TEST_N=300   WARMUP_STEPS=5000 SFT_STEPS=2500
#   GRPO_STEPS=200   PARALLEL=1 (run the two GRPO jobs at once, one core each)
#   THREADS=$(nproc) (torch threads of the stages that run alone: data, SFT, evaluation)
#   INSTALL=0 (1: copy the packaged model over src/pixelthink/assets/tiny_model)
#   PIXELTHINK, PYTHON: the CLI and Python to call (default: .venv/bin/ ones if present, else PATH's)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/reproduce}
RECIPES=${RECIPES:-recipes/shapes_tiny}
WARMUP_N=${WARMUP_N:-6000}
TRAIN_N=${TRAIN_N:-3000}
TEST_N=${TEST_N:-300}
WARMUP_STEPS=${WARMUP_STEPS:-5000}
SFT_STEPS=${SFT_STEPS:-2500}
GRPO_STEPS=${GRPO_STEPS:-200}
PARALLEL=${PARALLEL:-1}
INSTALL=${INSTALL:-0}
if [[ -x .venv/bin/pixelthink ]]; then venv_bin=.venv/bin/; else venv_bin=; fi  # make venv's, else PATH's
PIXELTHINK=${PIXELTHINK:-${venv_bin}pixelthink}
PYTHON=${PYTHON:-${venv_bin}python}
THREADS=${THREADS:-$(nproc 2>/dev/null || echo 1)}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export TOKENIZERS_PARALLELISM=false

say() { printf '\n== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
done_model() { [[ -f "$1/model.safetensors" && -f "$1/pixelthink_recipe.yaml" ]]; }
start=$(date +%s)
mkdir -p "$OUT"

say "1/6 data -> $OUT/warmup, $OUT/bench"
[[ -f "$OUT/warmup/samples.jsonl" ]] || $PIXELTHINK data shapes --out "$OUT/warmup" --seed 1 --size 224x224 \
    --train "$WARMUP_N" --val 0 --test 0 --families direct_kind,direct_attr --max-shapes 2 --no-progress
[[ -f "$OUT/bench/samples.jsonl" ]] || $PIXELTHINK data shapes --out "$OUT/bench" --seed 0 --size 224x224 \
    --train "$TRAIN_N" --val 0 --test "$TEST_N" --no-progress

say "2/6 SFT stage 1 (grounding: captions of simple scenes, $WARMUP_STEPS steps) -> $OUT/sft_caption"
done_model "$OUT/sft_caption" || $PIXELTHINK train sft --config "$RECIPES/sft_caption.yaml" \
    output_dir="$OUT/sft_caption" data.path="$OUT/warmup" "model.tiny.tokenizer_from=[$OUT/warmup, $OUT/bench]" \
    trainer.max_steps="$WARMUP_STEPS"

say "3/6 SFT stage 2 (task, $SFT_STEPS steps) -> $OUT/sft"
done_model "$OUT/sft" || $PIXELTHINK train sft --config "$RECIPES/sft.yaml" \
    output_dir="$OUT/sft" model.path="$OUT/sft_caption" data.path="$OUT/bench" trainer.max_steps="$SFT_STEPS"

say "4/6 GRPO x2 (segzero, pixelthink; $GRPO_STEPS steps each) -> $OUT/grpo_*"
grpo() {
    done_model "$OUT/grpo_$1" || $PIXELTHINK train grpo --config "$RECIPES/grpo_$1.yaml" \
        output_dir="$OUT/grpo_$1" model.path="$OUT/sft" data.path="$OUT/bench" trainer.max_steps="$GRPO_STEPS" \
        > "$OUT/grpo_$1.log" 2>&1 || { echo "GRPO $1 failed; see $OUT/grpo_$1.log" >&2; tail -20 "$OUT/grpo_$1.log" >&2; return 1; }
}
if [[ "$PARALLEL" == 1 ]]; then
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 grpo segzero & a=$!
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 grpo pixelthink & b=$!
    wait $a && wait $b
else
    grpo segzero
    grpo pixelthink
fi

say "5/6 evaluate on the test split (GrabCut, lisa) -> $OUT/eval"
mkdir -p "$OUT/eval"
for run in sft grpo_segzero grpo_pixelthink; do
    model="$OUT/$run"
    $PIXELTHINK predict --data "$OUT/bench" --split test --reasoner "$model" --segmenter grabcut \
        --max-new-tokens 320 --batch-size 16 --out "$OUT/eval/$run.predictions.jsonl" --no-progress
    $PIXELTHINK eval --data "$OUT/bench" --split test --predictions "$OUT/eval/$run.predictions.jsonl" \
        --convention lisa --tokenizer "$model" --out "$OUT/eval/$run.eval.json" --no-progress
done

say "6/6 package -> $OUT/package"
install_flag=()
[[ "$INSTALL" == 1 ]] && install_flag=(--install)
$PYTHON scripts/package_tiny_model.py --run "$OUT" --out "$OUT/package" "${install_flag[@]}"
say "done in $(( ($(date +%s) - start) / 60 )) min"
