"""Each judge named once: a judge spec such as "simulated(length_bias=1.0,...)" or "local:smollm2"
is defined at the top of the report under a short name, and every table says the short name.

A spec repeated in every heading and cell made 3-4 line headings and cells no one reads; the
short names ("labeling judge", "grading judge", a study's labeler names) say the same thing.
"""

from __future__ import annotations

from hrlaif.report.inputs import Exams, read_json
from hrlaif.run_dir import RunDir

LABELING = "labeling judge"
GRADING = "grading judge"


def exam_said(exam: dict | None) -> str:
    """A judge's exam in a few words: qualified, or which tasks it failed, or not examined."""
    if exam is None:
        return "not examined"
    failed = [t for t, r in exam["tasks"].items() if not r["qualified"]]
    return "NOT qualified on " + ", ".join(failed) if failed else "qualified on every task examined"


def _kind(spec: str) -> str:
    return "a SIMULATED judge (a rule, not a model)" if spec.startswith("simulated") else "an AI judge"


def labeling_spec(run: RunDir, results: dict | None, exams: Exams) -> str | None:
    """The labeling judge's spec, from whichever file names it."""
    for mode in ("rlaif", "hrlaif"):
        judge = ((read_json(run.manifest(RunDir.label_stage(mode))) or {}).get("judge") or {}).get("judge")
        if judge:
            return str(judge)
    return ((results or {}).get("grading") or {}).get("labeling_judge") or (exams.label or {}).get("judge")


def judge_lines(run: RunDir, results: dict | None, exams: Exams) -> list[str]:
    """The definitions the report's tables refer to: one line per judge."""
    labeling = labeling_spec(run, results, exams)
    grading = (results or {}).get("judge") or (exams.eval or {}).get("judge")
    lines = []
    if labeling:
        lines.append(f"{LABELING}: {labeling}, {_kind(labeling)}; its exam: {exam_said(exams.label)}")
    if grading and results:
        exam = exams.grading(results)
        same = (results.get("grading") or {}).get("same_model_as_labeling_judge", grading == labeling)
        if same and grading == labeling:  # the spec is said once, on the line above
            separate = (results.get("grading") or {}).get("separate_judge")
            said = "a separate evaluation judge of the same model as" if separate else "the same judge as"
            lines.append(f"{GRADING} (evaluation): {said} the labeling judge, so its grades are not independent of the labels")
        else:
            said = "the same model as the labeling judge" if same else _kind(grading)
            lines.append(f"{GRADING} (evaluation): {grading}, {said}; its exam: {exam_said(exam)}")
    elif grading:
        lines.append(f"{GRADING} (evaluation): {grading}; its exam: {exam_said(exams.eval)}")
    if lines:
        lines.append("verifier: checks keyed answers (math, multiple choice) against their references; no judge")
    return lines


def short(spec: str | None, labeling: str | None) -> str:
    """A spec met in a file (an audit, a red-team summary) as the report's short name for it."""
    if spec and spec == labeling:
        return LABELING
    return str(spec) if spec else "judge"


def study_judge_lines(study: dict) -> list[str]:
    """A study root: each labeler's labeling judge under the labeler's name, then the grading judge once."""
    labelers = study["labelers"]
    specs = {name: str(s.get("labeling_judge") or "unknown") for name, s in labelers.items()}
    lines = []
    for name, s in labelers.items():
        qualified = {True: "qualified on its exam", False: "NOT qualified on its exam", None: "not examined"}[s.get("labeling_judge_qualified")]
        own = (s.get("grading") or {}).get("same_model_as_labeling_judge")
        graded = "graded by the same model (not independent of its labels)" if own else "graded by the grading judge"
        lines.append(f"labeler {name}: {specs[name]}, {_kind(specs[name])}, {qualified}; {graded}")
    graders = {str((s.get("grading") or {}).get("judge", "n/a")) for s in labelers.values()}
    for grader in sorted(graders):
        same = [name for name, spec in specs.items() if spec == grader]
        said = f"the same model as labeler {', '.join(same)}" if same else f"{grader}, {_kind(grader)}"
        lines.append(f"{GRADING} (evaluation{', every labeler' if len(graders) == 1 else ''}): {said}")
    lines.append("verifier: checks keyed answers (math, multiple choice) against their references; no judge")
    return lines
