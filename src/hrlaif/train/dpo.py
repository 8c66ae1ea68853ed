"""DPO as another arm: the policy trained directly on an arm's preference pairs with TRL's
DPOTrainer, no reward model and no rollouts.

The pairs are exactly the ones the arm's RM trains on (labels, plus capped red-team pairs for
hrlaif), so a DPO arm beside a PPO arm shows what the labels do under each algorithm. It is a
cheap way to ask whether the hybrid labels help, and what many users try first.
"""

from __future__ import annotations

from pathlib import Path

from hrlaif.config import DPOConfig
from hrlaif.environment import library_bars_wanted
from hrlaif.errors import HrlaifError
from hrlaif.records import Pair
from hrlaif.run_dir import RunDir
from hrlaif.train.lora import peft_lora_config
from hrlaif.train.trainer_args import trainer_config


def dpo_rows(pairs: list[Pair]) -> list[dict]:
    """TRL's conversational preference rows: only the columns DPOTrainer reads (never a `margin`)."""
    return [{"prompt": [m.model_dump() for m in p.prompt], "chosen": [m.model_dump() for m in p.chosen],
             "rejected": [m.model_dump() for m in p.rejected]} for p in pairs]


def train_dpo(pairs: list[Pair], policy_path: str, config: DPOConfig, out_dir: Path, *, seed: int = 0, max_length: int = 1024) -> dict:
    """Train the start policy on `pairs`; save the (LoRA-merged) policy to out_dir/'policy'."""
    # Imported here on purpose: torch, datasets, trl and the hrlaif modules that load torch take
    # seconds to import; they load only when DPO runs, not with `dpo_rows`.
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig as TrlDPOConfig
    from trl import DPOTrainer

    from hrlaif.models import load_causal_lm, load_tokenizer
    from hrlaif.placement import training_precision
    from hrlaif.train.checkpoints import save_model_folder

    if not pairs:
        raise HrlaifError("DPO needs at least one pair: label more prompts (see the label manifest)")
    set_seed(seed)
    tokenizer = load_tokenizer(policy_path, padding_side="left")
    policy = load_causal_lm(policy_path, for_training=True)
    peft_config = peft_lora_config(config.lora, "CAUSAL_LM") if config.lora.enabled else None
    bf16 = training_precision() == "bf16"
    args = trainer_config(TrlDPOConfig, "dpo", dict(
        output_dir=str(out_dir / "trainer"),
        per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.learning_rate,
        beta=config.beta,
        max_length=max_length,
        bf16=bf16,
        fp16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=seed,
        disable_tqdm=not library_bars_wanted(),  # no step bar redrawn into a log file
    ), config.trainer_args)
    trainer = DPOTrainer(model=policy, args=args, train_dataset=Dataset.from_list(dpo_rows(pairs)),
                         processing_class=tokenizer, peft_config=peft_config)
    result = trainer.train()
    model = trainer.model.merge_and_unload() if peft_config is not None else trainer.model  # plain weights, loadable without peft
    save_model_folder(model, tokenizer, out_dir / RunDir.POLICY_DIR)
    logged = [r for r in trainer.state.log_history if "loss" in r]
    return {
        "pairs": len(pairs),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "final": {k: v for k, v in (logged[-1] if logged else {}).items() if isinstance(v, (int, float))},
        "lora": config.lora.enabled,
    }
