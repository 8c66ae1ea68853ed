"""PPO learns: a toy reward on a tiny random model, and the first minibatch of a step has ratio 1.

A flipped advantage sign, stale old log-probs or a broken GAE passes tests that only check the
plumbing; these fail on them (the learning test was checked against a flipped sign)."""

from __future__ import annotations

import json

import numpy as np
import torch
from test_ppo import PROMPTS, reward_model_path, tiny_config  # noqa: F401 - reward_model_path is a fixture

from hrlaif.models import load_tokenizer
from hrlaif.train.ppo import train_ppo


def low_half_share(vocab_size: int):
    """Toy reward: the share of response tokens whose id is in the lower half of the vocabulary.
    A random policy scores about 0.5; a policy that learns from it moves toward 1."""

    def score(prompts, texts, responses, mask):
        hits = ((responses < vocab_size // 2) & mask).sum(dim=1).float()
        return hits / mask.sum(dim=1).clamp(min=1).float()

    return score


def train(tiny_model, reward_model_path, out_dir, **overrides):
    config = tiny_config(**overrides)
    vocab = len(load_tokenizer(tiny_model))
    train_ppo(
        config,
        policy_path=str(tiny_model),
        reward_model_path=str(reward_model_path),
        prompts=PROMPTS,
        out_dir=out_dir,
        max_length=128,
        score_fn=low_half_share(vocab),
    )
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_mean_score_rises_on_a_toy_reward(tiny_model, reward_model_path, tmp_path):
    rows = train(
        tiny_model,
        reward_model_path,
        tmp_path,
        steps=16,
        batch_size=16,
        mini_batch_size=8,
        ppo_epochs=4,
        learning_rate=1e-2,  # a tiny random model moves in a few steps, so the test stays short
        kl_coef=0.0,
        checkpoint_every=1000,
    )
    scores = [row["objective/score_mean"] for row in rows]
    first, last = float(np.mean(scores[:5])), float(np.mean(scores[-5:]))
    # 5 steps x 16 responses x 6 tokens per window: the noise of a window's mean is ~0.02.
    assert last - first > 0.15, f"score did not rise: first 5 steps {first:.3f}, last 5 {last:.3f}: {scores}"


def test_first_minibatch_ratio_is_one(tiny_model, reward_model_path, tmp_path):
    rows = train(tiny_model, reward_model_path, tmp_path, steps=3, checkpoint_every=1000)
    for row in rows:
        assert row["losses/first_approx_kl"] < 1e-8, row
        assert row["losses/first_clipfrac"] == 0.0, row
    # later minibatches follow an update at lr 1e-3: the ratio moves, so the check above is not vacuous
    assert max(row["losses/approx_kl"] for row in rows) > 1e-6


def test_fp16_grad_scaler_unscales_each_optimizer_once():
    """The fp16 GradScaler refuses a second unscale of one optimizer in a step; two models with two
    optimizers clipped one by one must not trigger it, and the clipped gradients are unscaled."""
    from accelerate import Accelerator

    from hrlaif.train.ppo import clip_each

    accelerator = Accelerator(cpu=True, mixed_precision="fp16")
    a, b = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    a, b, opt_a, opt_b = accelerator.prepare(a, b, opt_a, opt_b)
    # CPU Accelerate has no scaler; give it the real one fp16 training on a GPU uses.
    accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    accelerator.native_amp = True
    x = torch.ones(2, 4)
    loss = a(x).sum() + b(x).sum()
    accelerator.scaler.scale(loss).backward()
    clip_each(accelerator, (a, b), max_norm=1e9)  # a norm this large clips nothing
    assert torch.allclose(a.weight.grad, torch.full((1, 4), 2.0)), a.weight.grad  # d(sum over 2 rows)/dw = 2
    assert torch.allclose(b.weight.grad, torch.full((1, 4), 2.0)), b.weight.grad
