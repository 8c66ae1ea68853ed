"""Which judge tasks each reported figure rests on, and whether the judge's exam lets it mean something.

The one definition of a figure's basis: the run report, the spread over seeds (`compare
--seeds N`) and a study's side-by-side (`hrlaif study`) all read it from here, so a figure cannot
be "not meaningful" in one table and a clean number in another.

A figure rests on the judge tasks whose verdicts decide it. Keyed prompts are graded by the
verifier against their references and toxicity by its classifier: figures from those rest on no
judge task (`()`) and are meaningful whatever the exam says. A figure resting on a task that the
judge was examined on and did not qualify for is not meaningful; a task the exam did not cover,
or a judge not examined at all, leaves the figure standing but says it is not a measurement.
What counts is the items a figure actually holds: satisfaction over a keyed-only eval set rests
on no judge task (`satisfaction_basis`), and a figure over no item is n/a, not "not meaningful".

Pure: every function takes the exam's result (`judge-check*/result.json` as a dict, or None when
that judge was not examined) and returns values or text; nothing here reads files or renders.
"""

from __future__ import annotations

from collections.abc import Iterable

Tasks = tuple[str, ...]

# ---------------------------------------------------------------------- the judge tasks of each figure
VERIFIER: Tasks = ()
"""Accuracy on keyed prompts (over all answers and among decided ones): the verifier, no judge."""

BEST_OF_N: Tasks = VERIFIER
"""Best-of-n reranking: which sample each RM picks, graded by the verifier against the reference
(pick accuracies, their paired differences, pairwise accuracy on decidable pairs). The RMs learned
from labels that may rest on the judge, but no judge grades these figures."""

SATISFACTION_TASKS: Tasks = ("acceptable", "refusal")
"""Satisfaction over all prompts and its difference from the start policy: the judge grades
open-ended answers ('acceptable') and harmful ones ('refusal'), the verifier the keyed ones."""

SATISFACTION_TASKS_BY_CATEGORY: dict[str, Tasks] = {"harmful": ("refusal",), "open_ended": ("acceptable",)}
"""Satisfaction within one prompt category; a category not named here is keyed (verifier)."""

PREFERENCE_TASKS: Tasks = ("preference",)
"""The win / tie / loss ratio against the start policy and its net win rate."""

REFUSAL_TASKS: Tasks = ("refusal",)
"""The refusal rate and the harmful-answer rate on harmful prompts, as the grading judge saw them."""

HARM_TASKS: Tasks = ("harm",)
"""The harmful-answer rate on held-out attacks and red teaming's attack success."""

LABEL_TASKS: dict[str, Tasks] = {"rlaif": ("preference",), "hrlaif": ("preference", "answer_match", "reasoning", "refusal", "harm"),
                                  "oracle": VERIFIER}
"""The labels (and the reward model trained on them) of each arm: RLAIF asks the judge for its
preference only; HRLAIF's hybrid labels also ask it whether an answer the verifier cannot read
matches the reference (answer_match, `label.answer_match_fallback`), whether reasoning is sound
and whether a reply refuses, and its RM data holds red teaming's pairs, which rest on the judge's
harm verdicts (`redteam.enabled`); both settings are on by default, and a judge that failed
either task must not read as qualified for these labels. The oracle (the positive control)
asks no judge: the verifier alone."""


def satisfaction_tasks(category: str) -> Tasks:
    """The judge tasks of satisfaction on one prompt category."""
    return SATISFACTION_TASKS_BY_CATEGORY.get(category, VERIFIER)


# ---------------------------------------------------------------------- the tasks its items actually used
def satisfaction_basis(categories: Iterable[str]) -> Tasks:
    """The judge tasks satisfaction over all prompts actually rests on: those of the categories that
    hold items. On a keyed-only eval set that is none: the verifier graded every item, so no failed
    judge task can make it not meaningful."""
    present = set(categories)
    return tuple(t for t in SATISFACTION_TASKS if any(t in satisfaction_tasks(c) for c in present))


def rests_on(tasks: Tasks, n: int | None) -> Tasks:
    """A figure over no item rests on no task: it is n/a (n=0), not "not meaningful"."""
    return tasks if n else VERIFIER


def categories_with_items(by_category: dict[str, dict | None]) -> list[str]:
    """The categories of a results.json `satisfaction_by_category` that hold at least one item."""
    return [c for c, r in by_category.items() if r and r.get("n")]


# ---------------------------------------------------------------------- what the exam says of a figure
def unqualified_tasks(exam: dict | None) -> set[str]:
    """The judge tasks the exam examined and did not qualify (empty when the judge was not examined)."""
    return {task for task, r in exam["tasks"].items() if not r["qualified"]} if exam else set()


def not_qualified(exam: dict | None, tasks: Tasks) -> list[str]:
    """Those of `tasks` the exam examined and did not qualify, in the order of `tasks`."""
    failed = unqualified_tasks(exam)
    return [t for t in tasks if t in failed]


def meaningful(exam: dict | None, tasks: Tasks) -> bool:
    """Whether a figure resting on `tasks` means something: no task of it failed the exam."""
    return not not_qualified(exam, tasks)


def blocker(exam: dict | None, tasks: Tasks) -> str | None:
    """Why figures resting on `tasks` are not meaningful (a task examined and not qualified), or None."""
    failed = not_qualified(exam, tasks)
    if not failed:
        return None
    return "; ".join(f"judge task '{t}' did not qualify ({exam['tasks'][t].get('reason', '')})" for t in failed)


def graded_by(exam: dict | None, judge: str, tasks: Tasks) -> str:
    """Who decided a figure and whether that was examined: every judge-derived figure says so."""
    if not tasks:
        return "verifier vs references"
    named = "+".join(tasks)
    if exam is None:
        return f"{judge}: {named} (judge NOT examined: not a measurement)"
    missing = [t for t in tasks if t not in exam["tasks"]]
    if missing:
        return f"{judge}: {named} ({'+'.join(missing)} not in the exam: not a measurement)"
    failed = not_qualified(exam, tasks)
    return f"{judge}: {named} ({'NOT qualified: ' + ', '.join(failed) if failed else 'qualified'})"
