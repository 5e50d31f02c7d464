"""Efficiency scores: SAT, RST and URSS (our definitions; the paper's exact formulas are unknown).

PixelThink reports "segmentation accuracy per token" (SAT), "reasoning score per token" (RST) and the
unified score URSS = gamma * SAT + (1 - gamma) * RST (gamma = 0.7). Their normalisation is not public,
so pixelthink defines (docs/METRICS.md)::

    SAT  = A * (T_ref / max(T, T_min)) ** alpha        A = gIoU as a fraction in [0, 1]
    RST  = R * (T_ref / max(T, T_min)) ** alpha        R = mean RScore in [0, 1]
    URSS = gamma * SAT + (1 - gamma) * RST

with T the mean reasoning length of the bucket, ``T_ref = 256`` (the PixelThink hard-sample length
budget L_base, a natural reference length), ``alpha = 0.42`` fitted so that the paper's headline
numbers land on the teaser figure's scale, ``T_min = 1`` (guards T = 0) and ``gamma = 0.7``:

* Seg-Zero  (gIoU 58.20, 90.58 tokens): SAT = 0.582  * (256 / 90.58) ** 0.42 = 0.900   (figure: 0.9)
* PixelThink (gIoU 60.17, 47.66 tokens): SAT = 0.6017 * (256 / 47.66) ** 0.42 = 1.219   (figure: 1.2)

Both scores increase with accuracy and strictly decrease with length (for alpha > 0); a response half
as long is worth ``2 ** alpha`` (about 1.34x) the same accuracy. These are pure functions of floats.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EfficiencyConfig:
    """Parameters of SAT / RST / URSS.

    Attributes:
        t_ref: reference reasoning length (tokens or words, whatever unit the lengths use).
        alpha: exponent of the length normalisation (> 0: longer reasoning scores lower).
        gamma: weight of SAT in URSS (the paper's 0.7).
        t_min: lengths below this are clamped to it (avoids division by zero for empty reasoning).
    """

    t_ref: float = 256.0
    alpha: float = 0.42
    gamma: float = 0.7
    t_min: float = 1.0

    def __post_init__(self) -> None:
        if not (self.t_ref > 0 and math.isfinite(self.t_ref)):
            raise ValueError(f"EfficiencyConfig.t_ref: expected a positive finite number, got {self.t_ref!r}")
        if not (self.alpha >= 0 and math.isfinite(self.alpha)):
            raise ValueError(f"EfficiencyConfig.alpha: expected a finite number >= 0, got {self.alpha!r}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"EfficiencyConfig.gamma: expected a number in [0, 1], got {self.gamma!r}")
        if not self.t_min > 0:
            raise ValueError(f"EfficiencyConfig.t_min: expected a positive number, got {self.t_min!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def length_factor(tokens: float, config: EfficiencyConfig = EfficiencyConfig()) -> float:
    """``(T_ref / max(T, T_min)) ** alpha``: 1 at T = T_ref, > 1 for shorter reasoning."""
    t = float(tokens)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"tokens: expected a finite number >= 0, got {tokens!r}")
    return (config.t_ref / max(t, config.t_min)) ** config.alpha


def _check_unit(value: float, name: str) -> float:
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name}: expected a fraction in [0, 1], got {value!r}")
    return v


def sat(accuracy: float, tokens: float, config: EfficiencyConfig = EfficiencyConfig()) -> float:
    """Segmentation accuracy per token. ``accuracy``: gIoU in [0, 1]; ``tokens``: mean reasoning length."""
    return _check_unit(accuracy, "accuracy") * length_factor(tokens, config)


def rst(rscore: float, tokens: float, config: EfficiencyConfig = EfficiencyConfig()) -> float:
    """Reasoning score per token. ``rscore``: mean judge score in [0, 1]; ``tokens``: mean reasoning length."""
    return _check_unit(rscore, "rscore") * length_factor(tokens, config)


def urss(sat_value: float, rst_value: float, config: EfficiencyConfig = EfficiencyConfig()) -> float:
    """Unified reasoning segmentation score ``gamma * SAT + (1 - gamma) * RST``."""
    return config.gamma * float(sat_value) + (1.0 - config.gamma) * float(rst_value)


def efficiency_scores(
    accuracy: float | None,
    rscore: float | None,
    tokens: float | None,
    config: EfficiencyConfig = EfficiencyConfig(),
) -> dict[str, float | None]:
    """SAT, RST and URSS for one bucket; a score is ``None`` when one of its inputs is missing."""
    if tokens is None:
        return {"sat": None, "rst": None, "urss": None}
    s = None if accuracy is None else sat(accuracy, tokens, config)
    r = None if rscore is None else rst(rscore, tokens, config)
    u = None if s is None or r is None else urss(s, r, config)
    return {"sat": s, "rst": r, "urss": u}
