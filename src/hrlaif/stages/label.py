"""label-MODE: the samples turned into preference pairs by the AI judge (rlaif) or the hybrid
route of verifiers, refusal checks and the judge (hrlaif) -> RUN/label-MODE/pairs.jsonl."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import read_jsonl, write_jsonl
from hrlaif.judge.role import LABEL
from hrlaif.judge.templates import load_templates
from hrlaif.labeling.hybrid import label_hybrid
from hrlaif.labeling.rlaif import label_rlaif
from hrlaif.manifest import StageRecord
from hrlaif.records import Sample
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.stages.judge_check import implied_exam, require_qualified


def verdict_settings(ctx: StageContext) -> dict:
    """Judge settings beyond backend and model that change its verdicts: the templates (by
    content, so an edited template file relabels), how an answer is asked for and read."""
    j = ctx.config.judge
    return {"templates": load_templates(j.templates_dir).fingerprint(), "templates_dir": j.templates_dir, "constrain": j.constrain,
            "option_token_ids": j.option_token_ids, "extra_body": j.extra_body, "reasoning": j.reasoning,
            "reasoning_max_tokens": j.reasoning_max_tokens, "max_tokens": j.max_tokens, "permute_labels": j.permute_labels}


@dataclass(frozen=True)
class Label(Stage):
    mode: str = "hrlaif"

    @property
    def name(self) -> str:
        return f"label-{self.mode}"

    def implies(self, ctx: StageContext) -> list[Stage]:
        return implied_exam(ctx, LABEL)

    def before(self, ctx: StageContext) -> None:
        require_qualified(ctx, LABEL)

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return ("sample",)

    def judged(self, ctx: StageContext) -> bool:
        return True

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        # label.mode only picks the arm of `hrlaif label` without --mode: the arm is in the name
        return fingerprint(self.name, upstream("sample"), LABEL.fingerprint_view(c), verdict_settings(ctx), c.label.model_dump(exclude={"mode"}))

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.labels(self.mode)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        c = ctx.config
        samples = read_jsonl(ctx.run_dir.samples, Sample)
        if self.mode == "rlaif":
            pairs, record.counts = label_rlaif(samples, ctx.judge(LABEL), soft_labels=c.label.soft_labels, tie_margin=c.label.tie_margin)
        else:
            pairs, record.counts = label_hybrid(samples, ctx.judge(LABEL), c.label)
        write_jsonl(self.output(ctx), pairs)
