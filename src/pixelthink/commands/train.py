"""``pixelthink train grpo|sft --config recipe.yaml [key=value ...]``: single-machine training with TRL."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy with GRPO (PixelThink rewards) or SFT (warm start) on TRL, or pretrain a vision tower",
        description=(
            "Train on one machine with TRL. The recipe (YAML, see recipes/ and docs/TRAINING.md) sets model, data, "
            "reward and trainer settings; KEY=VALUE overrides use the recipe's dotted keys, e.g. "
            "trainer.max_steps=10 reward.name=segzero data.path=/data/bench."
        ),
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE", required=True)
    for mode, text in (
        ("grpo", "GRPO with the PixelThink rewards (TRL GRPOTrainer)"),
        ("sft", "supervised warm start from reference reasoning (TRL SFTTrainer)"),
        (
            "tower",
            "pretrain the vision tower alone on dense per-token targets (colour, kind, box) of fresh scenes of "
            "a shapes world (the embedded tiny model's first stage)",
        ),
    ):
        sub = modes.add_parser(mode, help=text, description=text)
        sub.add_argument("--config", "-c", required=True, help="recipe YAML file")
        sub.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides (dotted keys)")
        resume = sub.add_mutually_exclusive_group()
        resume.add_argument(
            "--resume",
            nargs="?",
            const=True,
            default=None,
            metavar="CHECKPOINT",
            help="resume from CHECKPOINT, or (no value) from the last checkpoint in output_dir; "
            "default: resume automatically when output_dir has a checkpoint",
        )
        resume.add_argument(
            "--no-resume", action="store_true", help="start fresh even if output_dir has checkpoints"
        )
        sub.add_argument(
            "--dry-run",
            action="store_true",
            help="check the recipe (including trainer.* against TRL's config fields, or the tower stage's) "
            "and print it; do not train",
        )
        sub.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import yaml

    from pixelthink.train.config import check_trainer, load_recipe

    recipe = load_recipe(args.config, args.overrides, kind=args.mode)
    # trainer.* names and value types against TRL's config fields: before any model is built, and the
    # same check for --dry-run and a real run (trainer_arguments repeats it when the trainer is built)
    recipe.trainer = check_trainer(recipe)
    if args.dry_run:
        print(yaml.safe_dump(recipe.to_dict(), sort_keys=False), end="")
        return 0
    resume: bool | str | None = False if args.no_resume else args.resume
    if args.mode == "grpo":
        from pixelthink.train.grpo import run_grpo

        run = run_grpo(recipe, resume=resume)
        summary = {
            "output_dir": str(run.output_dir),
            "global_step": run.global_step,
            "resumed_from": run.resumed_from,
            "seconds": round(run.seconds, 3),
            "seconds_per_step": None if run.seconds_per_step is None else round(run.seconds_per_step, 4),
            "metrics": str(run.metrics_file),
            "rollouts": str(run.rollouts_file),
        }
    elif args.mode == "tower":
        from pixelthink.train.tower import run_tower

        trun = run_tower(recipe, resume=resume, progress=sys.stderr.isatty())
        summary = {
            "output_dir": str(trun.output_dir),
            "global_step": trun.global_step,
            "resumed_from": trun.resumed_from,
            "seconds": round(trun.seconds, 3),
            "eval": {k: round(v, 4) for k, v in trun.metrics.items()},
            "metrics": str(trun.metrics_file),
        }
    else:
        from pixelthink.train.sft import run_sft

        srun = run_sft(recipe, resume=resume)
        summary = {
            "output_dir": str(srun.output_dir),
            "global_step": srun.global_step,
            "resumed_from": srun.resumed_from,
            "seconds": round(srun.seconds, 3),
            "train_loss": srun.train_loss,
            "metrics": str(srun.metrics_file),
        }
    print(json.dumps(summary, indent=2))
    return 0
