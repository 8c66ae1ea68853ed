"""label-MODE: the samples turned into preference pairs by the AI judge (rlaif), the hybrid
route of verifiers, refusal checks and the judge (hrlaif), or the verifier alone (oracle, the
positive control: no judge) -> RUN/label-MODE/pairs.jsonl."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import read_jsonl, write_jsonl
from hrlaif.judge.role import LABEL
from hrlaif.judge.templates import load_templates
from hrlaif.labeling.hybrid import label_hybrid
from hrlaif.labeling.oracle import MIN_PAIRS, label_oracle, verifier_settings
from hrlaif.labeling.rlaif import label_rlaif
from hrlaif.manifest import StageRecord, read_manifest
from hrlaif.records import Sample
from hrlaif.run_dir import ORACLE, RunDir
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
        return RunDir.label_stage(self.mode)

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


@dataclass(frozen=True)
class OracleLabel(Stage):
    """label-oracle: the positive control's labels, from the verifier alone. It asks no judge, so
    neither the judge nor its exam is in its fingerprint: the samples and the verifier's settings."""

    name: str = RunDir.label_stage(ORACLE)

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return ("sample",)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        return fingerprint(self.name, upstream("sample"), verifier_settings())

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.labels(ORACLE)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        pairs, record.counts = label_oracle(read_jsonl(ctx.run_dir.samples, Sample))
        write_jsonl(self.output(ctx), pairs)


def untrainable_oracle(ctx: StageContext) -> dict | None:
    """The counts of finished oracle labels too few to train on (fewer than MIN_PAIRS), else None.
    The run then goes on without the oracle's training stages, and the report says why."""
    manifest = read_manifest(ctx.run_dir.stage(OracleLabel.name)) or {}
    counts = manifest.get("counts") or {}
    return counts if manifest.get("complete") and counts.get("pairs", MIN_PAIRS) < MIN_PAIRS else None


def modes_to_train(ctx: StageContext, modes: list[str] | tuple[str, ...], *, announce: bool = False) -> list[str]:
    """The arms whose labels can be trained on: all of `modes`, but the oracle when its finished
    labels hold fewer than MIN_PAIRS pairs (its prompts were out of the policy's reach); with
    `announce`, says so on the console before training starts."""
    counts = untrainable_oracle(ctx) if ORACLE in modes else None
    if counts is None:
        return list(modes)
    if announce:
        ctx.console.print(
            f"[bold yellow]positive control NOT TRAINED:[/] the oracle labels hold {counts.get('pairs')} pair(s) "
            f"({counts.get('decidable_prompts')} of {counts.get('keyed_prompts')} keyed prompts had a correct and a wrong "
            "sample): the keyed prompts are out of the policy's reach, so this run cannot detect an effect. The other arms go on; "
            "the report says so first. Prompts in reach: data.train_prompts=bundled:reach_train", highlight=False, soft_wrap=True)
    return [m for m in modes if m != ORACLE]


def label_stage(mode: str) -> Stage:
    """The label stage of arm `mode`."""
    return OracleLabel() if mode == ORACLE else Label(mode)
