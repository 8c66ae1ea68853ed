"""best-of-n-sample and best-of-n (issue 29): K samples of the start policy on held-out keyed prompts
(best_of_n.prompts) -> RUN/best-of-n-sample/samples.jsonl; then each arm's RM (rm-MODE, every mode
of the run) picks among them, graded by the verifier, against a random, the oracle and the longest
pick, with pairwise accuracy on the shared decidable pairs and the headline -> RUN/best-of-n/results.json.

Sampling is a stage of its own: a changed RM re-scores the samples without drawing them again, and
a study's labelers share them (same policy, prompts, settings and seed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import read_jsonl, write_json, write_jsonl
from hrlaif.manifest import StageRecord
from hrlaif.prompt_sources import source_stamp
from hrlaif.prompts import load_prompts, prompt_file
from hrlaif.records import KEYED_CATEGORIES, Sample
from hrlaif.run_dir import RunDir
from hrlaif.stages.base import Stage, StageContext, Upstream
from hrlaif.stages.power import design_power
from hrlaif.stages.reward_model import release_engines


def prompts_stamp(ctx: StageContext) -> str:
    spec = ctx.config.best_of_n.prompts
    return source_stamp(spec, prompt_file(spec), ctx.config.data, "eval")


@dataclass(frozen=True)
class BestOfNSample(Stage):
    name: str = RunDir.BEST_OF_N_SAMPLE_STAGE

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        return fingerprint(self.name, c.policy.fingerprint_view(), c.best_of_n.fingerprint_view(), prompts_stamp(ctx), c.seed)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.best_of_n_samples

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.sampling import sample_responses  # torch: loaded when the stage runs

        c, b = ctx.config, ctx.config.best_of_n
        read = load_prompts(b.prompts, b.max_prompts, c.data, "eval")
        prompts = [p for p in read if p.category in KEYED_CATEGORIES]
        samples = sample_responses(prompts, c.policy.path, b.generation, num_samples=b.num_samples, seed=c.seed,
                                   max_length=c.policy.max_length, policy_name="start", desc="best-of-n sampling", backend=c.policy)
        write_jsonl(self.output(ctx), samples)
        record.counts = {"prompts": len(prompts), "skipped_not_keyed": len(read) - len(prompts), "samples": len(samples),
                         "cut_off": sum(s.truncated for s in samples)}
        record.compute["generation_backend"] = c.policy.backend


@dataclass(frozen=True)
class BestOfN(Stage):
    modes: tuple[str, ...] = ("rlaif", "hrlaif")
    name: str = RunDir.BEST_OF_N_STAGE

    def needs(self, ctx: StageContext) -> tuple[str, ...]:
        return (RunDir.BEST_OF_N_SAMPLE_STAGE, *(RunDir.rm_stage(m) for m in self.modes))

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        samples = upstream(RunDir.BEST_OF_N_SAMPLE_STAGE, hint="run `hrlaif best-of-n` (it samples first)")
        rms = [upstream(RunDir.rm_stage(m), hint=f"run `hrlaif train-rm --mode {m}` first") for m in self.modes]
        return fingerprint(self.name, samples, rms,
                           c.best_of_n.fingerprint_view(), c.policy.fingerprint_view(generation=False), c.evaluate.confidence, c.seed)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.best_of_n_results

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.evaluate.best_of_n import rerank  # torch: loaded when the stage runs

        c = ctx.config
        release_engines()
        samples = read_jsonl(ctx.run_dir.best_of_n_samples, Sample)
        results = rerank(samples, {m: ctx.run_dir.reward_model(m) for m in self.modes}, max_length=c.policy.max_length,
                         confidence=c.evaluate.confidence, seed=c.seed)
        results["design_power"] = design_power(c).get("best_of_n")
        write_json(self.output(ctx), results)
        top = results["curve"][-1]
        record.counts = {"prompts": results["prompts"], "samples_per_prompt": results["k"], "decidable_pairs": results["pairs"], **results["samples"]}
        record.extra = {"headline": results["headline"],
                        "accuracy": {name: pick["accuracy"]["rate"] for name, pick in top["rms"].items()}
                        | {picker: top[picker]["accuracy"]["rate"] for picker in ("random", "oracle", "longest")}}
