"""Tiny random models and tokenizers built in a folder in seconds, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "What is 12 + 7? The answer is 19.",
    "A. Paris B. Rome C. Madrid D. Berlin. Answer with the letter of the correct option.",
    "I cannot help with that request, it could hurt people.",
    "Here is a short tip: keep a regular sleep schedule and avoid screens late at night.",
    "Which response is better? Reply with A or B. YES NO",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 #### \\boxed{42} = + - * / % $",
] * 20


def build_tiny_model(
    folder: Path, *, layers: int = 2, hidden: int = 32, seed: int = 0, pad_token: str = "<|im_end|>", max_positions: int = 512
) -> Path:
    """A random Llama with a BPE tokenizer trained on a few sentences: seconds, not minutes.

    `pad_token` defaults to eos, as in SmolLM2; TRL's PPOTrainer needs a distinct one
    ("<|endoftext|>") because it finds padding as `token == pad_token_id`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token=pad_token, bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
