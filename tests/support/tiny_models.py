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


def build_tiny_gguf(model_folder: Path, path: Path) -> Path:
    """The tiny model of `build_tiny_model` written as an F32 llama GGUF file, as llama.cpp's converter
    writes one (q/k rows permuted, a gpt2-style BPE vocabulary): a GGUF that converts in seconds."""
    import json

    import gguf
    import numpy as np
    from safetensors.numpy import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_folder)
    weights = load_file(str(model_folder / "model.safetensors"))
    vocab = json.loads((model_folder / "tokenizer.json").read_text(encoding="utf-8"))
    specials = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    tokens = {**vocab["model"]["vocab"], **specials}
    ordered = sorted(tokens, key=tokens.get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in vocab["model"]["merges"]]
    tokenizer_config = json.loads((model_folder / "tokenizer_config.json").read_text(encoding="utf-8"))

    def permute(w: np.ndarray, heads: int) -> np.ndarray:  # llama.cpp's rotary layout of q and k rows
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"] if getattr(config, "rope_parameters", None) else config.rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(len(ordered))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(ordered)
    writer.add_token_types([gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in ordered])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config.bos_token_id)
    writer.add_eos_token_id(config.eos_token_id)
    writer.add_pad_token_id(config.pad_token_id)
    writer.add_chat_template(tokenizer_config.get("chat_template") or CHAT_TEMPLATE)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", weights["model.norm.weight"])
    for layer in range(config.num_hidden_layers):
        for ours, theirs in names.items():
            w = weights[f"model.layers.{layer}.{ours}.weight"]
            if theirs == "attn_q":
                w = permute(w, config.num_attention_heads)
            elif theirs == "attn_k":
                w = permute(w, config.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{theirs}.weight", np.ascontiguousarray(w, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def steer_token(model_folder: Path, target: Path, token_id: int, strength: float) -> Path:
    """The model at `model_folder` rewired in its weights so that `token_id`'s logit is about
    5.7 x `strength` at every step, against about 0 for the rest: every token's embedding gets a
    large constant component that only that token's row of an untied output layer reads. Large
    and positive: it says that token every time; negative: never. Saved with its tokenizer to
    `target` (a policy whose answers are known, without touching its generation_config)."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    base = LlamaForCausalLM.from_pretrained(model_folder)
    base.config.tie_word_embeddings = False
    steered = LlamaForCausalLM(base.config)
    steered.load_state_dict(base.state_dict())
    with torch.no_grad():
        steered.model.embed_tokens.weight[:, 0] = 10.0
        steered.lm_head.weight.copy_(base.lm_head.weight)
        steered.lm_head.weight[token_id, 0] = strength
    steered.save_pretrained(target)
    AutoTokenizer.from_pretrained(model_folder).save_pretrained(target)
    return target
