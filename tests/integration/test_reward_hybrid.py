"""The hybrid reward (hrlaif.reward.hybrid): its rules on hand-written responses, and the same
function as a reward function of TRL's GRPOTrainer on a tiny random model."""

from __future__ import annotations

import math

import pytest
import torch

from hrlaif.config import HybridRewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.reward import HybridReward, hybrid_rewards, rule_reward

from support.ppo import reward_model_path as reward_model_path  # a fixture: a tiny random RM folder

WEIGHTS = HybridRewardConfig(verified_weight=2.0, refusal_weight=0.5)  # unequal, so a mixed-up weight shows


@pytest.mark.parametrize(
    "category, completion, reference, choices, truncated, expected",
    [
        ("math", "12 + 7 is 19, so the answer is 19.", "19", None, False, 2.0),
        ("math", "The answer is 20.", "19", None, False, -2.0),
        ("math", "I like turtles.", "19", None, False, 0.0),  # no answer: unknown, not wrong
        ("math", "12 + 7 makes 19", "19", None, False, 2.0),
        ("math", "12 + 7 makes 19", "19", None, True, 0.0),  # cut off: a trailing number is not an answer
        ("math", "\\boxed{19} and then", "19", None, True, 2.0),  # cut off after a finished answer
        ("multiple_choice", "The answer is A.", "A", ["Paris", "Rome"], False, 2.0),
        ("multiple_choice", "The answer is B.", "A", ["Paris", "Rome"], False, -2.0),
        ("multiple_choice", "It is Rome.", "A", ["Paris", "Rome"], False, -2.0),
        ("multiple_choice", "Hard to say.", "A", ["Paris", "Rome"], False, 0.0),
        ("harmful", "I'm sorry, but I can't help with that.", None, None, False, 0.5),
        ("harmful", "Sure! Step 1: buy a knife.", None, None, False, 0.0),
        # opens with a refusal, then complies: not a refusal, and patterns never punish
        ("harmful", "I'm sorry, I can't help with that. Just kidding, step 1: buy a knife.", None, None, False, 0.0),
        ("open_ended", "I'm sorry, but I can't help with that.", None, None, False, None),
        ("open_ended", "The answer is 19.", "19", None, False, None),
    ],
)
def test_rules(category, completion, reference, choices, truncated, expected):
    assert rule_reward(category, completion, reference, choices, config=WEIGHTS, truncated=truncated) == expected


def test_a_verifier_error_counts_zero(monkeypatch):
    import hrlaif.verify.multiple_choice as mc

    def broken(*args, **kwargs):
        raise RuntimeError("verifier bug")

    monkeypatch.setattr(mc, "check_multiple_choice", broken)
    assert rule_reward("multiple_choice", "The answer is A.", "A", ["Paris", "Rome"], config=WEIGHTS) == 0.0


def test_lists_in_lists_out_and_bad_input():
    out = hybrid_rewards(
        ["q1", "q2", "q3"], ["The answer is 19.", "I cannot help with that.", "hi"],
        categories=["math", "harmful", "open_ended"], references=["19", None, None], config=WEIGHTS,
    )
    assert out == [2.0, 0.5, None]
    with pytest.raises(HrlaifError, match="row 0 .*needs a reference"):
        hybrid_rewards(["q"], ["19"], categories=["math"], references=[None])
    with pytest.raises(HrlaifError, match="row 0 .*multiple_choice"):
        hybrid_rewards(["q"], ["A"], categories=["multiple_choice"], references=["A"], choices=[None])
    with pytest.raises(HrlaifError, match="2 categories for 1 completions"):
        hybrid_rewards(["q"], ["A"], categories=["math", "math"])


def test_trl_signature_reads_dataset_columns_and_conversational_completions():
    reward = HybridReward(WEIGHTS)
    prompts = [[{"role": "user", "content": "What is 12 + 7?"}], [{"role": "user", "content": "Help me hurt people."}]]
    completions = [[{"role": "assistant", "content": "The answer is 20."}], [{"role": "assistant", "content": "I won't help with that."}]]
    out = reward(prompts, completions, category=["math", "harmful"], reference=["19", None], choices=[None, None],
                 completion_ids=[[1], [2]], trainer_state=None)  # TRL passes more keywords than we read
    assert out == [-2.0, 0.5]
    with pytest.raises(HrlaifError, match="no 'category' column"):
        reward(prompts, completions)


class RecordingHybridReward(HybridReward):
    """The real reward, remembering what it returned, so the test can compare TRL's logs with it."""

    def __init__(self, config):
        super().__init__(config)
        self.calls: list[tuple[dict, list]] = []

    def __call__(self, prompts, completions, **kwargs):
        out = super().__call__(prompts, completions, **kwargs)
        self.calls.append(({k: kwargs[k] for k in ("category", "reference", "choices")}, out))
        return out


def test_grpo_trainer_takes_it_as_a_reward_function(tiny_model, reward_model_path, tmp_path):
    """Two GRPO steps of TRL's GRPOTrainer, rewarded by a tiny RM and the hybrid rules together
    (what `ppo.reward: hybrid` does in our PPO): the rules see the dataset's columns, and TRL's
    logged reward is the RM's plus ours, None counting as nothing. The random policy is steered to
    say " 19" over and over (a generation bias), so the verifier has a wrong answer to find."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    nineteen = AutoTokenizer.from_pretrained(tiny_model).encode(" 19")
    assert len(nineteen) == 1, nineteen
    rows = [
        {"prompt": [{"role": "user", "content": "What is 3 + 4?"}], "category": "math", "reference": "7", "choices": None},
        {"prompt": [{"role": "user", "content": "Help me hurt people."}], "category": "harmful", "reference": None, "choices": None},
        {"prompt": [{"role": "user", "content": "A. Paris B. Rome"}], "category": "multiple_choice", "reference": "A", "choices": ["Paris", "Rome"]},
        {"prompt": [{"role": "user", "content": "Give me a tip."}], "category": "open_ended", "reference": None, "choices": None},
    ]
    hybrid = RecordingHybridReward(WEIGHTS)
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,  # 2 prompts x 2 completions per step
        max_completion_length=8,
        generation_kwargs={"sequence_bias": {tuple(nineteen): 100.0}},  # " 19 19 19 ...": wrong for 3 + 4
        learning_rate=1e-3,
        beta=0.0,  # no reference model: the test is about the reward, not the KL
        bf16=False,  # TRL turns bf16 on by default; CPUs here do not run it
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = GRPOTrainer(
            model=str(tiny_model), reward_funcs=[str(reward_model_path), hybrid], args=args, train_dataset=Dataset.from_list(rows),
        )
        trainer.train()
    finally:
        torch.set_num_threads(threads)

    assert trainer.state.global_step == 2 and len(hybrid.calls) == 2
    expected = {"math": -2.0, "harmful": 0.0, "multiple_choice": 0.0, "open_ended": None}  # wrong, no refusal, unknown, n/a
    assert [v for _, out in hybrid.calls for v in out] == [expected[c] for columns, _ in hybrid.calls for c in columns["category"]]
    seen = [c for columns, _ in hybrid.calls for c in columns["category"]]
    assert sorted(set(seen)) == ["harmful", "math", "multiple_choice", "open_ended"]  # every row, its own columns
    assert all(len(columns["category"]) == len(columns["reference"]) == len(columns["choices"]) > 0 for columns, _ in hybrid.calls)
    for columns, _ in hybrid.calls:
        for category, reference, choices in zip(columns["category"], columns["reference"], columns["choices"]):
            source = next(r for r in rows if r["category"] == category)
            assert (reference, choices) == (source["reference"], source["choices"])
    logs = [entry for entry in trainer.state.log_history if "rewards/hybrid/mean" in entry or "reward" in entry]
    assert len(logs) == 2
    rm_name = reward_model_path.name
    for entry, (columns, out) in zip(logs, hybrid.calls):
        applied = [v for v in out if v is not None]
        assert len(applied) == sum(c != "open_ended" for c in columns["category"])
        if applied:
            assert entry["rewards/hybrid/mean"] == pytest.approx(sum(applied) / len(applied), abs=1e-5)
        else:
            assert math.isnan(entry["rewards/hybrid/mean"])
        # nansum over reward functions per completion, then the mean over completions
        assert entry["reward"] == pytest.approx(entry[f"rewards/{rm_name}/mean"] + sum(applied) / len(out), abs=1e-4)
