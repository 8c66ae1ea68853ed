"""PPO learns: a toy reward on a tiny random model rises, the same run with the advantage sign
flipped does not, and the first minibatch of a step has ratio 1.

A flipped advantage sign, stale old log-probs or a broken GAE passes tests that only check the
plumbing; these fail on them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrlaif.models import load_tokenizer
from hrlaif.train import ppo
from hrlaif.train.ppo import train_ppo

from support.ppo import PROMPTS, tiny_config
from support.ppo import one_thread as one_thread  # fixtures shared with test_ppo
from support.ppo import reward_model_path as reward_model_path


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


LEARNING_RUN = dict(
    steps=12,
    batch_size=16,
    mini_batch_size=8,
    ppo_epochs=4,
    learning_rate=1e-2,  # a tiny random model moves in a few steps, so the test stays short
    kl_coef=0.0,
    checkpoint_every=1000,
)


def score_gain(rows: list[dict], window: int = 4) -> tuple[float, list[float]]:
    """Mean score of the last `window` steps minus that of the first `window`."""
    scores = [row["objective/score_mean"] for row in rows]
    return float(np.mean(scores[-window:]) - np.mean(scores[:window])), scores


def test_mean_score_rises_on_a_toy_reward(tiny_model, reward_model_path, tmp_path):
    gain, scores = score_gain(train(tiny_model, reward_model_path, tmp_path, **LEARNING_RUN))
    # 4 steps x 16 responses x <=6 tokens per window: a window's mean has noise ~0.03 at a random
    # policy, so a gain of 0.15 is ~3.5 sigma of the difference of two windows (when written the
    # run went 0.44 -> 1.0, a gain of 0.45).
    assert gain > 0.15, f"score did not rise: gain {gain:.3f}: {scores}"


def test_flipped_advantage_sign_does_not_learn(tiny_model, reward_model_path, tmp_path, monkeypatch):
    """The same run with the advantages negated (the classic sign bug) must not raise the score:
    this is what makes the test above a test of the algorithm rather than of any movement."""
    whiten = ppo.masked_whiten  # train_ppo whitens the advantages with it, and nothing else
    monkeypatch.setattr(ppo, "masked_whiten", lambda x, mask, shift_mean=True: -whiten(x, mask, shift_mean))
    gain, scores = score_gain(train(tiny_model, reward_model_path, tmp_path, **LEARNING_RUN))
    # negated advantages descend the reward: the score falls (it went 0.44 -> 0.01 when written,
    # while the right sign went 0.44 -> 1.0), so "did not rise" is checked with the same margin
    assert gain < -0.15, f"a flipped advantage sign did not lower the score: gain {gain:.3f}: {scores}"


def test_first_minibatch_ratio_is_one(tiny_model, reward_model_path, tmp_path):
    rows = train(tiny_model, reward_model_path, tmp_path, steps=3, checkpoint_every=1000)
    for row in rows:
        assert row["losses/first_approx_kl"] < 1e-8, row
        assert row["losses/first_clipfrac"] == 0.0, row
    # later minibatches follow an update at lr 1e-3: the ratio moves, so the check above is not vacuous
    assert max(row["losses/approx_kl"] for row in rows) > 1e-6


@pytest.fixture
def fresh_accelerator_state():
    """Accelerate keeps one process-wide state; an fp16 Accelerator needs it fresh, and the tests
    after this one need it fresh again."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_fp16_grad_scaler_unscales_each_optimizer_once(fresh_accelerator_state):
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
    # the pre-fix code (accelerator.clip_grad_norm_ once per model) raises on the second model
    accelerator.scaler.update()  # a new step for the scaler
    opt_a.zero_grad()
    opt_b.zero_grad()
    accelerator.scaler.scale(a(x).sum() + b(x).sum()).backward()
    accelerator.clip_grad_norm_(a.parameters(), 1e9)
    with pytest.raises(RuntimeError, match="unscale_"):
        accelerator.clip_grad_norm_(b.parameters(), 1e9)
