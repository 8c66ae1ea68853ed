"""PPO's update runs each minibatch on the columns its rows need (`ppo.minibatch_window`): the
log-probs and values of every real token are those of the full-width forward, and no column of
an update forward is padding in every row."""

from __future__ import annotations

import torch

from hrlaif.models import encode_prompts, load_causal_lm, load_reward_model, load_tokenizer
from hrlaif.train import ppo

from support.ppo import PROMPTS, run, tiny_config
from support.ppo import one_thread as one_thread  # fixtures shared with test_ppo
from support.ppo import reward_model_path as reward_model_path


def test_window_hand_computed():
    attention = torch.tensor([[0, 0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0, 0]])
    responses = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    assert ppo.minibatch_window(attention, responses, context_length=4) == (1, 2)
    assert ppo.minibatch_window(attention[:1], responses[:1], context_length=4) == (2, 2)
    assert ppo.minibatch_window(attention[1:], responses[1:], context_length=4) == (1, 1)


def test_windowed_forward_equals_the_full_width_forward(tiny_model):
    tokenizer = load_tokenizer(tiny_model, padding_side="left")
    policy = load_causal_lm(tiny_model).eval()
    critic = ppo.Critic(load_reward_model(tiny_model).eval())
    chats = [[m.model_dump() for m in p.messages] for p in PROMPTS]
    query = encode_prompts(tokenizer, chats, 64)
    context = query["input_ids"].shape[1]
    rows = query["attention_mask"].sum(dim=1).argsort()[:2]  # the two shortest prompts: shared left padding
    # Responses of 9 or 6 tokens (eos last) in a width of 10, and of 3 and 2 for the two rows.
    generator = torch.Generator().manual_seed(0)
    responses = torch.randint(3, policy.config.vocab_size, (len(PROMPTS), 10), generator=generator)
    lengths = torch.tensor([9, 6] * len(PROMPTS))[: len(PROMPTS)]
    lengths[rows] = torch.tensor([3, 2])
    for row, length in enumerate(lengths.tolist()):
        responses[row, length - 1] = tokenizer.eos_token_id
    mask, _, _ = ppo.response_mask(responses, tokenizer.eos_token_id)
    responses = responses.masked_fill(~mask, tokenizer.pad_token_id)
    sequences = torch.cat([query["input_ids"], responses], dim=1)
    attention = torch.cat([query["attention_mask"], mask.long()], dim=1)

    first, width = ppo.minibatch_window(attention[rows], mask[rows], context)
    assert first > 0 and width < responses.shape[1], "the window must actually cut columns"
    with torch.no_grad():
        full_logp = ppo.logprobs_from_logits(ppo._response_logits(policy, sequences[rows], attention[rows], context, 1.0), responses[rows])
        full_values = ppo._response_values(critic, sequences[rows], attention[rows], context)
        cut_seq, cut_att = sequences[rows, first : context + width], attention[rows, first : context + width]
        cut_logp = ppo.logprobs_from_logits(ppo._response_logits(policy, cut_seq, cut_att, context - first, 1.0), responses[rows, :width])
        cut_values = ppo._response_values(critic, cut_seq, cut_att, context - first)
    real = mask[rows, :width]
    assert real.sum() > 2
    assert (cut_logp - full_logp[:, :width]).abs()[real].max() < 1e-5
    assert (cut_values - full_values[:, :width]).abs()[real].max() < 1e-5
    assert full_logp[:, :width][real].std() > 0.1  # the log-probs vary, so equality is not trivial
    assert not mask[rows, width:].any(), "every cut response column is padding in both rows"


def test_update_forwards_carry_no_all_padding_column(tiny_model, reward_model_path, tmp_path, monkeypatch):
    """A PPO run with one-prompt minibatches: each update forward starts at its row's first token
    and ends at its last response token, although the rollout is padded to the longest of four."""
    widths: list[tuple[int, int]] = []
    original = ppo._response_logits

    def recorded(model, sequences, attention_mask, *a, **kw):
        if torch.is_grad_enabled():  # the update's forwards
            assert attention_mask[:, 0].any() and attention_mask[:, -1].any(), attention_mask
            widths.append(tuple(sequences.shape))
        return original(model, sequences, attention_mask, *a, **kw)

    monkeypatch.setattr(ppo, "_response_logits", recorded)
    run(tiny_config(steps=1, mini_batch_size=1, ppo_epochs=1), tiny_model, reward_model_path, tmp_path / "ppo")
    assert len(widths) == 4 and len({w[1] for w in widths}) > 1, widths  # the prompts differ in length
