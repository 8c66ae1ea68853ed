"""sample: K responses per train prompt from the start policy -> RUN/sample/samples.jsonl."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.jsonl import write_jsonl
from hrlaif.manifest import StageRecord
from hrlaif.prompt_sources import source_stamp
from hrlaif.prompts import load_prompts, prompt_file
from hrlaif.stages.base import Stage, StageContext, Upstream


def prompts_stamp(ctx: StageContext, split: str) -> str:
    """The prompt source of `split` ('train' or 'eval') as a stage fingerprint sees it (a file's
    hash, as before, for our JSONL)."""
    data = ctx.config.data
    spec = data.train_prompts if split == "train" else data.eval_prompts
    return source_stamp(spec, prompt_file(spec), data, split)


@dataclass(frozen=True)
class Sample(Stage):
    name: str = "sample"

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        return fingerprint("sample", c.policy.fingerprint_view(), c.sample, c.data.max_train_prompts, prompts_stamp(ctx, "train"), c.seed)

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.samples

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.sampling import sample_responses  # torch: loaded when a stage runs, not by `hrlaif status`

        c = ctx.config
        prompts = load_prompts(c.data.train_prompts, c.data.max_train_prompts, c.data, "train")
        samples = sample_responses(
            prompts, c.policy.path, c.sample.generation, num_samples=c.sample.num_samples, seed=c.seed,
            max_length=c.policy.max_length, policy_name="start", backend=c.policy,
        )
        write_jsonl(self.output(ctx), samples)
        record.counts = {"prompts": len(prompts), "samples": len(samples)}
        record.compute["generation_backend"] = c.policy.backend
