"""report.md and report.html from a run directory: tables with n and intervals, and plots.

Everything is read back from the files the stages wrote, so a report can be rebuilt at any
time and always shows what the run really produced.

- `basis`: which judge tasks each figure rests on, and whether the judge exam lets it mean something
- `inputs`: what a report reads from the run directory (results, metrics, arms, the exams once)
- `cells`: the text of one table cell
- `judges`: each judge defined once at the top under a short name the tables use
- `sections`: what each section's rows say (one run; red teaming; seeds; a study)
- `plots`: the figures, written atomically
- `render`: markdown and HTML tables and the page
"""

from __future__ import annotations

from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.evaluate.headline import run_headline
from hrlaif.jsonl import atomic_path, write_json
from hrlaif.report.inputs import check_stages, modes, read_exams, read_json
from hrlaif.report.judges import judge_lines, study_judge_lines
from hrlaif.report.plots import draw_plots
from hrlaif.report.render import html_page, markdown
from hrlaif.report.sections import report_sections
from hrlaif.run_dir import RunDir

__all__ = ["write_report"]


def write_report(run_dir: Path) -> Path:
    """Write run_dir/report/report.md, report.html and headline.json (the numbers "Read first"
    stands on: a study's from RUN/study.json); returns the html path."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    if not run_dir.is_dir():
        raise HrlaifError(f"{run_dir}: run directory not found")
    if not any(p.is_file() for p in run_dir.glob("*/*") if p.parent.name != run.report.name and not p.parent.name.startswith(".")):
        raise HrlaifError(f"{run_dir}: nothing to report yet (no stage has run here)")
    check_stages(run)  # before report/ is made: nothing written for a stale stage
    run.report.mkdir(parents=True, exist_ok=True)
    results = read_json(run.eval_results)
    arms = modes(run)
    exams = read_exams(run)
    figures = draw_plots(run, results, arms, exams)
    sections = report_sections(run, results, arms, exams)
    study = read_json(run.study_summary)
    judges = study_judge_lines(study) if study else judge_lines(run, results, exams)
    with atomic_path(run.report_md) as tmp:
        tmp.write_text(markdown(run_dir, sections, figures, judges), encoding="utf-8")
    with atomic_path(run.report_html) as tmp:
        tmp.write_text(html_page(run_dir, sections, figures, judges), encoding="utf-8")
    headline = (study or {}).get("headline") or run_headline(run_dir)
    if headline:  # the numbers of "Read first", for scripts and bench/results
        write_json(run.headline, headline)
    return run.report_html
