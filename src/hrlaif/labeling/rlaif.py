"""Plain RLAIF labels (the paper's baseline): the judge's preference decides every pair."""

from __future__ import annotations

from collections import Counter

from hrlaif.judge.base import Judge
from hrlaif.labeling.pairwise import candidate_pairs, compare_all, preference_pair
from hrlaif.records import Pair, Sample


def label_rlaif(samples: list[Sample], judge: Judge, soft_labels: bool = True) -> tuple[list[Pair], dict]:
    """Pairs decided by the judge alone; returns (pairs, counts of how each comparison went)."""
    candidates = candidate_pairs(samples)
    comparisons = compare_all(judge, [(a, b.response) for a, b in candidates], soft_labels, desc="labeling (rlaif)")
    pairs: list[Pair] = []
    counts: Counter = Counter(candidates=len(candidates))
    for (a, b), comparison in zip(candidates, comparisons):
        counts[comparison.how] += 1
        pair = preference_pair(a, b, comparison, "rlaif", "preference")
        if pair is not None:
            pairs.append(pair)
    counts["pairs"] = len(pairs)
    return pairs, dict(counts)
