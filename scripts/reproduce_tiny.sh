#!/usr/bin/env bash
# Reproduce the shipped tiny PixelThink model (docs/TINY_MODEL.md) with the project's own commands:
#   1. generate the data   pixelthink data shapes (simple world): the benchmark (train), direct queries, task
#                          queries, and the test split: its own benchmark and seed, never used in training
#   2. tower               pixelthink train tower --config "$RECIPES/tower.yaml" (builds the model; the
#                          vision tower learns colour, kind, box and centre of the shape at every image token)
#   3. referring SFT       pixelthink train sft --config "$RECIPES/refer.yaml" (tower frozen; query ->
#                          "<think>the red star</think><answer>{box}</answer>")
#   4. task SFT            pixelthink train sft --config "$RECIPES/task.yaml" (long/short references), and the
#                          no-reasoning baseline: the same with name-only answers ("$RECIPES/task_name.yaml")
#   5. GRPO, twice         pixelthink train grpo --config "$RECIPES"/grpo_{segzero,pixelthink}.yaml
#   6. evaluate all four   pixelthink predict + pixelthink eval (test split, GrabCut, lisa; chance, oracle,
#                          intervals, faithfulness)
#   7. package             scripts/package_tiny_model.py (model + eval results + model card)
# Every stage is skipped when its output is complete and resumes from its last checkpoint when it is
# not, so an interrupted run continues where it stopped.
#
# Settings (environment variables; the defaults are the shipped model's):
#   RECIPES=recipes/shapes_tiny   OUT=runs/reproduce
#   TRAIN_N=3000 TEST_N=1000 DIRECT_N=20000 TASK_N=20000   (data sizes)
#   TEST_SEED=1000 (the test benchmark's own seed; the training data use seeds 0, 1 and 2)
#   NAME_BASELINE=1 (0: skip the no-reasoning SFT baseline)
#   REFERENCES=grounded (the references' style of the generated data: grounded | text)
#   TOWER_STEPS=1500 REFER_STEPS=3000 SFT_STEPS=2000 GRPO_STEPS=200
#   PARALLEL=1 (run the two task SFT jobs, and the two GRPO jobs, at once, one core each)
#   MAX_NEW_TOKENS=448 (the evaluation's generation limit; the longest grounded reference + answer is ~415
#                       tokens, the GRPO recipes' max_completion_length is the same)
#   THREADS=1 (torch threads of the stages that run alone; the shipped model was trained with 1)
#   INSTALL=0 (1: copy the packaged model over src/pixelthink/assets/tiny_model)
#   PIXELTHINK, PYTHON: the CLI and Python to call (default: .venv/bin/ ones if present, else PATH's)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/reproduce}
RECIPES=${RECIPES:-recipes/shapes_tiny}
TRAIN_N=${TRAIN_N:-3000}
TEST_N=${TEST_N:-1000}
TEST_SEED=${TEST_SEED:-1000}
NAME_BASELINE=${NAME_BASELINE:-1}
DIRECT_N=${DIRECT_N:-20000}
TASK_N=${TASK_N:-20000}
TOWER_STEPS=${TOWER_STEPS:-1500}
REFER_STEPS=${REFER_STEPS:-3000}
SFT_STEPS=${SFT_STEPS:-2000}
GRPO_STEPS=${GRPO_STEPS:-200}
PARALLEL=${PARALLEL:-1}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-448}
INSTALL=${INSTALL:-0}
if [[ -x .venv/bin/pixelthink ]]; then venv_bin=.venv/bin/; else venv_bin=; fi  # make venv's, else PATH's
PIXELTHINK=${PIXELTHINK:-${venv_bin}pixelthink}
PYTHON=${PYTHON:-${venv_bin}python}
THREADS=${THREADS:-1}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
export TOKENIZERS_PARALLELISM=false

say() { printf '\n== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
done_model() { [[ -f "$1/model.safetensors" && -f "$1/pixelthink_recipe.yaml" ]]; }
REFERENCES=${REFERENCES:-grounded}  # grounded chains (issue 30, docs/SHAPES.md): every shape the reasoning
#                                   names carries its box; the models before 2026-12-07 used text references
shapes() {  # shapes OUT_DIR SEED N_TRAIN N_TEST [data shapes options...]: generate unless complete
    [[ -f "$1/samples.jsonl" ]] || $PIXELTHINK data shapes --world simple --out "$1" --seed "$2" \
        --train "$3" --val 0 --test "$4" --references "$REFERENCES" --no-progress "${@:5}"
}
start=$(date +%s)
mkdir -p "$OUT"

say "1/7 data (simple world) -> $OUT/bench, $OUT/direct, $OUT/task, $OUT/test"
shapes "$OUT/bench" 0 "$TRAIN_N" 0                                            # every family; GRPO's data
shapes "$OUT/direct" 1 "$DIRECT_N" 0 --families direct_kind=1,direct_attr=1   # "the star", "the blue star"
shapes "$OUT/task" 2 "$TASK_N" 0                                              # every family, more scenes
shapes "$OUT/test" "$TEST_SEED" 0 "$TEST_N"                                   # the test split, own seed
# what the package records (training/data.json) and the demo regenerates its test samples from
cat > "$OUT/data.json" <<EOF
{"world": "simple", "references": "$REFERENCES", "size": [256, 256],
 "bench": {"seed": 0, "train": $TRAIN_N}, "direct": {"seed": 1, "train": $DIRECT_N},
 "task": {"seed": 2, "train": $TASK_N}, "test": {"seed": $TEST_SEED, "test": $TEST_N}}
EOF

say "2/7 tower ($TOWER_STEPS steps; builds the model) -> $OUT/tower"
done_model "$OUT/tower" || $PIXELTHINK train tower --config "$RECIPES/tower.yaml" output_dir="$OUT/tower" \
    "model.tiny.tokenizer_from=[$OUT/bench]" data.path="$OUT/bench" trainer.max_steps="$TOWER_STEPS"

say "3/7 referring SFT ($REFER_STEPS steps, tower frozen) -> $OUT/refer"
done_model "$OUT/refer" || $PIXELTHINK train sft --config "$RECIPES/refer.yaml" output_dir="$OUT/refer" \
    model.path="$OUT/tower" data.path="$OUT/direct" trainer.max_steps="$REFER_STEPS"

say "4/7 task SFT ($SFT_STEPS steps) -> $OUT/sft (and the no-reasoning baseline -> $OUT/sft_name)"
sft() {  # sft NAME RECIPE: one task SFT job from the referring model, its log in $OUT/NAME.log when parallel
    done_model "$OUT/$1" || $PIXELTHINK train sft --config "$RECIPES/$2" output_dir="$OUT/$1" \
        model.path="$OUT/refer" data.path="$OUT/task" trainer.max_steps="$SFT_STEPS"
}
if [[ "$NAME_BASELINE" == 1 && "$PARALLEL" == 1 ]]; then  # the two at once, one core each
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 sft sft task.yaml > "$OUT/sft.log" 2>&1 & a=$!
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 sft sft_name task_name.yaml > "$OUT/sft_name.log" 2>&1 & b=$!
    wait $a || { echo "task SFT failed; see $OUT/sft.log" >&2; tail -20 "$OUT/sft.log" >&2; exit 1; }
    wait $b || { echo "no-reasoning SFT failed; see $OUT/sft_name.log" >&2; tail -20 "$OUT/sft_name.log" >&2; exit 1; }
else
    sft sft task.yaml
    # the same data, steps and seeds with the target's name as the reasoning
    if [[ "$NAME_BASELINE" == 1 ]]; then sft sft_name task_name.yaml; fi
fi

say "5/7 GRPO x2 (segzero, pixelthink; $GRPO_STEPS steps each) -> $OUT/grpo_*"
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

say "6/7 evaluate on the test split ($OUT/test; GrabCut, lisa) -> $OUT/eval"
mkdir -p "$OUT/eval"
runs=(sft grpo_segzero grpo_pixelthink)
[[ "$NAME_BASELINE" == 1 ]] && runs+=(sft_name)
for run in "${runs[@]}"; do
    model="$OUT/$run"
    $PIXELTHINK predict --data "$OUT/test" --split test --reasoner "$model" --segmenter grabcut \
        --max-new-tokens "$MAX_NEW_TOKENS" --batch-size 16 --out "$OUT/eval/$run.predictions.jsonl" --no-progress
    $PIXELTHINK eval --data "$OUT/test" --split test --predictions "$OUT/eval/$run.predictions.jsonl" \
        --convention lisa --tokenizer "$model" --out "$OUT/eval/$run.eval.json" --no-progress
done

say "7/7 package -> $OUT/package"
install_flag=()
[[ "$INSTALL" == 1 ]] && install_flag=(--install)
$PYTHON scripts/package_tiny_model.py --run "$OUT" --out "$OUT/package" "${install_flag[@]}"
say "done in $(( ($(date +%s) - start) / 60 )) min"
