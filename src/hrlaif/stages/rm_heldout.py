"""rm-heldout: every arm's RM scored on one shared held-out set of gold pairs (issue 25, item 10),
and on its own held-out pairs per route -> RUN/rm-heldout/results.json.

The RMs' own held-out accuracies compare different sets of pairs against different labels; this
stage gives the figure that compares RMs (`evaluate.rm_heldout`). It scores, it trains nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import read_jsonl, write_json
from hrlaif.labeling.rm_data import read_rm_summary
from hrlaif.manifest import StageRecord
from hrlaif.records import RedteamPair, Sample
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.stages.reward_model import arm_pairs, release_engines, uses_redteam


def _redteam(ctx: StageContext, modes: tuple[str, ...]) -> bool:
    return any(uses_redteam(ctx.config, m) for m in modes)


@dataclass(frozen=True)
class RMHeldout(Stage):
    modes: tuple[str, ...] = ("rlaif", "hrlaif")
    name: str = RunDir.RM_HELDOUT_STAGE

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return ("sample", *(RunDir.rm_stage(m) for m in self.modes), *(("redteam",) if _redteam(ctx, self.modes) else ()))

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        found = [upstream(n, hint=f"run `hrlaif {'train-rm' if n.startswith('rm-') else n}` first") for n in self.needs(ctx)]
        return fingerprint(self.name, found, c.reward.eval_fraction, c.policy.fingerprint_view(generation=False), c.evaluate.confidence, c.seed)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.rm_heldout_results

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.evaluate.rm_heldout import score_heldout  # torch: loaded when the stage runs

        c, run = ctx.config, ctx.run_dir
        release_engines()
        arms = {m: {"pairs": arm_pairs(ctx, m)[0], "summary": read_rm_summary(run.reward_summary(m)), "model": run.reward_model(m)}
                for m in self.modes}
        redteam = read_jsonl(run.redteam_pairs, RedteamPair) if _redteam(ctx, self.modes) else []
        results = score_heldout(arms, read_jsonl(run.samples, Sample), redteam, eval_fraction=c.reward.eval_fraction, seed=c.seed,
                                max_length=c.policy.max_length, confidence=c.evaluate.confidence)
        write_json(self.output(ctx), results)
        shared = results["shared"]
        record.counts = {"shared_pairs": shared["pairs"], "prompts_trained_on": shared["prompts_trained_on"],
                         "own_heldout_pairs": {m: f["all"]["n"] for m, f in results["own_heldout"].items()}}
        record.extra = {"shared_accuracy": {m: f["all"]["rate"] for m, f in shared["by_rm"].items()}}
