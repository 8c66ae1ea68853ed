"""LoRA adapters: the one peft configuration every trainer uses (`ppo.lora`, `dpo.lora`).

Every linear layer gets adapters of rank `lora.r`, scale `lora.alpha` and dropout
`lora.dropout`. The task type says what else trains: CAUSAL_LM for a policy, SEQ_CLS for a
reward-model critic (its score head trains as a copy).
"""

from __future__ import annotations

from hrlaif.config import LoraAdapters


def peft_lora_config(lora: LoraAdapters, task_type: str):
    """peft's LoraConfig for `lora` on all linear layers, for `task_type` (CAUSAL_LM, SEQ_CLS)."""
    from peft import LoraConfig as PeftLoraConfig  # peft loads only when LoRA is on

    return PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules="all-linear", task_type=task_type
    )


def add_adapters(model, lora: LoraAdapters, task_type: str):
    """`model` as a peft model carrying the adapters of `peft_lora_config(lora, task_type)`."""
    # Looked up in peft at each call: bench/ppo_vs_trl.py wraps peft.get_peft_model to record
    # what it adapted.
    from peft import get_peft_model

    return get_peft_model(model, peft_lora_config(lora, task_type))
