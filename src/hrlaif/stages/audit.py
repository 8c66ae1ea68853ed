"""The label audit `run` writes between training and evaluation (no stage folder, no manifest:
it is recomputed each time from the labels) -> RUN/audit/audit.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json
from hrlaif.labeling.audit import audit_run
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
        return write_audit(ctx.run_dir.root, ctx.config.evaluate.confidence)[0]
