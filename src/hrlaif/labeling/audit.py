"""How good are the labels? Agreement with gold on keyed prompts, and the judge's biases.

This is the paper's "AI labels vs human labels" check, automated: on prompts with a
reference, the response whose final answer is right should be chosen over the wrong one by
the judge (pairs the verifier itself decided are not evidence about the judge).
Beside it, two known judge biases: position (does the verdict survive swapping the order?)
and length (how often does the longer response win a preference?).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from hrlaif.jsonl import read_jsonl
from hrlaif.manifest import require_complete
from hrlaif.records import KEYED_CATEGORIES, Pair
from hrlaif.run_dir import MODES, RunDir
from hrlaif.stats import wilson
from hrlaif.verify import check_answer

# Where label counts keep each outcome of the two orders (rlaif; hrlaif pairs made / not made:
# an agreement whose probability leaned less than label.tie_margin makes no pair).
_PREF_COUNTS = {"agree": ("agree", "by_preference_agree", "preference_agree"), "soft": ("soft", "by_preference_soft"),
                "tie": ("tie", "preference_tie")}


# Steps where the judge decided the pair. A pair the verifier decided ("correctness") agrees with
# the verifier by construction: counting it as agreement would grade the verifier by itself.
JUDGE_STEPS = ("preference", "reasoning")


def gold_agreement(pairs: list[Pair], confidence: float = 0.95) -> dict:
    """Per keyed category: of the pairs the judge decided where exactly one response is
    verifiably correct, the share that chose the correct one. Pairs the verifier decided are
    counted apart (`decided_by_verifier`), never as agreement."""
    hits: dict[str, list[bool]] = defaultdict(list)
    by_verifier = 0
    for pair in pairs:
        if pair.category not in KEYED_CATEGORIES:
            continue
        if pair.reference is None:
            continue
        if pair.provenance.step not in JUDGE_STEPS:
            by_verifier += 1
            continue
        chosen = check_answer(pair.category, pair.chosen_text, pair.reference, pair.choices).correct
        rejected = check_answer(pair.category, pair.rejected_text, pair.reference, pair.choices).correct
        if chosen is None or rejected is None or chosen == rejected:
            continue  # gold cannot tell these two apart
        hits[pair.category].append(bool(chosen))
    out = {c: wilson(sum(v), len(v), confidence).model_dump() for c, v in hits.items()}
    every = [x for v in hits.values() for x in v]
    out["all_keyed"] = wilson(sum(every), len(every), confidence).model_dump()
    out["decided_by_verifier"] = by_verifier
    return out


def length_bias(pairs: list[Pair], confidence: float = 0.95) -> dict:
    """Among pairs decided by judge preference, how often the longer response was chosen."""
    decided = [p for p in pairs if p.provenance.step == "preference" and len(p.chosen_text) != len(p.rejected_text)]
    longer = sum(len(p.chosen_text) > len(p.rejected_text) for p in decided)
    return wilson(longer, len(decided), confidence).model_dump()


def position_consistency(counts: dict, confidence: float = 0.95) -> dict:
    """Share of preference comparisons where both orders named the same response."""

    def get(name: str) -> int:
        return sum(counts.get(k, 0) for k in _PREF_COUNTS[name])

    agree, n = get("agree"), get("agree") + get("soft") + get("tie")
    return wilson(agree, n, confidence).model_dump()


def audit_run(run_dir: Path, confidence: float = 0.95) -> dict:
    """Audit every labeled arm of a run; written to RUN/audit/audit.json by the CLI."""
    run = RunDir(run_dir)
    report = {}
    for mode in MODES:
        stage = run.label_stage(mode)
        pairs_file = run.labels(mode)
        if not pairs_file.is_file():
            continue
        require_complete(run.stage(stage), f"hrlaif label --mode {mode}")  # a killed re-label's stale pairs
        pairs = read_jsonl(pairs_file, Pair)
        manifest_file = run.manifest(stage)
        manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
        report[mode] = {
            "pairs": len(pairs),
            "gold_agreement": gold_agreement(pairs, confidence),
            "position_consistency": position_consistency(manifest.get("counts", {}), confidence),
            "length_bias": length_bias(pairs, confidence),
            "judge": manifest.get("judge", {}).get("judge", ""),
        }
    return report
