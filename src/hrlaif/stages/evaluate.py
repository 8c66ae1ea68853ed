"""eval: every trained arm compared with the start policy on held-out prompts, graded by the
grading judge (`evaluate.judge`, else the labeling judge) -> RUN/eval/results.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import RunConfig, fingerprint
from hrlaif.data import bundled_path
from hrlaif.jsonl import write_json
from hrlaif.judge.role import EVAL, LABEL
from hrlaif.manifest import StageRecord
from hrlaif.prompts import load_prompts
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream, file_hash, judge_label
from hrlaif.stages.judge_check import implied_exam, require_qualified
from hrlaif.stages.sample import prompts_stamp


def arms(config: RunConfig, modes: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Arm name -> the stage holding its policy, per compare.algorithms: PPO arms keep the
    mode's name ('hrlaif'), DPO arms are 'dpo-MODE'."""
    algorithms = config.compare.algorithms
    return {arm: stage for m in modes for arm, stage in ((m, RunDir.ppo_stage(m)), (RunDir.dpo_stage(m), RunDir.dpo_stage(m)))
            if stage.split("-")[0] in algorithms}


def _folder_stamp(path: Path | None) -> list | None:
    """Names, sizes and mtimes of a model folder's files: a changed checkpoint re-runs its stage."""
    if path is None or not Path(path).is_dir():
        return None
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(path).iterdir() if p.is_file())


@dataclass(frozen=True)
class Evaluate(Stage):
    modes: tuple[str, ...] = ("rlaif", "hrlaif")
    name: str = "eval"

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return tuple(arms(ctx.config, self.modes).values())

    def judged(self, ctx: StageContext) -> bool:
        return not EVAL.separate(ctx.config)  # the labeling judge grades

    def implies(self, ctx: StageContext) -> list[Stage]:
        return implied_exam(ctx, EVAL)

    def before(self, ctx: StageContext) -> None:
        require_qualified(ctx, EVAL)

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        safety_inputs = [file_hash(bundled_path(n)) for n in ("attacks_eval", "toxicity_prompts")] + [_folder_stamp(c.evaluate.toxicity_classifier)]
        return fingerprint("eval", c.policy.fingerprint_view(), c.evaluate, c.data.eval_prompts, c.data.max_eval_prompts, prompts_stamp(ctx, "eval"),
                           EVAL.fingerprint_view(c), [upstream(stage) for stage in arms(c, self.modes).values()], c.seed, safety_inputs)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.eval_results

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.evaluate.arms import evaluate_arms  # torch: loaded when the stage runs

        c = ctx.config
        prompts = load_prompts(c.data.eval_prompts, c.data.max_eval_prompts, c.data, "eval")
        policies = {"start": c.policy.path} | {arm: str(ctx.run_dir.policy(stage)) for arm, stage in arms(c, self.modes).items()}
        # A server serves the start policy only; vLLM in-process loads any arm's folder.
        backends = {name: c.policy for name in policies if name == "start" or c.policy.backend == "vllm"}
        grader = ctx.judge(EVAL)
        results = evaluate_arms(policies, prompts, grader, c.evaluate, ctx.run_dir.eval, seed=c.seed,
                                max_length=c.policy.max_length, backends=backends)
        record.compute["generation_backend"] = {name: backends[name].backend if name in backends else "transformers" for name in policies}
        separate = EVAL.separate(c)
        results["grading"] = {
            "judge": grader.name,
            "labeling_judge": ctx.judge(LABEL).name if not separate else judge_label(c.judge),
            "separate_judge": separate,
            # A separate judge that is the same model as the labeler shares its biases: not independent.
            "same_model_as_labeling_judge": not separate or judge_label(c.evaluate.judge) == judge_label(c.judge),
            "independent_of_labels": separate and judge_label(c.evaluate.judge) != judge_label(c.judge),
            "note": "keyed prompts are graded by the verifier against their references in every case; the hrlaif and oracle arms' "
                    "labels used the same verifier",
        }
        write_json(self.output(ctx), results)
        record.counts = {"eval_prompts": len(prompts), "policies": len(policies), "attack_prompts": results["attack_prompts"]}
