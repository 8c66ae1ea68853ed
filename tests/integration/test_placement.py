"""Where models run: the accelerator when there is one (bf16 where it supports it), fp32 on CPU,
recorded in every stage's manifest; gradient checkpointing changes memory, not results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrlaif.config import PPOConfig, RewardConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.manifest import read_manifest, stage
from hrlaif.models import load_causal_lm, load_reward_model, load_tokenizer
from hrlaif.placement import describe_placement, pick_placement, training_precision
from hrlaif.records import Pair, Prompt


@pytest.fixture(autouse=True)
def no_overrides(monkeypatch):
    for name in ("HRLAIF_DEVICE", "HRLAIF_DTYPE", "ACCELERATE_MIXED_PRECISION"):
        monkeypatch.delenv(name, raising=False)


def fake_cuda(monkeypatch, *, bf16: bool) -> None:
    """torch as it looks on a CUDA machine (unit test of the choice only; nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


def test_cpu_runs_everything_in_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_placement() == (torch.device("cpu"), torch.float32)
    assert pick_placement(for_training=True) == (torch.device("cpu"), torch.float32)
    assert training_precision() == "no"


def test_a_bf16_gpu_runs_inference_in_bf16_and_trains_fp32_weights_under_bf16_autocast(monkeypatch):
    fake_cuda(monkeypatch, bf16=True)
    assert pick_placement() == (torch.device("cuda", 0), torch.bfloat16)
    assert pick_placement(for_training=True) == (torch.device("cuda", 0), torch.float32)
    assert training_precision() == "bf16"
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    assert training_precision() is None, "a precision set by `accelerate launch` is left to its config"


def test_a_gpu_without_bf16_stays_fp32(monkeypatch):
    fake_cuda(monkeypatch, bf16=False)  # e.g. a V100 or T4: fp16 would overflow, so fp32
    assert pick_placement() == (torch.device("cuda", 0), torch.float32)
    assert training_precision() == "no"


def test_overrides_and_their_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("HRLAIF_DTYPE", "bfloat16")
    assert pick_placement().dtype == torch.bfloat16
    assert pick_placement(for_training=True).dtype == torch.float32
    monkeypatch.setenv("HRLAIF_DTYPE", "bf16")
    with pytest.raises(HrlaifError, match="HRLAIF_DTYPE='bf16'"):
        pick_placement()
    monkeypatch.delenv("HRLAIF_DTYPE")
    monkeypatch.setenv("HRLAIF_DEVICE", "cuda")
    with pytest.raises(HrlaifError, match="HRLAIF_DEVICE='cuda': torch sees no CUDA"):
        pick_placement()
    monkeypatch.setenv("HRLAIF_DEVICE", "toaster")
    with pytest.raises(HrlaifError, match="HRLAIF_DEVICE='toaster'"):
        pick_placement()


def test_loaded_models_follow_the_placement(tiny_model, monkeypatch):
    policy = load_causal_lm(tiny_model)
    assert policy.device.type == "cpu" and policy.dtype == torch.float32
    monkeypatch.setenv("HRLAIF_DTYPE", "bfloat16")
    assert load_causal_lm(tiny_model).dtype == torch.bfloat16
    assert load_reward_model(tiny_model).dtype == torch.bfloat16
    assert load_causal_lm(tiny_model, for_training=True).dtype == torch.float32, "trained weights stay fp32"


def test_every_manifest_records_device_and_dtype(tmp_path: Path):
    with stage("sample", tmp_path / "sample", "fp"):
        pass
    compute = read_manifest(tmp_path / "sample")["compute"]
    assert compute == describe_placement()
    if not torch.cuda.is_available():
        assert compute == {"device": "cpu", "dtype": "float32", "train_dtype": "float32", "mixed_precision": "no"}


# ------------------------------------------------------------------------------------------------
# Gradient checkpointing: a config switch that changes memory, not results
# ------------------------------------------------------------------------------------------------


def test_checkpointing_gives_the_same_loss_and_gradients(tiny_model):
    from hrlaif.train.ppo import enable_gradient_checkpointing

    tokenizer = load_tokenizer(tiny_model)
    batch = tokenizer(["The quick brown fox jumps over the lazy dog."] * 2, return_tensors="pt")
    results = []
    for checkpointing in (False, True):
        model = load_causal_lm(tiny_model, for_training=True)
        if checkpointing:
            enable_gradient_checkpointing(model)
            assert model.is_activation_checkpointing
        model.train()
        loss = model(**batch, labels=batch["input_ids"], use_cache=False).loss
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (plain_loss, plain_grads), (ckpt_loss, ckpt_grads) = results
    assert torch.allclose(plain_loss, ckpt_loss, atol=1e-6)
    assert plain_grads.keys() == ckpt_grads.keys() and plain_grads
    assert all(torch.allclose(plain_grads[n], ckpt_grads[n], atol=1e-5) for n in plain_grads)


def _pairs() -> list[Pair]:
    return [
        Pair(prompt_id=f"p{i}", category="open_ended", prompt=[{"role": "user", "content": f"Question {i}?"}],
             chosen=[{"role": "assistant", "content": f"A careful answer {i}."}],
             rejected=[{"role": "assistant", "content": "no"}], provenance={"mode": "rlaif"})
        for i in range(6)
    ]


def test_reward_model_training_with_checkpointing_learns_the_same(tiny_model, tmp_path):
    from hrlaif.train.reward import train_reward_model

    summaries = []
    for checkpointing in (False, True):
        config = RewardConfig(epochs=1, batch_size=2, eval_fraction=0.34, gradient_checkpointing=checkpointing)
        summaries.append(train_reward_model(_pairs(), str(tiny_model), config, tmp_path / f"rm-{checkpointing}", seed=3, max_length=64))
    plain, ckpt = summaries
    assert ckpt["train_loss"] == pytest.approx(plain["train_loss"], abs=1e-5)
    assert plain["log"] and [e["loss"] for e in ckpt["log"]] == pytest.approx([e["loss"] for e in plain["log"]], abs=1e-5)
    assert ckpt["heldout_accuracy"] == plain["heldout_accuracy"] and plain["heldout_pairs"] == 2


def test_ppo_with_checkpointing_takes_the_same_step(tiny_model, tmp_path):
    from hrlaif.config import GenerationConfig
    from hrlaif.train.ppo import train_ppo

    rm = tmp_path / "rm"
    torch.manual_seed(1)
    load_reward_model(tiny_model).save_pretrained(rm)
    load_tokenizer(tiny_model).save_pretrained(rm)
    prompts = [Prompt(id=f"o{i}", prompt=f"Give me tip number {i}.", category="open_ended") for i in range(4)]
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for checkpointing in (False, True):
            config = PPOConfig(steps=1, batch_size=4, mini_batch_size=2, ppo_epochs=1, learning_rate=1e-3, critic_learning_rate=1e-3,
                               generation=GenerationConfig(max_new_tokens=6, temperature=1.0, top_p=1.0),
                               gradient_checkpointing=checkpointing)
            out = tmp_path / f"ppo-{checkpointing}"
            train_ppo(config, policy_path=str(tiny_model), reward_model_path=str(rm), prompts=prompts, out_dir=out, max_length=128)
            rows.append(json.loads((out / "metrics.jsonl").read_text().splitlines()[0]))
    finally:
        torch.set_num_threads(threads)
    plain, ckpt = rows
    for key in ("objective/score_mean", "losses/policy_loss", "losses/value_loss", "policy/entropy"):
        assert ckpt[key] == pytest.approx(plain[key], abs=1e-5), key
    plain_policy = load_causal_lm(tmp_path / "ppo-False" / "policy").state_dict()
    ckpt_policy = load_causal_lm(tmp_path / "ppo-True" / "policy").state_dict()
    start = load_causal_lm(tiny_model).state_dict()
    assert any(not torch.equal(start[n], plain_policy[n]) for n in start), "the step changed the policy"
    assert all(torch.allclose(plain_policy[n], ckpt_policy[n], atol=1e-5) for n in plain_policy)


def test_checkpointing_is_a_config_switch_outside_the_fingerprint(tmp_path):
    from hrlaif.config import results_view

    default = load_config(overrides=[f"run_dir={tmp_path}"])
    assert not default.ppo.gradient_checkpointing and default.reward.gradient_checkpointing  # what each did before the switch
    off = load_config(overrides=[f"run_dir={tmp_path}", "ppo.gradient_checkpointing=false", "reward.gradient_checkpointing=false"])
    on = load_config(overrides=[f"run_dir={tmp_path}", "ppo.gradient_checkpointing=true", "reward.gradient_checkpointing=true"])
    assert on.ppo.gradient_checkpointing and on.reward.gradient_checkpointing
    assert results_view(on.ppo) == results_view(off.ppo)
    assert results_view(on.reward) == results_view(off.reward)
