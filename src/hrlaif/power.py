"""Power, said up front: the smallest effect a paired design of n prompts can detect.

A study that reads "no difference" must first say what difference it could have seen. Both
designs here are paired by prompt (every arm answers the same prompts), two-sided, by the normal
approximation that the paired bootstrap and McNemar's test also lean on:

- `paired_mde`: per-prompt values (a share of K samples correct, a best-of-n expectation, a
  score), with `sd` the standard deviation of the per-prompt differences. MDE =
  (z_{1-alpha/2} + z_power) * sd / sqrt(n).
- `mcnemar_mde`: one yes/no outcome per prompt and arm (greedy accuracy). Only the prompts where
  the arms differ carry information; `discordance` is their expected share. Connor's (1987)
  formula: n * effect^2 = (z_{1-alpha/2} sqrt(d) + z_power sqrt(d - effect^2))^2, solved for the
  effect.

Effects are fractions (0.08 = 8 points). The normal approximation is a little optimistic at small
n (a t-test needs two prompts more than 159 for 10 points at SD 0.45); below ~30 prompts, or ~30
discordant ones for McNemar, treat the numbers as rough.
"""

from __future__ import annotations

import math
from statistics import NormalDist

# What a design is assumed to face before it has run, said in every line that uses them:
ASSUMED_SD = 0.45
"""SD of per-prompt differences of 0/1-like outcomes that often disagree (issue 29's pilot: best-of-4
picks of two RMs on the reach sets)."""
ASSUMED_DISCORDANCE = 0.20
"""Share of keyed prompts one greedy arm gets right and the other wrong (the study's arms: 15-25%)."""


def _z(alpha: float, power: float) -> tuple[float, float]:
    """(z_{1-alpha/2}, z_power): the two-sided critical value and the power quantile."""
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha}, power={power}")
    return NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)


def _z_sum(alpha: float, power: float) -> float:
    return sum(_z(alpha, power))


def paired_mde(n: int, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest mean per-prompt difference that n paired prompts detect, given the SD of the
    per-prompt differences (0.45 is typical of 0/1 outcomes that often disagree)."""
    if n < 1 or sd < 0:
        raise ValueError(f"need n >= 1 and sd >= 0, got n={n}, sd={sd}")
    return _z_sum(alpha, power) * sd / math.sqrt(n)


def paired_prompts_needed(effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Prompts a paired design needs to detect `effect` (the inverse of `paired_mde`, rounded up)."""
    if effect <= 0 or sd < 0:
        raise ValueError(f"need effect > 0 and sd >= 0, got effect={effect}, sd={sd}")
    return max(1, math.ceil((_z_sum(alpha, power) * sd / effect) ** 2))


def mcnemar_mde(n: int, discordance: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference in accuracy (share of prompts right, arm A minus arm B) that n paired
    prompts detect when a share `discordance` of them is right in one arm and wrong in the other.

    The effect can be at most `discordance` (every discordant prompt going one way); when even that
    is not detectable the answer is `discordance` itself, i.e. nothing smaller can be seen."""
    if n < 1 or not 0 < discordance <= 1:
        raise ValueError(f"need n >= 1 and discordance in (0, 1], got n={n}, discordance={discordance}")
    za, zb = _z(alpha, power)

    def detectable(effect: float) -> bool:  # increases with effect: one root, found by bisection
        return math.sqrt(n) * effect >= za * math.sqrt(discordance) + zb * math.sqrt(max(0.0, discordance - effect * effect))

    low, high = 0.0, discordance
    if not detectable(high):
        return discordance
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (low, mid) if detectable(mid) else (mid, high)
    return high


def mcnemar_prompts_needed(effect: float, discordance: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Prompts a paired yes/no design needs to detect `effect` at this discordance (Connor 1987)."""
    if not 0 < effect <= discordance <= 1:
        raise ValueError(f"need 0 < effect <= discordance <= 1, got effect={effect}, discordance={discordance}")
    za, zb = _z(alpha, power)
    return max(1, math.ceil((za * math.sqrt(discordance) + zb * math.sqrt(discordance - effect * effect)) ** 2 / effect**2))
