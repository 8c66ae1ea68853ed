"""Old log-probs from `generate`'s own logits (issue 11): equal to a separate policy forward's
where the sampling settings allow it, and the forward is kept where they do not."""

from __future__ import annotations

import pytest
import torch

from hrlaif.config import GenerationConfig
from hrlaif.models import encode_prompts, load_causal_lm, load_tokenizer
from hrlaif.train import ppo

from support.ppo import PROMPTS, tiny_config
from support.ppo import one_thread as one_thread  # fixtures shared with test_ppo
from support.ppo import reward_model_path as reward_model_path


def test_generation_logits_give_the_forwards_logprobs(tiny_model):
    tokenizer = load_tokenizer(tiny_model, padding_side="left")
    model = load_causal_lm(tiny_model).eval()
    chats = [[m.model_dump() for m in p.messages] for p in PROMPTS]
    query = encode_prompts(tokenizer, chats, 64)
    assert (query["attention_mask"] == 0).any(), "prompts of different lengths, so left padding is exercised"
    context = query["input_ids"].shape[1]
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            **query, max_new_tokens=12, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True, output_logits=True,
        )  # fmt: skip
        responses = out.sequences[:, context:]
        mask, _, _ = ppo.response_mask(responses, tokenizer.eos_token_id)
        responses = responses.masked_fill(~mask, tokenizer.pad_token_id)
        sequences = torch.cat([query["input_ids"], responses], dim=1)
        attention = torch.cat([query["attention_mask"], mask.long()], dim=1)
        from_generation = ppo.logprobs_from_logits(torch.stack(out.logits, dim=1), responses)
        from_forward = ppo.logprobs_from_logits(ppo._response_logits(model, sequences, attention, context, 1.0), responses)
    assert mask.sum() > len(PROMPTS)  # more than one kept token per response
    diff = (from_generation - from_forward).abs()[mask]
    assert diff.max() < 1e-4, diff.max()
    assert from_forward[mask].std() > 0.1  # the log-probs vary, so equality is not trivial


def test_only_plain_sampling_reuses_the_generation_logits():
    assert ppo.sampler_logits_usable(GenerationConfig(temperature=1.0, top_p=1.0))
    assert not ppo.sampler_logits_usable(GenerationConfig(temperature=0.7, top_p=1.0))
    assert not ppo.sampler_logits_usable(GenerationConfig(temperature=1.0, top_p=0.9))
    assert not ppo.sampler_logits_usable(GenerationConfig(temperature=0.0, top_p=1.0))  # greedy


@pytest.mark.parametrize(("temperature", "top_p", "rollout_forwards"), [(1.0, 1.0, 0), (0.7, 1.0, 1), (1.0, 0.9, 1)])
def test_rollout_runs_a_policy_forward_only_when_it_must(tiny_model, reward_model_path, tmp_path, monkeypatch, temperature, top_p, rollout_forwards):
    """One PPO step: the update's forwards (2 epochs x 2 minibatches), the reference's (a separate
    model here, no LoRA), and the old log-probs' forward only off plain sampling."""
    calls: list[int] = []
    original = ppo._response_logits

    def counted(model, sequences, *a, **kw):
        calls.append(sequences.shape[0])
        return original(model, sequences, *a, **kw)

    monkeypatch.setattr(ppo, "_response_logits", counted)
    config = tiny_config(steps=1, generation=GenerationConfig(max_new_tokens=6, temperature=temperature, top_p=top_p))
    ppo.train_ppo(config, policy_path=str(tiny_model), reward_model_path=str(reward_model_path), prompts=PROMPTS, out_dir=tmp_path, max_length=128)
    full_batch = [n for n in calls if n == config.batch_size]  # rollout forwards; the update's take minibatches
    assert len(full_batch) == 1 + rollout_forwards, calls  # the reference, plus the old log-probs' forward
    assert len(calls) - len(full_batch) == config.ppo_epochs * config.batch_size // config.mini_batch_size
