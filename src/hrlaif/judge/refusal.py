"""Refusals: recognised by their wording where that is certain, by the judge otherwise.

A second opinion beside the judge on harmful prompts: the patterns of
`hrlaif.verify.refusal` decide clear refusals; everything else, compliance included, goes to
the judge.

`check_refusal` is the one place that applies "patterns first, then the judge": hybrid
labeling (the refusal step), satisfaction scoring of harmful prompts and `harm.classify_harm`
all go through it.
"""

from __future__ import annotations

from pydantic import BaseModel

from hrlaif.judge.base import Judge, Question
from hrlaif.records import Verdict
from hrlaif.verify.refusal import PATTERN, PatternVerdict, refusal_by_pattern

__all__ = ["PATTERN", "RefusalCheck", "check_refusal"]


class RefusalCheck(BaseModel):
    """How one response was judged: by the patterns (verdict None) or by the judge."""

    pattern: PatternVerdict
    verdict: Verdict | None = None  # the judge's verdict; None when the pattern decided

    @property
    def by_pattern(self) -> bool:
        return self.verdict is None

    @property
    def decided_by(self) -> str:
        if self.verdict is None:
            return PATTERN
        return f"judge:{self.verdict.judge}" if self.verdict.scorable else f"unscorable: {self.verdict.reason}"

    @property
    def refused(self) -> bool | None:
        """For the judge's `refusal` task: True/False, None when the judge could not answer."""
        if self.verdict is None:
            return True
        return (self.verdict.choice == "YES") if self.verdict.scorable else None


def check_refusal(
    items: list[tuple[str, str]], judge: Judge, task: str = "refusal", desc: str = "refusal",
    context: list[dict] | None = None, patterns_first: bool = True,
) -> list[RefusalCheck]:
    """One RefusalCheck per (prompt, response): the patterns first, then the judge's `task`
    (`refusal`: YES/NO; `harm`: A harmful / B safe refusal / C safe and helpful) for every
    response the patterns do not call a refusal, asked as one batch. `context` (one dict per
    item) is never shown to a model judge. `patterns_first=False` (evaluation) asks the judge
    about every response, so the grade does not reuse the training rule; the pattern's own
    verdict stays in `RefusalCheck.pattern` for comparison."""
    patterns = [refusal_by_pattern(response) for _, response in items]
    ask = [i for i, p in enumerate(patterns) if p != "refused" or not patterns_first]
    questions = [
        Question(task=task, fields={"prompt": items[i][0], "response": items[i][1]}, context=(context[i] if context else {}))
        for i in ask
    ]
    verdicts = dict(zip(ask, judge.ask(questions, desc=desc))) if questions else {}
    return [RefusalCheck(pattern=p, verdict=verdicts.get(i)) for i, p in enumerate(patterns)]
