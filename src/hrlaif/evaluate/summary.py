"""Rates per policy and category, and differences between policies, each with an interval.

Accuracy on keyed prompts sorts every answer into one of four outcomes (`keyed_outcome`):
correct, wrong, unknown (the verifier could not read an answer) and cut off (stopped at
max_new_tokens before the verifier could decide). "We stopped it before it answered" is not
"wrong", so each accuracy carries all four counts, and beside the rate over all answers (`rate`:
cut-off and unknown answers count as not correct, as before) the rate among decided answers
(`decided`: correct / (correct + wrong)).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Literal

from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.labeling.oracle import MIN_PAIRS
from hrlaif.records import CATEGORIES, KEYED_CATEGORIES
from hrlaif.run_dir import ORACLE, RunDir
from hrlaif.stats import paired_bootstrap_difference, wilson

Outcome = Literal["correct", "wrong", "unknown", "cut_off"]
OUTCOMES: tuple[str, ...] = ("correct", "wrong", "unknown", "cut_off")


def keyed_outcome(s: ItemScore) -> Outcome:
    """A keyed answer's outcome; a cut-off answer the verifier decided anyway (a finished answer
    before the cut) counts as that decision."""
    if s.correct is not None:
        return "correct" if s.correct else "wrong"
    return "cut_off" if s.truncated else "unknown"


def keyed_accuracy(items: list[ItemScore], confidence: float = 0.95) -> dict:
    """Accuracy over all answers (`rate`, cut-off and unknown count as not correct), the four
    counts, and the accuracy among decided answers (`decided`, with its own interval)."""
    counts = Counter(keyed_outcome(s) for s in items)
    out = wilson(counts["correct"], len(items), confidence).model_dump()
    out["counts"] = {k: counts[k] for k in OUTCOMES}
    out["unknown"] = counts["unknown"] + counts["cut_off"]  # kept from before: every answer without a verdict
    out["decided"] = wilson(counts["correct"], counts["correct"] + counts["wrong"], confidence).model_dump()
    return out


def policy_summary(scores: list[ItemScore], confidence: float = 0.95) -> dict:
    """Satisfaction (overall and per category), accuracy on keyed prompts, refusal of harmful ones.
    Undecidable items (judge unscorable) are left out of the rate and counted apart. Accuracy
    (overall and per category) is `keyed_accuracy`: the rate over all answers with its counts of
    correct / wrong / unknown / cut off, and the rate among decided answers."""
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
            out["accuracy_by_category"][category] = keyed_accuracy(items, confidence)
    if keyed:
        out["accuracy"] = keyed_accuracy(keyed, confidence)
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


def decided_pairs(arm: list[ItemScore], start: list[ItemScore]) -> list[tuple[float, float]]:
    """(arm, start) correctness as 1/0 on the keyed prompts both answered, paired by prompt, over
    prompts where both answers were decided (correct or wrong): a cut-off or unknown answer decides no pair."""
    start_by_id = {s.prompt_id: s for s in start if s.category in KEYED_CATEGORIES}
    paired = [(a, start_by_id[a.prompt_id]) for a in arm if a.prompt_id in start_by_id]
    return [(float(a.correct), float(b.correct)) for a, b in paired if a.correct is not None and b.correct is not None]


def accuracy_difference(arm: list[ItemScore], start: list[ItemScore], confidence: float = 0.95) -> dict:
    """Arm minus start accuracy on keyed prompts, paired by prompt, over the `decided_pairs`."""
    paired = decided_pairs(arm, start)
    result = paired_bootstrap_difference([a for a, _ in paired], [b for _, b in paired], confidence)
    return result.model_dump()


ORACLE_ARMS: tuple[str, ...] = (ORACLE, RunDir.dpo_stage(ORACLE))
"""The positive control's policies (compare.oracle): PPO on the oracle RM, DPO on its pairs."""


def positive_control(results: dict | None, oracle_labels: dict | None = None) -> dict | None:
    """The reading rule of a study (DESIGN, "a study must be able to answer"): the oracle arm,
    trained on labels from the verifier alone, must beat the start policy on keyed accuracy
    (paired per prompt, `accuracy_difference`) with a 95% interval above 0. None when the run has
    no oracle arm; else each oracle policy's difference and whether any passed. Where none passed,
    the design could not detect an effect of the size expected, and no difference between the
    other arms is a finding. `oracle_labels`: the counts of the run's oracle labels (label-oracle's
    manifest), if any: with fewer than MIN_PAIRS pairs the control was never trained, which fails it
    too (`untrained` holds those counts)."""
    found = {arm: v.get("accuracy_difference") for arm, v in (results or {}).get("versus_start", {}).items() if arm in ORACLE_ARMS}
    if not found:
        if oracle_labels is not None and oracle_labels.get("pairs", MIN_PAIRS) < MIN_PAIRS:
            return {"by_arm": {}, "passed": False, "passed_arms": [], "untrained": oracle_labels}
        return None
    passed = [arm for arm, d in found.items() if d and d.get("low") is not None and d["low"] > 0]
    return {"figure": "accuracy on keyed prompts, arm minus start (paired, prompts where both answers were decided)",
            "by_arm": found, "passed": bool(passed), "passed_arms": passed}
