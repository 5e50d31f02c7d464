"""Entry point for verl's ``reward.reward_manager.source=importlib`` (load this file by path).

verl executes a file given by path as a fresh module; the manager class itself lives in
:mod:`pixelthink.integrations.verl.manager` so that it is defined (and registered under the name
``pixelthink``) exactly once, however often this file is loaded. See that module for the settings and
the uncertainty sources.
"""

from __future__ import annotations

from pixelthink.integrations.verl.manager import (
    UNCERTAINTY_SOURCES,
    PixelThinkRewardManager,
    uncertainty_of_rollout,
)

__all__ = ["UNCERTAINTY_SOURCES", "PixelThinkRewardManager", "uncertainty_of_rollout"]
