"""Reward-model training on preference pairs with TRL's RewardTrainer.

Two losses (`reward.loss`): "hard", TRL's Bradley-Terry loss -log sigmoid(r_chosen - r_rejected),
which takes every pair as certain; and "soft", the cross-entropy against the labeler's
probability p that chosen beats rejected (Lee et al., RLAIF vs RLHF):
-[p log sigmoid(r_c - r_r) + (1 - p) log sigmoid(r_r - r_c)]. With p = 1 (every pair decided by
a rule) the two are the same loss; a judge that leaned 0.7 teaches the RM a 0.7, not a 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from trl.trainer.reward_trainer import DataCollatorForPreference, RewardTrainer

from hrlaif.config import RewardConfig, TrackingConfig
from hrlaif.environment import library_bars_wanted
from hrlaif.errors import HrlaifError
from hrlaif.file_modes import follow_umask
from hrlaif.labeling.rm_data import heldout_record, rm_split, split_pairs  # noqa: F401 - split_pairs: kept importable from here
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.placement import training_precision
from hrlaif.records import Pair
from hrlaif.run_dir import RunDir
from hrlaif.stats import wilson
from hrlaif.train.ranks import led_by_rank_zero
from hrlaif.train.trackers import check_installed, trainer_environment
from hrlaif.train.trainer_args import trainer_config


def _to_dataset(pairs: list[Pair], soft: bool = False) -> Dataset:
    # Only the columns TRL reads (and, for the soft loss, the labeler's probability): a column
    # named `margin` would be subtracted inside TRL's loss.
    rows = []
    for p in pairs:
        row = {
            "prompt": [m.model_dump() for m in p.prompt],
            "chosen": [m.model_dump() for m in p.chosen],
            "rejected": [m.model_dump() for m in p.rejected],
        }
        if soft:
            row["chosen_prob"] = p.chosen_prob
        rows.append(row)
    return Dataset.from_list(rows)


def soft_preference_loss(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor, chosen_prob: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy between the RM's P(chosen > rejected) = sigmoid(r_c - r_r) and the
    labeler's `chosen_prob`; equals the Bradley-Terry loss where chosen_prob is 1."""
    diff = rewards_chosen - rewards_rejected
    logsigmoid = torch.nn.functional.logsigmoid
    return -(chosen_prob * logsigmoid(diff) + (1.0 - chosen_prob) * logsigmoid(-diff)).mean()


@dataclass
class SoftLabelCollator(DataCollatorForPreference):
    """TRL's preference collator, plus each pair's `chosen_prob` as a tensor."""

    def torch_call(self, examples: list[dict]) -> dict:
        batch = super().torch_call(examples)
        batch["chosen_prob"] = torch.tensor([float(e["chosen_prob"]) for e in examples], dtype=torch.float)
        return batch


class SoftLabelRewardTrainer(RewardTrainer):
    """TRL's RewardTrainer trained with `soft_preference_loss` on the `chosen_prob` column
    (TRL's own metrics, accuracy and reward statistics, are kept)."""

    def _set_signature_columns_if_needed(self):
        # Columns the trainer keeps; TRL's list holds `margin`, which ours must never reach.
        if self._signature_columns is None:
            self._signature_columns = ["chosen_ids", "rejected_ids", "chosen_prob"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        chosen_prob = inputs.pop("chosen_prob")
        _, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        rewards_chosen, rewards_rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
        loss = soft_preference_loss(rewards_chosen, rewards_rejected, chosen_prob.to(rewards_chosen.dtype))
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
        return (loss, outputs) if return_outputs else loss


def reward_trainer(model, tokenizer, args, pairs: list[Pair], loss: str) -> RewardTrainer:
    """TRL's RewardTrainer on `pairs` for loss "hard", our soft-label subclass for "soft"."""
    if loss == "soft":
        collator = SoftLabelCollator(pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=args.pad_to_multiple_of)
        return SoftLabelRewardTrainer(model=model, args=args, train_dataset=_to_dataset(pairs, soft=True),
                                      processing_class=tokenizer, data_collator=collator)
    return RewardTrainer(model=model, args=args, train_dataset=_to_dataset(pairs), processing_class=tokenizer)


@torch.no_grad()
def pooled_outputs(model, tokenizer, chats: list[list[dict]], max_length: int, batch_size: int = 8) -> list[torch.Tensor]:
    """The sequence classifier's output for each full chat (prompt + response), batch by batch:
    the tokenization and pooling (the last non-pad token) every reward score goes through."""
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    outputs: list[torch.Tensor] = []
    try:
        for start in range(0, len(chats), batch_size):
            texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats[start : start + batch_size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length, add_special_tokens=False)
            # To the model's device: after training, TRL has moved it to the accelerator.
            outputs.append(model(**batch.to(model.device)).logits.float().cpu())
    finally:
        tokenizer.padding_side = side
    return outputs


def score_texts(model, tokenizer, chats: list[list[dict]], max_length: int, batch_size: int = 8) -> list[float]:
    """Reward of each full chat (prompt + response)."""
    return [float(x) for logits in pooled_outputs(model, tokenizer, chats, max_length, batch_size) for x in logits[:, 0]]


def pair_chats(pairs: list[Pair]) -> tuple[list[list[dict]], list[list[dict]]]:
    """Each pair's two full chats (prompt + chosen, prompt + rejected), as every RM scores them."""
    prompts = [[m.model_dump() for m in p.prompt] for p in pairs]
    chosen = [c + [p.chosen[0].model_dump()] for c, p in zip(prompts, pairs)]
    rejected = [c + [p.rejected[0].model_dump()] for c, p in zip(prompts, pairs)]
    return chosen, rejected


def pair_accuracy(model, tokenizer, pairs: list[Pair], max_length: int) -> dict:
    """Share of pairs where the RM scores `chosen` above `rejected`, with its interval."""
    chosen_chats, rejected_chats = pair_chats(pairs)
    chosen = score_texts(model, tokenizer, chosen_chats, max_length)
    rejected = score_texts(model, tokenizer, rejected_chats, max_length)
    wins = sum(c > r for c, r in zip(chosen, rejected))
    return wilson(wins, len(pairs)).model_dump()


@led_by_rank_zero
def train_reward_model(
    pairs: list[Pair], backbone: str, config: RewardConfig, out_dir: Path, *, seed: int = 0, max_length: int = 1024,
    tracking: TrackingConfig | None = None, run_name: str = "rm",
) -> dict:
    """Train an RM from `backbone` on `pairs`; saves model + tokenizer to out_dir/'model'. Logs
    to `tracking.report_to` (TRL's report_to; TensorBoard in out_dir/tensorboard) as `run_name`.

    Under several processes every rank calls it (DDP/FSDP through TRL's trainer; batch_size is
    per process) and only rank 0 writes the model folder; each rank scores the pairs with its
    own copy of the trained model (DDP keeps the copies equal)."""
    from transformers import set_seed
    from trl import RewardConfig as TrlRewardConfig

    tracking = tracking or TrackingConfig()
    report_to = check_installed(tracking)
    if len(pairs) < 2:
        raise HrlaifError(f"reward model training needs at least 2 pairs, got {len(pairs)}: label more prompts (a judge whose both-orders leans stay under label.tie_margin gives ties, not pairs: see the label manifest)")
    train, held = rm_split(pairs, config.eval_fraction, seed)  # `hrlaif export` marks the same split
    tokenizer = load_tokenizer(backbone, padding_side="right")
    # The score head is new, drawn from the global RNG: seed it here, or the RM would depend on
    # what earlier stages of the same process drew (a resumed run, skipping them, got another RM).
    set_seed(seed)
    model = load_reward_model(backbone, for_training=True)
    model.config.pad_token_id = tokenizer.pad_token_id
    max_length = config.trainer_args.get("max_length", max_length)  # reward.trainer_args may set it: the scoring below follows
    args = trainer_config(TrlRewardConfig, "reward", dict(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        max_length=max_length,
        bf16=training_precision() == "bf16",
        fp16=False,
        activation_checkpointing=config.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},  # same gradients, works with frozen inputs
        use_cpu=not torch.cuda.is_available(),
        report_to=report_to or "none",
        run_name=run_name,
        project=tracking.project,
        save_strategy="no",
        logging_steps=1,
        seed=seed,
        disable_tqdm=not library_bars_wanted(),  # no step bar redrawn into a log file
    ), config.trainer_args)
    with trainer_environment(tracking, out_dir / "tensorboard"):
        trainer = reward_trainer(model, tokenizer, args, train, config.loss)
        result = trainer.train()
    model_dir = out_dir / RunDir.REWARD_MODEL_DIR
    trainer.save_model(str(model_dir))  # every rank: FSDP gathers the weights; rank 0 writes them
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(model_dir))
        follow_umask(model_dir)  # safetensors writes the weights 0600
    model = trainer.model
    summary = {
        "train_pairs": len(train),
        "heldout_pairs": len(held),
        **heldout_record(held),
        "loss": config.loss,
        "num_processes": trainer.accelerator.num_processes,  # batch_size is per process
        "distributed_type": str(trainer.accelerator.distributed_type.value),  # NO, MULTI_CPU / MULTI_GPU (DDP), FSDP, DEEPSPEED
        "train_loss": float(result.training_loss),
        "train_accuracy": pair_accuracy(model, tokenizer, train, max_length),
        "heldout_accuracy": pair_accuracy(model, tokenizer, held, max_length) if held else None,
        "log": [e for e in trainer.state.log_history if "loss" in e],
    }
    return summary
