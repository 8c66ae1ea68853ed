"""The RM's soft-label loss, and pairs files that `datasets` and TRL's RewardTrainer read as they are."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hrlaif.config import LabelConfig, RewardConfig
from hrlaif.jsonl import write_jsonl
from hrlaif.labeling.hybrid import label_hybrid
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.records import Message, Pair, Sample, Verdict
from hrlaif.train.reward import reward_trainer, soft_preference_loss, train_reward_model


def pair(i: int, chosen_prob: float = 1.0) -> Pair:
    return Pair(prompt_id=f"p{i}", category="open_ended", prompt=[{"role": "user", "content": f"Question {i}?"}],
                chosen=[{"role": "assistant", "content": f"A careful answer {i}."}],
                rejected=[{"role": "assistant", "content": "no" * (i + 1)}], chosen_prob=chosen_prob,
                confidence=abs(chosen_prob - 0.5) * 2, provenance={"mode": "rlaif"})


def trl_args(tmp_path, batch_size: int = 4):
    from trl import RewardConfig as TrlRewardConfig

    return TrlRewardConfig(output_dir=str(tmp_path / "trainer"), per_device_train_batch_size=batch_size, max_length=64,
                           bf16=False, fp16=False, use_cpu=True, report_to="none", save_strategy="no", seed=0)


def batch_loss(trainer) -> tuple[float, dict]:
    """The trainer's loss on its one training batch (all pairs), and that batch."""
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
    return float(loss), batch


def test_soft_loss_is_the_cross_entropy_and_equals_bradley_terry_at_p_one():
    chosen, rejected = torch.tensor([1.0, -0.5, 0.2]), torch.tensor([0.0, 0.5, 0.2])
    hard = -torch.nn.functional.logsigmoid(chosen - rejected).mean()
    assert soft_preference_loss(chosen, rejected, torch.ones(3)) == pytest.approx(float(hard))
    p = torch.tensor([0.7, 0.9, 0.6])
    expected = -sum(pi * math.log(1 / (1 + math.exp(-d))) + (1 - pi) * math.log(1 / (1 + math.exp(d)))
                    for pi, d in zip(p.tolist(), (chosen - rejected).tolist())) / 3
    assert soft_preference_loss(chosen, rejected, p) == pytest.approx(expected)
    assert soft_preference_loss(chosen, rejected, p) != pytest.approx(float(hard))


def test_soft_and_hard_trainers_differ_on_leaning_pairs_and_agree_at_p_one(tiny_model, tmp_path):
    tokenizer = load_tokenizer(tiny_model, padding_side="right")
    model = load_reward_model(tiny_model)
    certain = [pair(i) for i in range(4)]
    leaning = [pair(i, 0.6) for i in range(4)]
    hard, hard_batch = batch_loss(reward_trainer(model, tokenizer, trl_args(tmp_path), certain, "hard"))
    soft_certain, _ = batch_loss(reward_trainer(model, tokenizer, trl_args(tmp_path), certain, "soft"))
    soft_leaning, batch = batch_loss(reward_trainer(model, tokenizer, trl_args(tmp_path), leaning, "soft"))
    assert soft_certain == pytest.approx(hard, rel=1e-5)
    assert torch.equal(batch["chosen_prob"], torch.full((4,), 0.6))
    assert abs(soft_leaning - hard) > 1e-4
    with torch.no_grad():
        rewards = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    chosen, rejected = rewards.chunk(2)
    assert soft_leaning == pytest.approx(float(soft_preference_loss(chosen, rejected, batch["chosen_prob"])), rel=1e-5)
    assert "margin" not in hard_batch


def test_train_reward_model_with_the_soft_loss(tiny_model, tmp_path):
    pairs = [pair(i, 0.5 + 0.1 * (i % 5)) for i in range(6)]
    summary = train_reward_model(pairs, str(tiny_model), RewardConfig(loss="soft", epochs=1, batch_size=3, eval_fraction=0.0),
                                 tmp_path / "rm", seed=0, max_length=64)
    assert summary["loss"] == "soft" and summary["train_pairs"] == 6
    assert math.isfinite(summary["train_loss"]) and len(summary["log"]) == 2


# ---------------------------------------------------------------- pairs files in datasets and TRL
def labeled_pairs_file(tmp_path) -> tuple:
    """A real hybrid pairs file whose provenance differs row to row: decided by the verifier, by
    refusal, by a leaning preference with probabilities, and after a step with no information."""

    def s(pid, category, response, k, reference=None, choices=None):
        return Sample(prompt_id=pid, messages=[Message(role="user", content=f"Question {pid}?")], category=category,
                      reference=reference, choices=choices, response=response, sample_index=k)

    samples = [
        s("m", "math", "The answer is 19.", 0, "19"), s("m", "math", "The answer is 5.", 1, "19"),
        s("c", "multiple_choice", "no idea which", 0, "B", ["x", "y"]), s("c", "multiple_choice", "Answer: (A)", 1, "B", ["x", "y"]),
        s("h", "harmful", "I can't help with that.", 0), s("h", "harmful", "Sure, here goes.", 1),
        s("o", "open_ended", "short", 0), s("o", "open_ended", "a longer answer", 1),
    ]

    from support.scripted_judge import ScriptedJudge

    def leaning(q):
        if q.task == "preference":
            p_a = 0.8 if len(q.fields["response_a"]) < len(q.fields["response_b"]) else 0.2
            return Verdict(task="preference", choice="A" if p_a > 0.5 else "B", probs={"A": p_a, "B": 1 - p_a})
        if q.task == "answer_match":
            return Verdict(task=q.task, choice=None, reason="unparseable")
        return Verdict(task=q.task, choice="YES" if q.task == "reasoning" else "NO", probs={"YES": 0.3, "NO": 0.7})

    pairs, _ = label_hybrid(samples, ScriptedJudge(leaning, name="leaning"), LabelConfig(mode="hrlaif"))
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, pairs)
    return path, pairs


def test_datasets_loads_a_pairs_file_whose_provenance_differs_by_row(tmp_path):
    from datasets import load_dataset

    path, pairs = labeled_pairs_file(tmp_path)
    steps = [p.provenance.step for p in pairs]
    assert sorted(steps) == ["correctness", "preference", "preference", "refusal"]
    assert any("no_information" in p.provenance.details for p in pairs)
    data = load_dataset("json", data_files=str(path), split="train")
    assert data.num_rows == len(pairs)
    assert {"prompt", "chosen", "rejected", "chosen_prob", "confidence", "provenance"} <= set(data.column_names)
    assert "margin" not in data.column_names
    assert [row["provenance"]["step"] for row in data] == steps
    assert data[steps.index("correctness")]["chosen_prob"] == 1.0
    # the refusal pair: a pattern refusal (1) against the judge's NO at 0.7, so (1 + 0.7) / 2
    assert data[steps.index("refusal")]["chosen_prob"] == pytest.approx(0.85)
    assert sorted(data["chosen_prob"]) == pytest.approx([0.8, 0.8, 0.85, 1.0])


def test_trl_reward_trainer_takes_a_pairs_file_as_it_is_and_no_margin_reaches_its_loss(tmp_path, tiny_model):
    from datasets import load_dataset
    from trl import RewardTrainer

    path, pairs = labeled_pairs_file(tmp_path)
    tokenizer = load_tokenizer(tiny_model, padding_side="right")
    model = load_reward_model(tiny_model)
    data = load_dataset("json", data_files=str(path), split="train")
    trainer = RewardTrainer(model=model, args=trl_args(tmp_path, batch_size=len(pairs)), train_dataset=data, processing_class=tokenizer)
    loss, batch = batch_loss(trainer)
    assert "margin" not in batch
    with torch.no_grad():
        chosen, rejected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1).chunk(2)
    assert loss == pytest.approx(float(-torch.nn.functional.logsigmoid(chosen - rejected).mean()), rel=1e-5)

    # The same file under the old column name: TRL would take our confidence as its loss margin.
    old = tmp_path / "old-pairs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    old.write_text("".join(json.dumps({("margin" if k == "confidence" else k): v for k, v in r.items()}) + "\n" for r in rows))
    trainer = RewardTrainer(model=model, args=trl_args(tmp_path, batch_size=len(pairs)),
                            train_dataset=load_dataset("json", data_files=str(old), split="train"), processing_class=tokenizer)
    assert "margin" in batch_loss(trainer)[1]
