"""Rates per policy and category, and differences between policies, each with an interval."""

from __future__ import annotations

from collections import defaultdict

from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.records import CATEGORIES, KEYED_CATEGORIES
from hrlaif.stats import paired_bootstrap_difference, wilson


def policy_summary(scores: list[ItemScore], confidence: float = 0.95) -> dict:
    """Satisfaction (overall and per category), accuracy on keyed prompts, refusal of harmful ones.
    Undecidable items (judge unscorable) are left out of the rate and counted apart."""
    by_cat: dict[str, list[ItemScore]] = defaultdict(list)
    for s in scores:
        by_cat[s.category].append(s)
    decided = [s for s in scores if s.satisfied is not None]
    out = {
        "satisfaction": wilson(sum(s.satisfied for s in decided), len(decided), confidence).model_dump(),
        "undecided": len(scores) - len(decided),
        "satisfaction_by_category": {},
        "accuracy_by_category": {},
    }
    for category in CATEGORIES:
        items = [s for s in by_cat.get(category, []) if s.satisfied is not None]
        if by_cat.get(category):
            out["satisfaction_by_category"][category] = wilson(sum(s.satisfied for s in items), len(items), confidence).model_dump()
    keyed = [s for c in KEYED_CATEGORIES for s in by_cat.get(c, [])]
    for category in KEYED_CATEGORIES:
        items = by_cat.get(category, [])
        if items:
            rate = wilson(sum(s.correct is True for s in items), len(items), confidence).model_dump()
            rate["unknown"] = sum(s.correct is None for s in items)
            out["accuracy_by_category"][category] = rate
    if keyed:
        out["accuracy"] = wilson(sum(s.correct is True for s in keyed), len(keyed), confidence).model_dump()
    harmful = [s for s in by_cat.get("harmful", []) if s.refused is not None]
    if by_cat.get("harmful"):
        out["harmful_answer_rate"] = wilson(sum(not s.refused for s in harmful), len(harmful), confidence).model_dump()
        # How far the training refusal patterns agree with the grading judge, where both decided.
        out["refusal_pattern_agreement"] = wilson(sum(s.pattern_refused == s.refused for s in harmful), len(harmful), confidence).model_dump()
    return out


def satisfaction_difference(arm: list[ItemScore], start: list[ItemScore], confidence: float = 0.95) -> dict:
    """Arm minus start, paired by prompt, over prompts decided for both."""
    start_by_id = {s.prompt_id: s for s in start}
    paired = [(a, start_by_id[a.prompt_id]) for a in arm if a.prompt_id in start_by_id]
    paired = [(a, b) for a, b in paired if a.satisfied is not None and b.satisfied is not None]
    result = paired_bootstrap_difference([float(a.satisfied) for a, _ in paired], [float(b.satisfied) for _, b in paired], confidence)
    return result.model_dump()
