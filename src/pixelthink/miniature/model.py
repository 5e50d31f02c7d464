"""Tiny, randomly initialised models of the real architectures, for tests, examples and smoke runs.

Every builder creates the *real* transformers model class from a small config, saves it with
``save_pretrained`` together with its tokenizer and processor files, and returns the directory.
The directory loads back through exactly the code path users take for a real checkpoint
(:func:`pixelthink.models.load_reasoner`, :func:`pixelthink.models.processors.load_processor`,
``--segmenter sam:PATH``), so a test that passes on a tiny model exercises the same code.

The weights are random: the text they generate is gibberish, but shapes, token bookkeeping,
padding, timing and coordinate handling are all real. Each model is well under 5 MB on disk.

torch / transformers / tokenizers are imported lazily inside the builders.

The common arguments of the VL builders (:func:`build_tiny_qwen2_5_vl`, :func:`build_tiny_qwen3_vl`):

* ``out_dir``: output directory (created); ``seed``: torch seed for the random weights;
* ``tokenizer``: a tokenizer from :func:`build_tiny_tokenizer` (one is built if None);
* ``hidden_size``: text hidden size (4 attention heads by default, head_dim = hidden_size / 4);
  ``num_layers``: number of text decoder layers;
* ``image_size``: if given, the processor caps images at about ``image_size**2`` pixels (its
  ``max_pixels``), so a large working resolution is shrunk before the vision tower; None keeps the
  stock bounds (Qwen2.5-VL: 3136 .. 1003520 pixels, under which 840x840 is kept as is);
* ``initializer_range``: std of the random weights; larger than the stock 0.02 so that next-token
  distributions are peaked and greedy decoding is numerically stable. Use 0.02 for a model that is
  going to be trained;
* ``number_init``: ``random`` (stock) or ``fourier``: the embedding rows of the tokens that spell the
  integers ``0 .. image_size - 1`` start as Fourier codes of their value (:func:`init_number_rows`);
  needs ``image_size``. With tied embeddings this is also the output head, so nearby coordinates start
  with similar logits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "QWEN_CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "build_tiny_qwen2_5_vl",
    "build_tiny_qwen3_vl",
    "build_tiny_sam2",
    "build_tiny_sam_family",
    "build_tiny_tokenizer",
    "fourier_code",
    "fourier_number_rows",
    "init_number_rows",
    "shipped_model_dir",
]

#: Special tokens of the Qwen2.5-VL / Qwen3-VL vocabularies that the processors and models rely on.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: A Qwen-style chat template (ChatML) that renders image content parts as
#: ``<|vision_start|><|image_pad|><|vision_end|>``; the processor expands ``<|image_pad|>`` to one
#: token per merged image patch.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_BUILTIN_CORPUS: tuple[str, ...] = (
    "<think>The user asks for the object in the image. I look at the shapes and find the red one on the left."
    "</think>",
    '<answer>{"bbox": [12, 34, 256, 478], "points_1": [100, 200], "points_2": [150, 250]}</answer>',
    "<think>It is small, near the top right corner, next to the blue square.</think>",
    '<answer>{"bbox":[0,0,839,839],"points_1":[419,419],"points_2":[420,421]}</answer>',
    "Please find the object that best matches the question and output its bounding box and two points "
    "inside it. Output the thinking process in <think> </think> and the final answer in <answer> </answer>.",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 20 25 32 50 64 100 128 200 256 300 400 500 512 600 700 800 840",
    "What can be used to cut paper? Which animal is the largest? Where would you sit to read a book?",
    "the a an of in on at to is are was it this that with for from by and or not which what where who",
    "You are a helpful assistant. user assistant system image question answer box point mask object",
    '{"bbox": [x1, y1, x2, y2], "points_1": [x, y], "points_2": [x, y]} [ ] { } , : " . ? !',
)


def shipped_model_dir() -> Path:
    """``src/pixelthink/assets/tiny_model`` (inside the installed package): the trained tiny model."""
    return Path(__file__).resolve().parents[1] / "assets" / "tiny_model"


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{module} is required for the tiny model builders; install pixelthink[ml]"
        ) from exc


def build_tiny_tokenizer(
    out_dir: str | Path | None = None,
    texts: Iterable[str] | None = None,
    *,
    vocab_size: int = 400,
) -> Any:
    """Train a small byte-level BPE tokenizer with the Qwen special tokens and chat template.

    Args:
        out_dir: if given, the tokenizer is saved there (``tokenizer.json``, ``tokenizer_config.json``,
            ``chat_template.jinja``).
        texts: training texts; defaults to a built-in corpus covering digits, JSON punctuation,
            ``<think>``/``<answer>`` tags and the PixelThink prompt wording.
        vocab_size: target vocabulary size including the 256 byte symbols and the special tokens.

    Returns:
        A ``transformers`` fast tokenizer (``PreTrainedTokenizerFast``) with ``eos_token="<|im_end|>"``,
        ``pad_token="<|endoftext|>"``, left padding and :data:`QWEN_CHAT_TEMPLATE`.
    """
    tokenizers = _require("tokenizers")
    transformers = _require("transformers")

    corpus = list(texts) if texts is not None else list(_BUILTIN_CORPUS)
    if not corpus:
        raise ValueError("build_tiny_tokenizer: texts is empty; give at least one training text")
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        padding_side="left",
        chat_template=QWEN_CHAT_TEMPLATE,
        model_max_length=32768,
    )
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        tok.save_pretrained(str(out_dir))
    return tok


def _token_ids(tok: Any) -> dict[str, int]:
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    missing = [t for t, i in ids.items() if i is None or i == tok.unk_token_id]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens {missing}; build it with build_tiny_tokenizer")
    return ids


def _save_generation_config(model: Any, ids: dict[str, int]) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )


def _check_mrope(head_dim: int, mrope_section: Sequence[int]) -> None:
    if sum(mrope_section) * 2 != head_dim:
        raise ValueError(f"mrope_section {list(mrope_section)} must sum to head_dim/2 = {head_dim // 2}")


def _vision_size(image_size: int | None, default_min: int, default_max: int) -> dict[str, int]:
    """The processor's ``size`` dict (pixel-count bounds of Qwen's smart_resize)."""
    if image_size is None:
        return {"shortest_edge": default_min, "longest_edge": default_max}
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return {
        "shortest_edge": min(default_min, image_size * image_size),
        "longest_edge": image_size * image_size,
    }


def _save_vl(
    out_dir: Path,
    model: Any,
    tok: Any,
    ids: dict[str, int],
    *,
    patch_size: int,
    size: dict[str, int],
    image_mean: Sequence[float],
    image_std: Sequence[float],
    processor_kind: str,
) -> Path:
    from transformers import Qwen2VLImageProcessorPil

    from pixelthink.models.processors import PROCESSOR_CLASSES

    out_dir.mkdir(parents=True, exist_ok=True)
    _save_generation_config(model, ids)
    model.save_pretrained(str(out_dir))
    image_processor = Qwen2VLImageProcessorPil(
        size=size,
        patch_size=patch_size,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=list(image_mean),
        image_std=list(image_std),
    )
    processor = PROCESSOR_CLASSES[processor_kind](
        image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template
    )
    processor.save_pretrained(str(out_dir))
    # Real checkpoints name the stock processor class; keep that layout so that loading a tiny
    # model exercises the same code path as loading a real one.
    stock = {"qwen2_5_vl": "Qwen2_5_VLProcessor", "qwen3_vl": "Qwen3VLProcessor"}[processor_kind]
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = out_dir / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if "processor_class" in data:
                data["processor_class"] = stock
                path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out_dir


def _vl_config_parts(
    tokenizer: Any,
    *,
    hidden_size: int,
    num_layers: int,
    initializer_range: float,
    mrope_divisor: int,
    patch_size: int,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    vision_depth: int = 2,
    vision_hidden_size: int = 32,
    vision_num_heads: int = 2,
) -> tuple[Any, dict[str, int], dict[str, Any], dict[str, Any], dict[str, int]]:
    """What the tiny Qwen2.5-VL and Qwen3-VL configs share.

    The text decoder has ``num_heads`` attention heads (default 4; ``num_kv_heads`` KV heads, default 2),
    head_dim = hidden_size / num_heads, an MLP of ``intermediate_size`` (default 2 * hidden_size) and an
    M-RoPE split ``[rest, q // d, q // d]`` of ``q = head_dim / 2`` (``d = mrope_divisor``); the vision
    tower has ``vision_depth`` blocks (default 2) of width ``vision_hidden_size`` (default 32, MLP 2x)
    with ``vision_num_heads`` heads (default 2).

    Returns:
        ``(tokenizer, special-token ids, text_config, vision_config, token-id kwargs of the config)``;
        the builders add their architecture-specific keys to the two config dicts.
    """
    if num_heads < 1 or hidden_size % num_heads != 0 or hidden_size // num_heads < 4:
        raise ValueError(
            f"hidden_size must be a multiple of {num_heads} (num_heads) and >= {4 * num_heads} "
            f"(head_dim >= 4), got {hidden_size}"
        )
    if num_kv_heads < 1 or num_heads % num_kv_heads != 0:
        raise ValueError(f"num_heads ({num_heads}) must be a multiple of num_kv_heads ({num_kv_heads})")
    if vision_depth < 1:
        raise ValueError(f"vision_depth must be >= 1, got {vision_depth}")
    if vision_num_heads < 1 or vision_hidden_size % vision_num_heads != 0:
        raise ValueError(
            f"vision_hidden_size ({vision_hidden_size}) must be a multiple of vision_num_heads "
            f"({vision_num_heads})"
        )
    tok = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    ids = _token_ids(tok)
    head_dim = hidden_size // num_heads
    quarter = head_dim // 2
    mrope = [quarter - 2 * (quarter // mrope_divisor), quarter // mrope_divisor, quarter // mrope_divisor]
    _check_mrope(head_dim, mrope)
    text_config: dict[str, Any] = {
        "vocab_size": len(tok),
        "hidden_size": hidden_size,
        "intermediate_size": hidden_size * 2 if intermediate_size is None else intermediate_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        "pad_token_id": ids["<|endoftext|>"],
        "initializer_range": initializer_range,
    }
    vision_config: dict[str, Any] = {
        "depth": vision_depth,
        "hidden_size": vision_hidden_size,
        "intermediate_size": 2 * vision_hidden_size,
        "num_heads": vision_num_heads,
        "patch_size": patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": hidden_size,
        "initializer_range": initializer_range,
    }
    token_kwargs = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    return tok, ids, text_config, vision_config, token_kwargs


def _build_vl_model(model_cls: Any, config: Any, seed: int) -> Any:
    """``model_cls(config)`` in eval mode, with the random weights drawn after ``torch.manual_seed(seed)``."""
    torch = _require("torch")
    torch.manual_seed(seed)
    return model_cls(config).eval()


#: ``number_init`` values of the Qwen builders
NUMBER_INITS = ("random", "fourier")


def fourier_number_rows(
    tok: Any, max_value: int, hidden_size: int, *, pairs: int = 16, norm: float = 0.25
) -> Any:
    """Fourier codes of the number tokens: ``{token id: embedding row}`` for every token that spells an
    integer ``0 <= n < max_value`` (with or without the byte-level leading-space marker).

    Row = ``cos(2 pi n / p_k), sin(2 pi n / p_k)`` for ``pairs`` periods ``p_k`` from ``2 * max_value``
    down to 8 (geometric), scaled to norm ``norm`` (a random row of width 128 at std 0.02 has norm
    ~0.23), the other dimensions zero. Nearby values get similar rows, so with tied embeddings nearby
    coordinates start with similar logits (FINDINGS round 12: caption box IoU 33.6 -> 44.0 after 1500
    steps at 224).
    """
    torch = _require("torch")
    import numpy as np

    if 2 * pairs > hidden_size:
        raise ValueError(f"number_init='fourier' needs hidden_size >= {2 * pairs}, got {hidden_size}")
    rows: dict[int, Any] = {}
    for token, idx in tok.get_vocab().items():
        text = token[1:] if token.startswith("\u0120") else token
        if not (text.isascii() and text.isdigit()) or int(text) >= max_value:
            continue
        row = torch.zeros(hidden_size)
        code = fourier_code(np.array(int(text)), max_value, pairs)
        row[: 2 * pairs] = torch.tensor(code * norm / np.sqrt(pairs))
        rows[idx] = row
    return rows


def fourier_code(values: Any, max_value: int, pairs: int = 16) -> Any:
    """``[..., 2 * pairs]`` codes of numbers: ``cos(2 pi v / p_k)`` then ``sin(2 pi v / p_k)`` for
    ``pairs`` periods ``p_k`` from ``2 * max_value`` down to 8 (geometric), float32, entries in [-1, 1].

    The code of the number tokens (:func:`fourier_number_rows`) and of the tower stage's box targets
    (:mod:`pixelthink.train.tower`, ``box_code: fourier``), so the two speak the same code.
    """
    import numpy as np

    periods = np.geomspace(2.0 * max_value, 8.0, pairs)
    ang = 2.0 * np.pi * np.asarray(values, np.float64)[..., None] / periods
    return np.concatenate([np.cos(ang), np.sin(ang)], -1).astype(np.float32)


def init_number_rows(model: Any, tok: Any, max_value: int, norm: float | None = None) -> int:
    """Overwrite the number tokens' input-embedding rows (= the LM head when tied) with
    :func:`fourier_number_rows` of norm ``norm``; None: the median norm of the other rows, so that a
    trained model's number rows start on the scale of the rest of its vocabulary (its rows grow in
    training: 0.23 -> 3.2 in the tiny recipe's recognition stage). Returns how many rows were set.

    Meant for a model whose coordinate tokens have not been trained yet: at build time, or after a
    stage without coordinates (``model.number_init`` of a training recipe).
    """
    torch = _require("torch")
    emb = model.get_input_embeddings().weight
    numbers = set(fourier_number_rows(tok, max_value, emb.shape[1]))
    if norm is None:
        others = [i for i in range(emb.shape[0]) if i not in numbers]
        norm = float(emb.detach()[others].norm(dim=1).median()) if others else 0.25
    with torch.no_grad():
        for idx, row in fourier_number_rows(tok, max_value, emb.shape[1], norm=norm).items():
            emb[idx] = row.to(emb.dtype)
    return len(numbers)


def _init_numbers(model: Any, tok: Any, number_init: str, max_value: int | None) -> None:
    """Apply a builder's ``number_init``."""
    if number_init not in NUMBER_INITS:
        raise ValueError(f"number_init must be one of {list(NUMBER_INITS)}, got {number_init!r}")
    if number_init == "random":
        return
    if max_value is None:
        raise ValueError("number_init='fourier' needs image_size (the frame whose coordinates are coded)")
    init_number_rows(model, tok, max_value, norm=0.25)  # ~ a random row's norm at width 128, std 0.02


def _qwen2_5_vl_settings(
    text_config: dict[str, Any],
    vision_config: dict[str, Any],
    ids: dict[str, int],
    head_dim: int,
    vision_fullatt_block_indexes: Sequence[int] | None,
    rope_theta: float,
    mrope_section: Sequence[int] | None,
) -> None:
    """Qwen2.5-VL's own settings on the shared config parts (in place), and the text model's BOS/EOS.

    Args:
        vision_fullatt_block_indexes: vision blocks with full attention (the others use 112-pixel
            windows); None means the last block only.
        rope_theta: RoPE base of the text decoder (stock 10000). Qwen2.5-VL's M-RoPE is not
            interleaved: ``mrope_section = [t, h, w]`` takes contiguous frequency bands, highest first,
            so the width band gets the lowest frequencies; a small base (e.g. 100 or 10) makes the
            column offsets of a few image tokens visible to attention.
        mrope_section: ``[t, h, w]`` frequency counts, summing to head_dim / 2; None keeps the
            default split ``[rest, q // 3, q // 3]`` of ``q = head_dim / 2`` ([6, 5, 5] at head_dim 32).
    """
    vision_depth = vision_config["depth"]
    fullatt = (
        [vision_depth - 1] if vision_fullatt_block_indexes is None else list(vision_fullatt_block_indexes)
    )
    bad = [i for i in fullatt if not 0 <= i < vision_depth]
    if bad:
        raise ValueError(f"vision_fullatt_block_indexes {bad} out of range for vision_depth={vision_depth}")
    if not rope_theta > 0:
        raise ValueError(f"rope_theta must be positive, got {rope_theta}")
    text_config["rope_parameters"]["rope_theta"] = float(rope_theta)
    if mrope_section is not None:
        section = [int(v) for v in mrope_section]
        if len(section) != 3 or min(section) < 0:
            raise ValueError(f"mrope_section must be 3 non-negative counts [t, h, w], got {section}")
        _check_mrope(head_dim, section)
        text_config["rope_parameters"]["mrope_section"] = section
    text_config["bos_token_id"] = ids["<|endoftext|>"]
    text_config["eos_token_id"] = ids["<|im_end|>"]
    vision_config["window_size"] = 112
    vision_config["fullatt_block_indexes"] = fullatt


def build_tiny_qwen2_5_vl(
    out_dir: str | Path,
    *,
    seed: int = 0,
    tokenizer: Any = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    image_size: int | None = None,
    initializer_range: float = 0.2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int | None = None,
    vision_depth: int = 2,
    vision_hidden_size: int = 32,
    vision_num_heads: int = 2,
    vision_fullatt_block_indexes: Sequence[int] | None = None,
    tie_word_embeddings: bool | None = None,
    rope_theta: float = 10000.0,
    mrope_section: Sequence[int] | None = None,
    number_init: str = "random",
) -> Path:
    """Build, save and return the directory of a random tiny ``Qwen2_5_VLForConditionalGeneration``.

    The arguments up to ``initializer_range`` and ``number_init`` are the VL builders' common ones (the
    module's docstring). The others are keyword-only and default to the original tiny layout (4 heads, 2
    KV heads, MLP 2x, a 2-block vision tower of width 32 with full attention in block 1): ``num_heads``
    (head_dim = hidden_size / num_heads), ``num_kv_heads`` (grouped-query attention; must divide
    num_heads), ``intermediate_size`` (text MLP width; None means 2 * hidden_size), ``vision_depth``,
    ``vision_hidden_size`` (its MLP is 2x wider), ``vision_num_heads``, ``tie_word_embeddings`` (tie the
    LM head to the input embeddings; None keeps the config default), and Qwen2.5-VL's own
    ``vision_fullatt_block_indexes``, ``rope_theta`` and ``mrope_section`` (:func:`_qwen2_5_vl_settings`).

    Returns:
        ``Path(out_dir)``, loadable with ``AutoModelForImageTextToText`` and :func:`load_processor`.
    """
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tok, ids, text_config, vision_config, token_kwargs = _vl_config_parts(
        tokenizer,
        hidden_size=hidden_size,
        num_layers=num_layers,
        initializer_range=initializer_range,
        mrope_divisor=3,
        patch_size=14,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        intermediate_size=intermediate_size,
        vision_depth=vision_depth,
        vision_hidden_size=vision_hidden_size,
        vision_num_heads=vision_num_heads,
    )
    fullatt, section = vision_fullatt_block_indexes, mrope_section
    _qwen2_5_vl_settings(
        text_config, vision_config, ids, hidden_size // num_heads, fullatt, rope_theta, section
    )
    tie = {} if tie_word_embeddings is None else {"tie_word_embeddings": tie_word_embeddings}
    text_config.update(tie)
    config = Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        **token_kwargs,
        initializer_range=initializer_range,
        **tie,
    )
    model = _build_vl_model(Qwen2_5_VLForConditionalGeneration, config, seed)
    _init_numbers(model, tok, number_init, image_size)
    return _save_vl(
        Path(out_dir),
        model,
        tok,
        ids,
        patch_size=14,
        size=_vision_size(image_size, 56 * 56, 28 * 28 * 1280),
        image_mean=(0.48145466, 0.4578275, 0.40821073),
        image_std=(0.26862954, 0.26130258, 0.27577711),
        processor_kind="qwen2_5_vl",
    )


def build_tiny_qwen3_vl(
    out_dir: str | Path,
    *,
    seed: int = 0,
    tokenizer: Any = None,
    hidden_size: int = 64,
    num_layers: int = 2,
    image_size: int | None = None,
    initializer_range: float = 0.2,
    number_init: str = "random",
) -> Path:
    """Build, save and return the directory of a random tiny ``Qwen3VLForConditionalGeneration``.

    The VL builders' common arguments (the module's docstring). The vision tower uses patch_size 16 (so the
    processor works on multiples of 32 pixels: 840 becomes 832), ``deepstack_visual_indexes=[0, 1]``,
    and the stock Qwen3-VL pixel bounds (65536 .. 16777216) unless ``image_size`` caps them.
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    tok, ids, text_config, vision_config, token_kwargs = _vl_config_parts(
        tokenizer,
        hidden_size=hidden_size,
        num_layers=num_layers,
        initializer_range=initializer_range,
        mrope_divisor=4,
        patch_size=16,
    )
    text_config["head_dim"] = hidden_size // 4
    text_config["rope_parameters"]["mrope_interleaved"] = True
    vision_config["num_position_embeddings"] = 256
    vision_config["deepstack_visual_indexes"] = [0, 1]
    config = Qwen3VLConfig(text_config=text_config, vision_config=vision_config, **token_kwargs)
    model = _build_vl_model(Qwen3VLForConditionalGeneration, config, seed)
    _init_numbers(model, tok, number_init, image_size)
    return _save_vl(
        Path(out_dir),
        model,
        tok,
        ids,
        patch_size=16,
        size=_vision_size(image_size, 65536 if image_size is None else 32 * 32, 16777216),
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
        processor_kind="qwen3_vl",
    )


def build_tiny_sam2(
    out_dir: str | Path, *, seed: int = 0, image_size: int = 256, hidden_size: int = 32
) -> Path:
    """Build, save and return the directory of a random tiny transformers ``Sam2Model``.

    The Hiera backbone has 4 stages (1, 1, 2, 1 blocks, dims 8/16/32/64); its one global-attention
    block is the *second* block of stage 3 (a global block that opens a stage breaks window
    partitioning). Besides the model files, a ``preprocessor_config.json`` in the layout of the real
    ``facebook/sam2.1-hiera-*`` checkpoints records the input size and ImageNet mean/std.

    Args:
        out_dir: output directory (created).
        seed: torch seed for the random weights.
        image_size: square input size of the image encoder (multiple of 32).
        hidden_size: FPN / prompt-encoder / mask-decoder width (multiple of 8).
    """
    torch = _require("torch")
    from transformers import Sam2Config, Sam2Model

    if image_size % 32 != 0:
        raise ValueError(f"image_size must be a multiple of 32, got {image_size}")
    if hidden_size % 8 != 0:
        raise ValueError(f"hidden_size must be a multiple of 8, got {hidden_size}")
    dims = [8, 16, 32, 64]
    s = image_size // 4
    config = Sam2Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam2_hiera_det_model",
                "hidden_size": dims[0],
                "num_attention_heads": 1,
                "image_size": [image_size, image_size],
                "blocks_per_stage": [1, 1, 2, 1],
                "embed_dim_per_stage": dims,
                "num_attention_heads_per_stage": [1, 1, 2, 2],
                "window_size_per_stage": [8, 4, 4, 2],
                "global_attention_blocks": [3],
                "window_positional_embedding_background_size": [4, 4],
            },
            "backbone_channel_list": dims[::-1],
            "backbone_feature_sizes": [[s, s], [s // 2, s // 2], [s // 4, s // 4]],
            "fpn_hidden_size": hidden_size,
        },
        prompt_encoder_config={"hidden_size": hidden_size, "image_size": image_size, "patch_size": 16},
        mask_decoder_config={
            "hidden_size": hidden_size,
            "mlp_dim": hidden_size * 2,
            "num_attention_heads": 2,
            "iou_head_hidden_dim": hidden_size,
        },
    )
    torch.manual_seed(seed)
    model = Sam2Model(config).eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    _save_sam_preprocessor(out, "sam2", image_size)
    return out


#: ``preprocessor_config.json`` of the published checkpoints, per family (sizes replaced by the tiny one's)
_SAM_PREPROCESSORS: dict[str, dict[str, Any]] = {
    "sam": {"image_processor_type": "SamImageProcessor", "processor_class": "SamProcessor", "do_pad": True,
            "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "resample": 2},
    "sam2": {"image_processor_type": "Sam2ImageProcessorFast", "processor_class": "Sam2Processor",
             "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]},
    "sam3": {"image_processor_type": "Sam3ImageProcessorFast", "processor_class": "Sam3TrackerProcessor",
             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
}  # fmt: skip


def _save_sam_preprocessor(out: Path, kind: str, image_size: int) -> None:
    """A ``preprocessor_config.json`` in the layout of the published ``kind`` checkpoints (``sam``: longest
    side + padding, as facebook/sam-vit-*; ``sam2`` / ``sam3``: a square size)."""
    pre: dict[str, Any] = dict(_SAM_PREPROCESSORS[kind])
    pre |= {"do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True}
    if kind == "sam":
        pre |= {"size": {"longest_edge": image_size}, "pad_size": {"height": image_size, "width": image_size},
                "mask_size": {"longest_edge": image_size // 4}}  # fmt: skip
    else:
        pre |= {"size": {"height": image_size, "width": image_size},
                "mask_size": {"height": image_size // 4, "width": image_size // 4}}  # fmt: skip
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n", encoding="utf-8")


def _tiny_sam_config(model_type: str, s: int, h: int) -> Any:
    """A tiny configuration of the SAM / SAM-HQ / SAM 3 families (input ``s``, width ``h``)."""
    import transformers

    decoder = {"hidden_size": h, "mlp_dim": 2 * h, "num_hidden_layers": 2, "num_attention_heads": 2,
               "iou_head_hidden_dim": h}  # fmt: skip
    if model_type in ("sam", "sam_hq"):
        vision = {"hidden_size": h, "output_channels": h, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "image_size": s, "patch_size": 16, "window_size": 2, "global_attn_indexes": [1],
                  "num_pos_feats": h // 2, "mlp_dim": 2 * h}  # fmt: skip
        cls = transformers.SamHQConfig if model_type == "sam_hq" else transformers.SamConfig
        extra = {"vit_dim": h} if model_type == "sam_hq" else {}
        return cls(
            vision_config=vision,
            prompt_encoder_config={
                "hidden_size": h,
                "image_size": s,
                "patch_size": 16,
                "mask_input_channels": 4,
            },
            mask_decoder_config=decoder | extra,
        )
    g = s // 14  # SAM 3's ViT: patch 14, FPN levels at 4x, 2x, 1x the patch grid
    backbone = {"model_type": "sam3_vit_model", "hidden_size": h, "intermediate_size": 2 * h,
                "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": s, "patch_size": 14,
                "window_size": 2, "global_attn_indexes": [1], "pretrain_image_size": s}  # fmt: skip
    vision = {"model_type": "sam3_vision_model", "backbone_config": backbone, "fpn_hidden_size": h,
              "backbone_feature_sizes": [[4 * g, 4 * g], [2 * g, 2 * g], [g, g]]}  # fmt: skip
    tracker = {
        "vision_config": vision,
        "image_size": s,
        "mask_decoder_config": decoder,
        "prompt_encoder_config": {
            "hidden_size": h,
            "image_size": s,
            "patch_size": 14,
            "mask_input_channels": 4,
        },
    }
    if model_type == "sam3_tracker":
        return transformers.Sam3TrackerConfig(**tracker)
    tracker |= {"memory_attention_hidden_size": h, "memory_attention_num_layers": 1,
                "memory_attention_feed_forward_hidden_size": 2 * h, "memory_encoder_hidden_size": h,
                "memory_encoder_output_channels": h // 2, "mask_downsampler_embed_dim": h, "memory_fuser_embed_dim": h,
                "memory_fuser_intermediate_dim": 2 * h, "memory_attention_rope_feat_sizes": [g, g]}  # fmt: skip
    small = {"hidden_size": h, "num_layers": 1, "num_attention_heads": 2, "intermediate_size": 2 * h}
    detector = {
        "vision_config": vision,
        "text_config": {"model_type": "clip_text_model", "hidden_size": h, "intermediate_size": 2 * h,
                        "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 99,
                        "max_position_embeddings": 8, "projection_dim": h, "bos_token_id": 0, "eos_token_id": 1},
        "geometry_encoder_config": small, "detr_encoder_config": small,
        "detr_decoder_config": small | {"num_queries": 4}, "mask_decoder_config": {"hidden_size": h, "num_attention_heads": 2},
    }  # fmt: skip
    return transformers.Sam3VideoConfig(detector_config=detector, tracker_config=tracker)


#: model types :func:`build_tiny_sam_family` builds, and the model class of each
TINY_SAM_FAMILY = {"sam": "SamModel", "sam_hq": "SamHQModel", "sam2": "Sam2Model",
                   "sam3_tracker": "Sam3TrackerModel", "sam3_video": "Sam3VideoModel"}  # fmt: skip


def build_tiny_sam_family(
    out_dir: str | Path,
    model_type: str,
    *,
    seed: int = 0,
    image_size: int | None = None,
    hidden_size: int = 16,
) -> Path:
    """Build, save and return a random tiny checkpoint of a promptable SAM family, laid out as published.

    ``model_type``: ``sam`` (as facebook/sam-vit-*: ``SamModel`` + a longest-side / padding
    ``preprocessor_config.json``), ``sam_hq`` (as syscv-community/sam-hq-vit-*), ``sam2``
    (:func:`build_tiny_sam2`), ``sam3_tracker`` (``Sam3TrackerModel``) or ``sam3_video`` (as facebook/sam3:
    detector + tracker in one file, tensors named ``detector_model.*``, ``tracker_model.*``,
    ``tracker_neck.*``; written from the state dict, because transformers 5.23's ``save_pretrained`` of
    ``Sam3VideoModel`` doubles the ``tracker_model.`` prefix, which the published file does not have).

    ``image_size``: the square input (default 64 for SAM / SAM-HQ, a multiple of 16; 56 for SAM 3, a
    multiple of 14; 128 for SAM2, a multiple of 32).
    """
    torch = _require("torch")
    import transformers

    if model_type not in TINY_SAM_FAMILY:
        raise ValueError(f"model_type: expected one of {sorted(TINY_SAM_FAMILY)}, got {model_type!r}")
    out = Path(out_dir)
    if model_type == "sam2":
        return build_tiny_sam2(out, seed=seed, image_size=image_size or 128, hidden_size=max(hidden_size, 32))
    size = image_size or (56 if model_type.startswith("sam3") else 64)
    config = _tiny_sam_config(model_type, size, hidden_size)
    torch.manual_seed(seed)
    model = getattr(transformers, TINY_SAM_FAMILY[model_type])(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    if model_type == "sam3_video":
        from safetensors.torch import save_file

        for old in out.glob("model*.safetensors*"):
            old.unlink()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    _save_sam_preprocessor(out, "sam3" if model_type.startswith("sam3") else "sam", size)
    return out
