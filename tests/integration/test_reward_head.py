"""reward.method: head, the cheap RM (a linear score head on frozen features): it learns a
preference the features carry, the saved classifier scores as the fitted head did, and it leaves
the backbone untouched."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from hrlaif.config import RewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.records import Pair
from hrlaif.train.reward import score_texts
from hrlaif.train.reward_head import fit_head, train_reward_head


def pair(i: int, chosen: str, rejected: str, chosen_prob: float = 1.0) -> Pair:
    return Pair(prompt_id=f"p{i}", category="open_ended", prompt=[{"role": "user", "content": f"Question {i}?"}],
                chosen=[{"role": "assistant", "content": chosen}], rejected=[{"role": "assistant", "content": rejected}],
                chosen_prob=chosen_prob, confidence=abs(chosen_prob - 0.5) * 2, provenance={"mode": "rlaif"})


def long_beats_short(n: int) -> list[Pair]:
    """Pairs whose chosen answer is the longer one: length is in any backbone's features."""
    return [pair(i, f"The answer is {i} because the sum adds up to {i} in the end.", f"{i}.") for i in range(n)]


def test_the_head_learns_a_preference_and_the_saved_classifier_scores_as_fitted(tiny_model, tmp_path):
    pairs = long_beats_short(40)
    summary = train_reward_head(pairs, str(tiny_model), RewardConfig(method="head", eval_fraction=0.25), tmp_path / "rm", seed=0, max_length=64)
    assert summary["method"] == "head" and summary["train_pairs"] == 30 and summary["heldout_pairs"] == 10
    assert summary["heldout_accuracy"]["rate"] >= 0.9 and summary["heldout_accuracy"]["n"] == 10

    rm_dir = tmp_path / "rm" / "model"
    tokenizer = load_tokenizer(rm_dir, padding_side="right")
    model = load_reward_model(rm_dir)
    prompt = [{"role": "user", "content": "Question 99?"}]
    long, short = score_texts(model, tokenizer, [prompt + [{"role": "assistant", "content": "The answer is 99 because the sum adds up to 99 in the end."}],
                                                  prompt + [{"role": "assistant", "content": "99."}]], max_length=64)
    assert long > short

    # The backbone is the start model's: only the head was fitted.
    saved, start = load_file(rm_dir / "model.safetensors"), load_reward_model(tiny_model).state_dict()
    backbone = [k for k in saved if not k.startswith("score.")]
    assert backbone and all(torch.equal(saved[k], start[k]) for k in backbone)
    assert saved["score.weight"].abs().sum() > 0


def test_the_fit_is_the_same_on_every_run_and_a_soft_label_teaches_less():
    g = torch.Generator().manual_seed(0)
    chosen, rejected = torch.randn(50, 8, generator=g), torch.randn(50, 8, generator=g)
    chosen[:, 0] += 2.0  # the preference lives in feature 0
    hard = fit_head(chosen, rejected, torch.ones(50), l2=0.01)
    assert torch.equal(hard, fit_head(chosen, rejected, torch.ones(50), l2=0.01))
    soft = fit_head(chosen, rejected, torch.full((50,), 0.6), l2=0.01)
    assert hard[0] > 0 and 0 < soft[0] < hard[0]


def test_a_single_pair_and_trainer_args_under_head_are_refused(tiny_model, tmp_path):
    with pytest.raises(HrlaifError, match="at least 2 pairs"):
        train_reward_head(long_beats_short(1), str(tiny_model), RewardConfig(method="head"), tmp_path / "rm")
    assert not (tmp_path / "rm").exists()
    with pytest.raises(ValueError, match="method: head does not use"):
        RewardConfig(method="head", trainer_args={"warmup_steps": 2})


def test_the_default_full_method_leaves_the_dumped_section_as_before():
    assert "method" not in RewardConfig().model_dump() and "head_l2" not in RewardConfig().model_dump()
    assert RewardConfig(method="head").model_dump()["method"] == "head"
