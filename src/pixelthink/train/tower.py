"""Dense-target pretraining of a Qwen-VL vision tower on fresh scenes of a shapes world.

``pixelthink train tower --config recipes/shapes_tiny/tower.yaml``: before any language-model training,
the vision tower (patch embedding, blocks and merger, i.e. exactly the module whose output tokens the
language model reads) is trained alone, with three small heads on **every merged image token**: the
colour and the kind of the shape covering the token's cell centre (or background) and that shape's box
and centre (XYXY + centre, model-frame pixels). The geometry is coded either linearly (six numbers
divided by the frame size, smooth L1) or, with ``box_code: fourier`` (the default), as the same cos / sin
code the tiny model's number tokens get (:func:`pixelthink.miniature.model.fourier_code`, 32 values per
number, MSE; decoded by the nearest code), so the tokens the language model reads carry each shape's
coordinates in the code of the tokens it must write. A language-model loss alone teaches the tower slowly
and one skill after another (docs/TINY_MODEL.md); these dense targets give every token of every image
a direct signal, and a from-scratch tower learns colour and kind in minutes.

The scenes are drawn on the fly (an endless, never repeated stream) from the world of the recipe's
benchmark (``data.path``: a shapes benchmark; its ``meta.json`` names the world) at the recipe's frame
(``data.resolution``), so the tower sees the same kind of images as the later stages. Step ``s`` draws
its scenes with ``numpy.random.default_rng([seed, 0, s])`` (held-out scenes: ``[seed, 1, 0]``): a resumed run sees exactly the scenes an
uninterrupted one would.

Outputs in ``output_dir``: the whole model (language model unchanged) and its processor, loadable by
every later stage; ``tower_heads.safetensors`` (the heads, for re-measuring); ``metrics.jsonl`` (loss
and held-out colour / kind accuracy, box and centre error in pixels per evaluation); ``checkpoint-N/``
for resuming.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pixelthink.miniature.model import fourier_code
from pixelthink.miniature.shapes import WORLDS, Scene, SceneConfig, World, cell_owners, generate_scene
from pixelthink.train.callbacks import set_aside_after
from pixelthink.train.common import load_policy, recipe_yaml, resolve_model_path
from pixelthink.train.config import Recipe, RecipeError, TowerArguments, check_trainer

__all__ = ["DenseHeads", "TowerRun", "dense_targets", "evaluate_tower", "run_tower", "world_of"]

log = logging.getLogger(__name__)

HEADS_FILE = "tower_heads.safetensors"
_STATE_FILE = "tower_state.pt"


@dataclass
class TowerRun:
    """What :func:`run_tower` did."""

    output_dir: Path
    global_step: int
    resumed_from: str | None
    seconds: float
    metrics: dict[str, float]
    metrics_file: Path


#: Numbers of a shape's geometry that the box head predicts: its box (XYXY) and its centre.
GEOMETRY = ("x1", "y1", "x2", "y2", "cx", "cy")
#: cos / sin pairs of the Fourier code of one number (as the tiny model's number tokens).
FOURIER_PAIRS = 16


class DenseHeads(nn.Module):
    """Linear heads on merged image tokens: colour (n + background), kind (n + background) and the
    covering shape's geometry (:data:`GEOMETRY`, in ``frame`` pixels), coded by ``box_code``:
    ``linear`` (6 outputs = pixels / frame) or ``fourier`` (6 x 32 outputs, the Fourier code of each)."""

    def __init__(self, width: int, n_colours: int, n_kinds: int, *, box_code: str, frame: int) -> None:
        super().__init__()
        if box_code not in ("linear", "fourier"):
            raise ValueError(f"box_code: expected 'linear' or 'fourier', got {box_code!r}")
        self.box_code, self.frame = box_code, frame
        per = 2 * FOURIER_PAIRS if box_code == "fourier" else 1
        self.colour = nn.Linear(width, n_colours + 1)
        self.kind = nn.Linear(width, n_kinds + 1)
        self.box = nn.Linear(width, len(GEOMETRY) * per)
        if box_code == "fourier":  # the code of every pixel value, for decoding by the nearest code
            self.register_buffer(
                "codes",
                torch.from_numpy(fourier_code(np.arange(frame), frame, FOURIER_PAIRS)),
                persistent=False,
            )

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.colour(tokens), self.kind(tokens), self.box(tokens)

    def box_loss(self, out: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
        """Loss of the box head's ``out`` [n, ...] against ``geometry`` [n, 6] (pixels)."""
        if self.box_code == "linear":
            return nn.functional.smooth_l1_loss(out, geometry / self.frame, beta=0.02)
        target = torch.from_numpy(fourier_code(geometry.numpy(), self.frame, FOURIER_PAIRS))
        return nn.functional.mse_loss(out.view(target.shape), target)

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """The geometry [n, 6] (pixels) the box head's ``out`` says."""
        if self.box_code == "linear":
            return out * self.frame
        code = out.view(out.shape[0], len(GEOMETRY), 2 * FOURIER_PAIRS)
        return (code @ self.codes.T).argmax(-1).float()


def world_of(benchmark: str | Path) -> World:
    """The shapes world of a benchmark directory, from its ``meta.json`` (``generator.world``).

    Benchmarks written before worlds existed (generator version 3) are of the ``rich`` world.
    """
    meta_path = Path(benchmark) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: not found; data.path must be a shapes benchmark") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: invalid JSON: {exc}") from None
    gen = meta.get("generator") if isinstance(meta, dict) else None
    if not isinstance(gen, dict) or not str(gen.get("name", "")).startswith("pixelthink.data.shapes"):
        raise ValueError(
            f"{meta_path}: not a shapes benchmark (no generator 'pixelthink.data.shapes'); the tower stage "
            "draws scenes of a shapes world"
        )
    name = gen.get("world", "rich")
    if name not in WORLDS:
        raise ValueError(f"{meta_path}: generator.world {name!r} is not one of {sorted(WORLDS)}")
    return WORLDS[name]


def dense_targets(scene: Scene, world: World, cell: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per merged token (raster order over the ``cell``-pixel grid): colour index, kind index, geometry.

    Colour and kind index into ``world.colours`` / ``world.kinds``; background is ``len(...)``. The
    geometry (:data:`GEOMETRY`) is the covering shape's visible box (inclusive pixel extremes, XYXY) and
    its centre, in pixels of the scene; NaN on background tokens.
    """
    owners = cell_owners(scene, cell).reshape(-1)
    colours, kinds = list(world.colours), list(world.kinds)
    colour = np.full(owners.shape, len(colours), np.int64)
    kind = np.full(owners.shape, len(kinds), np.int64)
    geometry = np.full((owners.size, len(GEOMETRY)), np.nan, np.float32)
    for i in np.unique(owners[owners >= 0]):
        ys, xs = np.nonzero(scene.masks[i])
        sel = owners == i
        shape = scene.shapes[i]
        colour[sel] = colours.index(shape.colour)
        kind[sel] = kinds.index(shape.kind)
        geometry[sel] = np.array([xs.min(), ys.min(), xs.max(), ys.max(), shape.cx, shape.cy], np.float32)
    return colour, kind, geometry


_TRAIN, _HELD_OUT = 0, 1  # the two scene streams of a seed


def _scenes(
    seed: int, stream: int, step: int, n: int, world: World, frame: int, n_shapes: tuple[int, int]
) -> list[Scene]:
    rng = np.random.default_rng([seed, stream, step])
    config = SceneConfig(width=frame, height=frame, n_shapes=n_shapes, world=world)
    return [generate_scene(rng, config) for _ in range(n)]


def _cell(processor: Any) -> int:
    ip = processor.image_processor
    merge = int(getattr(ip, "merge_size", 2) or 2)
    return int(ip.patch_size) * merge


def _batch(
    scenes: list[Scene], processor: Any, world: World, cell: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    from PIL import Image

    enc = processor.image_processor(images=[Image.fromarray(s.image) for s in scenes], return_tensors="pt")
    targets = [dense_targets(s, world, cell) for s in scenes]
    n_tokens = (
        int(enc["image_grid_thw"].prod(dim=1).sum())
        // (cell // int(processor.image_processor.patch_size)) ** 2
    )
    colour = torch.from_numpy(np.concatenate([t[0] for t in targets]))
    if colour.numel() != n_tokens:
        raise ValueError(
            f"tower stage: the processor made {n_tokens} image tokens for {len(scenes)} scenes but the "
            f"{cell}-pixel grid has {colour.numel()}: data.resolution must be a multiple of {cell} and the "
            "processor must keep it (its max_pixels)"
        )
    kind = torch.from_numpy(np.concatenate([t[1] for t in targets]))
    box = torch.from_numpy(np.concatenate([t[2] for t in targets]))
    return {"pixel_values": enc["pixel_values"], "grid_thw": enc["image_grid_thw"]}, colour, kind, box


def _visual(model: Any) -> Any:
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        raise RecipeError(f"tower stage: {type(model).__name__} has no vision tower ('visual')")
    return visual


def _tokens(visual: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    out = visual(inputs["pixel_values"], grid_thw=inputs["grid_thw"])
    return out.pooler_output if hasattr(out, "pooler_output") else out


def _losses(
    heads: DenseHeads,
    tokens: torch.Tensor,
    colour: torch.Tensor,
    kind: torch.Tensor,
    box: torch.Tensor,
    box_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    pc, pk, pb = heads(tokens)
    fg = ~torch.isnan(box[:, 0])
    lc = nn.functional.cross_entropy(pc, colour)
    lk = nn.functional.cross_entropy(pk, kind)
    lb = heads.box_loss(pb[fg], box[fg]) if bool(fg.any()) else pb.sum() * 0
    loss = lc + lk + box_weight * lb
    parts = {"loss": loss, "colour_loss": lc, "kind_loss": lk, "box_loss": lb}
    return loss, {k: v.item() for k, v in parts.items()}


@torch.no_grad()
def evaluate_tower(
    visual: Any,
    heads: DenseHeads,
    batch: tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor],
) -> dict[str, float]:
    """Held-out dense metrics: colour / kind accuracy, box and centre L1 error (pixels, decoded) on
    shape tokens, background accuracy (kind head) on the others, and the mean norm of the image tokens."""
    inputs, colour, kind, box = batch
    was = visual.training
    visual.eval()
    tokens = _tokens(visual, inputs)
    pc, pk, pb = heads(tokens)
    visual.train(was)
    fg = ~torch.isnan(box[:, 0])
    return {
        "colour_acc": float((pc.argmax(-1) == colour)[fg].float().mean()),
        "kind_acc": float((pk.argmax(-1) == kind)[fg].float().mean()),
        "background_acc": float((pk.argmax(-1) == kind)[~fg].float().mean()) if bool((~fg).any()) else 1.0,
        **_geometry_errors(heads.decode(pb[fg]), box[fg]),
        "token_norm": float(tokens.norm(dim=-1).mean()),
    }


def _geometry_errors(predicted: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    error = (predicted - truth).abs()
    return {"box_l1_px": float(error[:, :4].mean()), "centre_l1_px": float(error[:, 4:].mean())}


def _lr(args: TowerArguments, step: int) -> float:
    warm = min(1.0, (step + 1) / max(1, args.warmup_steps))
    progress = min(1.0, step / max(1, args.max_steps))
    return args.learning_rate * warm * 0.5 * (1.0 + math.cos(math.pi * progress))


def _last_checkpoint(out: Path) -> Path | None:
    found = sorted(
        (
            p
            for p in out.glob("checkpoint-*")
            if (p / _STATE_FILE).is_file() and p.name.split("-")[-1].isdigit()
        ),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    return found[-1] if found else None


def _frame(recipe: Recipe) -> int:
    res = recipe.data.resolution
    if isinstance(res, list) and len(res) == 2 and res[0] == res[1]:
        res = res[0]
    if not isinstance(res, int) or isinstance(res, bool):
        raise RecipeError(
            f"{recipe.source}: data.resolution: the tower stage draws square scenes; expected an integer "
            f"frame such as 224, got {res!r}"
        )
    return res


def run_tower(recipe: Recipe, *, resume: bool | str | None = None, progress: bool = True) -> TowerRun:
    """Pretrain the recipe model's vision tower on dense targets (see the module docstring) and save the model.

    ``resume``: a checkpoint directory, True (the last ``checkpoint-N``; error if none), None (the last one
    if any), False (start fresh).
    """
    if recipe.kind != "tower":
        raise ValueError(f"{recipe.source}: kind is {recipe.kind!r}, expected 'tower'")
    from safetensors.torch import save_file

    try:
        args = TowerArguments(**check_trainer(recipe))
    except ValueError as exc:
        if isinstance(exc, RecipeError):
            raise
        raise RecipeError(f"{recipe.source}: {exc}") from None
    frame = _frame(recipe)
    world = world_of(recipe.data.paths()[0])
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt: Path | None = None
    if resume is not False:
        ckpt = Path(resume) if isinstance(resume, str) else _last_checkpoint(out)
        if isinstance(resume, str) and not (ckpt / _STATE_FILE).is_file():
            raise FileNotFoundError(f"--resume {resume}: not a tower checkpoint (no {_STATE_FILE})")
        if resume is True and ckpt is None:
            raise FileNotFoundError(f"--resume: no checkpoint-N directory in {out}")
    torch.manual_seed(args.seed)
    model_path = resolve_model_path(recipe.model, out, recipe.source, recipe.data)
    model, processor = load_policy(recipe.model, model_path, recipe.data.resolution, recipe.source)
    visual = _visual(model)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in visual.parameters():
        p.requires_grad_(True)
    cell = _cell(processor)
    held_out = _batch(
        _scenes(args.seed, _HELD_OUT, 0, args.eval_samples, world, frame, args.n_shapes()),
        processor,
        world,
        cell,
    )
    with torch.no_grad():
        width = int(_tokens(visual, held_out[0]).shape[-1])
    heads = DenseHeads(width, len(world.colours), len(world.kinds), box_code=args.box_code, frame=frame)
    params = [*visual.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay, betas=(0.9, 0.95))
    start = 0
    if ckpt is not None:
        state = torch.load(ckpt / _STATE_FILE, weights_only=False)
        visual.load_state_dict(state["visual"])
        heads.load_state_dict(state["heads"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log.info("tower stage: resumed from %s (step %d)", ckpt, start)
    metrics_file = out / "metrics.jsonl"
    set_aside_after(metrics_file, start)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=args.max_steps, initial=start, desc="tower", unit="step")
    t0 = time.perf_counter()
    last: dict[str, float] = {}
    visual.train()
    with metrics_file.open("a", encoding="utf-8") as log_fh:
        for step in range(start, args.max_steps):
            for group in opt.param_groups:
                group["lr"] = _lr(args, step)
            inputs, colour, kind, box = _batch(
                _scenes(
                    args.seed, _TRAIN, step, args.per_device_train_batch_size, world, frame, args.n_shapes()
                ),
                processor,
                world,
                cell,
            )
            loss, parts = _losses(heads, _tokens(visual, inputs), colour, kind, box, args.box_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            opt.step()
            done = step + 1
            row: dict[str, Any] = {}
            if done % args.logging_steps == 0 or done == args.max_steps:
                row.update({"step": done, "learning_rate": _lr(args, step), **parts})
            if done % args.eval_steps == 0 or done == args.max_steps:
                last = evaluate_tower(visual, heads, held_out)
                row.update({"step": done, **{f"eval_{k}": v for k, v in last.items()}})
            if row:
                row["seconds"] = round(time.perf_counter() - t0, 3)
                log_fh.write(json.dumps(row) + "\n")
                log_fh.flush()
            if done % args.save_steps == 0 and done < args.max_steps:
                _save_checkpoint(out, done, visual, heads, opt)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{parts['loss']:.3f}", kind=f"{last.get('kind_acc', float('nan')):.2f}")
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - t0
    if not last:
        last = evaluate_tower(visual, heads, held_out)
    from pixelthink.models.reasoners import TRAINED_RECIPE_FILE

    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))
    (out / TRAINED_RECIPE_FILE).write_text(recipe_yaml(recipe), encoding="utf-8")
    save_file({f"{k}": v.detach().contiguous() for k, v in heads.state_dict().items()}, str(out / HEADS_FILE))
    for old in out.glob("checkpoint-*"):
        shutil.rmtree(old, ignore_errors=True)
    return TowerRun(out, args.max_steps, str(ckpt) if ckpt else None, seconds, last, metrics_file)


def _save_checkpoint(out: Path, step: int, visual: Any, heads: DenseHeads, opt: Any) -> None:
    """``checkpoint-<step>/`` written next to the previous one, which is removed after (crash-safe)."""
    path = out / f"checkpoint-{step}"
    tmp = out / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(
        {
            "step": step,
            "visual": visual.state_dict(),
            "heads": heads.state_dict(),
            "optimizer": opt.state_dict(),
        },
        tmp / _STATE_FILE,
    )
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    for old in out.glob("checkpoint-*"):
        if old != path:
            shutil.rmtree(old, ignore_errors=True)
