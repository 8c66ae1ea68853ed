"""Agreement statistics: Cohen's kappa (AI vs human), Krippendorff's alpha (between raters).

Raw agreement flatters a rater pair that both say "yes" to almost everything; kappa and alpha
subtract the agreement expected by chance from each side's label shares. Alpha handles any
number of raters per item and missing answers, which is what a spread rating design gives.
Intervals come from a percentile bootstrap over items (the unit that was sampled).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Statistic(BaseModel):
    value: float | None  # None: undefined here (e.g. every label the same, so chance agreement is 1)
    low: float | None
    high: float | None
    n: int  # items

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return f"n/a (n={self.n})"
        if self.low is None:
            return f"{self.value:.{digits}f} (n={self.n})"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Kappa of two labelings of the same items; None when chance agreement is 1 (one label only)."""
    n = len(pairs)
    if n == 0:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def _rater_pairs(units: Sequence[Sequence[Hashable]]) -> Iterator[tuple[Hashable, Hashable, float]]:
    """Every ordered pair of two raters' values within a unit, weighted 1/(m-1) for a unit of m
    values (Krippendorff's coincidence weighting); units with fewer than two values give none."""
    for values in units:
        m = len(values)
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    yield a, b, 1 / (m - 1)


def krippendorff_alpha(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Nominal Krippendorff's alpha over units (each the list of its raters' values, any length);
    units with fewer than two values carry no pairs and are ignored. None when undefined."""
    coincidence: Counter = Counter()
    for a, b, weight in _rater_pairs(units):
        coincidence[(a, b)] += weight
    total = sum(coincidence.values())
    if total <= 1:
        return None
    marginals: Counter = Counter()
    for (a, _), count in coincidence.items():
        marginals[a] += count
    disagree_observed = sum(c for (a, b), c in coincidence.items() if a != b) / total
    disagree_expected = sum(marginals[a] * marginals[b] for a in marginals for b in marginals if a != b) / (total * (total - 1))
    if disagree_expected == 0:
        return None
    return 1 - disagree_observed / disagree_expected


def observed_agreement(units: Sequence[Sequence[Hashable]]) -> float | None:
    """Share of agreeing ordered rater pairs within units (each unit weighted as alpha weights it)."""
    agree = total = 0.0
    for a, b, weight in _rater_pairs(units):
        total += weight
        agree += (a == b) * weight
    return agree / total if total else None


def bootstrap(units: Sequence[T], statistic: Callable[[Sequence[T]], float | None], confidence: float = 0.95,
              rounds: int = 2000, seed: int = 0) -> Statistic:
    """`statistic` on `units`, with a percentile-bootstrap interval over units. Resamples where the
    statistic is undefined are dropped; with fewer than half defined, no interval is given."""
    value = statistic(units)
    n = len(units)
    if value is None or n < 2:
        return Statistic(value=value, low=None, high=None, n=n)
    rng = random.Random(seed)
    draws = []
    for _ in range(rounds):
        v = statistic([units[rng.randrange(n)] for _ in range(n)])
        if v is not None:
            draws.append(v)
    if len(draws) < rounds / 2:
        return Statistic(value=value, low=None, high=None, n=n)
    draws.sort()
    tail = (1 - confidence) / 2
    return Statistic(value=value, low=draws[int(tail * len(draws))], high=draws[min(len(draws) - 1, int((1 - tail) * len(draws)))], n=n)
