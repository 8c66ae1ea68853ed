"""What a report reads from a run directory: stage results, PPO metrics, the arms and the judge exams.

Everything is read back from the files the stages wrote (found through `RunDir`), so a report
can be rebuilt at any time and always shows what the run really produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hrlaif.judge.qualify import grading_exam
from hrlaif.manifest import require_complete
from hrlaif.run_dir import ALL_MODES, RunDir


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_metrics(path: Path) -> list[dict]:
    """The rows of a PPO metrics.jsonl (none when the arm did not run PPO)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def modes(run: RunDir) -> list[str]:
    """The arms this run labeled or trained (none in a study or seeds root)."""
    return [m for m in ALL_MODES if run.stage(RunDir.ppo_stage(m)).is_dir() or run.stage(RunDir.label_stage(m)).is_dir()]


@dataclass(frozen=True)
class Exams:
    """The run's judge exams, read once per report: None where that judge was not examined."""

    label: dict | None
    eval: dict | None

    def grading(self, results: dict) -> dict | None:
        """The exam of the judge that graded an evaluation (results.json)."""
        return self.label if grading_exam(results.get("grading", {})) == "label" else self.eval


def read_exams(run: RunDir) -> Exams:
    return Exams(label=read_json(run.exam("label")), eval=read_json(run.exam("eval")))


def check_stages(run: RunDir) -> None:
    """Refuse a stage result the report would show as figures when its stage is not complete: a
    file left by a killed re-run is the previous run's. The error names the command that (re)makes it."""
    stage_files = ((run.eval_results, "hrlaif evaluate"), (run.redteam_summary, "hrlaif redteam"),
                   *((run.reward_summary(m), f"hrlaif train-rm --mode {m}") for m in ALL_MODES))
    for path, command in stage_files:
        if path.is_file():
            require_complete(path.parent, command)
    if run.best_of_n_results.is_file():
        require_complete(run.best_of_n_results.parent, "hrlaif best-of-n")
