"""Sampling K responses per prompt from a policy: the raw material of every label."""

from __future__ import annotations

from hrlaif.config import GenerationConfig
from hrlaif.models import generate, load_causal_lm, load_tokenizer
from hrlaif.records import Prompt, Sample


def sample_responses(
    prompts: list[Prompt],
    policy: str,
    generation: GenerationConfig,
    *,
    num_samples: int = 1,
    seed: int = 0,
    max_length: int = 1024,
    policy_name: str | None = None,
    desc: str = "sampling",
) -> list[Sample]:
    """`num_samples` responses to each prompt, in prompt order; sample k of every prompt is
    drawn in the same pass so a run interrupted between passes loses at most one pass."""
    tokenizer = load_tokenizer(policy)
    model = load_causal_lm(policy)
    chats = [[m.model_dump() for m in p.messages] for p in prompts]
    samples: list[Sample] = []
    by_pass = []
    for k in range(num_samples):
        responses = generate(
            model,
            tokenizer,
            chats,
            max_new_tokens=generation.max_new_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            batch_size=generation.batch_size,
            max_length=max_length,
            seed=seed + k,
            desc=f"{desc} {k + 1}/{num_samples}",
        )
        by_pass.append(responses)
    for i, prompt in enumerate(prompts):
        for k in range(num_samples):
            samples.append(Sample.of(prompt, by_pass[k][i], sample_index=k, policy=policy_name or str(policy)))
    return samples
