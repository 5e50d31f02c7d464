#!/usr/bin/env bash
# Reproduce the shipped tiny PixelThink model (docs/TINY_MODEL.md) with the project's own commands:
#   1. generate the data        pixelthink data shapes (recognition sets, 1-2 and 3-4-shape scenes, benchmark)
#   2. SFT stage 1 (recognition) pixelthink train sft --config "$RECIPES/sft_recognition.yaml", once per
#                                rung of REC_CHAIN (names-only captions of 1-shape images)
#   3. SFT stage 2 (captions)   pixelthink train sft --config "$RECIPES/sft_caption.yaml", once per rung
#                                of CAPTION_CHAIN (names + boxes; 1-2 shapes, then 3-4, then the benchmark)
#   4. SFT stage 3 (referring)  pixelthink train sft --config "$RECIPES/sft_refer.yaml", once per rung of
#                                REFER_CHAIN (query -> "<think>the red star</think><answer>{box}</answer>")
#   5. SFT stage 4 (task)       pixelthink train sft --config "$RECIPES/sft.yaml"
#   6. GRPO, twice              pixelthink train grpo --config "$RECIPES"/grpo_{segzero,pixelthink}.yaml
#   7. evaluate all three       pixelthink predict + pixelthink eval (test split, GrabCut, lisa)
#   8. package                  scripts/package_tiny_model.py (model + eval results + model card)
# About 2 h 10 min on 2 CPU cores. Every stage is skipped when its output is complete and
# resumes from its last checkpoint when it is not, so an interrupted run continues where it stopped.
#
# Settings (environment variables; the defaults are the shipped model's):
#   RECIPES=recipes/shapes_tiny   OUT=runs/reproduce
#   WARMUP_N=6000 MID_N=4000 TRAIN_N=3000 TEST_N=300 REC_N=6000 SCALE_N=4000   (data sizes)
#   REC_STEPS= CAPTION_STEPS= REFER_STEPS= (set: every rung of that chain runs this many steps
#                                           instead of the chain's own numbers)
#   SFT_STEPS=1500 GRPO_STEPS=200
#   PARALLEL=1 (run the two GRPO jobs at once, one core each)
#   THREADS=$(nproc) (torch threads of the stages that run alone: data, SFT, evaluation)
#   INSTALL=0 (1: copy the packaged model over src/pixelthink/assets/tiny_model)
#   PIXELTHINK, PYTHON: the CLI and Python to call (default: .venv/bin/ ones if present, else PATH's)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-runs/reproduce}
RECIPES=${RECIPES:-recipes/shapes_tiny}
WARMUP_N=${WARMUP_N:-6000}
MID_N=${MID_N:-4000}
TRAIN_N=${TRAIN_N:-3000}
TEST_N=${TEST_N:-300}
REC_N=${REC_N:-6000}
SCALE_N=${SCALE_N:-4000}
REC_STEPS=${REC_STEPS:-}
CAPTION_STEPS=${CAPTION_STEPS:-}
REFER_STEPS=${REFER_STEPS:-}
SFT_STEPS=${SFT_STEPS:-1500}
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
shapes() {  # shapes OUT_DIR SEED N_TRAIN N_TEST [data shapes options...]: generate unless complete
    [[ -f "$1/samples.jsonl" ]] || $PIXELTHINK data shapes --world rich --out "$1" --seed "$2" --size 224x224 \
        --train "$3" --val 0 --test "$4" --no-progress "${@:5}"
}
# chain RECIPE STEPS_OVERRIDE RUNG...: train each rung "name sets steps" (sets: comma-separated
# datasets under $OUT, read into one training set) from the previous rung ($prev; the first rung of the
# whole curriculum builds the model and its tokenizer). Leaves $prev at the chain's last rung.
prev=
chain() {
    local recipe=$1 override=$2 rung name sets steps paths
    shift 2
    for rung in "$@"; do
        read -r name sets steps <<< "$rung"
        paths=$(printf "$OUT/%s, " ${sets//,/ })
        local from=("model.tiny.tokenizer_from=[$OUT/warmup, $OUT/bench]")  # the first rung builds
        [[ -n "$prev" ]] && from=(model.path="$OUT/$prev")
        done_model "$OUT/$name" || $PIXELTHINK train sft --config "$RECIPES/$recipe" \
            output_dir="$OUT/$name" "data.path=[${paths%, }]" trainer.max_steps="${override:-$steps}" "${from[@]}"
        prev=$name
    done
}
start=$(date +%s)
mkdir -p "$OUT"

say "1/8 data -> $OUT/warmup, $OUT/mid, $OUT/bench, $OUT/rec/*"
direct=(--families direct_kind,direct_attr)  # "the star", "the blue star": one fact picks the target
shapes "$OUT/warmup" 1 "$WARMUP_N" 0 "${direct[@]}" --max-shapes 2   # 1-2 shapes
shapes "$OUT/mid" 2 "$MID_N" 0 "${direct[@]}" --max-shapes 4         # 3-4 shapes
shapes "$OUT/bench" 0 "$TRAIN_N" "$TEST_N"
one=(--families direct_kind --max-shapes 1)  # recognition sets: one shape, named by kind
shapes "$OUT/rec/crop" 11 "$REC_N" 0 "${one[@]}" --crop-window 2                    # centred, frame-filling
shapes "$OUT/rec/jit" 12 "$REC_N" 0 "${one[@]}" --crop-window 2 --crop-jitter 0.5   # shifted
shapes "$OUT/rec/w3" 13 "$REC_N" 0 "${one[@]}" --crop-window 3 --crop-jitter 1      # smaller, shifted more
shapes "$OUT/rec/big" 9 "$SCALE_N" 0 "${one[@]}" --shape-scale 2.5                  # whole image, 2.5x sizes
shapes "$OUT/rec/s15" 10 "$SCALE_N" 0 "${one[@]}" --shape-scale 1.5                 # whole image, 1.5x
shapes "$OUT/rec/one" 7 "$REC_N" 0 "${one[@]}"                                      # benchmark sizes

# The curricula: rung name, its data (a replay mix of the earlier sets), steps.
REC_CHAIN=(
    "rec_crop rec/crop 600"
    "rec_jit rec/jit 500"
    "rec_w3 rec/w3 500"
    "rec_mix rec/crop,rec/jit,rec/w3,rec/big 600"
    "rec_mix2 rec/crop,rec/jit,rec/w3,rec/big 1200"
    "rec_mix3 rec/crop,rec/jit,rec/w3,rec/big,rec/s15,rec/one 1500"
    "rec_mix4 rec/crop,rec/jit,rec/w3,rec/big,rec/s15,rec/one 1500"
)
CAPTION_CHAIN=(
    "cap_mix warmup,bench,rec/one,rec/s15,rec/w3 1500"   # boxes on every kind of scene, names replayed
    "cap_2 warmup 1200"                                  # 1-2 shapes: binds each name to its own box
    "cap_4 warmup,mid 1800"                              # + 3-4 shapes
    "cap_bench bench,mid 1200"                           # + the benchmark's 3-6 shapes
)
REFER_CHAIN=(
    "refer_2 warmup 800"                                # read the query on 1-2-shape scenes
    "refer_bench bench,warmup 800"                      # then on the benchmark's queries
)
say "2/8 SFT stage 1 (recognition: names-only captions of 1-shape images, ${#REC_CHAIN[@]} rungs) -> $OUT/rec_*"
chain sft_recognition.yaml "$REC_STEPS" "${REC_CHAIN[@]}"

say "3/8 SFT stage 2 (captions with boxes, ${#CAPTION_CHAIN[@]} rungs) -> $OUT/cap_*"
chain sft_caption.yaml "$CAPTION_STEPS" "${CAPTION_CHAIN[@]}"

say "4/8 SFT stage 3 (referring: the target's name, then its box; ${#REFER_CHAIN[@]} rungs) -> $OUT/refer_*"
chain sft_refer.yaml "$REFER_STEPS" "${REFER_CHAIN[@]}"

say "5/8 SFT stage 4 (task, $SFT_STEPS steps) -> $OUT/sft"
done_model "$OUT/sft" || $PIXELTHINK train sft --config "$RECIPES/sft.yaml" \
    output_dir="$OUT/sft" model.path="$OUT/$prev" data.path="$OUT/bench" trainer.max_steps="$SFT_STEPS"

say "6/8 GRPO x2 (segzero, pixelthink; $GRPO_STEPS steps each) -> $OUT/grpo_*"
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

say "7/8 evaluate on the test split (GrabCut, lisa) -> $OUT/eval"
mkdir -p "$OUT/eval"
for run in sft grpo_segzero grpo_pixelthink; do
    model="$OUT/$run"
    $PIXELTHINK predict --data "$OUT/bench" --split test --reasoner "$model" --segmenter grabcut \
        --max-new-tokens 320 --batch-size 16 --out "$OUT/eval/$run.predictions.jsonl" --no-progress
    $PIXELTHINK eval --data "$OUT/bench" --split test --predictions "$OUT/eval/$run.predictions.jsonl" \
        --convention lisa --tokenizer "$model" --out "$OUT/eval/$run.eval.json" --no-progress
done

say "8/8 package -> $OUT/package"
install_flag=()
[[ "$INSTALL" == 1 ]] && install_flag=(--install)
$PYTHON scripts/package_tiny_model.py --run "$OUT" --out "$OUT/package" "${install_flag[@]}"
say "done in $(( ($(date +%s) - start) / 60 )) min"
