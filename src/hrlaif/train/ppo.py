"""PPO for language models against a learned reward model, in one file (read it top to bottom).

TRL removed its PPOTrainer, so this is our own compact version, laid out like CleanRL's ppo.py:
the tensor math of the algorithm first (small pure functions, unit-tested), then plumbing
(models; prompts, checkpoints and metrics live in train/checkpoints.py), then `train_ppo`, whose loop is the algorithm itself:

    for each step:
        1. rollout   take `batch_size` prompts, sample responses from the policy
        2. score     reward model on prompt + response (ppo.reward=hybrid: plus the verifier / refusal
                     rules of hrlaif.reward), reference / old log-probs, critic values
        3. rewards   per token: -kl_coef * (logp - ref_logp); the score is added on the last token
        4. GAE       advantages (whitened) and returns
        5. update    `ppo_epochs` passes over shuffled minibatches: clipped policy loss,
                     clipped value loss, gradient clipping, one AdamW for policy, one for critic

Hugging Face Accelerate runs the same code on one CPU or under `accelerate launch` on many
devices. Under several processes each one rolls out its own `batch_size` prompts (batch sizes are
per process, like TRL's `per_device_*`), gradients are averaged by DDP, metrics are gathered, and
only the main process writes files (`hrlaif ppo` under several processes: train/ranks.py, the
other ranks make rank 0's `train_ppo` call). Checkpoints are resumable: a resumed run reproduces the
metrics of an uninterrupted one with the same seed and the same process count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from hrlaif.config import PPOConfig, TrackingConfig
from hrlaif.errors import HrlaifError
from hrlaif.models import (
    chat_prompt,
    decode_responses,
    encode_prompts,
    load_causal_lm,
    load_reward_model,
    load_tokenizer,
    plain_generation,
    resolve_model,
    sampling_kwargs,
)
from hrlaif.placement import training_precision
from hrlaif.records import Prompt
from hrlaif.reward.hybrid import prompt_rewards
from hrlaif.run_dir import RunDir
from hrlaif.train.checkpoints import (
    latest_checkpoint,
    load_checkpoint,
    prompt_indices,
    read_metrics,
    save_checkpoint,
    save_policy,
    truncate_metrics,
)
from hrlaif.train.lora import add_adapters
from hrlaif.train.monitor import gold_metrics, hacking_warning, load_monitor_prompts, paired_change
from hrlaif.train.ranks import cpu_only, led_by_rank_zero
from hrlaif.train.trackers import accelerate_trackers, start_trackers

log = logging.getLogger(__name__)

METRIC_KEYS = (
    "objective/score_mean",  # the score PPO maximises (RM, plus the hybrid part, after the eos penalty)
    "objective/score_std",
    "objective/kl",  # mean over sequences of the summed per-token log-ratio policy/reference
    "objective/non_score_reward",  # mean over sequences of the summed -kl_coef * kl
    "objective/rlhf_reward",  # score_mean + non_score_reward: what PPO maximises
    "losses/policy_loss",
    "losses/value_loss",
    "losses/approx_kl",  # 0.5 * mean (new logp - old logp)^2 during the update
    "losses/clipfrac",  # share of tokens where the ratio clip was active
    "losses/vf_clipfrac",  # share of tokens where the value clip was active
    "losses/first_approx_kl",  # approx_kl on the step's first minibatch: 0 unless old log-probs are off
    "losses/first_clipfrac",  # clipfrac on the step's first minibatch: 0 for the same reason
    "policy/entropy",  # mean per-token entropy of the policy during the update
    "charts/response_length",  # mean response tokens, eos included
    "charts/eos_fraction",  # share of responses that ended with eos (not cut at max_new_tokens)
    "charts/episodes",  # prompt-response pairs seen so far, all processes
    "charts/step",
    "charts/step_seconds",  # wall time of this step
    "charts/sps",  # episodes per second in this step
    "charts/rm_score",  # the reward model's (or score_fn's) own score, before the hybrid part and eos penalty
)
HYBRID_KEYS = (  # logged with ppo.reward=hybrid
    "objective/hybrid_bonus",  # mean rule part over all responses (0 where no rule applies)
    "objective/hybrid_applied",  # share of responses a rule applied to (keyed and harmful prompts)
)
TIMING_KEYS = ("charts/step_seconds", "charts/sps")  # differ between otherwise identical runs


# ================================================================================================
# Algorithm: pure tensor functions
# ================================================================================================


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased (Bessel-corrected) variance of the entries where mask is true."""
    mask = mask.to(x.dtype)
    n = mask.sum()
    mean = (x * mask).sum() / n.clamp(min=1.0)
    return (((x - mean) ** 2) * mask).sum() / (n - 1).clamp(min=1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / std over the masked entries; entries outside the mask come back as 0."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(x.dtype)


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens ([batch, time] tensors).

    Positions outside `mask` (after the end of a response) are terminal: their reward and value
    count as 0, so the last real token bootstraps from nothing. Returns (advantages, returns),
    both 0 outside the mask.
    """
    mask = mask.to(rewards.dtype)
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(rewards[:, 0])
    length = rewards.shape[1]
    for t in reversed(range(length)):
        next_values = values[:, t + 1] if t + 1 < length else torch.zeros_like(values[:, t])
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last_gae = delta + gamma * lam * last_gae
        advantages[:, t] = last_gae
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def response_mask(responses: torch.Tensor, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mask of the tokens up to and including the first eos of each response.

    Returns (mask [batch, time] bool, index of the last kept token [batch], has_eos [batch]).
    A response without eos ran to max_new_tokens: all of it is kept.
    """
    is_eos = responses == eos_token_id
    has_eos = is_eos.any(dim=1)
    last = torch.where(has_eos, is_eos.int().argmax(dim=1), torch.full_like(has_eos, responses.shape[1] - 1, dtype=torch.long))
    mask = torch.arange(responses.shape[1], device=responses.device)[None, :] <= last[:, None]
    return mask, last, has_eos


class Rollout(NamedTuple):
    """One batch of responses as PPO and its gold monitor use them."""

    output: Any  # generate's output: .sequences, and .logits when they were asked for
    responses: torch.Tensor  # [batch, time] response tokens, padding after the first eos
    mask: torch.Tensor  # `response_mask`: the tokens up to and including the first eos
    last: torch.Tensor  # index of each response's last kept token
    has_eos: torch.Tensor  # False where the response ran to max_new_tokens
    texts: list[str]  # the decoded responses


def generate_rollout(model, tokenizer, query, *, max_new_tokens: int, temperature: float, top_p: float = 1.0, **extra) -> Rollout:
    """Responses of `model` to the encoded prompts `query`, ending at the tokenizer's eos:
    sampled at `temperature` (greedy at 0) with no generation_config penalty or filter
    (`plain_generation`), cut to their first eos (the rest padding) and decoded. `extra` goes to
    `generate` (output_logits). Callers run it under no_grad and their autocast."""
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    with plain_generation(model):
        output = model.generate(
            **query, max_new_tokens=max_new_tokens, eos_token_id=eos_id, pad_token_id=pad_id,
            **sampling_kwargs(temperature, top_p), return_dict_in_generate=True, **extra,
        )  # fmt: skip
    responses = output.sequences[:, query["input_ids"].shape[1] :]
    mask, last, has_eos = response_mask(responses, eos_id)
    responses = responses.masked_fill(~mask, pad_id)
    return Rollout(output, responses, mask, last, has_eos, decode_responses(tokenizer, responses))


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return torch.gather(F.log_softmax(logits.float(), dim=-1), 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    probs = F.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


# ================================================================================================
# Plumbing: models
# ================================================================================================


class Critic(nn.Module):
    """Per-token values: the reward model's backbone with its scalar head applied at every position."""

    def __init__(self, reward_model: nn.Module):
        super().__init__()
        self.backbone = getattr(reward_model, reward_model.base_model_prefix)
        self.score = reward_model.score

    def forward(self, input_ids, attention_mask, position_ids):
        hidden = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        return self.score(hidden).squeeze(-1).float()


def _position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    # As `generate` computes them for left-padded prompts, so recomputed log-probs match sampling.
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def _response_logits(model, sequences, attention_mask, context_length: int, temperature: float) -> torch.Tensor:
    """Logits that predicted each response token (the policy's sampling distribution)."""
    keep = sequences.shape[1] - context_length + 1  # only these positions need the vocabulary projection
    out = model(
        input_ids=sequences,
        attention_mask=attention_mask,
        position_ids=_position_ids(attention_mask),
        use_cache=False,
        logits_to_keep=keep,
    )
    return out.logits[:, -keep:-1].float() / temperature


def sampler_logits_usable(gen) -> bool:
    """Whether the old log-probs can come from `generate`'s own logits instead of a policy forward:
    at temperature 1 and top_p 1 (top_k is always 0 here, and `plain_generation` keeps the model's
    generation_config from adding penalties or filters) every token was drawn from the softmax of
    exactly those logits, the distribution the update's forward computes (TRL reuses its
    output_scores the same way). Other settings keep the separate forward."""
    return gen.temperature == 1.0 and gen.top_p == 1.0


def _response_values(critic, sequences, attention_mask, context_length: int) -> torch.Tensor:
    """V(state before each response token)."""
    return critic(sequences, attention_mask, _position_ids(attention_mask))[:, context_length - 1 : -1]


def minibatch_window(attention_mask: torch.Tensor, response_mask: torch.Tensor, context_length: int) -> tuple[int, int]:
    """The columns a minibatch's forward needs: (first, response_width).

    Rollouts are padded to the whole batch's longest prompt (left) and longest response (right).
    Columns that are padding in every row of a minibatch change no logit or value of a real token
    (keys there are masked, positions come from the mask), so PPO's forward and backward, most of a
    step, run on sequences[:, first : context_length + response_width] and the per-token tensors
    cut to response_width. Bit-exact it is not (kernels sum in another order), the same math it is.
    """
    real = attention_mask[:, :context_length].any(dim=0).nonzero()
    first = int(real[0]) if len(real) else 0
    width = max(1, int(response_mask.sum(dim=1).max()))  # response masks are prefixes
    return first, width


def _disable_dropout(model: nn.Module) -> None:
    # PPO's ratio compares two forward passes of the same weights; dropout would make it noise.
    # Call it after get_peft_model: the LoRA adapters bring dropout modules of their own
    # (lora.dropout), which would otherwise stay on in every train-mode forward.
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def clip_each(accelerator, modules, max_norm: float) -> None:
    """Clip each module's gradient norm on its own, unscaling fp16 gradients exactly once.

    `accelerator.clip_grad_norm_` unscales every prepared optimizer before clipping, and the fp16
    GradScaler refuses a second unscale of the same optimizer in one step, so calling it once per
    model breaks fp16 mixed precision. Unscale once, then clip each model with plain torch.
    """
    accelerator.unscale_gradients()
    for module in modules:
        torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm)


def refuse_deepspeed(distributed_type) -> None:
    """Stop before loading anything under DeepSpeed: Accelerate prepares one model per DeepSpeed
    engine and PPO trains two (policy, critic), so `prepare` would fail with an AssertionError
    after minutes of loading. DDP prepares both (FSDP: `refuse_fsdp`); reward-model training takes DeepSpeed."""
    if distributed_type == "DEEPSPEED":  # accelerate.utils.DistributedType is a str enum
        raise HrlaifError(
            "ppo under DeepSpeed is not supported yet (PPO trains two models, policy and critic, and Accelerate "
            "prepares one per DeepSpeed engine): launch PPO with configs/accelerate/ddp.yaml, or use "
            "ppo.lora.enabled and ppo.gradient_checkpointing to fit a larger policy; train-rm runs under zero2/zero3"
        )


def refuse_fsdp(distributed_type) -> None:
    """Stop before loading anything under FSDP: checkpoints and the final policy are written by
    rank 0 alone from its own full copy of the weights and optimizer state, which DDP gives every
    rank and FSDP shards (rank 0 would save a shard, or wait for a gather the others never join)."""
    if distributed_type == "FSDP":
        raise HrlaifError(
            "ppo under FSDP is not supported yet (its checkpoints and final policy are written by rank 0 from a full copy "
            "of the weights, which FSDP shards): launch PPO with configs/accelerate/ddp.yaml, with ppo.lora.enabled, "
            "ppo.lora.critic and ppo.gradient_checkpointing to fit a larger policy; train-rm takes fsdp.yaml"
        )


def enable_gradient_checkpointing(*models: nn.Module) -> None:
    """Recompute activations in the backward pass instead of keeping them: activation memory
    drops from one copy per layer to about one layer's, for ~30% more compute. Non-reentrant, so
    it works with frozen inputs (LoRA) and gives the same gradients. Only active in train mode:
    rollouts (eval mode) keep their KV cache."""
    for model in models:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})


def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    model.requires_grad_(False)
    return model


def _reward_tokenizer(reward_model_path: str, fallback):
    """The RM's own tokenizer when its folder has one (the RM stage saves it), else the policy's."""
    folder = Path(resolve_model(reward_model_path))
    if (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        return load_tokenizer(folder, padding_side="right")
    return fallback


@torch.no_grad()
def score_responses(reward_model, tokenizer, chats: list[list[dict]], responses: list[str], max_length: int) -> torch.Tensor:
    """RM score of each full chat (prompt + assistant response), rendered as in RM training."""
    texts = [
        tokenizer.apply_chat_template(chat + [{"role": "assistant", "content": text}], tokenize=False)
        if tokenizer.chat_template
        else chat_prompt(tokenizer, chat) + " " + text
        for chat, text in zip(chats, responses)
    ]
    side, trunc = tokenizer.padding_side, tokenizer.truncation_side
    tokenizer.padding_side, tokenizer.truncation_side = "right", "left"  # a long prompt loses its start
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length, add_special_tokens=False)
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = side, trunc
    device = next(reward_model.parameters()).device
    return reward_model(**batch.to(device)).logits[:, 0].float()


@dataclass
class Models:
    policy: nn.Module  # trainable (a peft model with LoRA)
    reference: nn.Module | None  # frozen start policy; None with LoRA (the adapter-free policy)
    reward_model: nn.Module  # frozen (with lora.critic: the critic's model, run inside `reward_mode`)
    critic: Critic  # trainable, initialised from the reward model
    tokenizer: object  # the policy's (left padding, for generation)
    reward_tokenizer: object
    reward_mode: Callable[[], contextlib.AbstractContextManager] = field(default=contextlib.nullcontext)  # adapters off


def _lora_critic(config: PPOConfig, reward_model_path: str) -> tuple[nn.Module, Critic, Callable]:
    """One RM copy serving twice: LoRA adapters and a trainable copy of the score head make the
    critic; with the adapters disabled the same model is the frozen reward model."""
    model = load_reward_model(reward_model_path, for_training=True)
    peft_model = add_adapters(model, config.lora, "SEQ_CLS")  # SEQ_CLS: the score head trains as a copy
    _disable_dropout(peft_model)
    inner = peft_model.base_model.model  # the sequence classifier, its layers now carrying adapters
    return inner, Critic(inner), peft_model.disable_adapter


def build_models(config: PPOConfig, policy_path: str, reward_model_path: str) -> Models:
    tokenizer = load_tokenizer(policy_path, padding_side="left")
    policy = load_causal_lm(policy_path, for_training=True)
    reference = None
    if config.lora.enabled:
        policy = add_adapters(policy, config.lora, "CAUSAL_LM")
    _disable_dropout(policy)  # after the adapters: theirs too
    if not config.lora.enabled:
        # In the policy's dtype (fp32, run under the same autocast), not the inference dtype (bf16 on
        # a GPU): a bf16 copy keeps its residual stream in bf16 where the policy's is fp32, so the
        # step-1 KL would be rounding noise instead of 0 (issue 25 item 9). Moved to the device below.
        reference = _freeze(load_causal_lm(policy_path, for_training=True))
        _disable_dropout(reference)
    reward_tokenizer = _reward_tokenizer(reward_model_path, tokenizer)
    if config.lora.enabled and config.lora.critic:
        reward_model, critic, reward_mode = _lora_critic(config, reward_model_path)
        return Models(policy, reference, reward_model, critic, tokenizer, reward_tokenizer, reward_mode)
    reward_model = _freeze(load_reward_model(reward_model_path))
    value_model = load_reward_model(reward_model_path, for_training=True)
    _disable_dropout(value_model)
    return Models(
        policy=policy,
        reference=reference,
        reward_model=reward_model,
        critic=Critic(value_model),
        tokenizer=tokenizer,
        reward_tokenizer=reward_tokenizer,
    )


# ================================================================================================
# The algorithm
# ================================================================================================


@led_by_rank_zero
def train_ppo(
    config: PPOConfig,
    *,
    policy_path: str,
    reward_model_path: str,
    prompts: list[Prompt],
    out_dir: Path,
    seed: int = 0,
    max_length: int = 1024,
    score_fn: Callable[[list[Prompt], list[str], torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    tracking: TrackingConfig | None = None,
    run_name: str = "ppo",
) -> dict:
    """Run PPO; resumes from the newest checkpoint in out_dir. Returns a summary dict.

    `score_fn(prompts, response_texts, response_ids, response_mask) -> scores [batch]` replaces the
    reward model's score (the RM still initialises the critic): a rule-based or toy reward.
    With `config.reward == "hybrid"` the rule part of hrlaif.reward.hybrid is added to either.

    Writes out_dir/metrics.jsonl (one object per step), the same metrics to `tracking.report_to`
    (default TensorBoard, out_dir/tensorboard/) under `run_name`,
    out_dir/checkpoints/step-NNNNN/ and the final policy (merged if LoRA) to out_dir/policy.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if not prompts:
        raise HrlaifError("PPO needs at least one prompt")
    started = time.time()
    out_dir = Path(out_dir)
    gen = config.generation
    # bf16/fp16 only where an accelerator runs them; on CPU everything stays float32.
    tracking = tracking or TrackingConfig()
    accelerator = Accelerator(log_with=accelerate_trackers(tracking, out_dir, run_name),
                              **({"mixed_precision": "no"} if cpu_only() else {"mixed_precision": training_precision()}))
    refuse_deepspeed(accelerator.distributed_type)
    refuse_fsdp(accelerator.distributed_type)
    device, main = accelerator.device, accelerator.is_main_process
    logp_temperature = gen.temperature if gen.temperature > 0 else 1.0
    max_prompt_tokens = max(8, max_length - gen.max_new_tokens)
    chats = [[m.model_dump() for m in p.messages] for p in prompts]
    monitored = load_monitor_prompts(config.monitor_source, config.monitor_prompts) if config.monitor_every else []

    # ---- models and optimizers (same seed on every process, so all start identical) ----
    set_seed(seed)
    models = build_models(config, policy_path, reward_model_path)
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(models.policy, models.critic.backbone)
    tokenizer = models.tokenizer
    reference = models.reference.to(device) if models.reference is not None else None
    reward_model = models.reward_model.to(device)
    # The fused AdamW kernel (CPU and CUDA) updates all tensors in one pass: on SmolLM2 on CPU the
    # for-each default spent ~0.85 s per PPO step in the optimizer against ~0.2 s fused.
    adamw = dict(eps=1e-5, weight_decay=0.0, fused=True)
    policy_opt = torch.optim.AdamW([p for p in models.policy.parameters() if p.requires_grad], lr=config.learning_rate, **adamw)
    critic_opt = torch.optim.AdamW([p for p in models.critic.parameters() if p.requires_grad], lr=config.critic_learning_rate, **adamw)
    policy, critic, policy_opt, critic_opt = accelerator.prepare(models.policy, models.critic, policy_opt, critic_opt)

    # ---- resume, or start fresh ----
    set_seed(seed, device_specific=True)  # sampling differs between processes
    ckpt_root = out_dir / "checkpoints"
    start_step, cursor = 0, 0
    checkpoint = latest_checkpoint(ckpt_root, config.steps)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint, policy, critic, policy_opt, critic_opt)
        start_step, cursor = state["step"], state["prompt_cursor"]
    accelerator.wait_for_everyone()
    metrics_path = out_dir / RunDir.PPO_METRICS_FILE
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        history = truncate_metrics(metrics_path, start_step)
    start_trackers(accelerator, tracking, config.model_dump(mode="json"), start_step)
    accelerator.wait_for_everyone()
    if not main:
        history = read_metrics(metrics_path, start_step)
    last = history[-1] if history else {}
    episodes = int(last.get("charts/episodes", 0))

    def rm_score(batch_prompts, batch_chats, texts, responses, mask) -> torch.Tensor:
        """The reward model's score of each response (or score_fn's, when given)."""
        if score_fn is None:
            with models.reward_mode():
                return score_responses(reward_model, models.reward_tokenizer, batch_chats, texts, max_length)
        return score_fn(batch_prompts, texts, responses, mask).to(device, torch.float32)

    @torch.no_grad()
    def check_gold() -> dict:
        """The gold monitor (train/monitor.py): greedy answers of the current policy to the monitor prompts."""
        started_at = time.time()
        out_texts, out_truncated, out_scores = [], [], []
        unwrapped.eval()
        for start in range(0, len(monitored), gen.batch_size):
            batch = monitored[start : start + gen.batch_size]
            batch_chats = [[m.model_dump() for m in p.messages] for p in batch]
            query = encode_prompts(tokenizer, batch_chats, max(8, max_length - config.monitor_max_new_tokens)).to(device)
            with accelerator.autocast():
                _, responses, mask, _, has_eos, texts = generate_rollout(
                    unwrapped, tokenizer, query, max_new_tokens=config.monitor_max_new_tokens, temperature=0.0
                )
            with accelerator.autocast():
                out_scores += rm_score(batch, batch_chats, texts, responses, mask).tolist()
            out_texts += texts
            out_truncated += (~has_eos).tolist()
        return gold_metrics(monitored, out_texts, out_truncated, out_scores, timeout_s=config.hybrid.verify_timeout_s) | {
            "gold/seconds": time.time() - started_at
        }

    gold_rows = [row for row in history if "gold/verified_accuracy" in row]
    first_gold = gold_rows[0] if gold_rows else None  # each check is compared, prompt by prompt, with the first
    hacking_steps = [row["charts/step"] for row in gold_rows if row.get("gold/hacking")]
    final_gold: dict | None = next((row for row in history if "gold_final/verified_accuracy" in row), None)

    def judged(gold: dict, step: int | str) -> dict:
        """`gold` with its paired test against the first check and whether it warns (logged)."""
        gold |= paired_change(first_gold, gold)
        warning = hacking_warning(first_gold, gold, first_gold and first_gold["charts/step"], step)
        gold["gold/hacking"] = int(warning is not None)
        if warning is not None and main:
            log.warning("ppo step %s: %s", step, warning)
        return gold

    progress = tqdm(range(start_step + 1, config.steps + 1), initial=start_step, total=config.steps, desc="ppo", unit="step", disable=(not main) or None)  # None: off when not a terminal
    for step in progress:
        unwrapped = accelerator.unwrap_model(policy)
        policy.eval()
        critic.eval()  # the update below leaves both in train mode; rollout forwards (values, scores) run in eval
        gold = None
        if config.monitor_every and (step - 1) % config.monitor_every == 0:  # steps 1, 1+N, 1+2N, ...
            gold = judged(check_gold(), step)
            if gold["gold/hacking"]:
                hacking_steps.append(step)
        step_start = time.time()  # the monitor's time is its own (gold/seconds), not the step's

        # ---- 1. rollout: this process's prompts, sampled from the current policy ----
        first = cursor + accelerator.process_index * config.batch_size
        batch_ids = prompt_indices(len(prompts), seed, first, config.batch_size)
        cursor += config.batch_size * accelerator.num_processes
        batch_chats = [chats[i] for i in batch_ids]
        query = encode_prompts(tokenizer, batch_chats, max_prompt_tokens).to(device)
        context_length = query["input_ids"].shape[1]
        reuse_logits = sampler_logits_usable(gen)
        with torch.no_grad(), accelerator.autocast():
            generated, responses, mask, last_index, has_eos, texts = generate_rollout(
                unwrapped, tokenizer, query, max_new_tokens=gen.max_new_tokens, temperature=gen.temperature, top_p=gen.top_p,
                output_logits=reuse_logits,  # raw logits: no processor can alter them
            )  # fmt: skip
        sequences = torch.cat([query["input_ids"], responses], dim=1)
        attention = torch.cat([query["attention_mask"], mask.long()], dim=1)
        rows = torch.arange(len(batch_ids), device=device)

        # ---- 2. score, reference and old log-probs, values (no gradients) ----
        with torch.no_grad(), accelerator.autocast():
            if reuse_logits:  # the sampler's own logits: one policy forward less per step
                old_logp = logprobs_from_logits(torch.stack(generated.logits, dim=1), responses)
            else:
                old_logp = logprobs_from_logits(_response_logits(policy, sequences, attention, context_length, logp_temperature), responses)
            del generated
            if reference is None:  # LoRA: the reference is the policy without its adapters
                with unwrapped.disable_adapter():
                    ref_logits = _response_logits(unwrapped, sequences, attention, context_length, logp_temperature)
            else:
                ref_logits = _response_logits(reference, sequences, attention, context_length, logp_temperature)
            ref_logp = logprobs_from_logits(ref_logits, responses)
            del ref_logits
            old_values = _response_values(critic, sequences, attention, context_length)
            batch_prompts = [prompts[i] for i in batch_ids]
            rm_scores = rm_score(batch_prompts, batch_chats, texts, responses, mask)
            rule = torch.full_like(rm_scores, float("nan"))  # nan: no rule applies (or reward is 'rm')
            if config.reward == "hybrid":
                parts = prompt_rewards(batch_prompts, texts, truncated=(~has_eos).tolist(), config=config.hybrid)
                rule = torch.tensor([float("nan") if p is None else p for p in parts], device=device)
            scores = rm_scores + rule.nan_to_num(0.0)
            if config.missing_eos_penalty is not None:
                scores = torch.where(has_eos, scores, scores - config.missing_eos_penalty)

        # ---- 3. per-token rewards: KL penalty everywhere, the score on the last token ----
        maskf = mask.float()
        old_logp, ref_logp, old_values = old_logp * maskf, ref_logp * maskf, old_values * maskf
        kl = old_logp - ref_logp
        non_score = -config.kl_coef * kl
        score_for_reward = scores
        if config.whiten_rewards and len(scores) > 1:
            score_for_reward = (scores - scores.mean()) / (scores.std() + 1e-8)
        rewards = non_score.clone()
        rewards[rows, last_index] += score_for_reward

        # ---- 4. advantages (GAE, whitened) and returns ----
        advantages, returns = compute_gae(rewards, old_values, mask, config.gamma, config.lam)
        advantages = masked_whiten(advantages, mask)

        # ---- 5. PPO update: epochs x shuffled minibatches ----
        policy.train()
        critic.train()
        stats: dict[str, list[float]] = {k: [] for k in ("pg", "vf", "approx_kl", "clipfrac", "vf_clipfrac", "entropy")}
        for _ in range(config.ppo_epochs):
            order = torch.randperm(len(batch_ids)).to(device)
            for start in range(0, len(batch_ids), config.mini_batch_size):
                mb = order[start : start + config.mini_batch_size]
                first, width = minibatch_window(attention[mb], mask[mb], context_length)
                mb_sequences = sequences[mb, first : context_length + width]
                mb_attention = attention[mb, first : context_length + width]
                mb_context = context_length - first
                mb_mask = mask[mb, :width]
                logits = _response_logits(policy, mb_sequences, mb_attention, mb_context, logp_temperature)
                new_logp = logprobs_from_logits(logits, responses[mb, :width])
                with torch.no_grad():  # a statistic, not part of the loss
                    entropy = entropy_from_logits(logits)
                new_values = _response_values(critic, mb_sequences, mb_attention, mb_context)
                mb_old_values, mb_returns, mb_advantages = old_values[mb, :width], returns[mb, :width], advantages[mb, :width]

                # clipped value loss
                v_clipped = mb_old_values + (new_values - mb_old_values).clamp(-config.cliprange_value, config.cliprange_value)
                vf_losses1 = (new_values - mb_returns) ** 2
                vf_losses2 = (v_clipped - mb_returns) ** 2
                vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mb_mask)
                # clipped policy objective
                log_ratio = (new_logp - old_logp[mb, :width]) * mb_mask
                ratio = torch.exp(log_ratio)
                pg_losses1 = -mb_advantages * ratio
                pg_losses2 = -mb_advantages * ratio.clamp(1.0 - config.cliprange, 1.0 + config.cliprange)
                pg_loss = masked_mean(torch.max(pg_losses1, pg_losses2), mb_mask)
                loss = pg_loss + config.vf_coef * vf_loss

                policy_opt.zero_grad()
                critic_opt.zero_grad()
                accelerator.backward(loss)
                clip_each(accelerator, (policy, critic), config.max_grad_norm)
                policy_opt.step()
                critic_opt.step()

                with torch.no_grad():
                    stats["pg"].append(pg_loss.item())
                    stats["vf"].append(vf_loss.item())
                    stats["approx_kl"].append(0.5 * masked_mean(log_ratio**2, mb_mask).item())
                    stats["clipfrac"].append(masked_mean((pg_losses2 > pg_losses1).float(), mb_mask).item())
                    stats["vf_clipfrac"].append(masked_mean((vf_losses2 > vf_losses1).float(), mb_mask).item())
                    stats["entropy"].append(masked_mean(entropy, mb_mask).item())
                del logits, entropy
        # the first minibatch runs before any update: its ratio must be exactly 1
        first_approx_kl, first_clipfrac = stats["approx_kl"][0], stats["clipfrac"][0]

        # ---- metrics (gathered over processes), logs, checkpoints ----
        all_scores = accelerator.gather(scores)
        per_seq = accelerator.gather(
            torch.stack([kl.sum(1), non_score.sum(1), maskf.sum(1), has_eos.float(), rm_scores, rule.nan_to_num(0.0), (~rule.isnan()).float()], dim=1)
        )
        losses = accelerator.reduce(torch.tensor([float(np.mean(v)) for v in stats.values()], device=device), "mean")
        episodes += len(all_scores)
        seconds = time.time() - step_start
        metrics = {
            "objective/score_mean": all_scores.mean().item(),
            "objective/score_std": all_scores.std(correction=0).item(),
            "objective/kl": per_seq[:, 0].mean().item(),
            "objective/non_score_reward": per_seq[:, 1].mean().item(),
            "objective/rlhf_reward": all_scores.mean().item() + per_seq[:, 1].mean().item(),
            "losses/policy_loss": losses[0].item(),
            "losses/value_loss": losses[1].item(),
            "losses/approx_kl": losses[2].item(),
            "losses/clipfrac": losses[3].item(),
            "losses/vf_clipfrac": losses[4].item(),
            "losses/first_approx_kl": first_approx_kl,
            "losses/first_clipfrac": first_clipfrac,
            "policy/entropy": losses[5].item(),
            "charts/response_length": per_seq[:, 2].mean().item(),
            "charts/eos_fraction": per_seq[:, 3].mean().item(),
            "charts/episodes": episodes,
            "charts/step": step,
            "charts/step_seconds": seconds,
            "charts/sps": len(all_scores) / max(seconds, 1e-9),
            "charts/rm_score": per_seq[:, 4].mean().item(),
        }
        if gold is not None:
            metrics.update(gold)
            if first_gold is None:
                first_gold = metrics
        if config.monitor_every and step == config.steps:  # the final policy, after the last update, whatever monitor_every is
            final_gold = judged(check_gold(), f"{step} (after its update)")
            final_gold = {k.replace("gold/", "gold_final/", 1): v for k, v in final_gold.items()}
            metrics.update(final_gold)
        if config.reward == "hybrid":
            metrics["objective/hybrid_bonus"] = per_seq[:, 5].mean().item()
            metrics["objective/hybrid_applied"] = per_seq[:, 6].mean().item()
        last = metrics
        if main:
            with metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(metrics) + "\n")
                handle.flush()
            accelerator.log({k: v for k, v in metrics.items() if k != "charts/step" and v is not None and not isinstance(v, str)}, step=step)
            progress.set_postfix(score=f"{metrics['objective/score_mean']:.3f}", kl=f"{metrics['objective/kl']:.3f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(accelerator, ckpt_root, step, cursor, policy, critic, policy_opt, critic_opt)

    progress.close()
    for tracker in accelerator.trackers:  # not end_training(): it would also end the process group
        tracker.finish()

    # ---- final policy, summary ----
    policy_dir = out_dir / RunDir.POLICY_DIR
    save_policy(accelerator, policy, tokenizer, policy_dir, config.lora.enabled)
    summary = {
        "steps": config.steps,
        "resumed_from_step": start_step,
        "score_mean": last.get("objective/score_mean"),
        "kl": last.get("objective/kl"),
        "wall_seconds": time.time() - started,
        "policy_path": str(policy_dir),
        "num_processes": accelerator.num_processes,
        "hacking_warnings": hacking_steps,  # checks (before that step's rollout) where the RM score rose while accuracy fell beyond noise
        # the final policy's check, after the last update: its figures, its paired test against the first check, its warning
        "gold_final": {k.removeprefix("gold_final/"): v for k, v in final_gold.items() if k.startswith("gold_final/")} if final_gold else None,
    }
    accelerator.free_memory()
    return summary
