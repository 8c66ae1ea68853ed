"""rm-MODE: the reward model trained on the arm's pairs (labels, plus red-team pairs for hrlaif
when red teaming is on) with TRL's RewardTrainer, or its score head alone on frozen features
(reward.method: head) -> RUN/rm-MODE/model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import RunConfig, fingerprint, results_view
from hrlaif.jsonl import write_json
from hrlaif.manifest import StageRecord
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.train.ranks import world_size
from hrlaif.train.trackers import run_name


def uses_redteam(config: RunConfig, mode: str) -> bool:
    return mode == "hrlaif" and config.redteam.enabled


def pairs_needs(config: RunConfig, mode: str) -> tuple[str, ...]:
    """The stages an arm's pairs come from: its labels, and red teaming where used."""
    return (RunDir.label_stage(mode), "redteam") if uses_redteam(config, mode) else (RunDir.label_stage(mode),)


def pairs_upstream(ctx: StageContext, mode: str, upstream: Upstream) -> list:
    """What an arm's pairs (RM or DPO data) depend on: its labels, and red teaming where used
    with its share cap (applied here, not in the redteam stage)."""
    found: list = [upstream(RunDir.label_stage(mode))]
    if uses_redteam(ctx.config, mode):
        fp = upstream("redteam", hint="run `hrlaif redteam` first, or set redteam.enabled=false")
        found.append({"redteam": fp, "max_share": ctx.config.redteam.max_share})
    return found


def arm_pairs(ctx: StageContext, mode: str) -> tuple[list, dict]:
    """The arm's RM/DPO pairs and their counts."""
    from hrlaif.labeling.rm_data import rm_pairs  # torch: loaded when a training stage runs

    redteam = ctx.run_dir.redteam_pairs if uses_redteam(ctx.config, mode) else None
    return rm_pairs(ctx.run_dir.labels(mode), redteam, ctx.config.redteam.max_share)


def processes() -> list:
    """The process count as training fingerprints see it: nothing for one process (fingerprints of
    single-process runs stay as they were), else the count, since N processes train on N times the
    batch and a stage finished under another count is not this run's result."""
    return [] if world_size() == 1 else [{"processes": world_size()}]


def release_engines() -> None:
    """Free the GPU memory a vLLM engine of an earlier stage holds: training needs it."""
    from hrlaif.serving import release_engines as release  # torch

    release()


@dataclass(frozen=True)
class RewardModel(Stage):
    mode: str = "hrlaif"

    @property
    def name(self) -> str:
        return RunDir.rm_stage(self.mode)

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return pairs_needs(ctx.config, self.mode)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        return fingerprint(self.name, *pairs_upstream(ctx, self.mode, upstream), c.policy.fingerprint_view(generation=False), results_view(c.reward), c.seed, *processes())

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.reward_model(self.mode)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        c = ctx.config
        release_engines()
        pairs, counts = arm_pairs(ctx, self.mode)
        if c.reward.method == "head":
            from hrlaif.train.reward_head import train_reward_head  # torch, transformers

            summary = train_reward_head(pairs, c.policy.path, c.reward, ctx.run_dir.stage(self.name), seed=c.seed, max_length=c.policy.max_length)
        else:
            from hrlaif.train.reward import train_reward_model  # torch, transformers, trl

            summary = train_reward_model(pairs, c.policy.path, c.reward, ctx.run_dir.stage(self.name), seed=c.seed, max_length=c.policy.max_length,
                                         tracking=c.tracking, run_name=run_name(c.tracking, c.run_dir, self.name))
        write_json(ctx.run_dir.reward_summary(self.mode), summary)
        record.counts = {"train_pairs": summary["train_pairs"], "heldout_pairs": summary["heldout_pairs"], **counts}
        record.extra = {"heldout_accuracy": summary["heldout_accuracy"]}
