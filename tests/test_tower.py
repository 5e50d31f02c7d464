"""The tower stage (``pixelthink train tower``): dense targets, the training run, resume, recipe errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelthink.cli import main
from pixelthink.miniature.shapes import (
    WORLDS,
    SceneConfig,
    ShapesConfig,
    cell_owners,
    generate_benchmark,
    generate_scene,
)

SIMPLE = WORLDS["simple"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simple-world benchmark (its texts train the tiny tokenizer; its meta.json names the world)."""
    return generate_benchmark(
        tmp_path_factory.mktemp("tower") / "bench",
        n_train=20,
        n_val=0,
        n_test=0,
        image_size=(224, 224),
        progress=False,
    )


def _recipe(tmp_path: Path, bench: Path, out: Path, **trainer: int) -> Path:
    settings = {"max_steps": 4, "per_device_train_batch_size": 2, "eval_samples": 4, "eval_steps": 2,
                "save_steps": 2, "logging_steps": 1, **trainer}  # fmt: skip
    lines = "\n".join(f"  {k}: {v}" for k, v in settings.items())
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(
        f"""kind: tower
output_dir: {out}
model:
  path: tiny:qwen2_5_vl
  dtype: float32
  tiny: {{hidden_size: 32, num_layers: 1, image_size: 224, initializer_range: 0.02, vision_depth: 1,
          vision_hidden_size: 16, vision_num_heads: 1, tokenizer_from: [{bench}], vocab_size: 400}}
data:
  path: {bench}
  resolution: 224
trainer:
{lines}
""",
        encoding="utf-8",
    )
    return path


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_dense_targets_name_the_shape_at_each_token_centre() -> None:
    from pixelthink.train.tower import dense_targets

    scene = generate_scene(
        np.random.default_rng(3), SceneConfig(width=224, height=224, n_shapes=(4, 4), world=SIMPLE)
    )
    owners = cell_owners(scene, 28)
    assert owners.shape == (8, 8)
    colour, kind, box = dense_targets(scene, SIMPLE, 28)
    assert colour.shape == kind.shape == (64,) and box.shape == (64, 6)
    seen = set()
    for r in range(8):
        for c in range(8):
            i, k = owners[r, c], r * 8 + c
            assert (
                scene.masks[i][r * 28 + 14, c * 28 + 14]
                if i >= 0
                else not any(m[r * 28 + 14, c * 28 + 14] for m in scene.masks)
            )
            if i < 0:
                assert colour[k] == len(SIMPLE.colours) and kind[k] == len(SIMPLE.kinds)
                assert np.isnan(box[k]).all()
                continue
            seen.add(int(i))
            shape = scene.shapes[i]
            assert list(SIMPLE.colours)[colour[k]] == shape.colour and SIMPLE.kinds[kind[k]] == shape.kind
            ys, xs = np.nonzero(scene.masks[i])
            expected = [xs.min(), ys.min(), xs.max(), ys.max(), shape.cx, shape.cy]
            np.testing.assert_allclose(box[k], expected, atol=1e-3)
    assert len(seen) >= 3  # the simple world's shapes span several tokens each
    with pytest.raises(ValueError, match="cell must be >= 1"):
        cell_owners(scene, 0)


def test_world_of_reads_meta_json(tmp_path: Path, bench: Path) -> None:
    from pixelthink.train.tower import world_of

    assert world_of(bench) is SIMPLE
    rich = generate_benchmark(
        tmp_path / "rich", n_train=1, n_val=0, n_test=0, progress=False, config=ShapesConfig(world="rich")
    )
    assert world_of(rich) is WORLDS["rich"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "meta.json").write_text('{"name": "reasonseg"}')
    with pytest.raises(ValueError, match="not a shapes benchmark"):
        world_of(tmp_path / "other")
    with pytest.raises(FileNotFoundError, match=r"meta\.json: not found"):
        world_of(tmp_path / "nowhere")


def test_tower_stage_trains_the_tower_only_and_saves_a_loadable_model(
    tmp_path: Path, bench: Path, capsys
) -> None:
    out = tmp_path / "tower"
    assert main(["train", "tower", "--config", str(_recipe(tmp_path, bench, out))]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["global_step"] == 4
    assert set(summary["eval"]) >= {"colour_acc", "kind_acc", "box_l1_px", "centre_l1_px"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all("eval_kind_acc" in r for r in rows if r["step"] in (2, 4))
    assert (out / "tower_heads.safetensors").is_file() and not list(out.glob("checkpoint-*"))
    base, trained = _weights(out / "tiny_base"), _weights(out)
    assert base.keys() == trained.keys()
    changed = {k for k in base if not torch.equal(base[k], trained[k])}
    assert changed and all("visual" in k for k in changed)  # the language model is untouched
    assert any("merger" in k for k in changed) and any("patch_embed" in k for k in changed)
    from pixelthink.models import load_reasoner

    reasoner = load_reasoner(str(out), max_new_tokens=4)  # the users' loading path
    assert reasoner is not None


def test_an_interrupted_tower_run_resumes_to_the_same_weights(
    tmp_path: Path, bench: Path, monkeypatch
) -> None:
    import pixelthink.train.tower as tower
    from pixelthink.train.config import load_recipe

    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    tower.run_tower(load_recipe(_recipe(tmp_path, bench, whole)), progress=False)

    real, calls = tower._losses, []

    def crash_at_step_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tower, "_losses", crash_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        tower.run_tower(load_recipe(_recipe(tmp_path, bench, resumed)), progress=False)
    assert (resumed / "checkpoint-2").is_dir()
    monkeypatch.setattr(tower, "_losses", real)
    run = tower.run_tower(load_recipe(_recipe(tmp_path, bench, resumed)), progress=False)
    assert run.resumed_from is not None and run.resumed_from.endswith("checkpoint-2")
    a, b = _weights(whole), _weights(resumed)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    rows = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # the interrupted step 3 row was set aside
    assert (resumed / "metrics.abandoned.jsonl").is_file()


@pytest.mark.parametrize("box_code", ["fourier", "linear"])
def test_box_heads_decode_what_they_are_trained_on(box_code: str) -> None:
    """Each box code's loss is zero exactly at the code of the truth, and decoding that code gives the
    truth back (to the pixel, for Fourier codes of integer pixels)."""
    from pixelthink.miniature.model import fourier_code
    from pixelthink.train.tower import DenseHeads

    heads = DenseHeads(8, 5, 4, box_code=box_code, frame=224)
    truth = torch.tensor([[10.0, 20.0, 90.0, 120.0, 50.0, 70.0], [0.0, 1.0, 223.0, 222.0, 111.0, 112.0]])
    if box_code == "linear":
        out = truth / 224
    else:
        out = torch.from_numpy(fourier_code(truth.numpy(), 224, 16)).reshape(2, -1)
    assert out.shape == (2, 6 * (32 if box_code == "fourier" else 1))
    assert float(heads.box_loss(out, truth)) == pytest.approx(0.0, abs=1e-7)
    torch.testing.assert_close(heads.decode(out), truth, atol=1e-4, rtol=0)
    assert float(heads.box_loss(out + 0.1, truth)) > 1e-4
    with pytest.raises(ValueError, match="box_code"):
        DenseHeads(8, 5, 4, box_code="cubic", frame=224)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "trainer.max_step=3",
            "unknown key trainer.max_step (did you mean 'max_steps'?): not a field of TowerArguments",
        ),
        ("trainer.min_shapes=6", "min_shapes / max_shapes"),
        ("trainer.eval_steps=0", "trainer.eval_steps: expected an integer >= 1"),
        ("trainer.box_code=cubic", "trainer.box_code: expected 'fourier' or 'linear', got 'cubic'"),
        ("data.resolution=[224, 112]", "tower stage draws square scenes"),
    ],
)
def test_tower_recipe_errors_name_the_key(
    tmp_path: Path, bench: Path, override: str, message: str, capsys
) -> None:
    recipe = _recipe(tmp_path, bench, tmp_path / "bad")
    assert main(["train", "tower", "--config", str(recipe), override]) == 2
    assert message in capsys.readouterr().err
