"""Plain RLAIF labels (the paper's baseline): the judge's preference decides every pair."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from hrlaif.labeling.pairwise import Comparison, compare_all
from hrlaif.records import Pair, Provenance, Sample, assistant


def group_by_prompt(samples: list[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.prompt_id].append(sample)
    return groups


def candidate_pairs(samples: list[Sample]) -> list[tuple[Sample, Sample]]:
    """Every two distinct responses to the same prompt (identical texts teach nothing)."""
    pairs = []
    for group in group_by_prompt(samples).values():
        for a, b in combinations(group, 2):
            if a.response.strip() != b.response.strip():
                pairs.append((a, b))
    return pairs


def pair_from(a: Sample, b: Sample, winner: int, provenance: Provenance, margin: float = 0.0) -> Pair:
    chosen, rejected = (a, b) if winner == 0 else (b, a)
    return Pair(
        prompt_id=a.prompt_id,
        category=a.category,
        prompt=a.messages,
        chosen=assistant(chosen.response),
        rejected=assistant(rejected.response),
        margin=margin,
        reference=a.reference,
        choices=a.choices,
        provenance=provenance,
    )


def preference_pair(a: Sample, b: Sample, comparison: Comparison, mode: str, route: str) -> Pair | None:
    if comparison.winner is None:
        return None
    margin = abs(comparison.p_first - 0.5) * 2 if comparison.p_first is not None else 1.0
    provenance = Provenance(
        mode=mode,
        route=route,
        step="preference",
        reason=f"judge preference, both orders ({comparison.how})",
        verdicts=list(comparison.verdicts),
        details={"p_first": comparison.p_first, "consistent": comparison.consistent},
    )
    return pair_from(a, b, comparison.winner, provenance, margin)


def label_rlaif(samples: list[Sample], judge, soft_labels: bool = True) -> tuple[list[Pair], dict]:
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
