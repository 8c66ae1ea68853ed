"""judge-check[-eval]: a judge examined on known-answer items per task (`hrlaif.judge.qualify`)
-> RUN/judge-check[-eval]/result.json; the report marks figures resting on a task that did not
qualify, and `require_qualified` stops a run on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json
from hrlaif.judge.qualify import qualify_judge
from hrlaif.judge.role import LABEL, JudgeRole
from hrlaif.judge.templates import load_templates
from hrlaif.manifest import StageRecord
from hrlaif.report.console import exam_table
from hrlaif.stages.base import Stage, StageContext, Step, Upstream, file_hash


@dataclass(frozen=True)
class JudgeCheck(Stage):
    role: JudgeRole = LABEL

    @property
    def name(self) -> str:
        return self.role.exam_stage

    def judged(self, ctx: StageContext) -> bool:
        return self.role is LABEL

    def rule(self, ctx: StageContext) -> dict:
        """Preference is graded by the rule its verdicts are used with: labeling's, or the win
        ratio's (no soft labels, no margin)."""
        c = ctx.config
        return {"soft_labels": c.label.soft_labels, "tie_margin": c.label.tie_margin} if self.role is LABEL else {"soft_labels": False, "tie_margin": 0.0}

    def before(self, ctx: StageContext) -> None:
        """An exam written before the grade was of the raw verdicts (no "graded" key: it graded
        calibrated verdicts the pipeline never used) is re-run, from the judge's cache; its
        fingerprint is unchanged, so the manifest is what goes."""
        result = self.output(ctx)
        if result.is_file() and "graded" not in json.loads(result.read_text(encoding="utf-8")):
            ctx.console.print(f"[yellow]{self.name}: {result} graded calibrated verdicts that labeling and evaluation never use; "
                              "grading the raw verdicts again (from the judge's cache)[/]")
            ctx.run_dir.manifest(self.name).unlink(missing_ok=True)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        judge_config = self.role.config(c)
        exam = file_hash(c.judge_check.exam) if c.judge_check.exam is not None else "bundled"
        # `enabled` only decides whether run examines the judge: not part of the exam's result
        return fingerprint(self.name, self.role.fingerprint_view(c), judge_config.model_dump(include={"constrain", "extra_body", "reasoning", "permute_labels"}),
                           c.judge_check.model_dump(exclude={"enabled"}), exam, load_templates(judge_config.templates_dir).fingerprint(), c.seed, self.rule(ctx))

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.exam(self.role.name)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        result = qualify_judge(ctx.judge(self.role), ctx.config.judge_check, desc=f"judge exam ({self.role.name})", **self.rule(ctx))
        write_json(self.output(ctx), result)
        ctx.console.print(exam_table(result))
        record.counts = {"tasks": len(result["tasks"]), "qualified_tasks": sum(t["qualified"] for t in result["tasks"].values())}
        record.extra = {"qualified": result["qualified"]}


def require_qualified(ctx: StageContext, role: JudgeRole) -> None:
    """With `require_qualified` in the role's judge config, stop unless its exam (run now if it
    has not run) qualified it on every task."""
    if not role.config(ctx.config).require_qualified:
        return
    result = json.loads(ctx.run_stage(JudgeCheck(role)).read_text(encoding="utf-8"))
    failed = {task: r.get("reason", "") for task, r in result["tasks"].items() if not r["qualified"]}
    if failed:
        raise HrlaifError(
            f"{role.key}.require_qualified: the judge '{result['judge']}' did not qualify on "
            + "; ".join(f"{task} ({why})" for task, why in failed.items())
            + f"; see {ctx.run_dir.exam(role.name)}"
        )


def implied_exam(ctx: StageContext, role: JudgeRole) -> list[Stage]:
    """The exam `require_qualified` runs for `role`, if its config asks for it."""
    return [JudgeCheck(role)] if role.config(ctx.config).require_qualified else []


@dataclass(frozen=True)
class Qualified(Step):
    """The gate of `run`: stop before sampling when the labeling judge must qualify and did not."""

    role: JudgeRole = LABEL

    def implies(self, ctx: StageContext) -> list[Stage]:
        return implied_exam(ctx, self.role)

    def run(self, ctx: StageContext) -> None:
        require_qualified(ctx, self.role)
