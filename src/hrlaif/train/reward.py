"""Reward-model training on preference pairs with TRL's RewardTrainer (Bradley-Terry loss)."""

from __future__ import annotations

import random
from pathlib import Path

import torch
from datasets import Dataset

from hrlaif.config import RewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.records import Pair
from hrlaif.stats import wilson


def split_pairs(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Hold out whole prompts, so no held-out prompt was seen in training."""
    prompt_ids = sorted({p.prompt_id for p in pairs})
    random.Random(seed).shuffle(prompt_ids)
    held = set(prompt_ids[: int(round(len(prompt_ids) * eval_fraction))])
    return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held]


def _to_dataset(pairs: list[Pair]) -> Dataset:
    # Only the columns TRL reads: our `margin` is the judge's confidence, while TRL would
    # subtract a `margin` column inside the loss, which means something else.
    return Dataset.from_list(
        [
            {
                "prompt": [m.model_dump() for m in p.prompt],
                "chosen": [m.model_dump() for m in p.chosen],
                "rejected": [m.model_dump() for m in p.rejected],
            }
            for p in pairs
        ]
    )


@torch.no_grad()
def score_texts(model, tokenizer, chats: list[list[dict]], max_length: int, batch_size: int = 8) -> list[float]:
    """Reward of each full chat (prompt + response)."""
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    scores: list[float] = []
    try:
        for start in range(0, len(chats), batch_size):
            texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in chats[start : start + batch_size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length, add_special_tokens=False)
            scores.extend(model(**batch).logits[:, 0].float().tolist())
    finally:
        tokenizer.padding_side = side
    return scores


def pair_accuracy(model, tokenizer, pairs: list[Pair], max_length: int) -> dict:
    """Share of pairs where the RM scores `chosen` above `rejected`, with its interval."""
    prompts = [[m.model_dump() for m in p.prompt] for p in pairs]
    chosen = score_texts(model, tokenizer, [c + [p.chosen[0].model_dump()] for c, p in zip(prompts, pairs)], max_length)
    rejected = score_texts(model, tokenizer, [c + [p.rejected[0].model_dump()] for c, p in zip(prompts, pairs)], max_length)
    wins = sum(c > r for c, r in zip(chosen, rejected))
    return wilson(wins, len(pairs)).model_dump()


def train_reward_model(
    pairs: list[Pair], backbone: str, config: RewardConfig, out_dir: Path, *, seed: int = 0, max_length: int = 1024
) -> dict:
    """Train an RM from `backbone` on `pairs`; saves model + tokenizer to out_dir/'model'."""
    from transformers import set_seed
    from trl import RewardConfig as TrlRewardConfig
    from trl import RewardTrainer

    if len(pairs) < 2:
        raise HrlaifError(f"reward model training needs at least 2 pairs, got {len(pairs)}: label more prompts")
    train, held = split_pairs(pairs, config.eval_fraction, seed)
    if not train:
        train, held = pairs, []
    tokenizer = load_tokenizer(backbone, padding_side="right")
    # The score head is new, drawn from the global RNG: seed it here, or the RM would depend on
    # what earlier stages of the same process drew (a resumed run, skipping them, got another RM).
    set_seed(seed)
    model = load_reward_model(backbone)
    model.config.pad_token_id = tokenizer.pad_token_id
    args = TrlRewardConfig(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        max_length=max_length,
        bf16=False,
        fp16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=seed,
        disable_tqdm=False,
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=_to_dataset(train), processing_class=tokenizer)
    result = trainer.train()
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    model = trainer.model
    summary = {
        "train_pairs": len(train),
        "heldout_pairs": len(held),
        "train_loss": float(result.training_loss),
        "train_accuracy": pair_accuracy(model, tokenizer, train, max_length),
        "heldout_accuracy": pair_accuracy(model, tokenizer, held, max_length) if held else None,
        "log": [e for e in trainer.state.log_history if "loss" in e],
    }
    return summary
