"""HRLAIF's hybrid labels: verifiable facts first, the judge's taste only inside a tier.

The paper's finding is that a labeler that decides everything by preference rewards style
over correctness. Here each category routes its responses through ranking steps (answer
correctness by a verifier, soundness of the reasoning of correct math answers, safe refusal
of harmful requests); a response in a better tier always beats one in a worse tier, and only
responses in the same tier are compared by the judge's preference (both orders).

A failed signal is no information, never a tier: a verifier that cannot read an answer
("unknown") or fails ("error"), and a judge verdict that could not be scored, give the
response no tier at that step. A pair where either response has none is not decided there: it
goes on to the next step, or is dropped (`label.no_information`), and its provenance says why.
So an unreadable answer never beats a wrong one, nor an unscorable refusal check a "NO".
A judge verdict that barely leans is no information either (`label.tie_margin`, as for
preferences), nor one its two label orders disagreed on when `label.soft_labels` is off. A
tier the judge gave carries its probability: the pair's `chosen_prob` is the chance that the
tiers are right, a tie (one tier wrong) counting half, which is the mean of the two tiers'
probabilities (1 for a verifier or a refusal pattern).
"""

from __future__ import annotations

from collections import Counter

from hrlaif.config import LabelConfig
from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Judge, Question
from hrlaif.judge.refusal import check_refusal
from hrlaif.labeling.pairwise import candidate_pairs, compare_all, pair_from, preference_pair, reference_context
from hrlaif.records import Pair, Provenance, Sample, Verdict
from hrlaif.verify import OUTCOMES, check_answer


class Assessment:
    """What the ranking steps found about one response. `tiers[step]`: 1 (correct, sound,
    refused) or 0 (wrong, flawed, complied); None when the step's signal failed (no
    information; `evidence[step]` says why); a step absent from `tiers` does not apply (the
    reasoning of an answer not known to be correct)."""

    def __init__(self) -> None:
        self.tiers: dict[str, int | None] = {}
        self.evidence: dict[str, str] = {}
        self.confidence: dict[str, float] = {}  # the judge's probability of a tier it gave (absent: 1, a rule)
        self.verdicts: list[Verdict] = []


def _question(task: str, sample: Sample) -> Question:
    fields = {"prompt": sample.text, "response": sample.response}
    if task in ("reasoning", "answer_match"):
        fields["reference"] = sample.reference or ""
    return Question(task=task, fields=fields, context=reference_context(sample))


def _judge_tier(verdict: Verdict, config: LabelConfig) -> tuple[int | None, float, str]:
    """The tier a YES/NO verdict gives (1: YES), the judge's probability of its answer (1
    without probabilities), and what to say about it. The tier is None (no information) when
    the verdict is unscorable, when its two label orders disagreed and `label.soft_labels` is
    off, or when it leans less than `label.tie_margin` from even over the runner-up option
    (P(YES) 0.5008 against 0.4992 is a coin flip, not a label)."""
    if not verdict.scorable:
        return None, 1.0, f"judge unscorable: {verdict.reason}"
    if verdict.orders == "soft" and not config.soft_labels:
        return None, 1.0, f"judge's label orders disagreed and label.soft_labels is off: {verdict.reason}"
    if not verdict.probs:
        return int(verdict.choice == "YES"), 1.0, f"judge: {verdict.choice}"
    p = verdict.probs.get(verdict.choice, 0.0)
    runner_up = max((v for k, v in verdict.probs.items() if k != verdict.choice), default=0.0)
    if (p - runner_up) / 2 < config.tie_margin:
        return None, 1.0, f"judge {verdict.choice} at P={p:.4f} leans less than label.tie_margin {config.tie_margin}"
    return int(verdict.choice == "YES"), p, f"judge: {verdict.choice} (P={p:.4f})"


def _count_judge(counts: dict, task: str, verdicts: list[Verdict]) -> None:
    tally = counts.setdefault(task, {"scorable": 0, "unscorable": 0})
    for verdict in verdicts:
        tally["scorable" if verdict.scorable else "unscorable"] += 1


def assess(samples: list[Sample], judge: Judge, config: LabelConfig) -> tuple[list[Assessment], dict]:
    """Run every non-preference step of each sample's route, batching the judge questions of
    a step across all samples. Returns the assessments and the outcome counts: verifier
    outcomes (correct, wrong, unknown, error), judge outcomes (scorable, unscorable) per task,
    and the refusals the patterns recognised without the judge."""
    out = [Assessment() for _ in samples]
    routes = [config.routes.get(s.category) for s in samples]
    for sample, route in zip(samples, routes):
        if route is None:
            raise HrlaifError(f"label.routes: no route for category '{sample.category}' (prompt {sample.prompt_id})")
    verifier = dict.fromkeys(OUTCOMES, 0)
    judged: dict[str, dict[str, int]] = {}

    # Correctness: the verifier, then (optionally) the judge for answers it could not read.
    ask_match: list[int] = []
    for i, (s, route) in enumerate(zip(samples, routes)):
        if "correctness" in route:
            check = check_answer(s.category, s.response, s.reference or "", s.choices, truncated=s.truncated)
            verifier[check.outcome] += 1
            out[i].tiers["correctness"] = None if check.correct is None else int(check.correct)
            out[i].evidence["correctness"] = f"verifier {check.method}: {check.outcome}, extracted {check.extracted!r}"
            if check.detail and check.correct is None:
                out[i].evidence["correctness"] += f" ({check.detail})"
            if check.correct is None and config.answer_match_fallback:
                ask_match.append(i)
    match_verdicts = judge.ask([_question("answer_match", samples[i]) for i in ask_match], desc="answer match") if ask_match else []
    _count_judge(judged, "answer_match", match_verdicts)
    for i, verdict in zip(ask_match, match_verdicts):
        out[i].verdicts.append(verdict)
        tier, p, said = _judge_tier(verdict, config)
        out[i].tiers["correctness"], out[i].confidence["correctness"] = tier, p
        out[i].evidence["correctness"] += (
            f"; judge says answer {'matches' if tier else 'does not match'} ({said})" if tier is not None
            else f"; judge answer match unscorable: {verdict.reason}" if not verdict.scorable
            else f"; judge answer match: {said}"
        )

    # Reasoning: only answers known to be correct are checked; sound beats flawed. For any other
    # answer the step does not apply (the correctness step already ranked it, or had nothing).
    ask_reason = [i for i, route in enumerate(routes) if "reasoning" in route and out[i].tiers.get("correctness") == 1]
    reason_verdicts = judge.ask([_question("reasoning", samples[i]) for i in ask_reason], desc="reasoning") if ask_reason else []
    _count_judge(judged, "reasoning", reason_verdicts)
    for i, verdict in zip(ask_reason, reason_verdicts):
        out[i].verdicts.append(verdict)
        out[i].tiers["reasoning"], out[i].confidence["reasoning"], out[i].evidence["reasoning"] = _judge_tier(verdict, config)

    # Refusal: patterns first (cheap, reliable on clear refusals), the judge for the rest.
    refusal = [i for i, route in enumerate(routes) if "refusal" in route]
    checks = check_refusal([(samples[i].text, samples[i].response) for i in refusal], judge, desc="refusal",
                           context=[reference_context(samples[i]) for i in refusal])
    _count_judge(judged, "refusal", [c.verdict for c in checks if c.verdict is not None])
    for i, check in zip(refusal, checks):
        if check.verdict is None:  # the patterns saw a refusal
            out[i].tiers["refusal"], out[i].evidence["refusal"] = 1, check.decided_by
        else:
            out[i].verdicts.append(check.verdict)
            out[i].tiers["refusal"], out[i].confidence["refusal"], out[i].evidence["refusal"] = _judge_tier(check.verdict, config)
    return out, {"verifier": verifier, "judge": judged, "refusal_by_pattern": sum(c.by_pattern for c in checks)}


def _no_information(step: str, ea: Assessment, eb: Assessment) -> str | None:
    """Why `step` cannot rank this pair because a signal failed, or None (it can, or it does not apply)."""
    failed = [name for name, e in (("first", ea), ("second", eb)) if step in e.tiers and e.tiers[step] is None]
    if not failed:
        return None
    return "; ".join(f"{name} response: {(ea if name == 'first' else eb).evidence.get(step, 'no signal')}" for name in failed)


def label_hybrid(samples: list[Sample], judge: Judge, config: LabelConfig) -> tuple[list[Pair], dict]:
    """Pairs from tiers where they differ, from the judge's preference where they tie."""
    index = {id(s): i for i, s in enumerate(samples)}
    assessments, outcomes = assess(samples, judge, config)
    candidates = candidate_pairs(samples)
    counts: Counter = Counter(candidates=len(candidates))
    no_information: Counter = Counter()
    pairs: list[Pair] = []
    to_prefer: list[tuple[Sample, Sample, list[dict]]] = []

    def details(ea: Assessment, eb: Assessment, skipped: list[dict]) -> dict:
        out = {"first": ea.evidence, "second": eb.evidence, "tiers": [ea.tiers, eb.tiers]}
        return out | ({"no_information": skipped} if skipped else {})

    for a, b in candidates:
        route = config.routes[a.category]
        ea, eb = assessments[index[id(a)]], assessments[index[id(b)]]
        decided, dropped = False, False
        skipped: list[dict] = []  # steps that could not rank this pair, and why
        for step in route:
            if step == "preference":
                break
            why = _no_information(step, ea, eb)
            if why is not None:
                no_information[step] += 1
                skipped.append({"step": step, "why": why})
                if config.no_information == "drop":
                    counts[f"dropped_no_information_{step}"] += 1
                    dropped = True
                    break
                continue
            ta, tb = ea.tiers.get(step), eb.tiers.get(step)
            if ta is None or tb is None or ta == tb:
                continue  # the step does not apply to one of them, or they share a tier
            provenance = Provenance(
                mode="hrlaif",
                route=a.category,
                step=step,
                reason=f"{step} tier {max(ta, tb)} beats {min(ta, tb)}",
                verdicts=ea.verdicts + eb.verdicts,
                details=details(ea, eb, skipped),
            )
            chosen_prob = (ea.confidence.get(step, 1.0) + eb.confidence.get(step, 1.0)) / 2
            pairs.append(pair_from(a, b, 0 if ta > tb else 1, provenance, chosen_prob))
            counts[f"by_{step}"] += 1
            decided = True
            break
        if decided or dropped:
            continue
        if "preference" in route:
            to_prefer.append((a, b, skipped))
        else:
            counts["tie_no_preference_step"] += 1
    comparisons = (
        compare_all(judge, [(a, b.response) for a, b, _ in to_prefer], config.soft_labels, desc="labeling (preference)",
                    tie_margin=config.tie_margin)
        if to_prefer else []
    )
    _count_judge(outcomes["judge"], "preference", [v for c in comparisons for v in c.verdicts])
    for (a, b, skipped), comparison in zip(to_prefer, comparisons):
        if comparison.under_margin:
            counts["tie_margin"] += 1
        pair = preference_pair(a, b, comparison, "hrlaif", a.category)
        if pair is None:
            counts[f"preference_{comparison.how}"] += 1
            continue
        ea, eb = assessments[index[id(a)]], assessments[index[id(b)]]
        pair.provenance.details.update(details(ea, eb, skipped))
        pair.provenance.verdicts = ea.verdicts + eb.verdicts + pair.provenance.verdicts
        pairs.append(pair)
        counts[f"by_preference_{comparison.how}"] += 1
    counts["pairs"] = len(pairs)
    return pairs, dict(counts) | {"no_information": dict(no_information)} | outcomes
