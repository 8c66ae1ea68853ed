"""No dropout in PPO's forwards (issue 25, item 7): the ratio compares two forwards of the same
weights, so LoRA dropout (`ppo.lora.dropout > 0`) or a critic left in train mode would make the
ratio and the values noise."""

from __future__ import annotations

import json

import torch
from torch import nn

from hrlaif.config import GenerationConfig, LoraConfig
from hrlaif.train import ppo

from support.ppo import PROMPTS, tiny_config
from support.ppo import one_thread as one_thread  # fixtures shared with test_ppo
from support.ppo import reward_model_path as reward_model_path


def active_dropout(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Dropout) and m.training and m.p > 0]


def test_lora_dropout_is_off_in_rollout_and_update(tiny_model, reward_model_path, tmp_path, monkeypatch):
    seen: list[tuple[str, str, bool, list[str]]] = []  # (forward, phase, training, active dropout modules)
    logits, values = ppo._response_logits, ppo._response_values

    def logits_seen(model, *a, **kw):
        seen.append(("policy", "update" if torch.is_grad_enabled() else "rollout", model.training, active_dropout(model)))
        return logits(model, *a, **kw)

    def values_seen(critic, *a, **kw):
        seen.append(("critic", "update" if torch.is_grad_enabled() else "rollout", critic.training, active_dropout(critic)))
        return values(critic, *a, **kw)

    monkeypatch.setattr(ppo, "_response_logits", logits_seen)
    monkeypatch.setattr(ppo, "_response_values", values_seen)
    # Temperature 0.7: the old log-probs come from a policy forward (not the sampler's logits), so
    # old and new log-probs of the first minibatch are the same forward on the same weights. One
    # minibatch per step, three steps: after step 1 the adapters are no longer zero, so dropout on
    # them would move the log-probs.
    config = tiny_config(
        steps=3, ppo_epochs=1, mini_batch_size=4, checkpoint_every=1000, learning_rate=1e-2,
        lora=LoraConfig(enabled=True, r=4, alpha=8, dropout=0.5, critic=True),
        generation=GenerationConfig(max_new_tokens=6, temperature=0.7, top_p=1.0),
    )
    ppo.train_ppo(config, policy_path=str(tiny_model), reward_model_path=str(reward_model_path), prompts=PROMPTS, out_dir=tmp_path, max_length=128)
    assert {(forward, phase) for forward, phase, _, _ in seen} == {(f, p) for f in ("policy", "critic") for p in ("rollout", "update")}
    assert all(not active for _, _, _, active in seen), [s for s in seen if s[3]][:3]
    assert all(not training for _, phase, training, _ in seen if phase == "rollout"), "rollout forwards run in eval mode"
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:  # the first minibatch's ratio: old and new log-probs of the same weights
        assert row["losses/first_approx_kl"] < 1e-10 and row["losses/first_clipfrac"] == 0.0, row
