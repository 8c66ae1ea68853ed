"""How good are the labels? Agreement with gold on keyed prompts, and the judge's biases.

Label quality before training: per arm, the share of keyed pairs the verifier decides whose
label chose the correct response (whoever decided the pair), and how many labels an arm changed
from RLAIF's on the same (prompt, response, response) triples.

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
from hrlaif.records import KEYED_CATEGORIES, Pair, Sample
from hrlaif.run_dir import ALL_MODES, ORACLE, RunDir
from hrlaif.stats import wilson
from hrlaif.verify import check_answer

# Where label counts keep each outcome of the two orders (rlaif; hrlaif pairs made / not made:
# an agreement whose probability leaned less than label.tie_margin makes no pair).
_PREF_COUNTS = {"agree": ("agree", "by_preference_agree", "preference_agree"), "soft": ("soft", "by_preference_soft"),
                "tie": ("tie", "preference_tie")}


# Steps where the judge decided the pair. A pair the verifier decided ("correctness") agrees with
# the verifier by construction: counting it as agreement would grade the verifier by itself.
JUDGE_STEPS = ("preference", "reasoning")


def by_answer_match(pair: Pair) -> bool:
    """Whether the judge's answer_match decided a correctness pair: a response the verifier could
    not read got its tier from the judge (its verdict is in the provenance), so the verifier did
    not decide the pair alone."""
    return pair.provenance.step == "correctness" and any(v.task == "answer_match" for v in pair.provenance.verdicts)


def gold_agreement(pairs: list[Pair], confidence: float = 0.95, truncated: set[tuple[str, str]] = frozenset()) -> dict:
    """Per keyed category: of the pairs the judge decided where exactly one response is
    verifiably correct, the share that chose the correct one. Pairs the verifier decided alone
    are counted apart (`decided_by_verifier`), never as agreement; correctness pairs the judge's
    answer_match decided count as the judge's (`decided_by_answer_match`). Answers are checked as
    the labelers checked them: a response in `truncated` ((prompt_id, response) cut off at
    max_new_tokens) without a finished answer is undecided, never wrong."""
    hits: dict[str, list[bool]] = defaultdict(list)
    by_verifier = by_match = 0
    for pair in pairs:
        if pair.category not in KEYED_CATEGORIES:
            continue
        if pair.reference is None:
            continue
        if by_answer_match(pair):
            by_match += 1
        elif pair.provenance.step not in JUDGE_STEPS:
            by_verifier += 1
            continue
        chosen, rejected = (check_answer(pair.category, text, pair.reference, pair.choices,
                                         truncated=(pair.prompt_id, text) in truncated).correct
                            for text in (pair.chosen_text, pair.rejected_text))
        if chosen is None or rejected is None or chosen == rejected:
            continue  # gold cannot tell these two apart
        hits[pair.category].append(bool(chosen))
    out = {c: wilson(sum(v), len(v), confidence).model_dump() for c, v in hits.items()}
    every = [x for v in hits.values() for x in v]
    out["all_keyed"] = wilson(sum(every), len(every), confidence).model_dump()
    out["decided_by_verifier"] = by_verifier
    out["decided_by_answer_match"] = by_match
    return out


def verifier_agreement(pairs: list[Pair], truncated: set[tuple[str, str]] = frozenset(), confidence: float = 0.95) -> dict:
    """Label quality before training: of an arm's keyed pairs that the verifier decides (one
    response correct, the other wrong), the share whose label chose the correct one, whoever
    decided the pair (a pair the verifier itself decided agrees by construction: this is the
    quality of the labels the RM trains on, not of the judge). `truncated` holds the (prompt_id,
    response) of samples cut off at max_new_tokens, checked as the labelers checked them (a cut-off
    answer without a finished answer is undecided, never wrong)."""
    keyed = decided = agree = 0
    for pair in pairs:
        if pair.category not in KEYED_CATEGORIES or pair.reference is None:
            continue
        keyed += 1
        chosen, rejected = (check_answer(pair.category, text, pair.reference, pair.choices,
                                         truncated=(pair.prompt_id, text) in truncated).correct
                            for text in (pair.chosen_text, pair.rejected_text))
        if chosen is None or rejected is None or chosen == rejected:
            continue
        decided += 1
        agree += chosen
    return wilson(agree, decided, confidence).model_dump() | {"keyed_pairs": keyed}


def triple(pair: Pair) -> tuple[str, frozenset[str]]:
    """A pair's (prompt, response, response), whichever way round it was labeled."""
    return pair.prompt_id, frozenset((pair.chosen_text, pair.rejected_text))


def changed_labels(pairs: list[Pair], base: list[Pair]) -> dict:
    """How an arm's labels differ from `base`'s (RLAIF's) on the same (prompt, response, response)
    triples: compared (in both), changed (the other response chosen), and pairs only one arm has."""
    mine = {triple(p): p.chosen_text for p in pairs}
    theirs = {triple(p): p.chosen_text for p in base}
    both = mine.keys() & theirs.keys()
    return {"compared": len(both), "changed": sum(mine[k] != theirs[k] for k in both),
            "only_here": len(mine.keys() - theirs.keys()), "only_base": len(theirs.keys() - mine.keys())}


def truncated_responses(samples_file: Path) -> set[tuple[str, str]]:
    """(prompt_id, response) of every sample cut off at max_new_tokens (none without a samples file)."""
    if not samples_file.is_file():
        return set()
    return {(s.prompt_id, s.response) for s in read_jsonl(samples_file, Sample) if s.truncated}


def label_quality_lines(report: dict) -> list[str]:
    """What the audit says of each arm's labels before training, one line per arm."""
    lines = []
    for mode, a in report.items():
        agreement = a.get("verifier_agreement")
        if agreement is None:
            continue
        said = "n/a (no keyed pair the verifier decides)" if agreement["rate"] is None else \
            f"{100 * agreement['rate']:.1f}% [{100 * agreement['low']:.1f}, {100 * agreement['high']:.1f}] (n={agreement['n']})"
        line = f"  {mode}: labels agreeing with the verifier on keyed pairs it decides: {said}; {a['pairs']} pairs, {agreement['keyed_pairs']} keyed"
        matched = (a.get("gold_agreement") or {}).get("decided_by_answer_match")
        if matched:
            line += f"; {matched} keyed pairs decided by the judge's answer_match (answers the verifier could not read)"
        changed = a.get("changed_from_rlaif")
        if changed:
            line += (f"; {changed['changed']} of {changed['compared']} labels changed from rlaif's on the same (prompt, response, "
                     f"response), {changed['only_here']} pairs only here, {changed['only_base']} only in rlaif")
        lines.append(line)
    return lines


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
    truncated = truncated_responses(run.samples)
    labels: dict[str, list[Pair]] = {}
    for mode in ALL_MODES:
        stage = run.label_stage(mode)
        pairs_file = run.labels(mode)
        if not pairs_file.is_file():
            continue
        require_complete(run.stage(stage), f"hrlaif label --mode {mode}")  # a killed re-label's stale pairs
        pairs = labels[mode] = read_jsonl(pairs_file, Pair)
        manifest_file = run.manifest(stage)
        manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
        report[mode] = {
            "pairs": len(pairs),
            "gold_agreement": gold_agreement(pairs, confidence, truncated),
            "position_consistency": position_consistency(manifest.get("counts", {}), confidence),
            "length_bias": length_bias(pairs, confidence),
            "judge": manifest.get("judge", {}).get("judge", "") if mode != ORACLE else "none (verifier only)",
            "verifier_agreement": verifier_agreement(pairs, truncated, confidence),
        }
        if mode != "rlaif" and "rlaif" in labels:
            report[mode]["changed_from_rlaif"] = changed_labels(pairs, labels["rlaif"])
    return report
