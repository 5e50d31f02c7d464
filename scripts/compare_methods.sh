#!/usr/bin/env bash
# The method harness's table on the embedded miniature (docs/METHODS.md): every reward variant trained with
# GRPO from one SFT model, the inference-time baselines on that SFT model, all evaluated on one test split,
# and `pixelthink compare` over them.
#   1. data        the training benchmark of the recipes (TRAIN_BENCH; generated as scripts/reproduce_tiny.sh
#                  does when missing) and a test benchmark of TEST_N samples with its own seed (TEST_SEED)
#   2. GRPO        one run per method: segzero and pixelthink (recipes/shapes_tiny/grpo_*.yaml) and every
#                  recipes/shapes_tiny/methods/NAME.yaml, all from SFT_MODEL, same data, seeds and steps
#   3. evaluate    pixelthink predict + eval on the test split (GrabCut, lisa, the model's tokenizer) of the
#                  SFT model, of each GRPO model, and of the SFT model with the inference-time baselines:
#                  a think budget (--max-think-tokens BUDGET), the brevity and the no-think prompt
#   4. compare     pixelthink compare -> $OUT/compare/{index.html,compare.md,pareto.png}; the Markdown table
#                  replaces the one between the markers of $DOCS (docs/METHODS.md; DOCS= to leave it alone)
# Every stage is skipped when its output is complete (a GRPO run resumes from its last checkpoint).
#
# Settings (environment variables):
#   SFT_MODEL=runs/reproduce/sft (the task-SFT model of `make reproduce`; only the GRPO model is shipped)
#   START_LABEL=sft (the start model's name in the table, e.g. "shipped" when SFT_MODEL is the shipped model)
#   TRAIN_BENCH=runs/reproduce/bench  OUT=runs/methods  RECIPES=recipes/shapes_tiny
#   TEST_N=1000 TEST_SEED=1000  GRPO_STEPS=200  JOBS=2 (GRPO runs at once, one core each)
#   METHODS="segzero pixelthink l1_exact l1_max dapo_overlong thinkprune shorterbetter group_length think_or_not dr2seg"
#   BASELINES="budget brevity no_think"  BUDGET=58 (tokens; the recipes' easy budget is 58 words)
#   L1_TARGET=58 (the target L1-trained models are evaluated at, in words)  MAX_NEW_TOKENS=448 (predict)
#   GRPO_ARGS="key=value ..." (extra recipe overrides for every GRPO run, e.g. a shortened test)
#   REFERENCES=grounded (the generated benchmarks' reference style, as scripts/reproduce_tiny.sh's default)
#   SHIP=0 (1: also copy the evaluations, per bucket, to SHIP_DIR=src/pixelthink/assets/tiny_model/methods, the
#   method table of the demo's report)
#   DOCS=docs/METHODS.md  PIXELTHINK, PYTHON: the CLI and Python to call (default: .venv/bin/ ones if present)
set -euo pipefail
cd "$(dirname "$0")/.."

SFT_MODEL=${SFT_MODEL:-runs/reproduce/sft}
START_LABEL=${START_LABEL:-sft}
TRAIN_BENCH=${TRAIN_BENCH:-runs/reproduce/bench}
OUT=${OUT:-runs/methods}
RECIPES=${RECIPES:-recipes/shapes_tiny}
TEST_N=${TEST_N:-1000}
TEST_SEED=${TEST_SEED:-1000}
GRPO_STEPS=${GRPO_STEPS:-200}
JOBS=${JOBS:-2}
METHODS=${METHODS:-segzero pixelthink l1_exact l1_max dapo_overlong thinkprune shorterbetter group_length think_or_not dr2seg}
BASELINES=${BASELINES:-budget brevity no_think}
BUDGET=${BUDGET:-58}
L1_TARGET=${L1_TARGET:-58}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-448}
read -r -a grpo_args <<< "${GRPO_ARGS:-}"
DOCS=${DOCS-docs/METHODS.md}
REFERENCES=${REFERENCES:-grounded}
SHIP=${SHIP:-0}
SHIP_DIR=${SHIP_DIR:-src/pixelthink/assets/tiny_model/methods}
if [[ -x .venv/bin/pixelthink ]]; then venv_bin=.venv/bin/; else venv_bin=; fi
PIXELTHINK=${PIXELTHINK:-${venv_bin}pixelthink}
PYTHON=${PYTHON:-${venv_bin}python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} TOKENIZERS_PARALLELISM=false

say() { printf '\n== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
done_model() { [[ -f "$1/model.safetensors" && -f "$1/pixelthink_recipe.yaml" ]]; }
start=$(date +%s)
mkdir -p "$OUT/eval"
if ! done_model "$SFT_MODEL"; then
    echo "compare_methods.sh: SFT_MODEL=$SFT_MODEL is not a trained model (model.safetensors + pixelthink_recipe.yaml);" \
        "make one with \`make reproduce\` (its runs/reproduce/sft) or point SFT_MODEL at an SFT checkpoint" >&2
    exit 2
fi

say "1/4 data: training $TRAIN_BENCH, test $OUT/test ($TEST_N samples, seed $TEST_SEED)"
if [[ ! -f "$TRAIN_BENCH/samples.jsonl" ]]; then  # the recipes' benchmark, exactly as reproduce_tiny.sh makes it
    $PIXELTHINK data shapes --world simple --out "$TRAIN_BENCH" --seed 0 --train "${TRAIN_N:-3000}" --val 0 \
        --test 300 --references "$REFERENCES" --no-progress
fi
[[ -f "$OUT/test/samples.jsonl" ]] || $PIXELTHINK data shapes --world simple --out "$OUT/test" \
    --seed "$TEST_SEED" --train 0 --val 0 --test "$TEST_N" --references "$REFERENCES" --no-progress

recipe_of() { case "$1" in segzero|pixelthink) echo "$RECIPES/grpo_$1.yaml" ;; *) echo "$RECIPES/methods/$1.yaml" ;; esac; }
for m in $METHODS; do [[ -f "$(recipe_of "$m")" ]] || { echo "no recipe for method $m: $(recipe_of "$m")" >&2; exit 2; }; done

say "2/4 GRPO from $SFT_MODEL ($GRPO_STEPS steps each, $JOBS at a time): $METHODS"
grpo() {
    local m=$1 t0
    t0=$(date +%s)
    done_model "$OUT/$m" && return 0
    $PIXELTHINK train grpo --config "$(recipe_of "$m")" output_dir="$OUT/$m" model.path="$SFT_MODEL" \
        data.path="$TRAIN_BENCH" trainer.max_steps="$GRPO_STEPS" "${grpo_args[@]}" > "$OUT/$m.log" 2>&1 \
        || { echo "GRPO $m failed; see $OUT/$m.log" >&2; tail -20 "$OUT/$m.log" >&2; return 1; }
    echo "$m: $(( $(date +%s) - t0 )) s" >> "$OUT/train_seconds.txt"
}
pids=()
for m in $METHODS; do
    grpo "$m" & pids+=($!)
    if (( ${#pids[@]} >= JOBS )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done

say "3/4 evaluate on $OUT/test (GrabCut, lisa)"
evaluate() {  # evaluate NAME MODEL [predict options...]
    local name=$1 model=$2
    $PIXELTHINK predict --data "$OUT/test" --split test --reasoner "$model" --segmenter grabcut \
        --max-new-tokens "$MAX_NEW_TOKENS" --batch-size 16 --out "$OUT/eval/$name.predictions.jsonl" --no-progress "${@:3}"
    [[ -f "$OUT/eval/$name.eval.json" && "$OUT/eval/$name.eval.json" -nt "$OUT/eval/$name.predictions.jsonl" ]] \
        || $PIXELTHINK eval --data "$OUT/test" --split test --predictions "$OUT/eval/$name.predictions.jsonl" \
            --convention lisa --tokenizer "$model" --out "$OUT/eval/$name.eval.json" --no-progress
}
runs=()
evaluate sft "$SFT_MODEL"; runs+=("$START_LABEL=$OUT/eval/sft.eval.json")
for b in $BASELINES; do
    case "$b" in
        budget) evaluate "sft_budget$BUDGET" "$SFT_MODEL" --max-think-tokens "$BUDGET"; runs+=("$START_LABEL + budget $BUDGET=$OUT/eval/sft_budget$BUDGET.eval.json") ;;
        brevity|no_think) evaluate "sft_$b" "$SFT_MODEL" --prompt-preset "$b"; runs+=("$START_LABEL + $b prompt=$OUT/eval/sft_$b.eval.json") ;;
        *) echo "unknown baseline $b (budget | brevity | no_think)" >&2; exit 2 ;;
    esac
done
for m in $METHODS; do
    case "$m" in
        l1_exact) evaluate "$m" "$OUT/$m" --prompt-suffix " Think for $L1_TARGET words." ;;
        l1_max) evaluate "$m" "$OUT/$m" --prompt-suffix " Think for maximum $L1_TARGET words." ;;
        *) evaluate "$m" "$OUT/$m" ;;
    esac
    runs+=("$m=$OUT/eval/$m.eval.json")
done

say "4/4 compare -> $OUT/compare"
minutes=$(( ($(date +%s) - start) / 60 ))
$PIXELTHINK compare "${runs[@]}" --out "$OUT/compare" \
    --title "Methods on the miniature (GRPO $GRPO_STEPS steps from $START_LABEL, test $TEST_N)"
if [[ -n "$DOCS" ]]; then
    $PYTHON - "$DOCS" "$OUT/compare/compare.md" "$minutes" "$SFT_MODEL" "$GRPO_STEPS" "$TEST_N" "$OUT/train_seconds.txt" "$JOBS" <<'EOF'
import sys
from pathlib import Path

docs, table, minutes, sft, steps, n, seconds_file, jobs = sys.argv[1:]
start, end = "<!-- methods-table:start -->", "<!-- methods-table:end -->"
text = Path(docs).read_text(encoding="utf-8")
if start not in text or end not in text:
    sys.exit(f"{docs}: no {start} ... {end} markers to put the table between")
# each GRPO run's seconds (train_seconds.txt, appended as runs finish): true even when this invocation
# resumed an interrupted one and skipped the runs already done
per_run = [int(line.rsplit(":", 1)[1].split()[0]) for line in Path(seconds_file).read_text().splitlines()
           if ":" in line] if Path(seconds_file).is_file() else []
timing = (f"; GRPO {min(per_run)}-{max(per_run)} s per run, {jobs} at a time" if per_run else "")
note = (f"Produced by scripts/compare_methods.sh ({minutes} min in its last invocation{timing}): GRPO {steps} "
        f"steps per method from {sft}, test split of {n} samples.\n\n")
body = Path(table).read_text(encoding="utf-8")
new = text[: text.index(start) + len(start)] + "\n" + note + body + "\n" + text[text.index(end):]
tmp = Path(docs + ".tmp")
tmp.write_text(new, encoding="utf-8")
tmp.replace(docs)
print(f"table written into {docs}")
EOF
fi
if [[ "$SHIP" == 1 ]]; then  # the table's evaluations (per bucket, no per-sample records) for the demo's report
    START="$START_LABEL ($SFT_MODEL), $GRPO_STEPS GRPO steps per method" \
        $PYTHON - "$SHIP_DIR" "$OUT/eval" "${runs[@]}" <<'EOF'
import json
import os
import sys
from pathlib import Path

ship, evals, runs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
ship.mkdir(parents=True, exist_ok=True)
index = []
for run in runs:
    label, path = run.rsplit("=", 1)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.pop("samples", None)
    name = Path(path).name.removesuffix(".eval.json")
    (ship / f"{name}.eval.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    index.append({"name": name, "label": label})
# "start": what the runs were trained from, which the demo names (the table may predate the shipped model)
(ship / "index.json").write_text(
    json.dumps({"start": os.environ["START"], "runs": index}, indent=1) + "\n", encoding="utf-8"
)
print(f"{len(index)} evaluations shipped -> {ship} (pixelthink demo shows them)")
EOF
fi
say "done in $(( ($(date +%s) - start) / 60 )) min"
