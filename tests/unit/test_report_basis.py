"""report/basis.py: which judge tasks a figure rests on, and whether the exam lets it mean something."""

from __future__ import annotations

from hrlaif.records import CATEGORIES, KEYED_CATEGORIES
from hrlaif.report import basis
from hrlaif.study import seeds
from hrlaif.study import summary as study


def exam(**qualified: bool) -> dict:
    """An exam result (judge-check*/result.json) that examined the named tasks."""
    return {"tasks": {t: {"qualified": q, "reason": "" if q else f"{t} below the floor"} for t, q in qualified.items()}}


def test_a_figure_on_refusal_is_not_meaningful_when_the_exam_failed_refusal():
    assert not basis.meaningful(exam(refusal=False, acceptable=True), basis.REFUSAL_TASKS)
    assert basis.blocker(exam(refusal=False), basis.REFUSAL_TASKS) == "judge task 'refusal' did not qualify (refusal below the floor)"
    assert basis.graded_by(exam(refusal=False), "j", basis.REFUSAL_TASKS) == "j: refusal (NOT qualified: refusal)"


def test_a_figure_on_refusal_is_meaningful_when_the_exam_passed_refusal():
    assert basis.meaningful(exam(refusal=True, preference=False), basis.REFUSAL_TASKS)
    assert basis.blocker(exam(refusal=True, preference=False), basis.REFUSAL_TASKS) is None
    assert basis.graded_by(exam(refusal=True), "j", basis.REFUSAL_TASKS) == "j: refusal (qualified)"


def test_satisfaction_rests_on_acceptable_and_refusal_per_category_and_in_all():
    assert basis.satisfaction_tasks("harmful") == ("refusal",)
    assert basis.satisfaction_tasks("open_ended") == ("acceptable",)
    for category in KEYED_CATEGORIES:  # the verifier grades keyed prompts: no judge task
        assert basis.satisfaction_tasks(category) == ()
        assert basis.meaningful(exam(refusal=False, acceptable=False), basis.satisfaction_tasks(category))
    # satisfaction over all prompts rests on every task any category's satisfaction rests on
    assert set(basis.SATISFACTION_TASKS) == {t for c in CATEGORIES for t in basis.satisfaction_tasks(c)}
    assert not basis.meaningful(exam(acceptable=True, refusal=False), basis.SATISFACTION_TASKS)
    assert not basis.meaningful(exam(acceptable=False, refusal=True), basis.SATISFACTION_TASKS)
    assert basis.meaningful(exam(acceptable=True, refusal=True, preference=False), basis.SATISFACTION_TASKS)


def test_hrlaif_labels_need_every_task_they_rest_on_rlaif_labels_only_preference():
    """HRLAIF's labels also rest on answer_match (verifier-unknown keyed answers) and harm (the
    red-team pairs in its RM data): a judge that failed either is not qualified for them (issue 25 item 4)."""
    assert basis.LABEL_TASKS["hrlaif"] == ("preference", "answer_match", "reasoning", "refusal", "harm")
    assert basis.LABEL_TASKS["rlaif"] == ("preference",)
    passed = {"preference": True, "answer_match": True, "reasoning": True, "refusal": True, "harm": True}
    assert basis.meaningful(exam(**passed), basis.LABEL_TASKS["hrlaif"])
    for task in passed:
        failed = exam(**passed | {task: False})
        assert not basis.meaningful(failed, basis.LABEL_TASKS["hrlaif"]), task
        assert basis.meaningful(failed, basis.LABEL_TASKS["rlaif"]) == (task != "preference")
    assert basis.graded_by(exam(**passed | {"harm": False}), "j", basis.LABEL_TASKS["hrlaif"]) == \
        "j: preference+answer_match+reasoning+refusal+harm (NOT qualified: harm)"


def test_an_unexamined_judge_or_task_blocks_nothing_but_is_not_called_a_measurement():
    assert basis.meaningful(None, basis.PREFERENCE_TASKS)
    assert basis.unqualified_tasks(None) == set()
    assert basis.graded_by(None, "j", basis.PREFERENCE_TASKS) == "j: preference (judge NOT examined: not a measurement)"
    assert basis.meaningful(exam(refusal=False), basis.HARM_TASKS)  # 'harm' not in this exam
    assert basis.graded_by(exam(refusal=True), "j", basis.HARM_TASKS) == "j: harm (harm not in the exam: not a measurement)"
    assert basis.graded_by(exam(), "j", basis.VERIFIER) == "verifier vs references"


def test_not_qualified_keeps_the_figure_order_and_unqualified_tasks_reads_the_whole_exam():
    e = exam(preference=False, acceptable=True, refusal=False)
    assert basis.unqualified_tasks(e) == {"preference", "refusal"}
    assert basis.not_qualified(e, ("refusal", "acceptable", "preference")) == ["refusal", "preference"]
    assert basis.blocker(e, ("acceptable", "refusal", "preference")) == (
        "judge task 'refusal' did not qualify (refusal below the floor); judge task 'preference' did not qualify (preference below the floor)")


def test_seeds_and_study_take_their_figures_basis_from_here():
    assert seeds.FIGURES["satisfaction"][1] is basis.SATISFACTION_TASKS
    assert seeds.FIGURES["satisfaction difference from start"][1] is basis.SATISFACTION_TASKS
    assert seeds.FIGURES["net win rate vs start"][1] is basis.PREFERENCE_TASKS
    assert study.FIGURES["satisfaction"][1] is basis.SATISFACTION_TASKS
    assert study.FIGURES["refusal rate on harmful prompts"][1] is basis.REFUSAL_TASKS
    for name in ("accuracy on keyed prompts", "accuracy among decided keyed answers"):
        assert seeds.FIGURES[name][1] == study.FIGURES[name][1] == basis.VERIFIER
