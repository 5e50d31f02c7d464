"""Training data: our benchmark format or Seg-Zero's training layout -> TRL dataset rows.

GRPO rows (one per sample)::

    {"id": str,
     "prompt": [{"role": "user", "content": PROMPT_TEXT}],   # answer.build_prompt(query, template)
     "image": PIL.Image (RGB, already resized to the model frame by FrameTransform),
     "solution": "<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>",   # MODEL frame, integers
     "difficulty": float | None,                              # 1..10, None = unrated
     "target_length": float | None}                           # L1's target (data.target_length), else None

TRL inserts the image before the text of the user message (``prepare_multimodal_messages``) and
passes ``solution`` / ``difficulty`` / ``id`` to every reward function as keyword arguments.

SFT rows: the same ``prompt`` / ``image`` plus ``completion`` = one assistant message
``<think>REFERENCE</think><answer>{"bbox": [...], "points_1": [...], "points_2": [...]}</answer>``
(model frame, integers), with the reference taken from ``reasoning_short`` / ``reasoning_long``.

Sources:

* ``benchmark``: a directory with ``samples.jsonl`` (:class:`pixelthink.data.Benchmark`); geometry
  is stored in the original frame and converted with :class:`pixelthink.frames.FrameTransform`.
* ``segzero``: Seg-Zero's training set (``Ricky06662/refCOCOg_9k_840`` layout): parquet files (a
  directory of them, or one file) or a ``datasets.save_to_disk`` directory with columns ``id``,
  ``problem``, ``solution`` (in the frame of the stored image, 840x840), ``image``. If the recipe's
  resolution differs from the stored image size, the image and the solution are rescaled.

Difficulty: the sample's own ``difficulty`` (benchmark), or the authors' JSON list
``[{"image_id": ..., "difficulty_score_model": 1..10}, ...]`` (``data.difficulty_file``), looked up by
sample id, then by ``source.image_id``; values outside 1..10 are ignored as the authors do.
Missing difficulties stay None: the reward uses ``RewardConfig.default_difficulty``.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pixelthink.answer import DEFAULT_PROMPT_TEMPLATE, build_prompt
from pixelthink.data.importers import read_difficulty_entries
from pixelthink.frames import FrameTransform
from pixelthink.miniature.shapes.grounding import rescale_mentions
from pixelthink.rewards import l1_target_length

from .config import DataConfig

__all__ = [
    "DataStats",
    "answer_json",
    "build_dataset",
    "caption_text",
    "detect_format",
    "grpo_rows",
    "load_difficulty_file",
    "parse_segzero_solution",
    "sft_rows",
    "sft_target",
    "tokenizer_texts",
]

log = logging.getLogger(__name__)

_SOLUTION_RE = re.compile(
    r"<box>\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*,\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*</box>\s*"
    r"<points>\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*,\s*\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)\s*</points>"
)


@dataclass
class DataStats:
    """Counts of what happened while reading (nothing is dropped silently)."""

    read: int = 0
    kept: int = 0
    skipped_split: int = 0
    skipped_no_box: int = 0
    skipped_no_reasoning: int = 0
    difficulty_from_file: int = 0
    difficulty_missing: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"read {self.read}, kept {self.kept}, skipped: split {self.skipped_split}, no box "
            f"{self.skipped_no_box}, no reasoning {self.skipped_no_reasoning}; difficulty from file "
            f"{self.difficulty_from_file}, unrated {self.difficulty_missing}"
        )


def parse_segzero_solution(
    text: str, where: str = "solution"
) -> tuple[tuple[float, ...], list[tuple[float, float]]]:
    """Parse Seg-Zero's ground-truth string into (box XYXY, [p1, p2]) in the frame it was written in."""
    m = _SOLUTION_RE.search(text or "")
    if m is None:
        raise ValueError(
            f"{where}: expected '<box>(x1,y1),(x2,y2)</box><points>(x,y),(x,y)</points>', got {text!r:.120}"
        )
    v = [float(g) for g in m.groups()]
    return (v[0], v[1], v[2], v[3]), [(v[4], v[5]), (v[6], v[7])]


def load_difficulty_file(path: str | Path) -> dict[str, float]:
    """Read the authors' difficulty list ``[{"image_id", "difficulty_score_model"}]`` -> {id: difficulty}.

    Entries whose score is not a number in 1..10 are skipped (as in the authors' converter).
    """
    p = Path(path)
    records = read_difficulty_entries(p, "difficulty file (data.difficulty_file)")  # also {"id": score}
    out: dict[str, float] = {}
    for i, item in enumerate(records):
        if not isinstance(item, Mapping) or "image_id" not in item:
            raise ValueError(
                f"{p}: entry {i}: expected an object with 'image_id' and 'difficulty_score_model'"
            )
        d = item.get("difficulty_score_model")
        if isinstance(d, int | float) and not isinstance(d, bool) and 1.0 <= d <= 10.0:
            out[str(item["image_id"])] = float(d)
    return out


def detect_format(path: str | Path) -> str:
    """``benchmark`` (samples.jsonl present) or ``segzero`` (parquet / save_to_disk); else ValueError."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: training data not found (data.path)")
    if p.is_file():
        if p.name == "samples.jsonl":
            return "benchmark"
        if p.suffix == ".parquet":
            return "segzero"
    else:
        if (p / "samples.jsonl").is_file():
            return "benchmark"
        if (p / "dataset_info.json").is_file() or (p / "state.json").is_file() or any(p.rglob("*.parquet")):
            return "segzero"
    raise ValueError(
        f"{p}: cannot tell the data format (data.format: auto): expected a benchmark directory with "
        "samples.jsonl, or Seg-Zero parquet files / a datasets.save_to_disk directory"
    )


def _resolution(cfg: DataConfig) -> int | tuple[int, int] | None:
    r = cfg.resolution
    return tuple(r) if isinstance(r, list) else r  # type: ignore[return-value]


def answer_json(box: tuple[float, ...], points: list[tuple[float, float]]) -> str:
    """The answer JSON the model is asked for (integers, model frame): ``{"bbox": [...], "points_1": ...}``."""
    ib = [round(v) for v in box]
    ip = [[round(x), round(y)] for x, y in points]
    while len(ip) < 2:  # a sample with a single point: repeat it (the format needs two)
        ip.append(list(ip[-1]) if ip else [round((ib[0] + ib[2]) / 2), round((ib[1] + ib[3]) / 2)])
    return json.dumps({"bbox": ib, "points_1": ip[0], "points_2": ip[1]}, separators=(", ", ": "))


def sft_target(reasoning: str, box: tuple[float, ...], points: list[tuple[float, float]]) -> str:
    """``<think>reasoning</think><answer>{json}</answer>`` with box/points in the model frame."""
    return f"<think>{reasoning.strip()}</think><answer>{answer_json(box, points)}</answer>"


def _ground_truth(box: tuple[float, ...], points: list[tuple[float, float]]) -> str:
    from pixelthink.rewards import format_ground_truth

    pts = list(points)
    while len(pts) < 2:
        pts.append(pts[-1] if pts else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    return format_ground_truth(tuple(box), pts[:2])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sources


@dataclass
class _Item:
    id: str
    query: str
    image: Any  # PIL RGB in the original frame
    box: tuple[float, ...]  # original frame
    points: list[tuple[float, float]]  # original frame
    difficulty: float | None
    reasoning_short: str | None = None
    reasoning_long: str | None = None
    image_id: str | None = None
    objects: list[dict[str, Any]] | None = None  # source.shapes of a shapes benchmark (original frame)
    target: dict[str, Any] | None = None  # source.target of a shapes benchmark (colour, kind, ...)
    query_is_prompt: bool = False  # Seg-Zero's "problem" is the bare question
    dataset: str = ""  # the data.path entry it came from (messages name it)


def _iter_benchmark(cfg: DataConfig, stats: DataStats) -> Iterator[_Item]:
    from pixelthink.data import Benchmark

    bench = Benchmark(cfg.path)
    for s in bench:
        stats.read += 1
        if cfg.split is not None and s.split != cfg.split:
            stats.skipped_split += 1
            continue
        if s.bbox is None:
            stats.skipped_no_box += 1
            continue
        yield _Item(
            id=s.id,
            query=s.query,
            image=bench.load_image(s),
            box=tuple(float(v) for v in s.bbox),
            points=[(float(x), float(y)) for x, y in s.points],
            difficulty=s.difficulty,
            reasoning_short=s.reasoning_short,
            reasoning_long=s.reasoning_long,
            image_id=str(s.source.get("image_id")) if s.source.get("image_id") is not None else None,
            objects=s.source.get("shapes") if isinstance(s.source.get("shapes"), list) else None,
            target=s.source.get("target") if isinstance(s.source.get("target"), dict) else None,
            dataset=str(cfg.path),
        )


def _load_segzero(path: Path) -> Any:
    import datasets

    if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "state.json").is_file()):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if "train" not in ds:
                raise ValueError(f"{path}: DatasetDict without a 'train' split (has {list(ds)})")
            ds = ds["train"]
        return ds
    files = [str(path)] if path.is_file() else sorted(str(f) for f in path.rglob("*.parquet"))
    train = [f for f in files if "train" in Path(f).name] or files
    return datasets.load_dataset("parquet", data_files={"train": train}, split="train")


def _iter_segzero(cfg: DataConfig, stats: DataStats) -> Iterator[_Item]:
    from pixelthink.images import decode_image

    path = Path(cfg.path)
    ds = _load_segzero(path)
    need = {"id", "problem", "solution", "image"}
    missing = need - set(ds.column_names)
    if missing:
        raise ValueError(f"{path}: Seg-Zero layout needs columns {sorted(need)}; missing {sorted(missing)}")
    for i, row in enumerate(ds):
        stats.read += 1
        where = f"{path}: row {i} (id {row['id']!r}): field 'solution'"
        box, pts = parse_segzero_solution(row["solution"], where)
        img = row["image"]
        if isinstance(img, dict):  # undecoded {"bytes", "path"}: through the pixel limit
            img = decode_image(img["bytes"], name=f"{path}: row {i} (id {row['id']!r}): field 'image'")
        img = img.convert("RGB")
        yield _Item(
            id=str(row["id"]),
            query=str(row["problem"]),
            image=img,
            box=box,
            points=pts,
            difficulty=None,
            image_id=str(row["id"]),
            dataset=str(path),
        )


def _items(cfg: DataConfig, stats: DataStats) -> Iterator[_Item]:
    for path in cfg.paths():
        one = replace(cfg, path=path)
        fmt = detect_format(path) if cfg.format == "auto" else cfg.format
        yield from _iter_benchmark(one, stats) if fmt == "benchmark" else _iter_segzero(one, stats)


def _with_difficulty(items: Iterator[_Item], cfg: DataConfig, stats: DataStats) -> Iterator[_Item]:
    table = load_difficulty_file(cfg.difficulty_file) if cfg.difficulty_file else None
    for it in items:
        if table is not None:
            d = table.get(it.id)
            if d is None and it.image_id is not None:
                d = table.get(it.image_id)
            if d is not None:
                it.difficulty = d
                stats.difficulty_from_file += 1
        if it.difficulty is None:
            stats.difficulty_missing += 1
        yield it


def _limited(items: Iterator[_Item], cfg: DataConfig) -> Iterator[_Item]:
    for n, it in enumerate(items):
        if cfg.max_samples is not None and n >= cfg.max_samples:
            return
        yield it


def _model_geometry(it: _Item, cfg: DataConfig) -> tuple[Any, tuple[float, ...], list[tuple[float, float]]]:
    ft = FrameTransform.for_size(it.image.width, it.image.height, _resolution(cfg))
    image = ft.image_to_model(it.image)
    box = ft.box_to_model(it.box)  # type: ignore[arg-type]
    pts = ft.points_to_model(it.points) if it.points else []
    return image, tuple(box), [tuple(p) for p in pts]  # type: ignore[misc]


def _in_model_frame(reasoning: str, it: _Item, cfg: DataConfig) -> str:
    """``reasoning`` with the boxes of its grounded mentions (``the red star [x1, y1, x2, y2]``, written
    in the original frame by the shapes generator) moved to the frame the model sees, where it writes
    its answer (``grounding.rescale_mentions``); text without mentions is returned as it is."""
    ft = FrameTransform.for_size(it.image.width, it.image.height, _resolution(cfg))
    return rescale_mentions(reasoning, ft.box_to_model)  # type: ignore[arg-type]


def grpo_rows(cfg: DataConfig, stats: DataStats | None = None) -> Iterator[dict[str, Any]]:
    """Yield GRPO rows (see the module docstring); ``stats`` collects the counts."""
    stats = stats if stats is not None else DataStats()
    template = cfg.prompt_template or DEFAULT_PROMPT_TEMPLATE
    for it in _limited(_with_difficulty(_items(cfg, stats), cfg, stats), cfg):
        image, box, pts = _model_geometry(it, cfg)
        stats.kept += 1
        prompt = build_prompt(it.query, template)
        target = None
        if cfg.target_length is not None:  # L1: the target length is stated in the prompt
            target = l1_target_length(it.id, cfg.target_length[0], cfg.target_length[1])
            prompt += cfg.target_length_prompt.format(target=target)
        yield {
            "id": it.id,
            "prompt": [{"role": "user", "content": prompt}],
            "image": image,
            "solution": _ground_truth(box, pts),
            "difficulty": it.difficulty,
            "target_length": None if target is None else float(target),
        }


def _shape_name(shape: Mapping[str, Any]) -> str:
    """``"the red circle"``: how captions and the referring stage name a shape (colour, kind)."""
    return f"the {shape['colour']} {shape['kind']}"


def caption_text(
    objects: list[dict[str, Any]], ft: FrameTransform, rng: random.Random, boxes: bool = True
) -> str:
    """``"the red circle [x1, y1, x2, y2], the blue square [...]"``: every object with a box, in a
    random order, boxes as integer model-frame pixels (no position words: nothing but the image tells
    where a shape is). ``boxes=False``: the names only (``"the red circle, the blue square"``)."""
    parts = []
    for o in objects:
        if o.get("bbox") is None:
            continue
        if not boxes:
            parts.append(_shape_name(o))
            continue
        x1, y1, x2, y2 = (round(v) for v in ft.box_to_model(tuple(float(v) for v in o["bbox"])))
        parts.append(f"{_shape_name(o)} [{x1}, {y1}, {x2}, {y2}]")
    rng.shuffle(parts)
    return ", ".join(parts)


def _target_name(it: _Item) -> str:
    """``"the red star"``: the target's name (``source.target`` of a shapes benchmark)."""
    t = it.target or {}
    if not (isinstance(t.get("colour"), str) and isinstance(t.get("kind"), str)):
        raise ValueError(
            f"{it.dataset}: sample {it.id} has no source.target with 'colour' and 'kind'; "
            "data.reasoning: name needs a shapes benchmark made by `pixelthink data shapes`"
        )
    return _shape_name(t)


def _caption_row(it: _Item, cfg: DataConfig, rng: random.Random) -> dict[str, Any]:
    if not it.objects:
        raise ValueError(
            f"{it.dataset}: sample {it.id} has no source.shapes; caption rows (data.target: caption, "
            "data.caption_fraction) need a shapes benchmark made by `pixelthink data shapes` "
            "(generator version 2 or later)"
        )
    ft = FrameTransform.for_size(it.image.width, it.image.height, _resolution(cfg))
    return {
        "id": it.id,
        "prompt": [{"role": "user", "content": cfg.caption_prompt}],
        "completion": [
            {"role": "assistant", "content": caption_text(it.objects, ft, rng, boxes=cfg.caption_boxes)}
        ],
        "image": ft.image_to_model(it.image),
        "difficulty": it.difficulty,
    }


def sft_rows(cfg: DataConfig, stats: DataStats | None = None, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield SFT rows: prompt + image + assistant ``completion`` built from the reference reasoning.

    ``cfg.reasoning``: ``short`` / ``long`` take that reference (samples without it are skipped and
    counted); ``mix`` takes the long one with probability ``cfg.long_fraction`` (seeded), falling back to
    the other when one is missing; ``name`` takes the target's name (:func:`_target_name`, shapes
    benchmarks: a referring stage). ``cfg.target == "caption"``: caption rows instead
    (:func:`caption_text`, prompt ``cfg.caption_prompt``); with ``cfg.caption_fraction`` > 0, that
    share of the samples (seeded) become caption rows and the others task rows; with
    ``cfg.name_fraction`` > 0, that share of the task rows (seeded) take the target's name as their
    reasoning whatever ``cfg.reasoning`` says (the referring stage replayed in the task mix).
    """
    stats = stats if stats is not None else DataStats()
    problem = cfg.fraction_problem()
    if problem:
        raise ValueError(problem)
    template = cfg.prompt_template or DEFAULT_PROMPT_TEMPLATE
    rng = random.Random(seed)
    caption_rng = random.Random(seed + 1)
    name_rng = random.Random(seed + 2)
    for it in _limited(_with_difficulty(_items(cfg, stats), cfg, stats), cfg):
        if cfg.target == "caption" or (
            cfg.caption_fraction > 0 and caption_rng.random() < cfg.caption_fraction
        ):
            stats.kept += 1
            yield _caption_row(it, cfg, caption_rng)
            continue
        if cfg.reasoning == "name" or (cfg.name_fraction > 0 and name_rng.random() < cfg.name_fraction):
            ref = _target_name(it)
        elif cfg.reasoning == "short":
            ref = it.reasoning_short
        elif cfg.reasoning == "long":
            ref = it.reasoning_long
        else:
            want_long = rng.random() < cfg.long_fraction
            first, second = (
                (it.reasoning_long, it.reasoning_short)
                if want_long
                else (it.reasoning_short, it.reasoning_long)
            )
            ref = first if first else second
        if not ref:
            stats.skipped_no_reasoning += 1
            continue
        image, box, pts = _model_geometry(it, cfg)
        stats.kept += 1
        yield {
            "id": it.id,
            "prompt": [{"role": "user", "content": build_prompt(it.query, template)}],
            "completion": [
                {"role": "assistant", "content": sft_target(_in_model_frame(ref, it, cfg), box, pts)}
            ],
            "image": image,
            "difficulty": it.difficulty,
        }


def tokenizer_texts(
    cfg: DataConfig, paths: list[str] | None = None, *, number_repeats: int = 50
) -> list[str]:
    """Texts to train a tiny model's BPE on: what the model will read and write for these benchmarks.

    For every sample of every benchmark in ``paths`` (default: ``cfg.path``; all splits, images are
    not read): the prompt (``cfg.prompt_template``), both reference reasonings and the answer JSON in
    the model frame (``cfg.resolution``). Every integer ``0 .. side-1`` of the model frame is added
    ``number_repeats`` times in the answer's spellings, so that each coordinate becomes one token, and
    so is the chat template's fixed text (the default system prompt, the role names).

    Raises:
        ValueError: a path is not a benchmark directory (a Seg-Zero layout has no reference texts).
    """
    from pixelthink.data import Benchmark

    template = cfg.prompt_template or DEFAULT_PROMPT_TEMPLATE
    texts: list[str] = []
    side = 0
    for path in paths or cfg.paths():
        if detect_format(path) != "benchmark":
            raise ValueError(
                f"{path}: model.tiny.tokenizer_from needs benchmark directories (samples.jsonl), "
                "whose queries and reference reasoning the tokenizer is trained on"
            )
        for s in Benchmark(path, check_images=False):
            ft = FrameTransform.for_size(s.width, s.height, _resolution(cfg))
            side = max(side, ft.model_w, ft.model_h)
            texts.append(build_prompt(s.query, template))
            if isinstance(s.source.get("shapes"), list):  # caption pre-training text
                texts.append(cfg.caption_prompt)
                texts.append(caption_text(s.source["shapes"], ft, random.Random(0)))
            if s.bbox is None:
                continue
            box = tuple(ft.box_to_model(tuple(float(v) for v in s.bbox)))  # type: ignore[arg-type]
            pts = [tuple(p) for p in ft.points_to_model([(float(x), float(y)) for x, y in s.points])]
            for ref in (s.reasoning_short, s.reasoning_long):
                if ref:
                    texts.append(sft_target(ref, box, pts))  # type: ignore[arg-type]
    numbers = [str(i) for i in range(side)]
    spellings = [" ".join(numbers), "[" + "], [".join(numbers) + "]"]  # " 17" and "[17"
    texts.extend(spellings * number_repeats)
    # the chat template's fixed text (Qwen's default system prompt and the role names)
    texts.extend(["system\nYou are a helpful assistant.", "user\n", "assistant\n"] * number_repeats)
    return texts


def _features(kind: str) -> Any:
    import datasets

    msg = [{"role": datasets.Value("string"), "content": datasets.Value("string")}]
    features = {
        "id": datasets.Value("string"),
        "prompt": msg,
        "image": datasets.Image(),
        "difficulty": datasets.Value("float64"),
    }
    if kind == "sft":
        features["completion"] = msg
    else:
        features["solution"] = datasets.Value("string")
        features["target_length"] = datasets.Value("float64")  # L1's target (None without data.target_length)
    return datasets.Features(features)


def _generate(cfg_dict: dict[str, Any], kind: str, seed: int, data_stamp: str) -> Iterator[dict[str, Any]]:
    """Module-level generator for ``Dataset.from_generator`` (its arguments make the cache key)."""
    del data_stamp  # part of the cache key only: changes when the data on disk changes
    cfg = DataConfig(**cfg_dict)
    stats = DataStats()
    rows = sft_rows(cfg, stats, seed=seed) if kind == "sft" else grpo_rows(cfg, stats)
    yield from rows
    log.info("training data %s: %s", cfg.path, stats.summary())
    if stats.kept == 0:
        raise ValueError(
            f"{cfg.path}: no usable training samples ({stats.summary()}); check data.path, data.split"
            + (" and the reference reasoning fields (data.reasoning)" if kind == "sft" else "")
        )


def _data_stamp(path: str) -> str:
    p = Path(path)
    files = (
        [p]
        if p.is_file()
        else [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix != ".lock"][:2000]
    )
    return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


def build_dataset(cfg: DataConfig, kind: str = "grpo", *, seed: int = 0, cache_dir: str | None = None) -> Any:
    """Build the TRL training dataset (``datasets.Dataset``, written to an Arrow cache, not kept in RAM).

    Args:
        cfg: the recipe's ``data`` section.
        kind: ``grpo`` (rows with ``solution``) or ``sft`` (rows with ``completion``).
        seed: seed of the short/long mix for SFT.
        cache_dir: where the Arrow files go (default: the ``datasets`` cache).

    Raises:
        FileNotFoundError / ValueError naming the data path and what is wrong; ValueError when no sample
        survives the filters.
    """
    import datasets

    if kind not in ("grpo", "sft"):
        raise ValueError(f"build_dataset: kind must be 'grpo' or 'sft', got {kind!r}")
    if cfg.format == "auto":  # fail early with a clear message
        for path in cfg.paths():
            detect_format(path)
    try:
        ds = _from_generator(datasets, cfg, kind, seed, cache_dir)
    except datasets.exceptions.DatasetGenerationError as exc:
        # surface our own (user-facing) errors instead of the datasets wrapper
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ValueError | FileNotFoundError):
            raise cause from None
        raise
    if cfg.shuffle_seed is not None:
        ds = ds.shuffle(seed=cfg.shuffle_seed)
    return ds


def _from_generator(datasets: Any, cfg: DataConfig, kind: str, seed: int, cache_dir: str | None) -> Any:
    return datasets.Dataset.from_generator(
        _generate,
        features=_features(kind),
        gen_kwargs={
            "cfg_dict": asdict(cfg),
            "kind": kind,
            "seed": seed,
            "data_stamp": "|".join(_data_stamp(p) for p in cfg.paths()),
        },
        cache_dir=cache_dir,
    )
