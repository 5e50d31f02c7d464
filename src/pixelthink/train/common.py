"""Shared pieces of the GRPO and SFT entry points: model resolution/loading, PEFT, resume, saving."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from pixelthink.models.reasoners import TRAINED_RECIPE_FILE as RECIPE_FILE

from .config import DataConfig, LoraSection, ModelConfig, Recipe, RecipeError

__all__ = [
    "TINY_PREFIX",
    "CheckpointWeightsMixin",
    "cpu_defaults",
    "find_resume_checkpoint",
    "load_checkpoint_weights",
    "load_policy",
    "lora_config",
    "resolve_model_path",
    "save_final",
]

log = logging.getLogger(__name__)

TINY_PREFIX = "tiny:"
_TINY_KINDS = ("qwen2_5_vl", "qwen3_vl")


#: keys of ``model.tiny`` that configure the tokenizer instead of the model builder
TOKENIZER_KEYS = ("tokenizer_from", "vocab_size")


def _tiny_tokenizer(settings: dict[str, Any], data: DataConfig | None, source: str) -> Any:
    """The BPE for a tiny model: trained on ``tokenizer_from`` benchmarks (None: the built-in corpus)."""
    from pixelthink.miniature import model as tiny

    paths = settings.get("tokenizer_from")
    vocab = settings.get("vocab_size", 400)
    if not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 300:
        raise RecipeError(f"{source}: model.tiny.vocab_size: expected an integer >= 300, got {vocab!r}")
    if paths is None:
        return tiny.build_tiny_tokenizer(vocab_size=vocab) if "vocab_size" in settings else None
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or not paths:
        raise RecipeError(
            f"{source}: model.tiny.tokenizer_from: expected a benchmark directory or a list of them, "
            f"got {paths!r}"
        )
    if data is None:
        raise RecipeError(f"{source}: model.tiny.tokenizer_from needs the recipe's data section")
    from .data import tokenizer_texts

    try:
        texts = tokenizer_texts(data, paths)
    except (FileNotFoundError, ValueError) as exc:
        raise RecipeError(f"{source}: model.tiny.tokenizer_from: {exc}") from exc
    return tiny.build_tiny_tokenizer(texts=texts, vocab_size=vocab)


def resolve_model_path(
    model: ModelConfig, output_dir: str | Path, source: str = "<recipe>", data: DataConfig | None = None
) -> Path:
    """The checkpoint directory of the policy; ``tiny:KIND`` builds one under ``<output_dir>/tiny_base``.

    The tiny model is built once (same seed -> same weights), so a resumed run finds the same base.
    ``model.tiny.tokenizer_from`` (benchmark directories) and ``model.tiny.vocab_size`` train its BPE
    on those benchmarks' prompts (with ``data.prompt_template``), references and answers (in the
    ``data.resolution`` frame); the other ``model.tiny`` keys go to the builder.
    """
    spec = model.path
    if spec.startswith(TINY_PREFIX):
        kind = spec[len(TINY_PREFIX) :]
        if kind not in _TINY_KINDS:
            raise RecipeError(
                f"{source}: model.path: unknown tiny model {spec!r}; expected tiny:qwen2_5_vl or tiny:qwen3_vl"
            )
        out = Path(output_dir) / "tiny_base"
        if not (out / "config.json").is_file():
            from pixelthink.miniature import model as tiny

            builder = tiny.build_tiny_qwen2_5_vl if kind == "qwen2_5_vl" else tiny.build_tiny_qwen3_vl
            settings = {k: v for k, v in model.tiny.items() if k not in TOKENIZER_KEYS}
            tokenizer = _tiny_tokenizer(model.tiny, data, source)
            if tokenizer is not None:
                settings["tokenizer"] = tokenizer
            try:
                builder(out, **settings)
            except TypeError as exc:
                raise RecipeError(
                    f"{source}: model.tiny: invalid settings for {builder.__name__}: {exc}"
                ) from exc
        return out
    path = Path(spec).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{source}: model.path: {path} is not a checkpoint directory (no config.json)"
        )
    return path


def _torch_dtype(name: str) -> Any:
    import torch

    if name == "auto":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_policy(
    model_cfg: ModelConfig, path: Path, frame: int | list[int] | None = None, source: str = "<recipe>"
) -> tuple[Any, Any]:
    """Load ``(model, processor)`` from a local Qwen2.5-VL / Qwen3-VL checkpoint (processor without torchvision).

    ``frame`` is the recipe's ``data.resolution``; ``model.number_init`` codes the coordinates of that frame.
    """
    from transformers import AutoModelForImageTextToText

    from pixelthink.models.processors import load_processor

    kwargs: dict[str, Any] = {"dtype": _torch_dtype(model_cfg.dtype)}
    if model_cfg.attn_implementation:
        kwargs["attn_implementation"] = model_cfg.attn_implementation
    model = AutoModelForImageTextToText.from_pretrained(str(path), **kwargs)
    processor = load_processor(path)
    if model_cfg.number_init == "fourier":
        from pixelthink.miniature.model import init_number_rows

        if isinstance(frame, list) and len(frame) == 2 and all(isinstance(v, int) for v in frame):
            frame = max(frame)
        if not isinstance(frame, int) or isinstance(frame, bool):
            raise RecipeError(
                f"{source}: model.number_init: fourier codes the coordinates of the data.resolution frame; "
                f"expected an integer resolution (e.g. 224), got {frame!r}"
            )
        n = init_number_rows(model, getattr(processor, "tokenizer", processor), frame)
        log.info(
            "model.number_init: fourier: %d number-token rows set to Fourier codes (0..%d)", n, frame - 1
        )
    if model_cfg.freeze_vision_tower:
        visual = getattr(getattr(model, "model", model), "visual", None) or getattr(model, "visual", None)
        if visual is None:
            raise RecipeError(f"model.freeze_vision_tower: {type(model).__name__} has no 'visual' module")
        for p in visual.parameters():
            p.requires_grad_(False)
    return model, processor


def lora_config(lora: LoraSection) -> Any:
    """``peft.LoraConfig`` from the recipe's ``lora`` section (None when disabled)."""
    if not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        exclude_modules=lora.exclude_modules,
        task_type="CAUSAL_LM",
    )


def cpu_defaults(trainer: dict[str, Any]) -> dict[str, Any]:
    """Without CUDA: ``use_cpu=True, bf16=False`` unless the recipe sets them (TRL defaults to bf16)."""
    import torch

    fixed: dict[str, Any] = {}
    if not torch.cuda.is_available():
        if "use_cpu" not in trainer:
            fixed["use_cpu"] = True
        if "bf16" not in trainer:
            fixed["bf16"] = False
    return fixed


def find_resume_checkpoint(output_dir: str | Path, resume: bool | str | None) -> str | None:
    """The checkpoint to resume from.

    ``resume``: a path (must exist), True (the last ``checkpoint-N`` in ``output_dir``; error if none),
    None (auto: the last checkpoint if there is one), False (start fresh).
    """
    from transformers.trainer_utils import get_last_checkpoint

    if resume is False:
        return None
    if isinstance(resume, str):
        p = Path(resume)
        if not p.is_dir():
            raise FileNotFoundError(f"--resume {resume}: checkpoint directory not found")
        return str(p)
    out = Path(output_dir)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if resume is True and last is None:
        raise FileNotFoundError(f"--resume: no checkpoint-N directory in {out}")
    return last


def recipe_yaml(recipe: Recipe) -> str:
    """The recipe as saved next to a trained model (``RECIPE_FILE``)."""
    return yaml.safe_dump(recipe.to_dict(), sort_keys=False)


def save_final(trainer: Any, processor: Any, recipe: Recipe, output_dir: str | Path) -> Path:
    """Save the final model (LoRA merged into the base) + processor + recipe into ``output_dir``.

    The directory then loads with ``pixelthink.models.registry.load_reasoner(output_dir)``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):  # PEFT: ship a plain checkpoint
        model = model.merge_and_unload()
    if trainer.accelerator.is_main_process:
        model.save_pretrained(str(out), safe_serialization=True)
        processor.save_pretrained(str(out))
        (out / RECIPE_FILE).write_text(recipe_yaml(recipe), encoding="utf-8")
    trainer.accelerator.wait_for_everyone()
    return out


def load_checkpoint_weights(model: Any, checkpoint: str | Path) -> None:
    """Load a saved full checkpoint's weights into ``model`` in place, through ``from_pretrained``.

    ``from_pretrained`` applies the checkpoint key conversion of the VL models (saved ``model.layers.*`` /
    ``visual.*`` vs the runtime ``model.language_model.layers.*`` / ``model.visual.*``); a plain
    ``load_state_dict`` of ``model.safetensors`` matches none of those keys. Every parameter and buffer
    must be covered (strict), so a checkpoint of another architecture is an error, not a silent no-op.
    """
    import torch

    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    saved = type(model).from_pretrained(str(checkpoint), dtype=dtype)
    try:
        model.load_state_dict(saved.state_dict(), strict=True)
    except RuntimeError as exc:
        raise RuntimeError(f"resume: {checkpoint} does not hold the weights of this model: {exc}") from exc
    finally:
        del saved


class CheckpointWeightsMixin:
    """Trainer mixin: resuming loads the checkpoint's weights with the key conversion ``from_pretrained`` applies.

    transformers' ``Trainer._load_from_checkpoint`` reads ``model.safetensors`` with a non-strict
    ``load_state_dict``, which for Qwen2.5-VL / Qwen3-VL matches none of the saved keys: the resumed run
    silently continued from the *initial* weights (with the checkpoint's optimizer state). Full
    checkpoints of a plain (single-process, non-PEFT) model are loaded by :func:`load_checkpoint_weights`;
    PEFT adapters, FSDP and DeepSpeed keep the trainer's own loading.
    """

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        target = model if model is not None else self.model  # type: ignore[attr-defined]
        ckpt = Path(resume_from_checkpoint)
        full = (ckpt / "config.json").is_file() and any(
            (ckpt / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")
        )
        plain = not (
            getattr(self, "is_fsdp_enabled", False)
            or getattr(self, "is_deepspeed_enabled", False)
            or hasattr(target, "peft_config")
        )
        if full and plain:
            load_checkpoint_weights(target, ckpt)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]
