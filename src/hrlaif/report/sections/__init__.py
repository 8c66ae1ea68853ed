"""A report's sections, in the order the page shows them: each a title and table rows (header first)."""

from __future__ import annotations

from hrlaif.report.inputs import Exams
from hrlaif.report.judges import labeling_spec
from hrlaif.report.sections.best_of_n import best_of_n_sections
from hrlaif.report.sections.first import read_first, study_read_first
from hrlaif.report.sections.redteam import redteam_sections
from hrlaif.report.sections.run import (
    Section,
    audit_sections,
    cut_off_warnings,
    evaluation_sections,
    exam_sections,
    label_sections,
    ppo_sections,
    what_this_run_shows,
)
from hrlaif.report.sections.seeds import seed_sections
from hrlaif.report.sections.study import study_sections
from hrlaif.run_dir import RunDir

__all__ = ["Section", "report_sections"]


def report_sections(run: RunDir, results: dict | None, modes: list[str], exams: Exams) -> list[Section]:
    sections: list[Section] = [first for first in (study_read_first(run) or read_first(run, results), what_this_run_shows(run, results, exams)) if first]
    cut_off = cut_off_warnings(results) if results else []
    if cut_off:  # on the first screen, beside the accuracy it qualifies
        sections.append(("Warning: answers cut off at the length cap", [["warning"]] + [[w] for w in cut_off]))
    sections += best_of_n_sections(run)
    if results:  # the evaluation (and its plots) before the evidence behind it: exams, labels, audit
        sections += evaluation_sections(results, exams)
    sections += exam_sections(exams)
    sections += label_sections(run, modes, exams)
    labeling = labeling_spec(run, results, exams)
    sections += audit_sections(run, labeling)
    sections += redteam_sections(run, exams, labeling)
    sections += seed_sections(run)
    sections += study_sections(run)
    sections += ppo_sections(run, modes)
    return sections
