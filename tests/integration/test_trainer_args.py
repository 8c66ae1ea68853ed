"""`reward.trainer_args` and `dpo.trainer_args` reach TRL's RewardConfig and DPOConfig (issue 28):
gradient accumulation shows in the number of optimizer steps, a constant schedule in the logged
learning rate, and a value only TRL can judge ends as one error naming the section's key."""

from __future__ import annotations

import pytest

from hrlaif.config import DPOConfig, RewardConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.train.dpo import train_dpo
from hrlaif.train.reward import train_reward_model

from support.samples import pairs


def test_reward_trainer_args_set_accumulation_and_schedule(tiny_model, tmp_path):
    config = RewardConfig(epochs=1, batch_size=2, eval_fraction=0.0, learning_rate=1e-3,
                          trainer_args={"gradient_accumulation_steps": 3, "lr_scheduler_type": "constant", "max_length": 48})
    summary = train_reward_model(pairs(), str(tiny_model), config, tmp_path, seed=0, max_length=64)
    assert len(summary["log"]) == 1  # 6 pairs, 2 a batch, 3 batches a step: one optimizer step (3 without accumulation)
    assert summary["log"][0]["learning_rate"] == pytest.approx(1e-3)  # constant: linear decay would log less


def test_dpo_trainer_args_set_accumulation_and_loss_type(tiny_model, tmp_path):
    config = DPOConfig(batch_size=2, learning_rate=1e-3, lora={"enabled": False},
                       trainer_args={"gradient_accumulation_steps": 3, "loss_type": ["ipo"]})
    summary = train_dpo(pairs(), str(tiny_model), config, tmp_path, seed=0, max_length=64)
    assert summary["steps"] == 1  # 6 pairs, 2 a batch, 3 batches a step


def test_a_value_trl_refuses_names_the_key(tiny_model, tmp_path):
    config = RewardConfig(epochs=1, batch_size=2, eval_fraction=0.0, trainer_args={"lr_scheduler_type": "sometimes"})
    with pytest.raises(HrlaifError, match=r"^config key 'reward.trainer_args': TRL's RewardConfig refused it \(ValueError: .*sometimes"):
        train_reward_model(pairs(), str(tiny_model), config, tmp_path, seed=0, max_length=64)


def test_trainer_args_keys_are_checked_when_the_config_loads():
    with pytest.raises(HrlaifError, match=r"'reward.trainer_args'.*'warmup_ratio' is not a field of TRL's RewardConfig; did you mean 'warmup_steps'\?"):
        load_config(None, ["reward.trainer_args={warmup_ratio: 0.1}"])
    with pytest.raises(HrlaifError, match=r"'dpo.trainer_args'.*'beta' is set by hrlaif; use dpo.beta"):
        load_config(None, ["dpo.trainer_args={beta: 0.5}"])
    with pytest.raises(HrlaifError, match=r"'dpo.lora'.*DPO has no critic"):
        load_config(None, ["dpo.lora.critic=true"])
    loaded = load_config(None, ["dpo.trainer_args={loss_type: [ipo], warmup_steps: 2}", "dpo.lora.critic=false"])
    assert loaded.dpo.trainer_args == {"loss_type": ["ipo"], "warmup_steps": 2} and "critic" not in loaded.dpo.lora.model_dump()


def test_unset_trainer_args_leave_fingerprints_and_dumps_as_before():
    """Values computed by the code before trainer_args existed (main at 73c33a8)."""
    from hrlaif.config import RunConfig, dump_config, fingerprint, results_view

    config = RunConfig()
    assert fingerprint(results_view(config.reward)) == "fcc99a839050f433"
    assert fingerprint(config.dpo.fingerprint_view()) == "6e73ae3e79891508"
    assert "trainer_args" not in dump_config(config) and "eval_columns" not in dump_config(config)
    assert fingerprint(results_view(load_config(None, ["reward.trainer_args={warmup_steps: 2}"]).reward)) != "fcc99a839050f433"
