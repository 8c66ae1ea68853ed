"""The positive control's labels: the verifier alone, no judge.

On a keyed prompt (math, multiple choice: it has a reference) a response the verifier finds
correct beats one it finds wrong; that is all. It is the upper bound of what hybrid labeling's
verified tier can teach, with nothing a judge could get wrong, so an arm trained on these labels
must beat the start policy if the study can see an effect at all (DESIGN: "a study must be able to
answer"). A failed signal is no information, as in hybrid's verified tier: a response the verifier
cannot read ("unknown", "error", a cut-off answer without a finished answer) is neither correct
nor wrong and pairs with nothing. Prompts without a key, and keyed prompts whose samples are all
right, all wrong or undecided, give no pair; the counts say how many of each.
"""

from __future__ import annotations

from collections import Counter

from hrlaif.labeling.pairwise import candidate_pairs, group_by_prompt, pair_from
from hrlaif.records import KEYED_CATEGORIES, Pair, Provenance, Sample
from hrlaif.verify import OUTCOMES, Check, check_answer

MIN_PAIRS = 2
"""The fewest pairs the oracle arm trains on (a reward model needs 2): with fewer, the run goes on
without training it and the report says the design cannot detect an effect."""

VERIFY_TIMEOUT_S = 2.0
"""The bound of one math check: check_answer's default, which hybrid labeling uses too."""


def verifier_settings() -> dict:
    """What decides the oracle's labels besides the samples (its label stage's fingerprint)."""
    return {"labeler": "verifier", "verify_timeout_s": VERIFY_TIMEOUT_S}


def _check(sample: Sample) -> Check:
    return check_answer(sample.category, sample.response, sample.reference or "", sample.choices,
                        timeout_s=VERIFY_TIMEOUT_S, truncated=sample.truncated)


def _evidence(check: Check) -> str:
    return f"verifier {check.method}: {check.outcome}, extracted {check.extracted!r}"


def _why_undecidable(found: list[bool | None]) -> str:
    """Why a keyed prompt's samples hold no (correct, wrong) pair: the verifier's outcomes on them."""
    if all(c is None for c in found):
        return "none_decided"
    if True not in found:
        return "all_wrong" if None not in found else "wrong_or_undecided"
    return "all_correct" if None not in found else "correct_or_undecided"


def label_oracle(samples: list[Sample]) -> tuple[list[Pair], dict]:
    """(correct, wrong) pairs on keyed prompts, decided by the verifier; returns (pairs, counts):
    keyed prompts, decidable prompts (at least one correct and one wrong sample), pairs, the
    verifier's outcome per keyed sample, the prompts skipped by reason and the candidate pairs
    skipped by reason."""
    groups = group_by_prompt(samples)
    checks: dict[int, Check] = {}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    skipped_prompts: Counter = Counter()
    skipped_pairs: Counter = Counter()
    pairs: list[Pair] = []
    keyed = decidable = 0
    for group in groups.values():
        first = group[0]
        if first.category not in KEYED_CATEGORIES or first.reference is None:
            skipped_prompts["not_keyed"] += 1
            continue
        keyed += 1
        for s in group:
            checks[id(s)] = check = _check(s)
            outcomes[check.outcome] += 1
        found = [checks[id(s)].correct for s in group]
        if True in found and False in found:
            decidable += 1
        else:
            skipped_prompts[_why_undecidable(found)] += 1
        for a, b in candidate_pairs(group):
            ca, cb = checks[id(a)], checks[id(b)]
            if ca.correct is None or cb.correct is None:
                skipped_pairs["undecided_response"] += 1  # unknown, error or cut off: no information
                continue
            if ca.correct == cb.correct:
                skipped_pairs["both_correct" if ca.correct else "both_wrong"] += 1
                continue
            provenance = Provenance(
                mode="oracle", route=a.category, step="correctness", reason="verifier: correct beats wrong (no judge)",
                details={"first": {"correctness": _evidence(ca)}, "second": {"correctness": _evidence(cb)},
                         "tiers": [{"correctness": int(ca.correct)}, {"correctness": int(cb.correct)}]},
            )
            pairs.append(pair_from(a, b, 0 if ca.correct else 1, provenance))
    cut_off = sum(1 for s in samples if id(s) in checks and s.truncated and checks[id(s)].correct is None)
    counts = {"keyed_prompts": keyed, "decidable_prompts": decidable, "pairs": len(pairs), "verifier": outcomes,
              "cut_off_undecided": cut_off, "skipped_prompts": dict(skipped_prompts), "skipped_pairs": dict(skipped_pairs)}
    return pairs, counts
