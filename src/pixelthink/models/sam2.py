"""SAM2 as a prompted segmenter, through transformers' ``Sam2Model`` and without torchvision.

transformers' ``Sam2Processor`` / ``Sam2ImageProcessor`` need torchvision, which this project cannot
install (see docs/ENVIRONMENT.md), so this module does their work itself, mirroring
``transformers/models/sam2`` (5.23):

- image: resized (bilinear, aspect ratio not kept) to the encoder's square input size, scaled to
  [0, 1], normalised with the ImageNet mean/std (``preprocessor_config.json`` when present);
- prompts: ``Sam2Processor._normalize_coordinates`` scales original-frame pixels to the *SAM input
  frame* (``x * S_w / W``, ``y * S_h / H``, no rounding); the model itself adds the half-pixel shift
  and divides by the input size. See :func:`to_input_frame`;
- masks: ``post_process_masks`` upsamples the low-resolution mask logits straight to the original
  ``(H, W)`` (bilinear, ``align_corners=False``) and thresholds at 0.

Seg-Zero's call is reproduced by default: one box and both points as positive prompts
(labels ``[1, 1]``), multimask output (3 masks) and the highest predicted-IoU mask kept.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pixelthink.jsonio import read_json_file
from pixelthink.models.segmenters import BaseSegmenter, Box, Point, Prompt, clip_box, points_inside

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SAM2_MODEL_TYPES",
    "Sam2Segmenter",
    "preprocess_image",
    "to_input_frame",
]

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_input_frame(
    box: Box | None,
    points: Sequence[Point],
    original_size: tuple[int, int],
    input_size: tuple[int, int],
) -> tuple[Box | None, list[Point]]:
    """Map a box and points from the original frame to the SAM2 input frame.

    Mirrors ``Sam2Processor._normalize_coordinates``: ``x' = x * in_w / W``, ``y' = y * in_h / H``
    (floats, no rounding, no half-pixel shift: ``Sam2PromptEncoder`` adds 0.5 itself).

    Args:
        box: XYXY pixels in the original frame, or ``None``.
        points: (x, y) pixels in the original frame.
        original_size: ``(W, H)`` of the original image.
        input_size: ``(in_w, in_h)`` of the encoder input (e.g. ``(1024, 1024)``).

    Returns:
        The box (XYXY) and points ((x, y)) in the SAM2 input frame.
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
) -> np.ndarray:
    """SAM2 pixel values for one image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, original frame.
        input_size: ``(in_w, in_h)`` of the encoder input.
        mean, std: per-channel normalisation of values scaled to [0, 1].

    Returns:
        float32 ``(1, 3, in_h, in_w)``: ``(resize(image) / 255 - mean) / std``, bilinear resize.
    """
    from PIL import Image

    in_w, in_h = input_size
    resized = Image.fromarray(image, mode="RGB").resize((in_w, in_h), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])


def _square(value: Any, what: str) -> tuple[int, int]:
    """``(width, height)`` from an int, a ``[h, w]`` list or a ``{"height", "width"}`` dict."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, dict) and "height" in value and "width" in value:
        return int(value["width"]), int(value["height"])
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[1]), int(value[0])
    raise ValueError(f"{what}: expected an int, [height, width] or {{height, width}}, got {value!r}")


#: ``model_type`` values of checkpoints whose image model ``Sam2Model`` loads.
SAM2_MODEL_TYPES: tuple[str, ...] = ("sam2", "sam2_video")


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers logs errors only: its loading report is replaced by our own checks and messages."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _load_sam2_model(root: Path, config: Any, dtype: Any) -> Any:
    """``Sam2Model`` from ``root`` after checking that it is a SAM2 checkpoint that fills the whole model."""
    from transformers import Sam2Config, Sam2Model

    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in SAM2_MODEL_TYPES:
        raise ValueError(
            f"{root}: config.json has model_type {model_type!r}, not a SAM2 checkpoint (expected one of "
            f"{list(SAM2_MODEL_TYPES)}, e.g. facebook/sam2.1-hiera-large in transformers format); "
            "--segmenter sam2:PATH needs a SAM2 model directory"
        )
    # From the dict: for a sam2_video config this skips transformers' model-type warning (the image part
    # is what Sam2Model needs; the memory modules' settings stay unused attributes).
    sam2_config = Sam2Config.from_dict(config)
    with _transformers_quiet():
        try:
            model, info = Sam2Model.from_pretrained(
                str(root), config=sam2_config, dtype=dtype, output_loading_info=True
            )
        except RuntimeError as exc:
            if "mismatch" not in str(exc):
                raise
            raise ValueError(
                f"{root}: the checkpoint's tensor shapes do not match its config.json (a SAM2 model of "
                "another size?); refusing to replace them with random weights"
            ) from None
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ValueError(
            f"{root}: {len(missing)} tensors of the SAM2 image model are missing from the checkpoint (e.g. "
            f"{', '.join(missing[:3])}): its weights are not a transformers SAM2 checkpoint (original "
            "facebookresearch/sam2 weights must be converted with transformers' convert_sam2_to_hf.py); "
            "refusing to fill them with random weights"
        )
    unexpected = info.get("unexpected_keys") or []
    if unexpected:  # e.g. the memory modules of a sam2_video checkpoint: not used for single images
        logger.info("%s: %d checkpoint tensors not used by the image model (%s, ...)", root, len(unexpected),
                    sorted(unexpected)[0])  # fmt: skip
    return model


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class Sam2Segmenter(BaseSegmenter):
    """Prompted SAM2 (transformers ``Sam2Model``): ``set_image`` once, ``predict`` per prompt.

    All boxes and points are in the original frame of the image given to :meth:`set_image`; masks are
    bool ``(H, W)`` of that image; the score is SAM2's predicted IoU of the returned mask.
    """

    name = "sam2"
    state_attributes = ("_image", "_embeddings")

    def __init__(
        self,
        model: Any,
        *,
        input_size: tuple[int, int],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        multimask: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.multimask = bool(multimask)
        self._embeddings: list[Any] | None = None
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
    ) -> Sam2Segmenter:
        """Load a SAM2 checkpoint directory in transformers' format (``config.json`` + weights, offline).

        Only SAM2 checkpoints are accepted: ``config.json`` must have ``model_type`` ``"sam2"`` or
        ``"sam2_video"`` (the published SAM2.1 checkpoints are saved as ``sam2_video``, the image model
        plus the video memory modules; their image part is loaded and the memory tensors are left
        out, which is expected, so transformers' ``sam2_video`` -> ``sam2`` warning is not printed).
        Every tensor of the image model must come from the checkpoint: a directory whose weights
        do not fill it (other tensor names, other shapes) is refused instead of being completed with
        random weights.

        The input size comes from ``preprocessor_config.json`` (``size``) when present, else from
        ``config.prompt_encoder_config.image_size``; mean/std from ``preprocessor_config.json`` or
        ImageNet's. ``device``: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda:0"``, ...
        ``dtype``: a ``torch.dtype`` or its name (``"bfloat16"``); default float32.

        Raises:
            FileNotFoundError: no ``config.json``.
            ValueError: not a SAM2 config, or weights missing / of the wrong shape.
        """
        import torch

        root = Path(path)
        config_file = root / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{root}: not a SAM2 model directory (no config.json)")
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise ValueError(f"dtype: unknown torch dtype {dtype!r}")
            dtype = getattr(torch, dtype)
        model = _load_sam2_model(root, read_json_file(config_file, "SAM2 config"), dtype or torch.float32)
        model = model.to(_resolve_device(device)).eval()

        input_size = _square(model.config.prompt_encoder_config.image_size, f"{root}/config.json image_size")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        pre_path = root / "preprocessor_config.json"
        if pre_path.is_file():
            pre = read_json_file(pre_path, "preprocessor config")
            if "size" in pre:
                input_size = _square(pre["size"], f"{pre_path} field 'size'")
            mean = pre.get("image_mean", mean)
            std = pre.get("image_std", std)
        return cls(model, input_size=input_size, mean=mean, std=std, multimask=multimask)

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
        pixels = preprocess_image(self._require_image(), self.input_size, self.mean, self.std)
        tensor = torch.from_numpy(pixels).to(device=self.device, dtype=self.dtype)
        with torch.inference_mode():
            self._embeddings = list(self.model.get_image_embeddings(tensor))
        self.encoder_calls += 1

    def predict(self, box: Box | None, points: Sequence[Point]) -> tuple[np.ndarray, float]:
        """Mask bool ``(H, W)`` and predicted IoU for a box and/or points (original frame)."""
        return self.predict_many([(box, points)])[0]

    def predict_many(self, prompts: Sequence[Prompt]) -> list[tuple[np.ndarray, float]]:
        """One mask per ``(box, points)`` prompt on the current image (original frame).

        Prompts with the same shape (box or not, number of points) go through the decoder in one
        call, as SAM2's point-batch dimension: ``input_boxes [1, K, 4]``, ``input_points
        [1, K, N, 2]``, ``input_labels [1, K, N]`` (all points positive). A box clipped to nothing is
        dropped, as are points outside the image; a prompt left with neither gives an empty mask and
        score 0.0.
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

    def _decode(
        self, prompts: list[tuple[Box | None, list[Point]]], has_box: bool
    ) -> list[tuple[np.ndarray, float]]:
        """Run the prompt encoder + mask decoder for K prompts of one shape; upsample the chosen masks."""
        import torch
        import torch.nn.functional as F

        assert self._embeddings is not None
        w, h = self.image_size
        mapped = [to_input_frame(box, pts, (w, h), self.input_size) for box, pts in prompts]
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
            out = self.model(image_embeddings=self._embeddings, multimask_output=self.multimask, **kwargs)
            logits = out.pred_masks[0].float()  # [K, M, h', w'] low-resolution mask logits
            scores = out.iou_scores[0].float()  # [K, M] predicted IoU per candidate
            best = scores.argmax(dim=-1)  # [K]
            rows = torch.arange(len(mapped), device=logits.device)
            chosen = logits[rows, best][:, None]  # [K, 1, h', w']
            full = F.interpolate(chosen, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
            masks = (full > 0.0).cpu().numpy()
            best_scores = scores[rows, best].cpu().numpy()
        results = []
        for k in range(len(mapped)):
            score = float(best_scores[k])
            results.append((masks[k].astype(bool), score if math.isfinite(score) else 0.0))
        return results
