"""Session-wide fixtures: the tiny random checkpoints, built once per test session.

The directories are shared by every test module that asks for them, so tests must only read them
(copy a directory under ``tmp_path`` before changing any file in it).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_vl_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"qwen2_5_vl": dir, "qwen3_vl": dir}``: tiny Qwen2.5-VL / Qwen3-VL checkpoints with the builders'
    default settings (seed 0, hidden size 64, stock image bounds) and one default tiny tokenizer."""
    from pixelthink.models.tiny import build_tiny_qwen2_5_vl, build_tiny_qwen3_vl, build_tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny_vl")
    tok = build_tiny_tokenizer()
    return {
        "qwen2_5_vl": build_tiny_qwen2_5_vl(root / "q25", tokenizer=tok),
        "qwen3_vl": build_tiny_qwen3_vl(root / "q3", tokenizer=tok),
    }


@pytest.fixture(scope="session")
def tiny_sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAM2 checkpoint with a 128x128 image encoder input (seed 0)."""
    from pixelthink.models.tiny import build_tiny_sam2

    return build_tiny_sam2(tmp_path_factory.mktemp("tiny_sam2") / "sam2", image_size=128)


@pytest.fixture(scope="session")
def tiny_models(tiny_vl_dirs: dict[str, Path], tiny_sam2_dir: Path) -> tuple[Path, Path]:
    """``(qwen2_5_vl_dir, sam2_dir)`` for end-to-end pipeline tests."""
    return tiny_vl_dirs["qwen2_5_vl"], tiny_sam2_dir
