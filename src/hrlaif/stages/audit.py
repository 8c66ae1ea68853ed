"""The label audit `run` writes after the labels and before any training (no stage folder, no
manifest: it is recomputed each time from the labels) -> RUN/audit/audit.json; it prints each
arm's label quality (agreement with the verifier, labels changed from RLAIF's) as it goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json
from hrlaif.labeling.audit import audit_run, label_quality_lines
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import StageContext, Step


def write_audit(run_dir: Path, confidence: float = 0.95) -> tuple[Path, dict]:
    """Audit the labels of every arm in `run_dir` -> RUN/audit/audit.json."""
    if not Path(run_dir).is_dir():
        raise HrlaifError(f"{run_dir}: run directory not found")
    report = audit_run(Path(run_dir), confidence)
    if not report:
        raise HrlaifError(f"{run_dir}: no labels to audit; run `hrlaif label` first")
    path = RunDir(run_dir).audit
    write_json(path, report)
    return path, report


@dataclass(frozen=True)
class Audit(Step):
    def run(self, ctx: StageContext) -> Path:
        ctx.console.print("[bold cyan]audit[/]")
        path, report = write_audit(ctx.run_dir.root, ctx.config.evaluate.confidence)
        ctx.console.print("label quality before training:", highlight=False)
        for line in label_quality_lines(report):
            ctx.console.print(line, highlight=False, soft_wrap=True)
        return path
