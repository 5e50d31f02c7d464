"""Integrations with external training frameworks (plugins, not forks).

* :mod:`pixelthink.integrations.verl`: multi-node GRPO with verl 0.9.1 (its own environment,
  ``requirements-verl.txt``): data converter, ``compute_score``, the ``pixelthink`` reward manager.
"""
