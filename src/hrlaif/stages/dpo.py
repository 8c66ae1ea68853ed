"""dpo-MODE: the policy trained directly on the arm's RM pairs with TRL's DPOTrainer ->
RUN/dpo-MODE/policy, the arm 'dpo-MODE'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import write_json
from hrlaif.manifest import StageRecord
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.stages.reward_model import arm_pairs, pairs_needs, pairs_upstream, release_engines


@dataclass(frozen=True)
class DPO(Stage):
    mode: str = "hrlaif"

    @property
    def name(self) -> str:
        return RunDir.dpo_stage(self.mode)

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return pairs_needs(ctx.config, self.mode)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        return fingerprint(self.name, *pairs_upstream(ctx, self.mode, upstream), c.policy.fingerprint_view(generation=False), c.dpo.fingerprint_view(), c.seed)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.policy(self.name)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.train.dpo import train_dpo  # torch, transformers, trl

        c = ctx.config
        release_engines()
        pairs, counts = arm_pairs(ctx, self.mode)
        summary = train_dpo(pairs, c.policy.path, c.dpo, ctx.run_dir.stage(self.name), seed=c.seed, max_length=c.policy.max_length)
        write_json(ctx.run_dir.training_summary(self.name), summary)
        record.counts = {"steps": summary["steps"], **counts}
        record.extra = {"summary": summary}
