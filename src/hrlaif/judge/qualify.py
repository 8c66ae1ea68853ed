"""Grading a judge on the exam: per task accuracy, balanced accuracy and bias, with intervals.

A task qualifies when, on the test split, the exact (Clopper-Pearson) lower 95% bound of the
accuracy on each true answer clears chance plus `judge_check.floor`. Each class must clear it
on its own, so a judge that answers YES to everything (100% on YES, 0% on NO) does not qualify,
and a judge whose balanced accuracy is at or below the line has some class at or below it,
which passes its bound at most 2.5% of the time: the exam holds its level at the few items per
class a small exam has (the percentile bootstrap on balanced accuracy it replaced passed a judge
exactly at the line about 6% of the time at 5 items per class, 15% on harm). Where a class has
too few items for even a perfect score to clear the line, the reason says how many it needs.

Preference items are graded by the rule labeling uses: both orders combined (`combine`, with
labeling's soft labels and tie margin), a tie or an unscorable order counting as wrong; so a
judge that always picks slot A gets 0%, not 50%. The per-order accuracy stays beside it.

Unscorable verdicts count as wrong (a judge that cannot answer is not measuring). Intervals:
Wilson for rates over independent verdicts; exact per class; for balanced accuracy the mean of
the classes' exact bounds taken at a Bonferroni level (so it holds jointly); the per-order
preference accuracy keeps a percentile bootstrap over items (its two verdicts of one item are
not independent).

The exam grades the verdicts the pipeline uses: the judge's own choices, as labeling and
evaluation get them (they never calibrate), so its YES-rate is the one those verdicts have. For a
judge that gives option probabilities, a decision rule fitted on the calibration split
(`calibrate.py`) is shown beside them as a diagnostic (`if_calibrated`: what a threshold would
make of the test split), never as the grade: a judge whose argmax says YES to everything while
its P(YES) ranks well does not qualify, because every label it gives is that YES.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hrlaif.config import JudgeCheckConfig
from hrlaif.judge.base import Judge, JudgeStats, Question
from hrlaif.judge.calibrate import Calibration, Rule, fit_calibration
from hrlaif.judge.exam import ExamItem, build_exam, load_exam
from hrlaif.labeling.pairwise import combine
from hrlaif.records import Verdict
from hrlaif.run_dir import RunDir
from hrlaif.stats import clopper_pearson, wilson

_ROUNDS = 2000


def grading_exam(grading: dict) -> str:
    """Which exam examined the judge that graded an evaluation (results.json's `grading`):
    `evaluate.judge`'s when one was set, else the labeling judge's."""
    return "eval" if grading.get("separate_judge", grading.get("independent_of_labels")) else "label"


def read_exam(run_dir: Path, which: str) -> dict | None:
    """A run's exam result for "label" or "eval", or None when that judge was not examined
    (where it lies: RunDir.exam)."""
    path = RunDir(run_dir).exam(which)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _interval(rate) -> dict[str, Any]:
    return {"value": rate.rate, "low": rate.low, "high": rate.high, "n": rate.n}


def _bootstrap(groups: dict[str, list[float]], confidence: float, seed: int = 0) -> dict[str, Any]:
    """Mean over groups of the mean within each group, with a percentile bootstrap that resamples
    within each group (balanced accuracy when groups are the true answers)."""
    groups = {k: v for k, v in groups.items() if v}
    n = sum(len(v) for v in groups.values())
    if not groups:
        return {"value": None, "low": None, "high": None, "n": 0}
    value = sum(sum(v) / len(v) for v in groups.values()) / len(groups)
    rng = random.Random(seed)
    stats = []
    for _ in range(_ROUNDS):
        stats.append(sum(sum(rng.choice(v) for _ in v) / len(v) for v in groups.values()) / len(groups))
    stats.sort()
    tail = (1 - confidence) / 2
    return {"value": value, "low": stats[int(tail * _ROUNDS)], "high": stats[min(_ROUNDS - 1, int((1 - tail) * _ROUNDS))], "n": n}


def exam_decision(outcomes: dict[str, Sequence[bool]], threshold: float, confidence: float) -> dict[str, Any]:
    """Whether a task qualifies, from whether each test item was answered right, grouped by its
    true answer: every class's exact lower bound must clear `threshold`. Returns {"qualified",
    "classes": {answer: rate}, "failing" (the class furthest below, or None), "needed" (the
    fewest items a class must have for a perfect score to clear `threshold`)}."""
    classes = {answer: clopper_pearson(sum(map(bool, v)), len(v), confidence) for answer, v in outcomes.items() if len(v)}
    needed = math.floor(math.log((1 - confidence) / 2) / math.log(threshold)) + 1 if 0 < threshold < 1 else None
    failing = [answer for answer, rate in classes.items() if not rate.low > threshold]
    return {
        "qualified": bool(classes) and not failing,
        "classes": {answer: _interval(rate) for answer, rate in classes.items()},
        "failing": min(failing, key=lambda a: classes[a].low) if failing else None,
        "needed": needed,
    }


def _balanced_exact(outcomes: dict[str, Sequence[bool]], confidence: float) -> dict[str, Any]:
    """Balanced accuracy with the mean of the classes' exact bounds, each at confidence
    1 - (1 - confidence) / classes, so that all hold at once and so does their mean."""
    groups = {k: v for k, v in outcomes.items() if len(v)}
    if not groups:
        return {"value": None, "low": None, "high": None, "n": 0}
    level = 1 - (1 - confidence) / len(groups)
    rates = [clopper_pearson(sum(map(bool, v)), len(v), level) for v in groups.values()]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731 (three uses, one line)
    return {"value": mean([r.rate for r in rates]), "low": mean([r.low for r in rates]), "high": mean([r.high for r in rates]),
            "n": sum(r.n for r in rates)}


def exam_questions(items: list[ExamItem]) -> tuple[list[Question], list[tuple[int, bool]]]:
    """The questions to ask, and for each (item index, swapped): preference items are asked in
    both orders, as labeling asks them."""
    questions, where = [], []
    for index, item in enumerate(items):
        questions.append(item.question())
        where.append((index, False))
        if item.task == "preference":
            f = item.fields
            swapped = dict(f, response_a=f["response_b"], response_b=f["response_a"])
            questions.append(Question(task=item.task, fields=swapped, context=item.context))
            where.append((index, True))
    return questions, where


def _swap(option: str | None) -> str | None:
    return {"A": "B", "B": "A"}.get(option, option) if option is not None else None


def _grade_pointwise(items: list[ExamItem], verdicts: list[Verdict], options: tuple[str, ...], confidence: float) -> dict[str, Any]:
    correct = [v.choice == item.answer for item, v in zip(items, verdicts)]
    scorable = [v for v in verdicts if v.scorable]
    by_answer: dict[str, list[bool]] = defaultdict(list)
    for item, ok in zip(items, correct):
        by_answer[item.answer].append(ok)
    out: dict[str, Any] = {
        "n": len(items),
        "unscorable": len(items) - len(scorable),
        "accuracy": _interval(wilson(sum(correct), len(items), confidence)),
        "balanced_accuracy": _balanced_exact(by_answer, confidence),
        "outcomes": dict(by_answer),
        "answer_rates": {o: _interval(wilson(sum(v.choice == o for v in scorable), len(scorable), confidence)) for o in options},
    }
    if "YES" in options:
        out["yes_rate"] = out["answer_rates"]["YES"]
    return out


def _grade_preference(items: list[ExamItem], pairs: list[tuple[Verdict, Verdict]], confidence: float,
                      soft_labels: bool = True, tie_margin: float = 0.0) -> dict[str, Any]:
    """Each item counts as right when the two orders, combined as labeling combines them
    (`combine` with its soft labels and tie margin), name the better response; a tie or an
    unscorable order is wrong. The per-order accuracy (each verdict apart) stays beside it."""
    per_item, consistent, verdict_correct, combined = [], [], [], []
    for item, (forward, backward) in zip(items, pairs):
        ok_f = forward.choice == item.answer
        ok_b = backward.choice == _swap(item.answer)
        per_item.append((float(ok_f) + float(ok_b)) / 2)
        verdict_correct += [ok_f, ok_b]
        if forward.scorable and backward.scorable:
            consistent.append(forward.choice == _swap(backward.choice))
        comparison = combine(forward, backward, use_soft=soft_labels, tie_margin=tie_margin)
        combined.append(comparison.winner == (0 if item.answer == "A" else 1))
    scorable = [v for pair in pairs for v in pair if v.scorable]
    accuracy = _interval(clopper_pearson(sum(combined), len(combined), confidence))
    return {
        "n": len(items),
        "verdicts": 2 * len(items),
        "unscorable": 2 * len(items) - len(scorable),
        "rule": {"soft_labels": soft_labels, "tie_margin": tie_margin},
        "accuracy": accuracy,
        "balanced_accuracy": dict(accuracy),  # each item is asked with the better response in A and in B: one class
        "outcomes": {"both orders": combined},
        "per_order_accuracy": _bootstrap({"items": per_item}, confidence),
        "position_consistency": _interval(wilson(sum(consistent), len(consistent), confidence)),
        "first_slot_rate": _interval(wilson(sum(v.choice == "A" for v in scorable), len(scorable), confidence)),
    }


GRADED = "raw verdicts, as labeling and evaluation use them"


def _diagnostic(rule: Rule, items: list[ExamItem], verdicts: list[Verdict], options: tuple[str, ...], config: JudgeCheckConfig,
                chance: float, n_calibration: int) -> dict[str, Any]:
    """What the test split would score with `rule` applied (the pipeline never applies it): its
    accuracy, balanced accuracy, answer rates, per-class bounds and whether it would qualify."""
    graded = _grade_pointwise(items, [Calibration({rule.task: rule}).apply(v) for v in verdicts], options, config.confidence)
    decision = exam_decision(graded["outcomes"], chance + config.floor, config.confidence)
    return (rule.describe() | {"n_calibration": n_calibration, "applied": False}
            | {k: graded[k] for k in ("accuracy", "balanced_accuracy", "answer_rates")}
            | {"classes": decision["classes"], "qualified": decision["qualified"]})


def _usage(before: JudgeStats, after: JudgeStats) -> dict[str, Any]:
    keys = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "retries", "unscorable", "cost_usd")
    return {k: round(getattr(after, k) - getattr(before, k), 6) for k in keys}


def qualify_judge(judge: Judge, config: JudgeCheckConfig, desc: str = "judge exam", soft_labels: bool = True,
                  tie_margin: float = 0.0) -> dict[str, Any]:
    """Run the exam (`config.exam`, else the bundled one) on `judge` and grade it per task;
    preference by the rule its verdicts will be used with (`soft_labels`, `tie_margin`: labeling's
    `label.soft_labels` and `label.tie_margin`; evaluation's win ratio uses no soft labels, no margin).

    Returns {"qualified", "judge", "exam", "graded", "floor", "confidence", "calibration", "cost",
    "tasks": {task: {"n", "accuracy", "balanced_accuracy", "yes_rate" | "position_consistency",
    ..., "chance", "threshold", "qualified", "reason", "if_calibrated"?}}}; every rate is {"value",
    "low", "high", "n"}, all of the raw verdicts ("graded"). "calibration" is the fitted rules'
    `Calibration.to_dict()` (empty when the judge gives no probabilities), applied nowhere in the
    pipeline: `CalibratedJudge(judge, Calibration.from_dict(result["calibration"]))` applies them
    in your own code.
    """
    items = load_exam(config.exam, judge.templates) if config.exam is not None else build_exam(config.per_answer)
    questions, where = exam_questions(items)
    before = judge.stats.model_copy()
    verdicts = judge.ask(questions, desc=desc)
    cost = _usage(before, judge.stats)

    asked: dict[int, list[Verdict]] = defaultdict(list)
    for (index, _swapped), verdict in zip(where, verdicts):
        asked[index].append(verdict)

    tasks: dict[str, Any] = {}
    calibration = Calibration()
    by_task: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        by_task[item.task].append(index)
    for task, indices in by_task.items():
        cal = [i for i in indices if items[i].split == "calibration"]
        test = [i for i in indices if items[i].split == "test"]
        options = judge.templates[task].options  # the examined judge's template
        chance = 1 / len(options)
        if task == "preference":
            report = _grade_preference([items[i] for i in test], [tuple(asked[i]) for i in test], config.confidence, soft_labels, tie_margin)
        else:
            test_verdicts = [asked[i][0] for i in test]
            report = _grade_pointwise([items[i] for i in test], test_verdicts, options, config.confidence) if test else {"n": 0}
            if config.calibrate and cal and test:
                fitted = fit_calibration(task, options, [items[i].answer for i in cal], [asked[i][0] for i in cal])
                if fitted is not None:
                    calibration.rules[task] = fitted
                    report["if_calibrated"] = _diagnostic(fitted, [items[i] for i in test], test_verdicts, options, config, chance, len(cal))
        report["n_calibration"] = len(cal)
        report["tokens"] = sum(v.prompt_tokens + v.completion_tokens for i in indices for v in asked[i])
        threshold = chance + config.floor
        ba = report.get("balanced_accuracy") or {}
        decision = exam_decision(report.pop("outcomes", {}), threshold, config.confidence)
        report["chance"] = chance
        report["threshold"] = threshold
        report["classes"] = decision["classes"]
        report["qualified"] = decision["qualified"]
        if not report["qualified"]:
            failing = decision["failing"]
            if failing is None:
                report["reason"] = "no test items"
            else:
                c = decision["classes"][failing]
                report["reason"] = (
                    f"balanced accuracy {100 * ba['value']:.1f}% (n={report['n']}); on true answer {failing}: {round(c['value'] * c['n'])}/{c['n']} right, "
                    f"exact lower bound {100 * c['low']:.1f}%, {100 * (c['low'] - threshold):+.1f} pts from the floor {100 * threshold:.1f}% "
                    f"(chance {100 * chance:.1f}% + {100 * config.floor:.1f}); every answer's bound must clear it"
                )
                if decision["needed"] is not None and c["n"] < decision["needed"]:
                    report["reason"] += f"; with {c['n']} items not even a perfect score can: it needs at least {decision['needed']} per answer"
                if "if_calibrated" in report:
                    d = report["if_calibrated"]
                    report["reason"] += (f"; the rule {d['rule']} fitted on the calibration split would give balanced accuracy "
                                         f"{100 * d['balanced_accuracy']['value']:.1f}% ({'would' if d['qualified'] else 'would not'} qualify), "
                                         "not applied: labeling and evaluation use the raw verdicts")
        tasks[task] = report
    return {
        "qualified": bool(tasks) and all(t["qualified"] for t in tasks.values()),
        "judge": judge.name,
        "exam": str(config.exam) if config.exam is not None else "bundled",
        "graded": GRADED,
        "floor": config.floor,
        "confidence": config.confidence,
        "calibration": calibration.to_dict(),
        "cost": cost,
        "tasks": tasks,
    }
