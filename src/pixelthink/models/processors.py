"""Torchvision-free processor loading for Qwen2.5-VL and Qwen3-VL (tiny models and real checkpoints).

The stock ``Qwen2_5_VLProcessor`` / ``Qwen3VLProcessor`` of transformers 5.x cannot be built without
torchvision because of their *video* sub-processor. pixelthink only needs images, so this module
defines subclasses that drop the ``video_processor`` attribute (``get_attributes`` is overridden)
and pair the tokenizer with the PIL image processor ``Qwen2VLImageProcessorPil``. The subclasses are
registered with ``AutoProcessor.register(config_cls, subclass)``.

Real checkpoints name the stock class in ``processor_class`` (preprocessor_config.json /
processor_config.json), which makes ``AutoProcessor.from_pretrained`` pick the stock, broken class;
:func:`load_processor` therefore reads the model type from ``config.json`` and instantiates the
matching subclass directly. It accepts the checkpoint layout of the Hub repositories:
``config.json``, ``preprocessor_config.json``, tokenizer files, and the chat template in
``chat_template.jinja``, ``chat_template.json`` or ``tokenizer_config.json``.

Coordinates: Qwen's image processor resizes every image to a multiple of ``patch_size * merge_size``
pixels (28 for Qwen2.5-VL, 32 for Qwen3-VL) within ``[min_pixels, max_pixels]``
(:func:`processed_image_size`). The frame the model sees is that resized size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import (
    AutoProcessor,
    AutoTokenizer,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessorPil,
    Qwen3VLConfig,
    Qwen3VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

from pixelthink.jsonio import read_json_file

__all__ = [
    "PROCESSOR_CLASSES",
    "ImageOnlyQwen2_5_VLProcessor",
    "ImageOnlyQwen3VLProcessor",
    "load_processor",
    "processed_image_size",
]


class _ImageOnlyProcessorMixin:
    """Drops the video sub-processor of a Qwen-VL processor: only ``image_processor`` and ``tokenizer``.

    Put it before the stock processor class in the bases; the explicit ``__init__`` (without
    ``video_processor``) is what ``from_pretrained`` inspects for the sub-processors to load.
    """

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
    ):
        super().__init__(  # type: ignore[call-arg]
            image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template, **kwargs
        )

    @classmethod
    def get_attributes(cls) -> list[str]:
        return ["image_processor", "tokenizer"]


class ImageOnlyQwen2_5_VLProcessor(_ImageOnlyProcessorMixin, Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without the video sub-processor (no torchvision needed).

    Attributes: ``image_processor`` (``Qwen2VLImageProcessorPil``), ``tokenizer``, ``chat_template``.
    Calling it with ``videos=...`` is not supported.
    """


class ImageOnlyQwen3VLProcessor(_ImageOnlyProcessorMixin, Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without the video sub-processor (no torchvision needed)."""


#: model_type (config.json) -> image-only processor class.
PROCESSOR_CLASSES: dict[str, type] = {
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen2_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen3_vl": ImageOnlyQwen3VLProcessor,
    "qwen3_vl_moe": ImageOnlyQwen3VLProcessor,
}

AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)
AutoProcessor.register(Qwen3VLConfig, ImageOnlyQwen3VLProcessor, exist_ok=True)


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _model_type(path: Path) -> str:
    config_path = path / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: missing (not a transformers checkpoint directory?)")
    model_type = _read_json(config_path).get("model_type")
    if not isinstance(model_type, str):
        raise ValueError(f"{config_path}: field 'model_type' missing or not a string")
    return model_type


def _image_processor_kwargs(path: Path) -> dict[str, Any]:
    """Image-processor settings from preprocessor_config.json (or processor_config.json's sub-dict)."""
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        data = _read_json(pre)
    else:
        proc = path / "processor_config.json"
        if not proc.is_file():
            raise FileNotFoundError(
                f"{path}: neither preprocessor_config.json nor processor_config.json found"
            )
        data = _read_json(proc).get("image_processor")
        if not isinstance(data, dict):
            raise ValueError(f"{proc}: field 'image_processor' missing or not an object")
    drop = {"image_processor_type", "processor_class", "auto_map", "_processor_class", "video_processor_type"}
    return {k: v for k, v in data.items() if k not in drop}


def _chat_template(path: Path, tokenizer: Any) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    js = path / "chat_template.json"
    if js.is_file():
        template = _read_json(js).get("chat_template")
        if isinstance(template, str):
            return template
    return getattr(tokenizer, "chat_template", None)


def load_processor(path: str | Path, **image_processor_overrides: Any) -> Any:
    """Load the image-only processor of a Qwen2.5-VL / Qwen3-VL checkpoint directory.

    Args:
        path: a local checkpoint directory (tiny model from :mod:`pixelthink.miniature.model` or a
            downloaded Hub snapshot).
        **image_processor_overrides: settings passed to ``Qwen2VLImageProcessorPil``, e.g.
            ``size={"shortest_edge": ..., "longest_edge": ...}``.

    Returns:
        An :class:`ImageOnlyQwen2_5_VLProcessor` or :class:`ImageOnlyQwen3VLProcessor` whose tokenizer
        pads on the left (for batched generation).

    Raises:
        FileNotFoundError: the directory or its config files are missing.
        ValueError: the model type has no image-only processor here, or a config file is invalid.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: model directory not found")
    model_type = _model_type(root)
    cls = PROCESSOR_CLASSES.get(model_type)
    if cls is None:
        raise ValueError(
            f"{root / 'config.json'}: model_type {model_type!r} is not supported; "
            f"expected one of {sorted(PROCESSOR_CLASSES)}"
        )
    kwargs = _image_processor_kwargs(root)
    kwargs.update(image_processor_overrides)
    image_processor = Qwen2VLImageProcessorPil(**kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(root))
    tokenizer.padding_side = "left"
    chat_template = _chat_template(root, tokenizer)
    if chat_template is None:
        raise ValueError(
            f"{root}: no chat template (chat_template.jinja, chat_template.json or tokenizer_config.json)"
        )
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=chat_template)


def processed_image_size(image_processor: Any, width: int, height: int) -> tuple[int, int]:
    """The (width, height) in pixels that a Qwen image processor resizes a ``width x height`` image to.

    Uses Qwen's own ``smart_resize``: both sides are rounded to the nearest multiple of
    ``factor = patch_size * merge_size`` (at least one factor), then scaled (keeping the aspect ratio
    approximately) so that the pixel count lies within ``[min_pixels, max_pixels]``; scaling down
    floors and scaling up ceils to multiples of ``factor``. E.g. Qwen2.5-VL (factor 28): 840x840 ->
    840x840 (840 = 30 * 28); Qwen3-VL (factor 32): 840x840 -> 832x832 (round(840 / 32) = 26, 26 * 32).

    The function is idempotent on its own output, so feeding the processor an image of exactly this
    size means it will not be resized again.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    factor = int(image_processor.patch_size) * int(image_processor.merge_size)
    size = image_processor.size
    min_pixels = size["shortest_edge"] if isinstance(size, dict) else size.shortest_edge
    max_pixels = size["longest_edge"] if isinstance(size, dict) else size.longest_edge
    new_h, new_w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return int(new_w), int(new_h)
