"""Where ``pixelthink segment`` writes its files: the mask goes beside ``--out`` unless ``--mask-out``.

The reasoner is the real OpenAI backend talking to a scripted chat-completions server (one fixed
answer), the segmenter is ``box`` (the answer box filled), so the run needs no weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelthink.cli import main
from pixelthink.commands.segment import default_mask_path

# 40x30 image; in the 840x840 model frame x * 21, y * 28: box (10, 5, 29, 19) -> (210, 140, 609, 532)
ANSWER = (
    "<think>the square</think>"
    '<answer>{"bbox": [210, 140, 609, 532], "points_1": [420, 336], "points_2": [300, 280]}</answer>'
)


@pytest.fixture(scope="module")
def server_url(scripted_server):
    return scripted_server(lambda prompt: ANSWER)


def _segment(image: Path, server_url: str, *extra: str) -> int:
    return main(["segment", str(image), "the square", "--reasoner", server_url, "--model", "scripted",
                 "--segmenter", "box", *extra])  # fmt: skip


def test_default_mask_path_sits_beside_the_overlay():
    assert default_mask_path(Path("out/cat.png")) == Path("out/cat.mask.png")
    assert default_mask_path(Path("out/cat.overlay.png")) == Path("out/cat.mask.png")
    assert default_mask_path(Path("cat.overlay.png")) == Path("cat.mask.png")
    assert default_mask_path(Path("a/.overlay.png")) == Path(
        "a/.overlay.mask.png"
    )  # never the overlay itself


def test_mask_defaults_beside_out_not_in_the_current_dir(tmp_path, server_url, monkeypatch, capsys):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    Image.new("RGB", (40, 30), (90, 90, 90)).save(tmp_path / "scene.png")
    out = tmp_path / "results" / "scene_overlay.png"
    assert _segment(tmp_path / "scene.png", server_url, "--out", str(out)) == 0
    mask_file = tmp_path / "results" / "scene_overlay.mask.png"
    assert f"mask: {mask_file}" in capsys.readouterr().out
    assert out.is_file() and list(cwd.iterdir()) == []  # nothing written to the current directory
    mask = np.asarray(Image.open(mask_file)) > 0
    # box (10, 5, 29, 19) filled: 20 columns x 15 rows = 300 px
    assert mask.shape == (30, 40) and int(mask.sum()) == 300 and mask[5:20, 10:30].all()


def test_without_out_both_files_go_to_the_current_dir(tmp_path, server_url, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (40, 30)).save(tmp_path / "scene.png")
    assert _segment(tmp_path / "scene.png", server_url, "--json") == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["overlay"], payload["mask_file"]) == ("scene.overlay.png", "scene.mask.png")
    assert (tmp_path / "scene.overlay.png").is_file() and (tmp_path / "scene.mask.png").is_file()
    # --mask-out still wins
    assert _segment(tmp_path / "scene.png", server_url, "--out", "o/x.png", "--mask-out", "m/y.png") == 0
    assert (tmp_path / "m" / "y.png").is_file() and not (tmp_path / "o" / "x.mask.png").exists()
