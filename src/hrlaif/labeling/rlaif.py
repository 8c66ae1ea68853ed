"""Plain RLAIF labels (the paper's baseline): the judge's preference decides every pair."""

from __future__ import annotations

from collections import Counter

from hrlaif.judge.base import Judge
from hrlaif.labeling.pairwise import candidate_pairs, compare_all, preference_pair
from hrlaif.records import Pair, Sample


def label_rlaif(samples: list[Sample], judge: Judge, soft_labels: bool = True, tie_margin: float = 0.0) -> tuple[list[Pair], dict]:
    """Pairs decided by the judge alone; returns (pairs, counts of how each comparison went:
    agree / soft / tie / unscorable, `tie_margin` for winners dropped as leaning too little,
    and the judge's scorable / unscorable verdicts)."""
    candidates = candidate_pairs(samples)
    comparisons = compare_all(judge, [(a, b.response) for a, b in candidates], soft_labels, desc="labeling (rlaif)",
                              tie_margin=tie_margin)
    pairs: list[Pair] = []
    counts: Counter = Counter(candidates=len(candidates))
    verdicts = [v for c in comparisons for v in c.verdicts]
    judged = {"preference": {"scorable": sum(v.scorable for v in verdicts), "unscorable": sum(not v.scorable for v in verdicts)}}
    for (a, b), comparison in zip(candidates, comparisons):
        counts[comparison.how] += 1
        if comparison.under_margin:
            counts["tie_margin"] += 1
        pair = preference_pair(a, b, comparison, "rlaif", "preference")
        if pair is not None:
            pairs.append(pair)
    counts["pairs"] = len(pairs)
    return pairs, dict(counts) | {"judge": judged}
