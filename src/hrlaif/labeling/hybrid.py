"""HRLAIF's hybrid labels: verifiable facts first, the judge's taste only inside a tier.

The paper's finding is that a labeler that decides everything by preference rewards style
over correctness. Here each category routes its responses through ranking steps (answer
correctness by a verifier, soundness of the reasoning of correct math answers, safe refusal
of harmful requests); a response in a better tier always beats one in a worse tier, and only
responses in the same tier are compared by the judge's preference (both orders).
"""

from __future__ import annotations

from collections import Counter

from hrlaif.config import LabelConfig
from hrlaif.judge.base import Judge, Question
from hrlaif.labeling.pairwise import candidate_pairs, compare_all, pair_from, preference_pair, reference_context
from hrlaif.records import Pair, Provenance, Sample, Verdict
from hrlaif.refusal import check_refusal
from hrlaif.verify import check_answer


class Assessment:
    """What the ranking steps found about one response: a tier per step, and the evidence."""

    def __init__(self) -> None:
        self.tiers: dict[str, int] = {}
        self.evidence: dict[str, str] = {}
        self.verdicts: list[Verdict] = []


def _question(task: str, sample: Sample) -> Question:
    fields = {"prompt": sample.text, "response": sample.response}
    if task in ("reasoning", "answer_match"):
        fields["reference"] = sample.reference or ""
    return Question(task=task, fields=fields, context=reference_context(sample))


def assess(samples: list[Sample], judge: Judge, config: LabelConfig) -> list[Assessment]:
    """Run every non-preference step of each sample's route, batching the judge questions
    of a step across all samples."""
    out = [Assessment() for _ in samples]
    routes = [config.routes.get(s.category) for s in samples]
    for sample, route in zip(samples, routes):
        if route is None:
            from hrlaif.errors import HrlaifError

            raise HrlaifError(f"label.routes: no route for category '{sample.category}' (prompt {sample.prompt_id})")

    # Correctness: the verifier, then (optionally) the judge for answers it could not read.
    correct: dict[int, bool | None] = {}
    ask_match: list[int] = []
    for i, (s, route) in enumerate(zip(samples, routes)):
        if "correctness" in route:
            check = check_answer(s.category, s.response, s.reference or "", s.choices)
            correct[i] = check.correct
            out[i].evidence["correctness"] = f"verifier {check.method}: extracted {check.extracted!r}"
            if check.correct is None and config.answer_match_fallback:
                ask_match.append(i)
    for i, verdict in zip(ask_match, judge.ask([_question("answer_match", samples[i]) for i in ask_match], desc="answer match") if ask_match else []):
        out[i].verdicts.append(verdict)
        if verdict.scorable:
            correct[i] = verdict.choice == "YES"
            out[i].evidence["correctness"] += f"; judge says answer {'matches' if correct[i] else 'does not match'}"
    for i, value in correct.items():
        out[i].tiers["correctness"] = {True: 2, None: 1, False: 0}[value]

    # Reasoning: only correct answers are checked; sound beats flawed, wrong answers stay below both.
    ask_reason = [i for i, route in enumerate(routes) if "reasoning" in route and correct.get(i) is True]
    for i, verdict in zip(ask_reason, judge.ask([_question("reasoning", samples[i]) for i in ask_reason], desc="reasoning") if ask_reason else []):
        out[i].verdicts.append(verdict)
        out[i].tiers["reasoning"] = 2 if verdict.choice == "YES" else 0 if verdict.choice == "NO" else 1
        out[i].evidence["reasoning"] = f"judge: {verdict.choice or 'unscorable'}"
    for i, route in enumerate(routes):
        if "reasoning" in route and "reasoning" not in out[i].tiers:
            out[i].tiers["reasoning"] = 0  # not correct: the correctness tier already ranks it

    # Refusal: patterns first (cheap, reliable on clear refusals), the judge for the rest.
    refusal = [i for i, route in enumerate(routes) if "refusal" in route]
    checks = check_refusal([(samples[i].text, samples[i].response) for i in refusal], judge, desc="refusal",
                           context=[reference_context(samples[i]) for i in refusal])
    for i, check in zip(refusal, checks):
        if check.verdict is None:
            out[i].tiers["refusal"] = 2
            out[i].evidence["refusal"] = check.decided_by
            continue
        out[i].verdicts.append(check.verdict)
        out[i].tiers["refusal"] = {True: 2, False: 0, None: 1}[check.refused]
        out[i].evidence["refusal"] = f"judge: {check.verdict.choice or 'unscorable'}"
    return out


def label_hybrid(samples: list[Sample], judge: Judge, config: LabelConfig) -> tuple[list[Pair], dict]:
    """Pairs from tiers where they differ, from the judge's preference where they tie."""
    index = {id(s): i for i, s in enumerate(samples)}
    assessments = assess(samples, judge, config)
    candidates = candidate_pairs(samples)
    counts: Counter = Counter(candidates=len(candidates))
    pairs: list[Pair] = []
    to_prefer: list[tuple[Sample, Sample]] = []
    for a, b in candidates:
        route = config.routes[a.category]
        ea, eb = assessments[index[id(a)]], assessments[index[id(b)]]
        decided = False
        for step in route:
            if step == "preference":
                break
            ta, tb = ea.tiers[step], eb.tiers[step]
            if ta != tb:
                winner = 0 if ta > tb else 1
                provenance = Provenance(
                    mode="hrlaif",
                    route=a.category,
                    step=step,
                    reason=f"{step} tier {max(ta, tb)} beats {min(ta, tb)}",
                    verdicts=ea.verdicts + eb.verdicts,
                    details={"first": ea.evidence, "second": eb.evidence, "tiers": [ea.tiers, eb.tiers]},
                )
                pairs.append(pair_from(a, b, winner, provenance, margin=1.0))
                counts[f"by_{step}"] += 1
                decided = True
                break
        if not decided:
            if "preference" in route:
                to_prefer.append((a, b))
            else:
                counts["tie_no_preference_step"] += 1
    comparisons = compare_all(judge, [(a, b.response) for a, b in to_prefer], config.soft_labels, desc="labeling (preference)") if to_prefer else []
    for (a, b), comparison in zip(to_prefer, comparisons):
        pair = preference_pair(a, b, comparison, "hrlaif", a.category)
        if pair is None:
            counts[f"preference_{comparison.how}"] += 1
            continue
        ea, eb = assessments[index[id(a)]], assessments[index[id(b)]]
        pair.provenance.details.update({"first": ea.evidence, "second": eb.evidence, "tiers": [ea.tiers, eb.tiers]})
        pair.provenance.verdicts = ea.verdicts + eb.verdicts + pair.provenance.verdicts
        pairs.append(pair)
        counts[f"by_preference_{comparison.how}"] += 1
    counts["pairs"] = len(pairs)
    return pairs, dict(counts)
