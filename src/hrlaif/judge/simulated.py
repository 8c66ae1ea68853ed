"""A judge with explicit, documented biases, for controlled experiments and fast tests.

It stands in for a weak labeler whose failure modes we can dial: the paper's point is that a
labeler that prefers long, confident answers and is blind to correctness makes RLAIF hurt
satisfaction. Reports always name it as simulated; it is never a silent default.

Behaviour per task (each draw seeded by the judge seed and the question, so runs repeat):
- preference: with probability `position_bias` answer "A" whatever it holds; otherwise, when
  the context gives a reference and the two responses differ in correctness, pick the
  correct one unless blind (probability `correctness_blindness`); otherwise the longer
  response wins with probability `length_bias`.
- acceptable: YES when the response has at least 8 words and (if checkable) is not wrong.
- reasoning: YES when the response shows working (a digit and an operator or '=').
- answer_match: the verifier's result when it has one, else NO.
- refusal: YES when the response opens like a refusal.
"""

from __future__ import annotations

import hashlib
import random
import re

from hrlaif.config import SimulatedJudgeConfig
from hrlaif.judge.base import Judge, OnVerdict, Question
from hrlaif.judge.templates import template_for
from hrlaif.records import Verdict
from hrlaif.refusal import looks_like_refusal


def _correct(context: dict, response: str) -> bool | None:
    if not context.get("reference") or context.get("category") not in ("math", "multiple_choice"):
        return None
    from hrlaif.verify import check_answer

    return check_answer(context["category"], response, context["reference"], context.get("choices")).correct


class SimulatedJudge(Judge):
    def __init__(self, config: SimulatedJudgeConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        self.seed = seed
        self.name = (
            f"simulated(length_bias={config.length_bias},correctness_blindness={config.correctness_blindness},"
            f"position_bias={config.position_bias})"
        )

    def _rng(self, question: Question) -> random.Random:
        key = repr((self.seed, question.task, sorted(question.fields.items()))).encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))

    def _preference(self, q: Question, rng: random.Random) -> tuple[str, str]:
        a, b = q.fields["response_a"], q.fields["response_b"]
        if rng.random() < self.config.position_bias:
            return "A", "position bias"
        ca, cb = _correct(q.context, a), _correct(q.context, b)
        blind = rng.random() < self.config.correctness_blindness
        if ca is not None and cb is not None and ca != cb and not blind:
            return ("A" if ca else "B"), "picked the correct answer"
        if len(a) == len(b):
            return rng.choice("AB"), "coin flip (equal length)"
        longer = "A" if len(a) > len(b) else "B"
        if rng.random() < self.config.length_bias:
            return longer, "length bias: longer wins"
        return ("B" if longer == "A" else "A"), "shorter wins"

    def _answer(self, q: Question, rng: random.Random) -> tuple[str, str]:
        response = q.fields.get("response", "")
        if q.task == "preference":
            return self._preference(q, rng)
        if q.task == "acceptable":
            ok = len(response.split()) >= 8 and _correct(q.context, response) is not False
            return ("YES" if ok else "NO"), "length and checkable correctness"
        if q.task == "reasoning":
            shows_work = bool(re.search(r"\d", response) and re.search(r"[=+\-*/×÷]", response))
            return ("YES" if shows_work else "NO"), "shows working" if shows_work else "no working shown"
        if q.task == "answer_match":
            return ("YES" if _correct(q.context, response) else "NO"), "verifier"
        if q.task == "refusal":
            refused = looks_like_refusal(response)
            return ("YES" if refused else "NO"), "refusal wording" if refused else "no refusal wording"
        raise ValueError(f"the simulated judge has no rule for task '{q.task}'")

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        verdicts = []
        for index, question in enumerate(questions):
            template = template_for(question.task)
            choice, reason = self._answer(question, self._rng(question))
            verdicts.append(
                Verdict(task=question.task, choice=choice, reason=reason, judge=self.name, template_version=template.version)
            )
            self.stats.calls += 1
            if on_verdict is not None:
                on_verdict(index, verdicts[-1])
        return verdicts
