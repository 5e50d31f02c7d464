"""The embedded miniature: a small world, a model built for it and the shipped checkpoint's locator.

* :mod:`.shapes`: the procedural shapes benchmark (scenes, graded queries, exact masks, references;
  docs/SHAPES.md), ``pixelthink data shapes``;
* :mod:`.model`: tiny, random-weight models of the real architectures (``tiny:`` model specs of a
  recipe, tests) and :func:`~.model.shipped_model_dir`, where the trained tiny model ships
  (``src/pixelthink/assets/tiny_model``, package data; docs/TINY_MODEL.md);
* :mod:`.tower`: the tower stage, dense per-token pretraining of a vision tower on shapes scenes
  (``pixelthink train tower``).

Nothing is imported here: the submodules are loaded on their own (:mod:`.tower` imports torch).
"""
