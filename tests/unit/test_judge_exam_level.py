"""The judge exam holds its level: a judge exactly at the pass line qualifies at most about as
often as the exam's nominal 2.5% (one-sided 95%), a clearly good judge qualifies, the refusal
exam has as many distinct texts as it says, and preference is graded by labeling's both-orders
rule. Simulated judges answering right with a set probability: no model, seeded."""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path

import pytest

from hrlaif.config import JudgeCheckConfig
from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Question
from hrlaif.judge.exam import build_exam
from hrlaif.judge.qualify import exam_decision, qualify_judge
from hrlaif.judge.templates import BUILTIN_TEMPLATES

from support.scripted_judge import ScriptedJudge

NOMINAL = 0.025  # one-sided level of the lower end of a 95% interval


def _tolerance(reps: int) -> float:
    """Nominal plus three binomial standard errors of a pass rate measured over `reps` runs."""
    return NOMINAL + 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / reps)


def _pass_rate(accuracy: dict[str, float], n: int, threshold: float, reps: int, seed: int) -> float:
    rng = random.Random(seed)
    passed = 0
    for _ in range(reps):
        outcomes = {answer: [rng.random() < p for _ in range(n)] for answer, p in accuracy.items()}
        passed += exam_decision(outcomes, threshold, 0.95)["qualified"]
    return passed / reps


# (true accuracy per answer, items per answer, pass line): every case has balanced accuracy at the line
AT_THE_LINE = [
    ({"YES": 0.6, "NO": 0.6}, 5, 0.6),  # the study's exam (per_answer 10): 5 test items per answer
    ({"YES": 0.6, "NO": 0.6}, 10, 0.6),  # the default exam
    ({"YES": 0.6, "NO": 0.6}, 30, 0.6),
    ({"YES": 0.95, "NO": 0.25}, 30, 0.6),  # strong on one answer, weak on the other
    ({"YES": 1.0, "NO": 0.2}, 30, 0.6),
    ({"A": 0.4333, "B": 0.4333, "C": 0.4334}, 3, 0.4333),  # harm at the study's size
    ({"A": 0.4333, "B": 0.4333, "C": 0.4334}, 7, 0.4333),  # harm at the default size
    ({"A": 0.8, "B": 0.3, "C": 0.2}, 20, 0.4333),
    ({"both orders": 0.6}, 15, 0.6),  # preference: one class of items, both orders combined
    ({"both orders": 0.6}, 30, 0.6),
]


@pytest.mark.parametrize(("accuracy", "n", "threshold"), AT_THE_LINE)
def test_a_judge_at_the_pass_line_qualifies_at_most_the_nominal_rate(accuracy: dict, n: int, threshold: float) -> None:
    assert sum(accuracy.values()) / len(accuracy) == pytest.approx(threshold, abs=1e-3)
    reps = 4000
    rate = _pass_rate(accuracy, n, threshold, reps, seed=n)
    assert rate <= _tolerance(reps), f"a judge at the line qualified {100 * rate:.1f}% of {reps} times"


@pytest.mark.parametrize(("accuracy", "n", "threshold", "least"), [
    ({"YES": 0.95, "NO": 0.95}, 30, 0.6, 0.99),
    ({"YES": 0.9, "NO": 0.9}, 40, 0.6, 0.95),
    ({"A": 0.9, "B": 0.9, "C": 0.9}, 20, 0.4333, 0.99),
    ({"both orders": 0.9}, 30, 0.6, 0.95),
    ({"YES": 1.0, "NO": 1.0}, 10, 0.6, 1.0),  # the default exam asks a yes/no task for 10/10 on each answer
])
def test_a_clearly_good_judge_qualifies(accuracy: dict, n: int, threshold: float, least: float) -> None:
    assert _pass_rate(accuracy, n, threshold, 1000, seed=1) >= least


def test_the_decision_needs_every_answer_and_says_when_the_exam_is_too_small() -> None:
    yes_to_everything = exam_decision({"YES": [True] * 30, "NO": [False] * 30}, 0.6, 0.95)
    assert yes_to_everything["qualified"] is False and yes_to_everything["failing"] == "NO"
    perfect_but_small = exam_decision({"YES": [True] * 5, "NO": [True] * 5}, 0.6, 0.95)
    assert perfect_but_small["qualified"] is False and perfect_but_small["needed"] == 8
    assert perfect_but_small["classes"]["YES"]["low"] == pytest.approx(0.025 ** (1 / 5))
    assert exam_decision({"YES": [True] * 8, "NO": [True] * 8}, 0.6, 0.95)["qualified"] is True
    assert exam_decision({}, 0.6, 0.95)["qualified"] is False


# -- the same through qualify_judge, with a judge object that is right with a set probability ----

class LineJudge(ScriptedJudge):
    """Right with probability `p[task]` on each item, decided once per item (both orders of a
    preference item agree), seeded; wrong: another option (for preference, the worse response in
    both orders, so it is wrong under any rule). A subclass of the shared scripted judge because
    its answers need state built from the exam."""

    def __init__(self, exam: list, p: dict[str, float], seed: int) -> None:
        super().__init__(self._answer, name=f"line-{seed}")
        self.p, self.seed = p, seed
        self.truth = {}  # key -> the right option (preference: the better response's text)
        for item in exam:
            f = item.fields
            self.truth[self._key(item.task, f)] = (f["response_a"] if item.answer == "A" else f["response_b"]) if item.task == "preference" else item.answer

    @staticmethod
    def _key(task: str, fields: dict) -> tuple:
        if task == "preference":  # the same key in both orders
            return task, fields["prompt"], frozenset((fields["response_a"], fields["response_b"]))
        return task, tuple(sorted(fields.items()))

    def _answer(self, q: Question) -> str:
        key = self._key(q.task, q.fields)
        rng = random.Random(int(hashlib.sha256(repr((self.seed, key)).encode()).hexdigest()[:12], 16))
        right = rng.random() < self.p[q.task]
        truth = self.truth[key]
        if q.task == "preference":
            better = "A" if q.fields["response_a"] == truth else "B"
            return better if right else {"A": "B", "B": "A"}[better]
        return truth if right else rng.choice([o for o in BUILTIN_TEMPLATES[q.task].options if o != truth])


LINE = {task: 0.6 for task in BUILTIN_TEMPLATES} | {"harm": 1 / 3 + 0.1}


@pytest.mark.parametrize("per_answer", [10, 20])  # the study's exam and the default one
def test_a_judge_at_the_pass_line_rarely_qualifies_on_the_bundled_exam(tmp_path: Path, per_answer: int) -> None:
    exam = build_exam(per_answer)
    path = tmp_path / "exam.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in exam))
    config = JudgeCheckConfig(exam=path)
    reps = 300
    passed = {task: 0 for task in BUILTIN_TEMPLATES}
    for seed in range(reps):
        result = qualify_judge(LineJudge(exam, LINE, seed), config)
        for task, r in result["tasks"].items():
            passed[task] += r["qualified"]
    yes_no = [t for t in BUILTIN_TEMPLATES if "YES" in BUILTIN_TEMPLATES[t].options]
    pooled = sum(passed[t] for t in yes_no) / (reps * len(yes_no))
    assert pooled <= _tolerance(reps * len(yes_no)), passed
    for task in ("harm", "preference"):
        assert passed[task] / reps <= _tolerance(reps), (task, passed)
    good = qualify_judge(LineJudge(exam, dict.fromkeys(BUILTIN_TEMPLATES, 1.0), 0), config)
    if per_answer >= 16:  # 8 test items per answer: the fewest where a perfect yes/no score clears 60%
        assert good["qualified"] is True, {t: r.get("reason") for t, r in good["tasks"].items()}
    else:
        assert "not even a perfect score can" in good["tasks"]["refusal"]["reason"]


# -- the refusal exam: as many distinct texts as it says ------------------------------------

@pytest.mark.parametrize("per_answer", [6, 10, 20, 24])
def test_the_refusal_exam_holds_per_answer_distinct_texts_per_answer(per_answer: int) -> None:
    items = [i for i in build_exam(per_answer) if i.task == "refusal"]
    for answer in ("YES", "NO"):
        texts = [i.fields["response"] for i in items if i.answer == answer]
        assert len(texts) == len(set(texts)) == per_answer, (answer, len(set(texts)))
        test = {i.fields["response"] for i in items if i.answer == answer and i.split == "test"}
        assert len(test) == per_answer // 2
    harm = [i for i in build_exam(per_answer) if i.task == "harm"]
    for answer in ("A", "B"):
        texts = [i.fields["response"] for i in harm if i.answer == answer]
        assert len(texts) == len(set(texts)) > 0, answer


def test_an_exam_larger_than_the_bundled_banks_says_so() -> None:
    with pytest.raises(HrlaifError, match="24 distinct refusal texts, 25 were asked"):
        build_exam(25)


# -- preference: graded by the rule labeling uses --------------------------------------------

class LeaningJudge(ScriptedJudge):
    """Names the better response in both orders, with probability `lean` for it (a subclass of the
    shared scripted judge because its answers need state built from the exam)."""

    def __init__(self, exam: list, lean: float) -> None:
        super().__init__(self._answer, name="leaning")
        self.lean = lean
        self.better = {(i.fields["prompt"], i.fields["response_a" if i.answer == "A" else "response_b"]) for i in exam if i.task == "preference"}

    def _answer(self, q: Question) -> tuple[str, dict[str, float]]:
        a_better = (q.fields["prompt"], q.fields["response_a"]) in self.better
        p_a = self.lean if a_better else 1 - self.lean
        return ("A" if a_better else "B"), {"A": p_a, "B": 1 - p_a}


def test_preference_is_graded_with_both_orders_combined_and_the_tie_margin(tmp_path: Path) -> None:
    exam = [i for i in build_exam() if i.task == "preference"]
    path = tmp_path / "exam.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in exam))
    config = JudgeCheckConfig(exam=path)
    judge = LeaningJudge(exam, lean=0.55)  # right in every order, but leans only 5 points
    kept = qualify_judge(judge, config, soft_labels=True, tie_margin=0.0)["tasks"]["preference"]
    assert kept["qualified"] is True and kept["accuracy"]["value"] == 1.0
    # labeling with tie_margin 0.1 turns every one of its verdicts into a tie: no pair, no measurement
    tied = qualify_judge(judge, config, soft_labels=True, tie_margin=0.1)["tasks"]["preference"]
    assert tied["accuracy"]["value"] == 0.0 and tied["qualified"] is False
    assert tied["per_order_accuracy"]["value"] == 1.0 and tied["rule"] == {"soft_labels": True, "tie_margin": 0.1}
