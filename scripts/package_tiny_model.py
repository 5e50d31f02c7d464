"""Package the tiny PixelThink model that ``scripts/reproduce_tiny.sh`` trained.

Writes ``--out`` (and with ``--install`` also ``src/pixelthink/assets/tiny_model``):

* the ``grpo_pixelthink`` checkpoint's inference files (weights, config, tokenizer, processor, chat
  template, the recipe it was trained with): it loads with ``pixelthink segment --reasoner DIR``;
* ``eval/{sft,no_reasoning,segzero,pixelthink}.eval.json``: the test-split evaluation of the four models
  (per bucket; the per-sample records are dropped to keep the files small);
* ``training/``: the recipe each stage ran with, its training time, and the data's seeds and sizes
  (``data.json``, which ``pixelthink demo`` regenerates its test samples from);
* with ``--install``, the test split's chance cache (``assets/demo/chance-grabcut.jsonl``), so the demo
  does not recompute the chance level;
* ``README.md``: the model card, with the measured table and the issue's targets checked.

Usage: ``python scripts/package_tiny_model.py --run runs/reproduce --out runs/reproduce/package [--install]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from pixelthink.commands.demo import SHIPPED_CHANCE, SHIPPED_EVALS, parameter_count
from pixelthink.miniature.model import shipped_model_dir

INSTALL_DIR = shipped_model_dir()  # where the demo looks for the model
#: evaluation name (eval/NAME.eval.json, the names the demo reads) -> the run directory it comes from
RUNS = {
    "sft": "sft",
    "no_reasoning": "sft_name",
    "segzero": "grpo_segzero",
    "pixelthink": "grpo_pixelthink",
}
if set(RUNS) != set(SHIPPED_EVALS):  # the demo reads eval/NAME.eval.json for these names
    raise SystemExit(f"package_tiny_model.RUNS {sorted(RUNS)} != demo SHIPPED_EVALS {sorted(SHIPPED_EVALS)}")
#: evaluations every package has (no_reasoning only where reproduce_tiny.sh ran it: NAME_BASELINE=1)
REQUIRED = ("sft", "segzero", "pixelthink")
#: the stages of scripts/reproduce_tiny.sh, in order (their output directories under --run)
STAGES = ("tower", "refer", "sft", "sft_name", "grpo_segzero", "grpo_pixelthink")


#: top-level files of a trained checkpoint that inference does not need
SKIP = {"training_args.bin", "metrics.jsonl", "rollouts.jsonl", "README.md"}
BUCKETS = ("easy", "medium", "hard", "all")


def _copy_model(src: Path, dst: Path) -> list[str]:
    if not (src / "model.safetensors").is_file():
        raise SystemExit(f"{src}: no model.safetensors; run scripts/reproduce_tiny.sh first")
    names = []
    for f in sorted(src.iterdir()):
        if f.is_file() and f.name not in SKIP:
            shutil.copy2(f, dst / f.name)
            names.append(f.name)
    return names


def _train_seconds(stage_dir: Path) -> float | None:
    """The stage's training wall clock from its ``metrics.jsonl``: the trainers' ``train_runtime``, or
    the tower stage's ``seconds``."""
    metrics = stage_dir / "metrics.jsonl"
    if not metrics.is_file():
        return None
    seconds = None
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        for key in ("train_runtime", "train/train_runtime", "seconds"):
            if isinstance(rec.get(key), int | float):
                seconds = float(rec[key])
    return seconds


def _load_eval(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(f"{path}: evaluation missing; run scripts/reproduce_tiny.sh (stage 7) first")
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("samples", None)
    return data


def _b(report: dict[str, Any], bucket: str, key: str) -> float | None:
    value = report["buckets"].get(bucket, {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _num(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _check(desc: str, value: str, ok: bool | None) -> tuple[str, str, bool | None]:
    return desc, value, ok


def _above_chance(sft: dict[str, Any], bucket: str, bar: float) -> tuple[str, str, bool | None]:
    giou, chance = _b(sft, bucket, "giou"), _b(sft, bucket, "chance_giou")
    desc = f"reasoning SFT {bucket} gIoU >= chance + {100 * bar:.0f}"
    if giou is None or chance is None:
        return _check(desc, "– (no chance level in the evaluation)", None)
    gap = 100 * (giou - chance)
    return _check(
        desc, f"{gap:+.1f} points ({_giou_cell(sft, bucket)} vs chance {_pct(chance)})", giou >= chance + bar
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(evals: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets (issue 30; each evaluation on the >= 1,000-sample test split of its own seed):
    ``(description, measured value, met?)``; ``None`` where the evaluations cannot tell."""
    sft, seg, pt = evals["sft"], evals["segzero"], evals["pixelthink"]
    out = [_above_chance(sft, "all", 0.25)]
    out += [_above_chance(sft, bucket, 0.15) for bucket in ("easy", "medium", "hard")]
    base = evals.get("no_reasoning")
    h_r, h_n = _b(sft, "hard", "giou"), _b(base, "hard", "giou") if base else None
    out.append(
        _check(
            "reasoning pays: reasoning SFT hard gIoU >= no-reasoning SFT's + 10",
            "– (no no-reasoning baseline)"
            if h_r is None or h_n is None
            else f"{100 * (h_r - h_n):+.1f} points ({_giou_cell(sft, 'hard')} vs {_giou_cell(base, 'hard')})",
            None if h_r is None or h_n is None else h_r >= h_n + 0.10,
        )
    )
    real, last = _b(pt, "all", "faith_real"), _b(pt, "all", "faith_last_is_target_hits")
    out.append(
        _check(
            "faithful: pixelthink GRPO >= 90 % of mentioned boxes real, last mention = target in >= 80 % of hits",
            "– (no grounded mentions)"
            if real is None
            else f"real {_pct(real)} %, last = target {_pct(last)} %",
            None if real is None or last is None else real >= 0.90 and last >= 0.80,
        )
    )
    g_s, g_p = _b(seg, "all", "giou"), _b(pt, "all", "giou")
    out.append(
        _check(
            "pixelthink all-bucket gIoU >= segzero's",
            "–"
            if g_s is None or g_p is None
            else f"{100 * (g_p - g_s):+.1f} points ({_pct(g_p)} vs {_pct(g_s)})",
            None if g_s is None or g_p is None else g_p >= g_s,
        )
    )
    r_easy = _ratio(_b(pt, "easy", "tokens_mean"), _b(seg, "easy", "tokens_mean"))
    r_hard = _ratio(_b(pt, "hard", "tokens_mean"), _b(seg, "hard", "tokens_mean"))
    out.append(
        _check(
            "pixelthink easy reasoning tokens <= 50 % of segzero's, hard keeps >= 80 %",
            "–"
            if r_easy is None or r_hard is None
            else f"easy {100 * r_easy:.0f} %, hard {100 * r_hard:.0f} %",
            None if r_easy is None or r_hard is None else r_easy <= 0.5 and r_hard >= 0.8,
        )
    )
    lat = _ratio(
        (pt["buckets"].get("all", {}).get("latency") or {}).get("total"),
        (seg["buckets"].get("all", {}).get("latency") or {}).get("total"),
    )
    out.append(
        _check(
            "pixelthink mean predict latency per sample <= 70 % of segzero's",
            "–"
            if lat is None
            else f"{100 * lat:.0f} % (the two predict runs of stage 6, one after the other)",
            None if lat is None else lat <= 0.7,
        )
    )
    return out


def _giou_cell(report: dict[str, Any], bucket: str) -> str:
    """gIoU in %, with its bootstrap 95 % interval when the evaluation has one: ``25.3 (20.8-29.9)``."""
    ci = report["buckets"].get(bucket, {}).get("giou_ci")
    text = _pct(_b(report, bucket, "giou"))
    return f"{text} ({100 * ci[0]:.1f}-{100 * ci[1]:.1f})" if ci else text


def results_table(evals: dict[str, dict[str, Any]]) -> str:
    head = "| model | " + " | ".join(f"{b} gIoU | {b} cIoU | {b} tokens" for b in BUCKETS) + " |"
    sep = "|---" * (1 + 3 * len(BUCKETS)) + "|"
    rows = []
    for name, rep in evals.items():
        cells = []
        for b in BUCKETS:
            cells += [_giou_cell(rep, b), _pct(_b(rep, b, "ciou")), _num(_b(rep, b, "tokens_mean"))]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    first = next(iter(evals.values()))
    for key, label in (("chance", "chance (random scene shape)"), ("oracle", "oracle (true box)")):
        if _b(first, "all", f"{key}_giou") is not None:  # the same samples and segmenter for every model
            cells = []
            for b in BUCKETS:
                cells += [_pct(_b(first, b, f"{key}_giou")), _pct(_b(first, b, f"{key}_ciou")), "–"]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
    counts = " / ".join(f"{b} {evals['sft']['buckets'].get(b, {}).get('n', 0)}" for b in BUCKETS)
    note = (
        " gIoU in parentheses: its bootstrap 95 % interval. Chance: each scene shape's exact box and centre through "
        "GrabCut, averaged (a model that ignores the query); oracle: the true box and points through GrabCut."
        if _b(first, "all", "chance_giou") is not None
        else ""
    )
    return "\n".join([head, sep, *rows]) + f"\n\nTest samples: {counts}.{note}"


def image_tokens(model_dir: Path, res: int) -> int:
    """How many image tokens a ``res x res`` frame gives the packaged model (its own processor)."""
    from pixelthink.models.processors import load_processor, processed_image_size

    ip = load_processor(str(model_dir)).image_processor
    w, h = processed_image_size(ip, res, res)
    return (w // (ip.patch_size * ip.merge_size)) * (h // (ip.patch_size * ip.merge_size))


def data_text(data: dict[str, Any] | None) -> str:
    """The data of stage 1 as ``reproduce_tiny.sh`` recorded it (``data.json``)."""
    if not data:
        return "the data's seeds and sizes were not recorded (a run before data.json)."
    b, d, t, test = (data.get(k, {}) for k in ("bench", "direct", "task", "test"))
    return (
        f"the benchmark ({b.get('train')} training scenes, every query family, seed {b.get('seed')}), "
        f"{d.get('train')} scenes with direct queries (seed {d.get('seed')}), {t.get('train')} with every "
        f"family (seed {t.get('seed')}), and the test split: {test.get('test')} scenes of its own seed "
        f"({test.get('seed')}), never used in training or tuning; references: {data.get('references')}."
    )


def kl_text(betas: dict[str, Any]) -> str:
    """How the GRPO runs' recipes set the KL term (``trainer.beta``; TRL's default 0 when unset)."""
    values = {run: float(b) if b is not None else 0.0 for run, b in betas.items()}
    if len(set(values.values())) > 1:
        return "KL beta " + ", ".join(f"{v:g} ({run})" for run, v in values.items())
    beta = next(iter(values.values()), 0.0)
    return f"both with a KL anchor to the SFT model (beta {beta:g})" if beta else "both without a KL term"


def model_card(
    evals: dict[str, dict[str, Any]],
    seconds: dict[str, float | None],
    recipe: dict,
    model_dir: Path,
    data: dict[str, Any] | None = None,
) -> str:
    built = [r for r in recipe.values() if str(r.get("model", {}).get("path", "")).startswith("tiny:")]
    tiny = built[0].get("model", {}).get("tiny", {}) if built else {}  # the stage that built the model
    tower = recipe.get("tower", {}).get("trainer", {})
    res = recipe.get("sft", {}).get("data", {}).get("resolution")
    tokens = image_tokens(model_dir, res) if isinstance(res, int) else "?"
    long_pct = round(100 * float(recipe.get("sft", {}).get("data", {}).get("long_fraction", 0.5)))
    name_pct = round(100 * float(recipe.get("sft", {}).get("data", {}).get("name_fraction", 0.0)))
    kl = kl_text(
        {
            run: recipe.get(run, {}).get("trainer", {}).get("beta")
            for run in (RUNS["segzero"], RUNS["pixelthink"])
        }
    )
    checks = "\n".join(
        f"| {desc} | {value} | {'yes' if ok else 'no' if ok is not None else '–'} |"
        for desc, value, ok in targets(evals)
    )
    missed = sum(ok is False for _, _, ok in targets(evals))
    verdict = (
        "All targets are met."
        if missed == 0
        else f"{missed} of the {len(targets(evals))} targets {'is' if missed == 1 else 'are'} missed: "
        "docs/TINY_MODEL.md says why and what to change."
    )
    times = ", ".join(f"{stage} {t / 60:.1f} min" for stage, t in seconds.items() if t is not None)
    unit = evals["sft"]["settings"].get("length_unit", "tokens")
    params = f"{parameter_count(model_dir) / 1e6:.1f}M-parameter"
    return f"""# pixelthink-tiny (shapes, simple world)

**What this is: a miniature.** A {params} **Qwen2.5-VL-architecture** model trained from scratch on
CPU by this repository's own commands, on the generated *shapes* benchmark (`pixelthink data shapes
--world simple`: 4 kinds, 5 colours, 2-5 shapes, graded queries from "the blue star" to multi-step
relations). It is the embedded default of `pixelthink demo`: it tests the PixelThink claim (fewer
reasoning tokens where the task is easy, at the accuracy of a baseline trained the same way) on a
synthetic world where a tiny model can see, and "Targets" below says what holds; it is not a
segmentation model for real images. Load it like any checkpoint:

```bash
pixelthink segment IMAGE.png "the red circle" --reasoner src/pixelthink/assets/tiny_model
```

(`--resolution auto`, the default, reads the frame ({res}x{res}) and the prompt template it was trained
with from `pixelthink_recipe.yaml`.)

## Architecture
Qwen2_5_VLForConditionalGeneration, random init (std 0.02), text: hidden {tiny.get("hidden_size")},
{tiny.get("num_layers")} layers, {tiny.get("num_heads")} heads ({tiny.get("num_kv_heads")} KV), MLP
{tiny.get("intermediate_size")}, tied embeddings, number tokens initialised with a Fourier code of their
value, M-RoPE base {tiny.get("rope_theta")} with sections {tiny.get("mrope_section")}; vision tower:
{tiny.get("vision_depth")} blocks of width {tiny.get("vision_hidden_size")} (full attention). Byte-level
BPE with {tiny.get("vocab_size")} tokens trained on the benchmark's own text (every coordinate is one
token). Images are resized to {res}x{res} ({tokens} image tokens).

## Training (scripts/reproduce_tiny.sh, recipes/shapes_tiny/)
1. `pixelthink data shapes --world simple`: {data_text(data)}
2. `pixelthink train tower` ({tower.get("max_steps", "?")} steps): the vision tower alone, with heads on
   every image token for the colour, kind, box and centre of the shape under it (box code:
   {tower.get("box_code", "?")}), on scenes drawn afresh every step.
3. `pixelthink train sft` with `data.reasoning: name`, tower frozen: the task's prompt and answer with
   the target's name as the whole reasoning ("<think>the red star</think>"), on the direct queries.
4. `pixelthink train sft` on every family: long or short reference at random ({long_pct}/{100 - long_pct},
   independent of difficulty), {name_pct} % of the rows keep the name-only reasoning, tower frozen.
5. `pixelthink train grpo` twice from the same SFT model, same seeds and steps: reward `segzero`
   (the baseline) and reward `pixelthink` (this model) with budgets scaled to this benchmark (see
   recipes/shapes_tiny/grpo_pixelthink.yaml), {kl}.

Training time (each stage's own clock on a shared 2-core CPU, one thread): {times or "not recorded"}.

## Results (test split, GrabCut segmenter, lisa convention; tokens = mean reasoning length, unit: {unit})
{results_table(evals)}

`sft` is the task SFT model (reasoning), `no_reasoning` the same SFT with the target's name as the whole
reasoning (the baseline that says what reasoning buys), `segzero` and `pixelthink` the two GRPO models; this directory holds
`pixelthink`. The evaluation files are in `eval/` (made by `pixelthink eval`).

## Targets (issue 30)
| target | measured | met |
|---|---|---|
{checks}

{verdict}

## Limits
Trained on synthetic coloured shapes only; tiny capacity; boxes are coarse, and GrabCut does the
pixel work. Regenerate it with `make reproduce`.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=Path("runs/reproduce"), help="OUT of reproduce_tiny.sh")
    ap.add_argument("--out", type=Path, required=True, help="package directory to (re)write")
    ap.add_argument("--install", action="store_true", help=f"also copy the package to {INSTALL_DIR}")
    ap.add_argument(
        "--keep-methods",
        action="store_true",
        help="with --install: keep the installed method table (methods/, scripts/compare_methods.sh SHIP=1), "
        "whose index.json names the model it was trained from, until it is re-run on the new model",
    )
    args = ap.parse_args(argv)

    import yaml

    if args.out.exists():
        shutil.rmtree(args.out)
    (args.out / "eval").mkdir(parents=True)
    (args.out / "training").mkdir()
    files = _copy_model(args.run / RUNS["pixelthink"], args.out)
    evals = {
        name: _load_eval(args.run / "eval" / f"{run}.eval.json")
        for name, run in RUNS.items()
        if name in REQUIRED or (args.run / "eval" / f"{run}.eval.json").is_file()
    }
    for name, data in evals.items():
        (args.out / "eval" / f"{name}.eval.json").write_text(
            json.dumps(data, indent=2) + "\n", encoding="utf-8"
        )
    seconds: dict[str, float | None] = {}
    recipes: dict[str, Any] = {}
    for stage in STAGES:
        rec = args.run / stage / "pixelthink_recipe.yaml"
        if rec.is_file():
            shutil.copy2(rec, args.out / "training" / f"{stage}.yaml")
            recipes[stage] = yaml.safe_load(rec.read_text(encoding="utf-8"))
        seconds[stage] = _train_seconds(args.run / stage)
    (args.out / "training" / "seconds.json").write_text(
        json.dumps(seconds, indent=2) + "\n", encoding="utf-8"
    )
    data = (
        json.loads((args.run / "data.json").read_text(encoding="utf-8"))
        if (args.run / "data.json").is_file()
        else {}
    )
    if data:
        (args.out / "training" / "data.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    # the targets as data (eval/targets.json), which `pixelthink demo` shows; the card shows the same rows
    rows = [{"target": d, "measured": v, "met": ok} for d, v, ok in targets(evals)]
    (args.out / "eval" / "targets.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    card = model_card(evals, seconds, recipes, args.out, data)
    (args.out / "README.md").write_text(card, encoding="utf-8")
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"packaged {len(files)} model files + eval + model card -> {args.out} ({size / 1e6:.1f} MB)")
    for desc, value, ok in targets(evals):
        print(f"  [{'ok' if ok else 'MISSED' if ok is not None else '?'}] {desc}: {value}")
    if args.install:
        kept = None
        if args.keep_methods and (INSTALL_DIR / "methods" / "index.json").is_file():
            kept = args.out.parent / "methods.kept"
            if kept.exists():
                shutil.rmtree(kept)
            shutil.copytree(INSTALL_DIR / "methods", kept)
        if INSTALL_DIR.exists():
            shutil.rmtree(INSTALL_DIR)
        shutil.copytree(args.out, INSTALL_DIR)
        if kept is not None:
            shutil.copytree(kept, INSTALL_DIR / "methods")
            print(f"kept the installed method table -> {INSTALL_DIR / 'methods'}")
        print(f"installed -> {INSTALL_DIR}")
        chance = args.run / "test" / "annotations" / "chance-grabcut.jsonl"
        if chance.is_file():  # the test split's chance level, so that the demo does not recompute it
            shutil.copyfile(chance, SHIPPED_CHANCE)
            print(f"installed -> {SHIPPED_CHANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
