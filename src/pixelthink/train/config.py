"""Typed training recipes: one YAML file -> :class:`Recipe`.

A recipe has five sections plus the output directory::

    kind: grpo                  # grpo | sft
    output_dir: runs/qwen25vl_7b
    model: /models/Qwen2.5-VL-7B-Instruct      # or {path: ..., dtype: bfloat16}; "tiny:qwen2_5_vl" builds one
    data:    {path: data/refcocog_bench, format: auto, split: train, resolution: 840, ...}
    reward:  {name: pixelthink, tau_hard: 5.0, budget_easy: 96, ...}   # every RewardConfig field
    lora:    {enabled: false, r: 64, alpha: 128, ...}
    uncertainty: {tokens: all}
    trainer: {learning_rate: 1.0e-6, num_generations: 8, beta: 5.0e-3, ...}   # GRPOConfig / SFTConfig fields

Every key is checked: unknown keys and values of the wrong type raise :class:`RecipeError` (a
``ValueError``) whose message names the file and the dotted YAML key (``reward.tau_hard``), what was
found and what was expected. pixelthink reads its own sections (model, data, reward, lora, uncertainty;
the reward through ``RewardConfig.from_dict``, the parser of the verl path too). TRL owns ``trainer``:
its keys must be fields of TRL's ``GRPOConfig`` / ``SFTConfig`` and its values are read by TRL's own
parser and judged by TRL's class (:func:`check_trainer`, run by ``--dry-run`` and by
:func:`trainer_arguments` before the model is built; TRL is imported lazily, not at import time).

Overrides (``pixelthink train grpo --config r.yaml trainer.max_steps=3 reward.name=segzero``) use the
same dotted keys; the value is parsed as YAML (``3`` -> int, ``[a, b]`` -> list, ``null`` -> None).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pixelthink.images import frame_size_problem
from pixelthink.rewards import RewardConfig


class _RecipeLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. PyYAML's YAML 1.1 also reads yes/no/on/off as booleans, which
    turns ``save_strategy: no`` into False; recipes need those words as strings."""


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_RecipeLoader)


__all__ = [
    "DataConfig",
    "LoraSection",
    "ModelConfig",
    "Recipe",
    "RecipeError",
    "RewardSection",
    "TowerArguments",
    "UncertaintySection",
    "apply_overrides",
    "check_trainer",
    "load_recipe",
    "recipe_from_dict",
    "trainer_arguments",
]


class RecipeError(ValueError):
    """A recipe file or override is invalid; the message names the file and the dotted key."""


@dataclass
class ModelConfig:
    """The policy checkpoint.

    ``path`` is a local Qwen2.5-VL / Qwen3-VL checkpoint directory, or ``tiny:qwen2_5_vl`` /
    ``tiny:qwen3_vl`` to build a random tiny model on the fly (into ``<output_dir>/tiny_model``).
    """

    path: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: str | None = None
    #: settings of the tiny builder (only for ``tiny:*``), e.g. {hidden_size: 64, num_layers: 2, seed: 0}
    tiny: dict[str, Any] = field(default_factory=dict)
    #: freeze the vision tower (common for RL on Qwen-VL; the authors train it too: default False)
    freeze_vision_tower: bool = False
    #: ``fourier``: before training, overwrite the embedding rows (= the tied LM head) of the tokens that
    #: spell the integers of the ``data.resolution`` frame with Fourier codes of their value, at the
    #: median norm of the other rows (``pixelthink.miniature.model.init_number_rows``). Only for a model
    #: trained from scratch whose coordinate tokens have not been trained yet (the tiny recipe's first
    #: caption rung, after the names-only recognition stage has let them drift); never for a pretrained
    #: checkpoint. A resumed run loads its checkpoint's weights over it.
    number_init: Literal["fourier"] | None = None


@dataclass
class DataConfig:
    """Where the training samples come from and how they are shown to the model.

    ``format``: ``benchmark`` (our format: a directory with samples.jsonl), ``segzero`` (Seg-Zero's
    training layout: parquet files or a ``datasets.save_to_disk`` directory with columns ``id``,
    ``problem``, ``solution``, ``image``), or ``auto`` (decided from the directory content).
    ``resolution``: the model frame (``840`` -> 840x840, ``[w, h]``, or ``null`` for the native size);
    images are resized to it and ground-truth strings are written in it.
    ``path``: one dataset, or a list of them read one after the other into one training set (e.g. a
    replay mix of curriculum stages: ``[runs/crops, runs/scenes]``; every other setting applies to each).
    """

    path: str | list[str]
    format: Literal["auto", "benchmark", "segzero"] = "auto"
    split: str | None = "train"
    resolution: int | list[int] | None = 840
    prompt_template: str | None = None
    #: JSON list of {"image_id", "difficulty_score_model"} (the authors' file); overrides sample difficulty
    difficulty_file: str | None = None
    max_samples: int | None = None
    shuffle_seed: int | None = None
    #: GRPO only, L1 (reward l1_exact / l1_max): [low, high] range of each sample's target length
    #: (``rewards.l1_target_length``: uniform, fixed by the sample id), appended to the prompt with
    #: ``target_length_prompt`` and given to the reward as the ``target_length`` column; null = none
    target_length: list[int] | None = None
    target_length_prompt: str = " Think for {target} words."
    #: SFT only: which reference reasoning becomes the target: short | long | mix, or ``name``: the
    #: target's name only ("the red star", from ``source.target`` of a shapes benchmark), a referring
    #: stage that teaches query -> target -> box at the shortest distance before the task's reasoning
    reasoning: Literal["short", "long", "mix", "name"] = "short"
    #: SFT only, with reasoning=mix: probability of taking the long reference for a sample
    long_fraction: float = 0.5
    #: SFT only: ``task`` (query -> reasoning + answer) or ``caption`` (grounding pre-training: the
    #: prompt ``caption_prompt``, the target every shape of ``source.shapes`` as "the red circle
    #: [x1, y1, x2, y2]" in a random order, model frame; needs a shapes benchmark)
    target: Literal["task", "caption"] = "task"
    caption_prompt: str = "Describe the shapes."
    #: SFT only, caption rows: follow every shape's name with its box (True) or name the shapes only
    #: (False: "the red circle, the blue star"), a recognition stage without the coordinate tokens
    caption_boxes: bool = True
    #: SFT only, with target=task: probability of a caption row instead of the task row for a sample
    #: (keeps grounding supervision during task SFT)
    caption_fraction: float = 0.0
    #: SFT only, with target=task: probability (seeded) that a task row's reasoning is the target's
    #: name (as with reasoning=name) instead of the reference chosen by ``reasoning``: replays the
    #: referring stage inside the task mix, so that the task keeps reading the query (shapes only)
    name_fraction: float = 0.0
    #: SFT only: the loss weight of a completion's decisive tokens (``chains.decisive_spans``: the chain's
    #: filters, anchor, comparisons and target step, and the answer) against 1 for the rest (the
    #: scene-wide lists); 1.0 = the plain token-mean loss (TRL's own)
    decisive_weight: float = 1.0

    def paths(self) -> list[str]:
        """``path`` as a list (one entry for a single dataset)."""
        return [self.path] if isinstance(self.path, str) else list(self.path)

    def target_length_problem(self) -> str | None:
        """``"data.target_length: ..."`` when the range or its prompt is malformed; None when fine."""
        if self.target_length is None:
            return None
        t = self.target_length
        if len(t) != 2 or not 0 < t[0] <= t[1]:
            return f"data.target_length: expected [low, high] with 0 < low <= high, got {t}"
        if "{target}" not in self.target_length_prompt:
            return f"data.target_length_prompt: must contain '{{target}}', got {self.target_length_prompt!r}"
        return None

    def fraction_problem(self) -> str | None:
        """``"data.NAME: expected a number in [0, 1], got V"`` for the first share outside [0, 1] (or a
        ``decisive_weight`` that is not positive); None when fine."""
        for name in ("long_fraction", "caption_fraction", "name_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                return f"data.{name}: expected a number in [0, 1], got {value}"
        if not self.decisive_weight > 0:
            return f"data.decisive_weight: expected a number > 0, got {self.decisive_weight}"
        return None


@dataclass
class RewardSection:
    """Reward by name (``pixelthink.rewards.REWARDS``) and its ``RewardConfig``.

    ``config`` is built by ``RewardConfig.from_dict``, the parser of the verl path too (the authors'
    alias names are accepted here as there); ``given`` lists the fields the recipe set (for
    :meth:`Recipe.to_dict`).
    """

    name: str = "pixelthink"
    config: RewardConfig = field(default_factory=RewardConfig)
    given: tuple[str, ...] = ()

    def reward_config(self) -> RewardConfig:
        return self.config


@dataclass
class LoraSection:
    """PEFT LoRA settings (``enabled: false`` = full fine-tuning)."""

    enabled: bool = False
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    #: regex of module names to exclude from LoRA (default: the vision tower)
    exclude_modules: str | list[str] | None = r".*visual.*"


@dataclass
class UncertaintySection:
    """Which generated tokens U averages over: ``all`` (the authors') or ``reasoning`` (inside <think>)."""

    tokens: Literal["all", "reasoning"] = "all"


@dataclass
class TowerArguments:
    """The ``trainer`` section of a ``kind: tower`` recipe: dense-target pretraining of the vision tower
    (:mod:`pixelthink.train.tower`). Names follow TRL's where they mean the same thing."""

    max_steps: int = 1500
    per_device_train_batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    #: weight of the box loss against the two cross-entropies
    box_weight: float = 2.0
    #: how the box head codes each shape's box and centre: ``fourier`` (the cos / sin code of the tiny
    #: model's number tokens, MSE) or ``linear`` (pixels / frame, smooth L1)
    box_code: str = "fourier"
    #: shapes per drawn scene (inclusive range; the world's own scenes hold 2-5)
    min_shapes: int = 2
    max_shapes: int = 5
    #: held-out scenes measured every ``eval_steps`` steps (a fixed set, never trained on)
    eval_samples: int = 128
    eval_steps: int = 250
    save_steps: int = 250
    logging_steps: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "max_steps",
            "per_device_train_batch_size",
            "eval_samples",
            "eval_steps",
            "save_steps",
            "logging_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name}: expected an integer >= 1, got {getattr(self, name)}")
        if self.box_code not in ("fourier", "linear"):
            raise ValueError(f"trainer.box_code: expected 'fourier' or 'linear', got {self.box_code!r}")
        if not 1 <= self.min_shapes <= self.max_shapes <= 16:
            raise ValueError(
                f"trainer.min_shapes / max_shapes: expected 1 <= min <= max <= 16, got {self.min_shapes}, {self.max_shapes}"
            )

    def n_shapes(self) -> tuple[int, int]:
        return (self.min_shapes, self.max_shapes)


@dataclass
class Recipe:
    """A whole training recipe (see the module docstring for the YAML layout)."""

    kind: Literal["grpo", "sft", "tower"]
    model: ModelConfig
    data: DataConfig
    output_dir: str
    reward: RewardSection = field(default_factory=RewardSection)
    lora: LoraSection = field(default_factory=LoraSection)
    uncertainty: UncertaintySection = field(default_factory=UncertaintySection)
    trainer: dict[str, Any] = field(default_factory=dict)
    #: where the recipe came from (for messages); not a YAML key
    source: str = "<recipe>"

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a YAML-ready dict (``reward`` flattened back, ``source`` dropped)."""
        out = dataclasses.asdict(self)
        out.pop("source")
        out.pop("reward")
        given = {name: getattr(self.reward.config, name) for name in self.reward.given}
        out["reward"] = {"name": self.reward.name, **given}
        return out


# --------------------------------------------------------------------------- type checking


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true | false"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and minimally coerce: int -> float, "1e-6" -> float) ``value`` against annotation ``tp``
    (the annotations of pixelthink's own sections; TRL's ``trainer`` section is read by TRL's parser)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise RecipeError(f"{where}: expected null, got {value!r}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in typing.get_args(tp)):
            return value
        raise RecipeError(f"{where}: expected one of {_type_name(tp)}, got {value!r}")
    if origin in (list, Sequence):
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise RecipeError(f"{where}: expected a list ({_type_name(tp)}), got {value!r}")
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise RecipeError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RecipeError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-6" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise RecipeError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise RecipeError(f"{where}: expected a string, got {value!r}")
    if tp is dict:
        if isinstance(value, dict):
            return value
        raise RecipeError(f"{where}: expected a mapping, got {value!r}")
    if tp is list:
        if isinstance(value, list | tuple):
            return list(value)
        raise RecipeError(f"{where}: expected a list, got {value!r}")
    raise RecipeError(f"{where}: unsupported annotation {tp!r} (internal error)")


def _suggest(key: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build_dataclass(cls: type, data: Any, where: str, source: str) -> Any:
    """Instantiate dataclass ``cls`` from a YAML mapping, checking keys and types."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: {where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise RecipeError(
                f"{source}: unknown key {where}.{key}{_suggest(str(key), list(fields))}; "
                f"expected one of {sorted(fields)}"
            )
        kwargs[key] = _coerce(value, hints[key], f"{source}: {where}.{key}")
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise RecipeError(f"{source}: missing required key(s) {', '.join(f'{where}.{m}' for m in missing)}")
    return cls(**kwargs)


def _reward_section(data: Any, source: str) -> RewardSection:
    if data is None:
        return RewardSection()
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: reward: expected a mapping (name + RewardConfig fields), got {data!r}")
    from pixelthink.rewards import REWARDS

    name = data.get("name", "pixelthink")
    if name not in REWARDS:
        raise RecipeError(
            f"{source}: reward.name: unknown reward {name!r}{_suggest(str(name), list(REWARDS))}; "
            f"expected one of {sorted(REWARDS)}"
        )
    params = {key: value for key, value in data.items() if key != "name"}
    try:
        config = RewardConfig.from_dict(params, where=f"{source}: reward")
    except ValueError as exc:
        raise RecipeError(str(exc)) from exc
    given = tuple(RewardConfig.field_name(str(key)) for key in params)
    return RewardSection(name=name, config=config, given=given)


_TOP_KEYS = ("kind", "model", "data", "output_dir", "reward", "lora", "uncertainty", "trainer")


def recipe_from_dict(data: Mapping[str, Any], source: str = "<recipe>") -> Recipe:
    """Build and check a :class:`Recipe` from a parsed YAML mapping (``source`` names it in errors)."""
    if not isinstance(data, Mapping):
        raise RecipeError(f"{source}: the recipe must be a YAML mapping, got {type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise RecipeError(
                f"{source}: unknown top-level key {key!r}{_suggest(str(key), _TOP_KEYS)}; expected {list(_TOP_KEYS)}"
            )
    for key in ("kind", "model", "data", "output_dir"):
        if data.get(key) is None:
            raise RecipeError(f"{source}: missing required key {key!r}")
    kind = _coerce(data["kind"], Literal["grpo", "sft", "tower"], f"{source}: kind")
    model_data = data["model"]
    if isinstance(model_data, str):
        model_data = {"path": model_data}
    model = _build_dataclass(ModelConfig, model_data, "model", source)
    data_cfg = _build_dataclass(DataConfig, data["data"], "data", source)
    if not data_cfg.paths():
        raise RecipeError(f"{source}: data.path: expected a dataset path or a non-empty list of them, got []")
    res = data_cfg.resolution
    sides = res if isinstance(res, list) else [] if res is None else [res]
    if (isinstance(res, list) and len(res) != 2) or any(side <= 0 for side in sides):
        raise RecipeError(
            f"{source}: data.resolution: expected a positive int, [width, height] of positive ints, or null, "
            f"got {res}"
        )
    problem = frame_size_problem(res)
    if problem:
        raise RecipeError(f"{source}: data.resolution: {problem}")
    problem = data_cfg.fraction_problem() or data_cfg.target_length_problem()
    if problem:
        raise RecipeError(f"{source}: {problem}")
    output_dir = _coerce(data["output_dir"], str, f"{source}: output_dir")
    reward = _reward_section(data.get("reward"), source)
    if kind == "grpo" and reward.name in ("l1_exact", "l1_max") and data_cfg.target_length is None:
        raise RecipeError(
            f"{source}: reward.name {reward.name!r} needs data.target_length: [low, high] (L1 states a target "
            "length in the prompt and rewards the distance to it)"
        )
    lora = _build_dataclass(LoraSection, data.get("lora") or {}, "lora", source)
    unc = _build_dataclass(UncertaintySection, data.get("uncertainty") or {}, "uncertainty", source)
    trainer = data.get("trainer") or {}
    if not isinstance(trainer, dict):
        raise RecipeError(
            f"{source}: trainer: expected a mapping of GRPOConfig/SFTConfig fields, got {trainer!r}"
        )
    if kind == "grpo" and reward.name == "dapo_overlong" and "max_completion_length" in trainer:
        max_len = reward.reward_config().overlong_max_length
        if trainer["max_completion_length"] != max_len:
            raise RecipeError(
                f"{source}: reward.overlong_max_length ({max_len:g}) must equal trainer.max_completion_length "
                f"({trainer['max_completion_length']}): DAPO's penalty reaches -1 at the longest completion"
            )
    for reserved in ("output_dir",):
        if reserved in trainer:
            raise RecipeError(
                f"{source}: trainer.{reserved}: set it at the top level ({reserved}: ...), not here"
            )
    return Recipe(
        kind=kind,
        model=model,
        data=data_cfg,
        output_dir=output_dir,
        reward=reward,
        lora=lora,
        uncertainty=unc,
        trainer=dict(trainer),
        source=source,
    )


def apply_overrides(
    data: dict[str, Any], overrides: Sequence[str], source: str = "<overrides>"
) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides to a parsed recipe mapping (values parsed as YAML); returns a copy.

    ``model=PATH`` replaces the model spec; ``model.path=PATH`` works when ``model`` is a mapping or a string.
    """
    import copy

    out = copy.deepcopy(dict(data))
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"{source}: override {item!r}: expected KEY=VALUE (e.g. trainer.max_steps=10)")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise RecipeError(f"{source}: override {item!r}: empty key")
        try:
            value = _load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise RecipeError(f"{source}: override {item!r}: value is not valid YAML: {exc}") from exc
        parts = key.split(".")
        node: dict[str, Any] = out
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = {}
            elif isinstance(child, str) and part == "model":
                child = {"path": child}
            elif not isinstance(child, dict):
                raise RecipeError(
                    f"{source}: override {item!r}: {'.'.join(parts[: i + 1])} is {child!r}, not a mapping"
                )
            node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def load_recipe(path: str | Path, overrides: Sequence[str] = (), *, kind: str | None = None) -> Recipe:
    """Read a recipe YAML file, apply ``overrides`` and check everything.

    Args:
        path: the YAML file.
        overrides: ``dotted.key=value`` strings.
        kind: if given (``grpo`` / ``sft``), the recipe's ``kind`` must match (a missing ``kind`` takes it).

    Raises:
        FileNotFoundError: no such file.
        RecipeError: invalid YAML, unknown key, wrong type, or kind mismatch (message names the key).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: recipe file not found")
    try:
        data = _load_yaml(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RecipeError(f"{p}:{line}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{p}: the recipe must be a YAML mapping, got {type(data).__name__}")
    data = apply_overrides(data, overrides, source=str(p))
    if kind is not None:
        if data.get("kind") is None:
            data["kind"] = kind
        elif data["kind"] != kind:
            raise RecipeError(f"{p}: kind: the recipe is for {data['kind']!r}, but `train {kind}` was run")
    return recipe_from_dict(data, source=str(p))


def _trainer_config_class(kind: str) -> type:
    """The ``trainer`` dataclass of a recipe ``kind``: TRL's (imported lazily) or :class:`TowerArguments`."""
    if kind == "tower":
        return TowerArguments
    if kind == "grpo":
        from trl import GRPOConfig

        return GRPOConfig
    from trl import SFTConfig

    return SFTConfig


def check_trainer(recipe: Recipe, config_cls: type | None = None) -> dict[str, Any]:
    """Check ``recipe.trainer`` against ``config_cls`` (default: the class for ``recipe.kind``).

    Every key must be an ``__init__`` field of the class (else one line naming ``trainer.<key>``, with a
    suggestion). TRL owns the values of its ``GRPOConfig`` / ``SFTConfig``: they go through TRL's own
    parser (``TrlParser.set_defaults_with_config``, the way TRL's scripts and open-r1 read a YAML file
    into these dataclasses), which reads strings as the field's type (``"1e-6"`` -> float; YAML 1.1
    reads exponents without a dot as strings) and leaves other values to the dataclass itself.
    The ``trainer`` section of a ``kind: tower`` recipe is pixelthink's :class:`TowerArguments`,
    checked field by field like the other pixelthink sections. This is what ``--dry-run`` runs, and
    :func:`trainer_arguments` runs it before building the class.

    Returns:
        A copy of ``recipe.trainer`` with the values as the parser read them.

    Raises:
        RecipeError: one line naming the file and ``trainer.<key>``, what was found and what was expected.
    """
    cls = config_cls if config_cls is not None else _trainer_config_class(recipe.kind)
    names = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    owner = "" if cls is TowerArguments else "TRL's "
    values = {str(key): value for key, value in recipe.trainer.items()}
    for key in values:
        if key not in names:
            raise RecipeError(
                f"{recipe.source}: unknown key trainer.{key}{_suggest(key, names)}: "
                f"not a field of {owner}{cls.__name__}"
            )
    if cls is TowerArguments:
        hints = typing.get_type_hints(cls)
        return {
            key: _coerce(value, hints[key], f"{recipe.source}: trainer.{key}")
            for key, value in values.items()
        }
    return _read_with_trl_parser(cls, values, recipe.source)


def _read_with_trl_parser(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """``values`` as TRL's ``TrlParser`` reads a config file's mapping for dataclass ``cls``."""
    import argparse

    from trl import TrlParser

    parser = TrlParser(cls, exit_on_error=False)
    parser.set_defaults_with_config(**values)
    try:
        namespace, _ = parser.parse_known_args([])
    except argparse.ArgumentError as exc:
        key = (exc.argument_name or "").split("/")[0].removeprefix("--")
        raise RecipeError(f"{source}: trainer.{key}: {exc.message}") from exc
    return {key: getattr(namespace, key) for key in values}


def trainer_arguments(recipe: Recipe, config_cls: type, **fixed: Any) -> Any:
    """Build TRL's ``GRPOConfig`` / ``SFTConfig`` from ``recipe.trainer`` plus ``fixed`` values.

    The recipe values are read by :func:`check_trainer` first (unknown keys and values TRL's parser
    cannot read raise :class:`RecipeError` naming ``trainer.<key>``); values the class then rejects are
    reported with TRL's message. ``fixed`` (e.g. ``output_dir``) wins over the recipe.
    """
    kwargs = {**check_trainer(recipe, config_cls), **fixed}
    try:
        return config_cls(**kwargs)
    except (TypeError, ValueError) as exc:
        msg = " ".join(str(exc).split())
        raise RecipeError(
            f"{recipe.source}: trainer: TRL's {config_cls.__name__} rejected the values: {msg}"
        ) from exc
