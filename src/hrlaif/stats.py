"""Intervals for the rates we report: every rate goes out with its n and a 95% interval."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from statistics import NormalDist

from pydantic import BaseModel


class Rate(BaseModel):
    successes: float
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def text(self, digits: int = 1) -> str:
        if self.rate is None:
            return "n/a (n=0)"
        return f"{100 * self.rate:.{digits}f}% [{100 * self.low:.{digits}f}, {100 * self.high:.{digits}f}] (n={self.n})"


def wilson(successes: float, n: int, confidence: float = 0.95) -> Rate:
    """Wilson score interval: sound at small n and at rates near 0 or 1, unlike the normal one."""
    if n == 0:
        return Rate(successes=0, n=0, rate=None, low=None, high=None)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Rate(successes=successes, n=n, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


class Difference(BaseModel):
    diff: float | None
    low: float | None
    high: float | None
    n: int

    def text(self, digits: int = 1) -> str:
        if self.diff is None:
            return "n/a"
        return f"{100 * self.diff:+.{digits}f} pts [{100 * self.low:+.{digits}f}, {100 * self.high:+.{digits}f}] (n={self.n})"


def paired_bootstrap_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95, rounds: int = 2000, seed: int = 0
) -> Difference:
    """Interval for mean(a) - mean(b) over the same items (paired), by the percentile bootstrap."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        return Difference(diff=None, low=None, high=None, n=0)
    diffs = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(rounds))
    tail = (1 - confidence) / 2
    return Difference(
        diff=sum(diffs) / n, low=means[int(tail * rounds)], high=means[min(rounds - 1, int((1 - tail) * rounds))], n=n
    )


class Mean(BaseModel):
    mean: float | None
    low: float | None
    high: float | None
    n: int

    def text(self, digits: int = 3) -> str:
        if self.mean is None:
            return "n/a (n=0)"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"


def bootstrap_mean(values: Sequence[float], confidence: float = 0.95, rounds: int = 2000, seed: int = 0) -> Mean:
    """Mean with a percentile-bootstrap interval: no normality assumed for scores in [0, 1]."""
    d = paired_bootstrap_difference(values, [0.0] * len(values), confidence, rounds, seed)
    return Mean(mean=d.diff, low=d.low, high=d.high, n=d.n)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> Rate:
    """Exact (Clopper-Pearson) interval: each end holds its one-sided level (1 - confidence) / 2 at
    every n and rate, so a test "low > line" passes a judge exactly at the line at most that often
    (the Wilson and bootstrap intervals do not promise that at n of 5 or 10)."""
    if n == 0:
        return Rate(successes=0, n=0, rate=None, low=None, high=None)
    tail = (1 - confidence) / 2

    def solve(target, k: int) -> float:  # the p where P(X >= k | p) = target (increasing in p)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if binomial_tail(k, n, mid) < target else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if successes == 0 else solve(tail, successes)
    high = 1.0 if successes == n else solve(1 - tail, successes + 1)
    return Rate(successes=successes, n=n, rate=successes / n, low=low, high=high)
