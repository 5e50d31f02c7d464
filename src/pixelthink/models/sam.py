"""The promptable SAM family as segmenters, through transformers and without torchvision.

One class, :class:`SamSegmenter`, runs every promptable SAM model that transformers 5.23 ships, chosen by
the ``model_type`` of the checkpoint's ``config.json`` (:data:`FAMILIES`):

- ``sam``: ``model_type`` ``sam``, ``SamModel``; longest side resized to 1024, padded;
- ``sam_hq``: ``sam_hq``, ``SamHQModel``; as SAM;
- ``sam2``: ``sam2``, ``sam2_video``, ``Sam2Model``; 1024 x 1024;
- ``sam3_tracker``: ``sam3_tracker``, ``sam3_tracker_video``, ``sam3_video``, ``Sam3TrackerModel``; 1008 x 1008;
- ``edgetam``: ``edgetam``, ``edgetam_video``: refused (its backbone needs timm, which needs torchvision).

The ``*_video`` checkpoints (the published SAM2.1 and SAM 3 ones are saved that way) hold the image
model plus video memory modules (SAM 3: plus the text-prompted detector, whose vision backbone the
tracker shares); their image part is loaded and the rest is left out.

transformers' processors need torchvision, which this project cannot install (see docs/ENVIRONMENT.md),
so this module does their work itself, mirroring ``transformers/models/{sam,sam2,sam3}`` (5.23):

- image (:func:`preprocess_image`): SAM2 / SAM 3: resized (bilinear, aspect ratio not kept) to the square
  input; SAM / SAM-HQ: the longer side resized to the input size (``int(side * scale + 0.5)``), then
  padded with zeros at the bottom and right after normalisation. Scaled to [0, 1] and normalised with
  the family's mean/std (ImageNet's; SAM 3: 0.5 / 0.5), or ``preprocessor_config.json``'s when present;
- prompts (:func:`to_input_frame`): the processors' ``_normalize_coordinates`` scale original-frame
  pixels to the resized image (``x * r_w / W``, ``y * r_h / H``, no rounding; the model adds the
  half-pixel shift and divides by the input size);
- masks: the low-resolution mask logits are upsampled (bilinear, ``align_corners=False``) straight to
  the original ``(H, W)`` (SAM2 / SAM 3), or to the padded input, cropped to the resized image and then
  upsampled to ``(H, W)`` (SAM / SAM-HQ, ``SamImageProcessor.post_process_masks``); threshold 0.

Seg-Zero's call is reproduced for every family: one box and both points as positive prompts (labels
``[1, 1]``), multimask output (3 masks) and the highest predicted-IoU mask kept. SAM-HQ adds its
high-quality mask to the chosen one (transformers' default ``hq_token_only=False``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.jsonio import read_json_file
from pixelthink.models.segmenters import BaseSegmenter, Box, Point, Prompt, clip_box, points_inside

__all__ = [
    "FAMILIES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SAM2_MODEL_TYPES",
    "Sam2Segmenter",
    "SamFamily",
    "SamSegmenter",
    "family_of",
    "find_checkpoints",
    "preprocess_image",
    "resized_size",
    "to_input_frame",
]

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

_TIMM_WHY = (
    "EdgeTAM's vision backbone runs through timm (TimmWrapperModel), and timm imports torchvision at "
    "import time (timm/layers/create_norm.py, timm/data/transforms.py), which this environment must not "
    "install (it breaks transformers on CPU, see docs/ENVIRONMENT.md)"
)


@dataclass(frozen=True)
class SamFamily:
    """One promptable SAM architecture of transformers and how pixelthink drives it.

    Attributes:
        name: the family's name (``sam:PATH`` finds it from ``config.json``; ``--list-segmenters`` shows it).
        title: what users call it.
        model_types: ``config.json`` ``model_type`` values whose image model this family loads.
        model_class: the transformers class of the image model.
        config_class: its configuration class (built from the checkpoint's ``config.json``).
        letterbox: True: longest side resized to the input size and the rest padded (SAM, SAM-HQ);
            False: resized to the square input, aspect ratio not kept (SAM2, SAM 3).
        mean, std: default normalisation (``preprocessor_config.json`` wins).
        sub_config: the key of the image model's config inside a composite checkpoint's ``config.json``
            (SAM 3's ``sam3_video``: ``tracker_config``), by ``model_type``.
        unavailable: why this family cannot run here, or None.
    """

    name: str
    title: str
    model_types: tuple[str, ...]
    model_class: str
    config_class: str
    letterbox: bool
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sub_config: Mapping[str, str] | None = None
    unavailable: str | None = None

    def image_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """The image model's part of a checkpoint's ``config.json`` (the whole dict for most)."""
        key = (self.sub_config or {}).get(str(config.get("model_type")))
        if key is None:
            return config
        sub = config.get(key)
        if not isinstance(sub, dict):
            raise ValueError(
                f"config.json: model_type {config.get('model_type')!r} without a {key!r} mapping"
            )
        return sub


FAMILIES: dict[str, SamFamily] = {
    f.name: f
    for f in (
        SamFamily("sam", "SAM", ("sam",), "SamModel", "SamConfig", letterbox=True),
        SamFamily("sam_hq", "SAM-HQ", ("sam_hq",), "SamHQModel", "SamHQConfig", letterbox=True),
        SamFamily(
            "sam2", "SAM2 / SAM2.1", ("sam2", "sam2_video"), "Sam2Model", "Sam2Config", letterbox=False
        ),
        SamFamily(
            "sam3_tracker",
            "SAM 3 tracker",
            ("sam3_tracker", "sam3_tracker_video", "sam3_video"),
            "Sam3TrackerModel",
            "Sam3TrackerConfig",
            letterbox=False,
            mean=HALF,
            std=HALF,
            sub_config={"sam3_video": "tracker_config"},
        ),
        SamFamily(
            "edgetam",
            "EdgeTAM",
            ("edgetam", "edgetam_video"),
            "EdgeTamModel",
            "EdgeTamConfig",
            letterbox=False,
            unavailable=_TIMM_WHY,
        ),
    )
}
"""The SAM families by name (see the module docstring's table)."""

#: ``model_type`` values of checkpoints whose image model ``Sam2Model`` loads.
SAM2_MODEL_TYPES: tuple[str, ...] = FAMILIES["sam2"].model_types

#: ``model_type`` values of the detector-only SAM 3 (text prompts, no point/box decoder): refused with a hint
_NOT_PROMPTABLE = {"sam3": "SAM 3's text-prompted detector (Sam3Model) has no box/point mask decoder; use the "
                   "full facebook/sam3 checkpoint (model_type sam3_video), whose tracker takes the prompts"}  # fmt: skip


def family_of(model_type: Any, families: Sequence[SamFamily] | None = None) -> SamFamily | None:
    """The family (among ``families``, default all) that loads checkpoints of ``model_type``, or None."""
    for family in families if families is not None else FAMILIES.values():
        if model_type in family.model_types:
            return family
    return None


def resized_size(
    original_size: tuple[int, int], input_size: tuple[int, int], letterbox: bool
) -> tuple[int, int]:
    """``(width, height)`` of the image inside the encoder input.

    Square resize: the input size itself. Letterbox (SAM, SAM-HQ; ``SamImageProcessor._get_preprocess_shape``):
    the longer side becomes the input's, the other ``int(side * scale + 0.5)``, e.g. 640x480 -> 1024x768.
    """
    if not letterbox:
        return input_size
    w, h = original_size
    if w <= 0 or h <= 0:
        raise ValueError(f"original_size must be positive (W, H), got {original_size}")
    scale = max(input_size) * 1.0 / max(w, h)
    return int(w * scale + 0.5), int(h * scale + 0.5)


def to_input_frame(
    box: Box | None,
    points: Sequence[Point],
    original_size: tuple[int, int],
    input_size: tuple[int, int],
) -> tuple[Box | None, list[Point]]:
    """Map a box and points from the original frame to the SAM input frame.

    Mirrors the processors' ``_normalize_coordinates``: ``x' = x * in_w / W``, ``y' = y * in_h / H``
    (floats, no rounding, no half-pixel shift: the prompt encoders add 0.5 themselves).

    Args:
        box: XYXY pixels in the original frame, or ``None``.
        points: (x, y) pixels in the original frame.
        original_size: ``(W, H)`` of the original image.
        input_size: ``(in_w, in_h)`` of the image inside the encoder input (:func:`resized_size`: the
            square input, e.g. ``(1024, 1024)``, or SAM's resized image before padding).

    Returns:
        The box (XYXY) and points ((x, y)) in the SAM input frame.
    """
    w, h = original_size
    in_w, in_h = input_size
    if w <= 0 or h <= 0:
        raise ValueError(f"original_size must be positive (W, H), got {original_size}")
    sx, sy = in_w / w, in_h / h
    mapped_box = None if box is None else (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    return mapped_box, [(float(x) * sx, float(y) * sy) for x, y in points]


def preprocess_image(
    image: np.ndarray,
    input_size: tuple[int, int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    *,
    letterbox: bool = False,
) -> np.ndarray:
    """Encoder pixel values for one image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, original frame.
        input_size: ``(in_w, in_h)`` of the encoder input.
        mean, std: per-channel normalisation of values scaled to [0, 1].
        letterbox: resize the longer side to the input size and pad the rest with zeros (bottom, right;
            after normalisation) instead of resizing to the whole input.

    Returns:
        float32 ``(1, 3, in_h, in_w)``: ``(resize(image) / 255 - mean) / std``, bilinear resize.
    """
    from PIL import Image

    in_w, in_h = input_size
    r_w, r_h = resized_size((image.shape[1], image.shape[0]), input_size, letterbox)
    resized = Image.fromarray(image, mode="RGB").resize((r_w, r_h), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    if (r_w, r_h) != (in_w, in_h):
        padded = np.zeros((in_h, in_w, 3), dtype=np.float32)
        padded[:r_h, :r_w] = pixels
        pixels = padded
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def _square(value: Any, what: str) -> tuple[int, int]:
    """``(width, height)`` from an int, a ``[h, w]`` list, a ``{"height", "width"}`` or a
    ``{"longest_edge"}`` dict."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, dict) and "height" in value and "width" in value:
        return int(value["width"]), int(value["height"])
    if isinstance(value, dict) and "longest_edge" in value:
        return int(value["longest_edge"]), int(value["longest_edge"])
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[1]), int(value[0])
    raise ValueError(
        f"{what}: expected an int, [height, width], {{height, width}} or {{longest_edge}}, got {value!r}"
    )


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers logs errors only and shows no progress bar: its loading report is replaced by our own
    checks and messages."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _check_family(root: Path, config: Any, families: Sequence[SamFamily], spec: str) -> SamFamily:
    """The family of ``config`` among ``families``; a one-line error naming the file otherwise."""
    model_type = config.get("model_type") if isinstance(config, dict) else None
    family = family_of(model_type, families)
    if family is None:
        accepted = [t for f in families for t in f.model_types]
        kind = " / ".join(f.title for f in families if f.unavailable is None)
        hint = f" ({_NOT_PROMPTABLE[model_type]})" if model_type in _NOT_PROMPTABLE else ""
        raise ValueError(
            f"{root}/config.json: model_type {model_type!r} is not a {kind} checkpoint (expected one of "
            f"{accepted}, in transformers format){hint}; --segmenter {spec} needs such a model directory"
        )
    if family.unavailable is not None:
        raise ValueError(f"{root}: {family.title} checkpoints cannot run here: {family.unavailable}")
    return family


def _load_model(root: Path, config: dict[str, Any], family: SamFamily, dtype: Any) -> Any:
    """The family's image model from ``root``, after checking that the checkpoint fills the whole model."""
    import transformers

    config_class = getattr(transformers, family.config_class)
    model_class = getattr(transformers, family.model_class)
    # From the dict: for a *_video config this skips transformers' model-type warning (the image part is
    # what the image model needs; the memory modules' settings stay unused attributes).
    image_config = config_class.from_dict(family.image_config(config))
    with _transformers_quiet():
        try:
            model, info = model_class.from_pretrained(
                str(root), config=image_config, dtype=dtype, output_loading_info=True
            )
        except RuntimeError as exc:
            if "mismatch" not in str(exc):
                raise
            raise ValueError(
                f"{root}: the checkpoint's tensor shapes do not match its config.json (a {family.title} model "
                "of another size?); refusing to replace them with random weights"
            ) from None
    mismatched = info.get("mismatched_keys") or []
    if mismatched:
        raise ValueError(
            f"{root}: {len(mismatched)} tensor shapes of the checkpoint do not match its config.json (e.g. "
            f"{sorted(str(m[0]) if isinstance(m, tuple) else str(m) for m in mismatched)[0]}; a "
            f"{family.title} model of another size?); refusing to replace them with random weights"
        )
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ValueError(
            f"{root}: {len(missing)} tensors of the {family.title} image model are missing from the checkpoint "
            f"(e.g. {', '.join(missing[:3])}): its weights are not a transformers {family.title} checkpoint "
            "(original weights must be converted with transformers' convert_*_to_hf.py script); refusing to "
            "fill them with random weights"
        )
    unexpected = info.get("unexpected_keys") or []
    if unexpected:  # e.g. the memory modules of a *_video checkpoint: not used for single images
        logger.info("%s: %d checkpoint tensors not used by the image model (%s, ...)", root, len(unexpected),
                    sorted(unexpected)[0])  # fmt: skip
    return model


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def read_model_type(path: str | Path) -> str | None:
    """``model_type`` of ``PATH/config.json``, or None when there is no readable one."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = read_json_file(config_file, "model config")
    except ValueError:
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


class SamSegmenter(BaseSegmenter):
    """A prompted SAM-family model (:data:`FAMILIES`): ``set_image`` once, ``predict`` per prompt.

    All boxes and points are in the original frame of the image given to :meth:`set_image`; masks are
    bool ``(H, W)`` of that image; the score is the model's predicted IoU of the returned mask.
    """

    name = "sam"
    state_attributes = ("_image", "_embeddings")
    #: the families :meth:`from_pretrained` accepts
    families: tuple[str, ...] = tuple(FAMILIES)

    def __init__(
        self,
        model: Any,
        *,
        input_size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        multimask: bool = True,
        family: SamFamily | str = "sam2",
    ) -> None:
        super().__init__()
        self.model = model
        self.family = FAMILIES[family] if isinstance(family, str) else family
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.multimask = bool(multimask)
        self._embeddings: dict[str, Any] | None = None
        #: number of image-encoder passes so far (one per :meth:`set_image`)
        self.encoder_calls = 0

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        multimask: bool = True,
        device: str = "auto",
        dtype: Any = None,
    ) -> SamSegmenter:
        """Load a SAM-family checkpoint directory in transformers' format (``config.json`` + weights, offline).

        The family comes from ``config.json``'s ``model_type`` (:data:`FAMILIES`; this class accepts the
        families in :attr:`families`). Every tensor of the image model must come from the checkpoint: a
        directory whose weights do not fill it (other tensor names, other shapes) is refused instead of
        being completed with random weights. Tensors of the checkpoint that the image model does not use
        (video memory modules, SAM 3's detector) are left out.

        The input size comes from ``preprocessor_config.json`` (``size``) when present, else from
        ``config.prompt_encoder_config.image_size``; mean/std from ``preprocessor_config.json`` or the
        family's. ``device``: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda:0"``, ...
        ``dtype``: a ``torch.dtype`` or its name (``"bfloat16"``); default float32.

        Raises:
            FileNotFoundError: no ``config.json``, or no weights file.
            ValueError: not a checkpoint of an accepted family, a family that cannot run here (EdgeTAM),
                or weights missing / of the wrong shape.
        """
        import torch

        families = [FAMILIES[name] for name in cls.families]
        spec = f"{cls.name}:PATH"
        root = Path(path).expanduser()
        config_file = root / "config.json"
        if not config_file.is_file():
            kind = " / ".join(f.title for f in families if f.unavailable is None)
            raise FileNotFoundError(f"{root}: not a {kind} model directory (no config.json)")
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise ValueError(f"dtype: unknown torch dtype {dtype!r}")
            dtype = getattr(torch, dtype)
        config = read_json_file(config_file, "model config")
        family = _check_family(root, config, families, spec)
        if not any(root.glob("*.safetensors")) and not any(root.glob("pytorch_model*.bin")):
            raise FileNotFoundError(
                f"{root}: no weights (model.safetensors) beside config.json; refusing to fill the "
                f"{family.title} model with random weights"
            )
        model = _load_model(root, config, family, dtype or torch.float32)
        model = model.to(_resolve_device(device)).eval()

        input_size = _square(model.config.prompt_encoder_config.image_size, f"{config_file} image_size")
        mean, std = family.mean, family.std
        pre_path = root / "preprocessor_config.json"
        if pre_path.is_file():
            pre = read_json_file(pre_path, "preprocessor config")
            size = pre.get("pad_size") if family.letterbox and pre.get("pad_size") else pre.get("size")
            if size is not None:
                input_size = _square(size, f"{pre_path} field 'size'")
            mean = pre.get("image_mean", mean)
            std = pre.get("image_std", std)
        return cls(model, input_size=input_size, mean=mean, std=std, multimask=multimask, family=family)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> Any:
        return next(self.model.parameters()).dtype

    def set_image(self, image: np.ndarray) -> None:
        """Encode ``image`` (``(H, W, 3)`` uint8 RGB, original frame): the expensive step."""
        import torch

        super().set_image(image)
        pixels = preprocess_image(
            self._require_image(), self.input_size, self.mean, self.std, letterbox=self.family.letterbox
        )
        tensor = torch.from_numpy(pixels).to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            out = self.model.get_image_embeddings(tensor)
        if self.family.name == "sam_hq":  # (image embeddings, intermediate ViT embeddings)
            self._embeddings = {"image_embeddings": out[0], "intermediate_embeddings": list(out[1])}
        elif isinstance(out, torch.Tensor):  # SAM: one tensor
            self._embeddings = {"image_embeddings": out}
        else:  # SAM2 / SAM 3: the feature pyramid
            self._embeddings = {"image_embeddings": list(out)}
        self.encoder_calls += 1

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        """Mask bool ``(H, W)`` and predicted IoU for a box and/or points (original frame)."""
        return self.predict_many([(box, points)])[0]

    def predict_many(self, prompts: Sequence[Prompt]) -> list[tuple[np.ndarray, float]]:
        """One mask per ``(box, points)`` prompt on the current image (original frame).

        Prompts with the same shape (box or not, number of points) go through the decoder in one
        call, as the point-batch dimension: ``input_boxes [1, K, 4]``, ``input_points [1, K, N, 2]``,
        ``input_labels [1, K, N]`` (all points positive). A box clipped to nothing is dropped, as are
        points outside the image; a prompt left with neither gives an empty mask and score 0.0.
        """
        self._require_image()
        w, h = self.image_size
        cleaned: list[tuple[Box | None, list[Point]]] = []
        for box, points in prompts:
            cleaned.append((clip_box(box, w, h), points_inside(points, w, h)))
        results: list[tuple[np.ndarray, float] | None] = [None] * len(cleaned)
        groups: dict[tuple[bool, int], list[int]] = {}
        for i, (box, pts) in enumerate(cleaned):
            if box is None and not pts:
                results[i] = (self._empty(), 0.0)
            else:
                groups.setdefault((box is not None, len(pts)), []).append(i)
        for (has_box, _), indices in groups.items():
            for i, out in zip(indices, self._decode([cleaned[i] for i in indices], has_box), strict=True):
                results[i] = out
        return [r for r in results if r is not None]

    def _upsample(self, logits: Any, size: tuple[int, int]) -> Any:
        """Mask logits ``[K, 1, h', w']`` -> ``[K, H, W]`` in the original frame (see the module docstring)."""
        import torch.nn.functional as F

        w, h = size
        if self.family.letterbox:
            in_w, in_h = self.input_size
            r_w, r_h = resized_size((w, h), self.input_size, letterbox=True)
            logits = F.interpolate(logits, size=(in_h, in_w), mode="bilinear", align_corners=False)
            logits = logits[..., :r_h, :r_w]
        return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[:, 0]

    def _decode(
        self, prompts: list[tuple[Box | None, list[Point]]], has_box: bool
    ) -> list[tuple[np.ndarray, float]]:
        """Run the prompt encoder + mask decoder for K prompts of one shape; upsample the chosen masks."""
        import torch

        assert self._embeddings is not None
        w, h = self.image_size
        frame = resized_size((w, h), self.input_size, self.family.letterbox)
        mapped = [to_input_frame(box, pts, (w, h), frame) for box, pts in prompts]
        kwargs: dict[str, Any] = {}
        if has_box:
            boxes = [list(box) for box, _ in mapped if box is not None]
            kwargs["input_boxes"] = torch.tensor([boxes], dtype=torch.float32, device=self.device)
        n_points = len(mapped[0][1])
        if n_points:
            coords = [[list(p) for p in pts] for _, pts in mapped]
            kwargs["input_points"] = torch.tensor([coords], dtype=torch.float32, device=self.device)
            kwargs["input_labels"] = torch.ones(
                (1, len(mapped), n_points), dtype=torch.int64, device=self.device
            )
        with torch.inference_mode():
            out = self.model(**self._embeddings, multimask_output=self.multimask, **kwargs)
            logits = out.pred_masks[0].float()  # [K, M, h', w'] low-resolution mask logits
            scores = out.iou_scores[0].float()  # [K, M] predicted IoU per candidate
            best = scores.argmax(dim=-1)  # [K]
            rows = torch.arange(len(mapped), device=logits.device)
            chosen = logits[rows, best][:, None]  # [K, 1, h', w']
            masks = (self._upsample(chosen, (w, h)) > 0.0).cpu().numpy()
            best_scores = scores[rows, best].cpu().numpy()
        results = []
        for k in range(len(mapped)):
            score = float(best_scores[k])
            results.append((masks[k].astype(bool), score if math.isfinite(score) else 0.0))
        return results


class Sam2Segmenter(SamSegmenter):
    """:class:`SamSegmenter` that accepts SAM2 / SAM2.1 checkpoints only (``--segmenter sam2:PATH``)."""

    name = "sam2"
    families = ("sam2",)


def find_checkpoints(roots: Sequence[str | Path], depth: int = 2) -> list[tuple[Path, SamFamily]]:
    """SAM-family checkpoint directories under ``roots`` (each root and ``depth`` levels of folders below
    it), with their family, sorted by path. Only ``config.json`` files are read (no weights)."""
    found: dict[Path, SamFamily] = {}
    visited: set[Path] = set()
    todo = [(Path(root).expanduser(), depth) for root in roots]
    while todo:
        directory, left = todo.pop()
        if not directory.is_dir() or directory.resolve() in visited:
            continue
        visited.add(directory.resolve())
        family = family_of(read_model_type(directory))
        if family is not None:
            found[directory] = family
        elif left > 0:
            with contextlib.suppress(OSError):
                todo.extend((p, left - 1) for p in directory.iterdir() if not p.name.startswith("."))
    return sorted(found.items())
