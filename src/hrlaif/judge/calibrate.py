"""Decision rules for judges that give option probabilities, fitted on the exam's calibration split.

A small judge's P(YES) may sit at 0.93-0.98 whatever the text: its argmax says YES to
everything, yet the ordering of its scores may still separate good from bad. A threshold per
yes/no task, chosen where it maximises balanced accuracy on known-answer items, either finds
that separation (the judge is rescued) or does not (the test split then shows it at chance).
For tasks with more options (harm: A/B/C), each option's probability is divided by its mean
over the calibration split (contextual calibration, Zhao et al. 2021), kept only when that
beats the raw argmax there. Preference needs neither: both orders are asked.

Rules are applied to verdicts by `CalibratedJudge`, which wraps any judge (the cache below it
keeps the raw verdicts, so a new calibration never re-asks). No stage applies them: labeling
and evaluation use the raw verdicts, so the exam grades those and shows a fitted rule only as
what it would give (`qualify.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hrlaif.judge.base import Judge, OnVerdict, Question, WrappedJudge
from hrlaif.records import Verdict


def _balanced_accuracy(answers: list[str], predictions: list[str | None]) -> float:
    recalls = []
    for option in dict.fromkeys(answers):
        hits = [p == a for a, p in zip(answers, predictions) if a == option]
        recalls.append(sum(hits) / len(hits))
    return sum(recalls) / len(recalls)


@dataclass
class Rule:
    """How one task's verdicts are decided from their probabilities: `threshold` on the first
    option's probability (two options), or `weights` per option (more)."""

    task: str
    options: tuple[str, ...]
    threshold: float | None = None
    weights: dict[str, float] | None = None
    calibration_balanced_accuracy: float | None = None
    raw_balanced_accuracy: float | None = None

    def decide(self, probs: dict[str, float]) -> str:
        if self.threshold is not None:
            return self.options[0] if probs.get(self.options[0], 0.0) >= self.threshold else self.options[1]
        weights = self.weights or {}
        return max(self.options, key=lambda o: probs.get(o, 0.0) * weights.get(o, 1.0))

    def describe(self) -> dict[str, Any]:
        if self.threshold is not None:
            text = f"P({self.options[0]}) >= {self.threshold:.4g}"
        else:
            text = "argmax of P(option) x " + ", ".join(f"{o}:{w:.3g}" for o, w in (self.weights or {}).items())
        return {"rule": text, "threshold": self.threshold, "weights": self.weights,
                "calibration_balanced_accuracy": self.calibration_balanced_accuracy,
                "raw_calibration_balanced_accuracy": self.raw_balanced_accuracy}


def fit_calibration(task: str, options: tuple[str, ...], answers: list[str], verdicts: list[Verdict]) -> Rule | None:
    """The rule for `task` (whose template has `options`) from calibration items (true answers,
    the judge's verdicts), or None when the judge gave no probabilities or an answer class is missing."""
    if task == "preference" or len(options) < 2:
        return None
    pairs = [(a, v.probs) for a, v in zip(answers, verdicts) if v.scorable]
    if not pairs or any(not p for _, p in pairs) or len({a for a, _ in pairs}) < 2:
        return None
    truth = [a for a, _ in pairs]
    raw = _balanced_accuracy(truth, [max(options, key=lambda o: p.get(o, 0.0)) for _, p in pairs])
    if len(options) == 2:
        scores = sorted({p.get(options[0], 0.0) for _, p in pairs})
        candidates = {0.5} | {(x + y) / 2 for x, y in zip(scores, scores[1:])} | {scores[0], scores[-1] + 1e-9}
        best = max(
            sorted(candidates),
            key=lambda t: (_balanced_accuracy(truth, [options[0] if p.get(options[0], 0.0) >= t else options[1] for _, p in pairs]), -abs(t - 0.5)),
        )
        rule = Rule(task, options, threshold=best, raw_balanced_accuracy=raw)
    else:
        means = {o: sum(p.get(o, 0.0) for _, p in pairs) / len(pairs) for o in options}
        rule = Rule(task, options, weights={o: (1 / m if m > 0 else 1.0) for o, m in means.items()}, raw_balanced_accuracy=raw)
        if _balanced_accuracy(truth, [rule.decide(p) for _, p in pairs]) <= raw:
            rule = Rule(task, options, weights=dict.fromkeys(options, 1.0), raw_balanced_accuracy=raw)
    rule.calibration_balanced_accuracy = _balanced_accuracy(truth, [rule.decide(p) for _, p in pairs])
    return rule


@dataclass
class Calibration:
    """The fitted rules, per task; tasks without a rule keep the judge's own choice."""

    rules: dict[str, Rule] = field(default_factory=dict)

    def apply(self, verdict: Verdict) -> Verdict:
        rule = self.rules.get(verdict.task)
        if rule is None or not verdict.scorable or not verdict.probs:
            return verdict
        choice = rule.decide(verdict.probs)
        note = f"calibrated ({rule.describe()['rule']})"
        if choice != verdict.choice:
            note += f": {verdict.choice} -> {choice}"
        return verdict.model_copy(update={"choice": choice, "reason": f"{verdict.reason}; {note}" if verdict.reason else note})

    def to_dict(self) -> dict[str, Any]:
        return {task: {"options": list(r.options), "threshold": r.threshold, "weights": r.weights} for task, r in self.rules.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls({t: Rule(t, tuple(r["options"]), threshold=r.get("threshold"), weights=r.get("weights")) for t, r in data.items()})


class CalibratedJudge(WrappedJudge):
    """Any judge with calibrated decisions: verdicts that carry probabilities are re-decided by
    the task's rule; the rest pass through unchanged."""

    def __init__(self, inner: Judge, calibration: Calibration) -> None:
        super().__init__(inner)
        self.calibration = calibration

    def ask(self, questions: list[Question], desc: str = "judging", on_verdict: OnVerdict | None = None) -> list[Verdict]:
        relay = None if on_verdict is None else (lambda i, v: on_verdict(i, self.calibration.apply(v)))
        return [self.calibration.apply(v) for v in self.inner.ask(questions, desc=desc, on_verdict=relay)]
