"""Single-order questions asked under two label permutations, so a verdict cannot be copied from the response.

Preference questions are safe from an echoing judge because both orders are asked. A
single-order question (refusal, answer_match, reasoning, acceptable, harm) was not: a response
that opens with "YES" could get a weak or hijacked judge to answer "YES". Here each such
question is asked twice with its options shown as letters drawn per question (never the
response's own opening word), the second time with the letters rotated, and a verdict is
accepted only when both answers name the same option. When they disagree and both come with
option probabilities, the probabilities averaged over the two label orders decide (the way both
orders give a soft label for preferences: a bias toward one letter cancels); otherwise the item
is unscorable. An echo of the response's opening is not an option, so it is unscorable too.
The combined verdict says which (`Verdict.orders`), so labeling can refuse a decision by
probabilities (`label.soft_labels: false`) or one that barely leans (`label.tie_margin`).
"""

from __future__ import annotations

import hashlib
import random
import re

from hrlaif.judge.base import OnVerdict, Question, WrappedJudge
from hrlaif.judge.templates import Templates
from hrlaif.records import Verdict

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I or O: they read as words or digits
_OPENING = re.compile(r"\W*(\w+)")


def permuted(question: Question, templates: Templates) -> bool:
    """Whether `question` is single-order (asked under two label permutations), by its template in `templates`."""
    template = templates[question.task]
    return question.labels is None and "response_a" not in template.fields and bool(template.ask)


def label_orders(question: Question, templates: Templates) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Two label assignments for the question's options (its template's in `templates`): letters
    drawn from a seed of the question, none equal to the opening word of any field, the second a
    rotation of the first."""
    options = templates[question.task].options
    banned = set()
    for text in question.fields.values():
        m = _OPENING.match(text)
        if m:
            banned.add(m.group(1).upper())
    seed = hashlib.sha256(repr((question.task, sorted(question.fields.items()))).encode()).digest()
    letters = random.Random(int.from_bytes(seed[:8], "big")).sample([x for x in LETTERS if x not in banned], len(options))
    return tuple(letters), tuple(letters[1:] + letters[:1])


def combine_orders(first: Verdict, second: Verdict) -> Verdict:
    """One verdict from the two label orders: agreement decides; disagreement is decided by the
    averaged probabilities when both have them, else unscorable."""
    tokens = dict(prompt_tokens=first.prompt_tokens + second.prompt_tokens, completion_tokens=first.completion_tokens + second.completion_tokens)
    base = dict(task=first.task, judge=first.judge, template_version=first.template_version, cached=first.cached and second.cached, **tokens)
    if not (first.scorable and second.scorable):
        bad = first if not first.scorable else second
        return Verdict(choice=None, reason=f"{bad.reason} (under one of two label orders)", **base)
    probs = None
    if first.probs and second.probs:
        probs = {k: (first.probs.get(k, 0.0) + second.probs.get(k, 0.0)) / 2 for k in first.probs}
    if first.choice == second.choice:
        return Verdict(choice=first.choice, probs=probs, reason="same option under both label orders", orders="agree", **base)
    if probs:
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])
        if ranked[0][1] > ranked[1][1]:
            return Verdict(choice=ranked[0][0], probs=probs, reason=f"label orders disagreed ({first.choice}/{second.choice}); averaged probabilities decide", orders="soft", **base)
    return Verdict(choice=None, probs=probs, reason=f"label orders disagreed: {first.choice} then {second.choice}", **base)


class PermutedJudge(WrappedJudge):
    """Wraps a language-model judge (above its cache, which keeps each label order's answer)."""

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        expanded: list[Question] = []
        owner: list[int] = []  # expanded index -> question index
        for index, question in enumerate(questions):
            if permuted(question, self.templates):
                for labels in label_orders(question, self.templates):
                    expanded.append(question.model_copy(update={"labels": labels}))
                    owner.append(index)
            else:
                expanded.append(question)
                owner.append(index)
        parts: dict[int, dict[int, Verdict]] = {}
        results: list[Verdict | None] = [None] * len(questions)

        def arrived(position: int, verdict: Verdict) -> None:
            index = owner[position]
            got = parts.setdefault(index, {})
            got[position] = verdict
            if results[index] is not None:
                return
            if not permuted(questions[index], self.templates):
                results[index] = verdict
            elif len(got) == 2:
                first, second = (got[p] for p in sorted(got))
                results[index] = combine_orders(first, second)
            else:
                return
            if on_verdict is not None:
                on_verdict(index, results[index])

        answers = self.inner.ask(expanded, desc=desc, on_verdict=arrived)
        for position, verdict in enumerate(answers):  # an inner judge that does not call on_verdict
            if position not in parts.get(owner[position], {}):
                arrived(position, verdict)
        return results  # type: ignore[return-value]
