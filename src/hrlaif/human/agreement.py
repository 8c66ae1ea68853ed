"""Agreement statistics: Cohen's kappa (AI vs human), Krippendorff's alpha (between raters).

Raw agreement flatters a rater pair that both say "yes" to almost everything; kappa and alpha
subtract the agreement expected by chance from each side's label shares. Alpha handles any
number of raters per item and missing answers, which is what a spread rating design gives.
Intervals come from a percentile bootstrap over items (the unit that was sampled).

Kappa is undefined, not 0, when either side gives one label to every item: against a constant
machine verdict the formula returns exactly 0 whatever the raters say, and "0.00 [0.00, 0.00]"
reads as measured chance-level agreement when nothing was measured. Such a statistic says why.
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
    why: str | None = None  # when value is None: why it is undefined

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return f"undefined: {self.why} (n={self.n})" if self.why else f"undefined (n={self.n})"
        if self.low is None:
            return f"{self.value:.{digits}f} (n={self.n})"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] (n={self.n})"


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Kappa of two labelings of the same items; None when either side used one label only (the
    formula then gives 0, or 0/0, whatever the other side says: no agreement was measured)."""
    n = len(pairs)
    if n == 0 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[c] * right[c] for c in left) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def _label(value: Hashable) -> str:
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def kappa_undefined_why(pairs: Sequence[tuple[Hashable, Hashable]], machine: str = "the machine") -> str | None:
    """Why kappa of (human, machine) pairs is undefined, in words; None when it is defined."""
    if not pairs:
        return "no item has both a human majority and a machine verdict"
    sides = [("the raters' majority", {a for a, _ in pairs}), (machine, {b for _, b in pairs})]
    constant = [f"{who} said {_label(next(iter(labels)))} on all {len(pairs)} items" for who, labels in sides if len(labels) < 2]
    if not constant:
        return None
    return " and ".join(constant) + ", so agreement beyond chance cannot be measured"


def alpha_undefined_why(units: Sequence[Sequence[Hashable]]) -> str | None:
    """Why Krippendorff's alpha is undefined, in words; None when it is defined."""
    if not any(len(u) >= 2 for u in units):
        return "no item has answers from two raters"
    labels = {v for u in units if len(u) >= 2 for v in u}
    if len(labels) < 2:
        return f"every answer was {_label(next(iter(labels)))}, so agreement beyond chance cannot be measured"
    return None


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
              rounds: int = 2000, seed: int = 0, why: Callable[[Sequence[T]], str | None] | None = None) -> Statistic:
    """`statistic` on `units`, with a percentile-bootstrap interval over units. Resamples where the
    statistic is undefined are dropped; with fewer than half defined, no interval is given. `why`
    says in words why an undefined statistic is undefined."""
    value = statistic(units)
    n = len(units)
    if value is None:
        return Statistic(value=None, low=None, high=None, n=n, why=why(units) if why else None)
    if n < 2:
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
