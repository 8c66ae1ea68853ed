"""Sampling K responses per prompt from a policy: the raw material of every label."""

from __future__ import annotations

from hrlaif.config import GenerationConfig, ModelConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import chat_prompt, damaged_model, generate_responses, load_causal_lm, load_tokenizer, resolve_model
from hrlaif.records import Prompt, Sample
from hrlaif.serving import OpenAIPolicy, VllmPolicy


def context_length(model, max_length: int) -> int:
    """Tokens a sequence may hold: policy.max_length, or the model's own positions if fewer
    (`model`: a model or its config)."""
    positions = getattr(getattr(model, "config", model), "max_position_embeddings", None)
    return min(max_length, positions) if isinstance(positions, int) and positions > 0 else max_length


def check_prompt_lengths(prompts: list[Prompt], chats: list[list[dict]], tokenizer, limit: int) -> None:
    """Refuse prompts that do not fit the context: cutting them would silently change the question."""
    if limit <= 0:
        raise HrlaifError(f"the context (policy.max_length or the model's positions) leaves no room for prompts after max_new_tokens (room: {limit})")
    for prompt, chat in zip(prompts, chats):
        n = len(tokenizer(chat_prompt(tokenizer, chat), add_special_tokens=False)["input_ids"])
        if n > limit:
            raise HrlaifError(
                f"{prompt.where}: prompt '{prompt.id}' is {n} tokens, more than the {limit} that fit "
                f"(the context, min(policy.max_length, the model's positions), minus max_new_tokens); shorten it"
            )


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
    backend: ModelConfig | None = None,
) -> list[Sample]:
    """`num_samples` responses to each prompt, in prompt order. Sample k of every prompt is drawn
    in pass k with seed `seed + k`, so raising `num_samples` keeps the samples drawn before. A
    response cut off at max_new_tokens is marked `truncated`. `backend` (a `policy` section) may
    send the generation to a serving engine (`policy.backend`, hrlaif.serving); None or
    "transformers": transformers in this process."""
    kind = backend.backend if backend is not None else "transformers"
    tokenizer = load_tokenizer(policy)
    chats = [[m.model_dump() for m in p.messages] for p in prompts]
    if kind == "transformers":
        model = load_causal_lm(policy)
        max_length = context_length(model, max_length)
    else:
        from transformers import AutoConfig

        with damaged_model(policy, "a model config"):
            max_length = context_length(AutoConfig.from_pretrained(resolve_model(policy)), max_length)
    check_prompt_lengths(prompts, chats, tokenizer, max_length - generation.max_new_tokens)
    if kind == "openai":
        engine = OpenAIPolicy(backend.server)
    elif kind == "vllm":
        engine = VllmPolicy(policy, backend.server, seed=seed)
    texts = [chat_prompt(tokenizer, chat) for chat in chats]  # the same rendering as encode_prompts
    samples: list[Sample] = []
    by_pass = []
    for k in range(num_samples):
        if kind != "transformers":
            by_pass.append(engine.generate(texts, generation, seed=seed + k, desc=f"{desc} {k + 1}/{num_samples} ({kind})"))
            continue
        responses = generate_responses(
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
            generated = by_pass[k][i]
            samples.append(Sample.of(prompt, generated.text, sample_index=k, policy=policy_name or str(policy),
                                     truncated=generated.truncated))
    return samples
