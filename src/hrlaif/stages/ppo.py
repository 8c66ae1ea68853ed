"""ppo-MODE: the policy optimised against the arm's reward model with PPO -> RUN/ppo-MODE/policy
(resumes from its checkpoints when only the step count or checkpoint interval changed)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint, results_view
from hrlaif.manifest import StageRecord
from hrlaif.prompts import load_prompts
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.stages.reward_model import processes, release_engines
from hrlaif.stages.sample import prompts_stamp
from hrlaif.train.trackers import run_name


@dataclass(frozen=True)
class PPO(Stage):
    mode: str = "hrlaif"

    @property
    def name(self) -> str:
        return RunDir.ppo_stage(self.mode)

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return (RunDir.rm_stage(self.mode),)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        return fingerprint(self.name, upstream(RunDir.rm_stage(self.mode)), c.policy.fingerprint_view(generation=False), results_view(c.ppo),
                           c.data.max_train_prompts, prompts_stamp(ctx, "train"), c.seed, *processes())

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.policy(self.name)

    def prepare(self, ctx: StageContext) -> None:
        """Checkpoints may be resumed by a run that only asks for more steps (or checkpoints more
        often): those two settings are left out of the checkpoints' fingerprint, which stays as
        it was (no process count). Any other change makes them someone else's: discarded."""
        c = ctx.config
        section = results_view(c.ppo)
        for resumable in ("steps", "checkpoint_every"):
            del section[resumable]
        resumable = fingerprint(self.name, ctx.upstream(RunDir.rm_stage(self.mode)), c.policy.fingerprint_view(generation=False), section,
                                c.data.max_train_prompts, prompts_stamp(ctx, "train"), c.seed)
        folder = ctx.run_dir.stage(self.name)
        marker = ctx.run_dir.ppo_checkpoint_marker(self.mode)
        if marker.is_file() and marker.read_text().strip() != resumable:
            ctx.console.print(f"[yellow]{self.name}: config changed, discarding old checkpoints[/]")
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(resumable)

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        c = ctx.config
        release_engines()
        from hrlaif.train.ppo import train_ppo  # torch, transformers, trl

        prompts = load_prompts(c.data.train_prompts, c.data.max_train_prompts, c.data, "train")
        summary = train_ppo(
            c.ppo, policy_path=c.policy.path, reward_model_path=str(ctx.run_dir.reward_model(self.mode)),
            prompts=prompts, out_dir=ctx.run_dir.stage(self.name), seed=c.seed, max_length=c.policy.max_length,
            tracking=c.tracking, run_name=run_name(c.tracking, c.run_dir, self.name),
        )
        record.counts = {"steps": summary.get("steps")}
        record.extra = {"summary": summary}
