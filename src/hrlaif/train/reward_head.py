"""A cheap reward model (`reward.method: head`): a linear score head fitted on the frozen
backbone's features, the same Bradley-Terry (or soft) loss as the full RM.

Why: a full RM fine-tune of SmolLM2-135M costs ~5 minutes per arm on 2 CPU cores, so a study
with three arms, or a demo, cannot afford one per arm. The head needs one forward pass per text
(the pooled last hidden state the classifier would score) and a convex fit of a few seconds.
The pilot of issue 29 (SmolLM2-135M, 180 train prompts x 4 samples of bundled:reach_train, 160
held-out prompts of bundled:reach_eval x 4): the head on oracle labels picked a right answer
among 4 samples 51% of the time against 35% for a random pick (+16.7 points); on "longer wins"
labels it fell to 21% (the longest answer: 23%), as a style-fooled RM should.

The saved folder is a whole sequence classifier (the backbone unchanged, the fitted head), so
best-of-n, PPO, the reward server and `export` read it like any RM. No library fits a linear
Bradley-Terry head on frozen transformer features, hence the few lines here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

from hrlaif.config import RewardConfig
from hrlaif.errors import HrlaifError
from hrlaif.file_modes import follow_umask
from hrlaif.labeling.rm_data import heldout_record, rm_split
from hrlaif.models import load_reward_model, load_tokenizer
from hrlaif.records import Pair
from hrlaif.run_dir import RunDir
from hrlaif.stats import wilson
from hrlaif.train.reward import pair_chats, pooled_outputs

FEATURE_BATCH = 32  # texts per forward pass: short chats, memory-bound decoding favours big batches


def features(model, tokenizer, chats: list[list[dict]], max_length: int, batch_size: int = FEATURE_BATCH) -> torch.Tensor:
    """What the score head sees for each chat: the classifier's pooled hidden state, taken by
    running the model with an identity head (so the pooling is exactly the one scoring uses)."""
    keys = [repr(c) for c in chats]  # a text several pairs share is run once
    first: dict[str, list[dict]] = {}
    for key, chat in zip(keys, chats):
        first.setdefault(key, chat)
    unique = list(first)
    head, model.score = model.score, torch.nn.Identity()
    try:
        rows = torch.cat(pooled_outputs(model, tokenizer, [first[k] for k in unique], max_length, batch_size)) if unique else torch.empty(0)
    finally:
        model.score = head
    index = {key: i for i, key in enumerate(unique)}
    return rows[[index[key] for key in keys]]


def score_chats(reward_models: dict[str, str | Path], chats: Sequence[list[dict]], max_length: int = 1024,
                batch_size: int = 8) -> dict[str, list[float]]:
    """Each reward model's score of every chat (a prompt's messages + the assistant's response).

    RMs that share a backbone (heads fitted on the frozen start model) share its forward pass: the
    pooled features are computed once and each head applied to them, the same numbers each
    classifier gives on its own, at a third of the time for three arms (best-of-n reranking, the
    shared held-out set)."""
    seen: list[tuple[dict, torch.Tensor]] = []  # (backbone weights, their features) per distinct backbone
    found: dict[str, list[float]] = {}
    for name, rm_dir in reward_models.items():
        tokenizer = load_tokenizer(rm_dir, padding_side="right")
        model = load_reward_model(rm_dir)
        model.config.pad_token_id = tokenizer.pad_token_id
        backbone = {k: v for k, v in model.state_dict().items() if not k.startswith("score.")}
        shared = next((f for weights, f in seen if weights.keys() == backbone.keys() and all(torch.equal(weights[k], backbone[k]) for k in backbone)), None)
        with torch.inference_mode():  # scoring only: no autograd graph (memory and time)
            if shared is None:
                shared = features(model, tokenizer, list(chats), max_length, batch_size)
                seen.append((backbone, shared))
            found[name] = (shared.to(model.score.weight.dtype) @ model.score.weight.T.cpu())[:, 0].float().tolist()
    return found


def pair_features(model, tokenizer, pairs: list[Pair], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen, rejected) features of `pairs` from one `features` call: with K samples a prompt
    a response sits in up to K-1 pairs, as chosen in some and rejected in others, and runs once."""
    chosen, rejected = pair_chats(pairs)
    both = features(model, tokenizer, chosen + rejected, max_length)
    return both[: len(pairs)], both[len(pairs) :]


def fit_head(chosen: torch.Tensor, rejected: torch.Tensor, chosen_prob: torch.Tensor, l2: float) -> torch.Tensor:
    """Weights w minimising the pairs' cross-entropy against sigmoid(w . (chosen - rejected)),
    with L2 on standardized features (features differ in scale by orders of magnitude); convex,
    so L-BFGS from zero gives the same head on every run."""
    diff = chosen - rejected
    scale = torch.cat([chosen, rejected]).std(0) + 1e-4
    d = diff / scale
    w = torch.zeros(d.shape[1], dtype=d.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")
    logsigmoid = torch.nn.functional.logsigmoid

    def closure():
        opt.zero_grad()
        margin = d @ w
        loss = -(chosen_prob * logsigmoid(margin) + (1 - chosen_prob) * logsigmoid(-margin)).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (w.detach() / scale).to(chosen.dtype)


def _accuracy(weights: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor) -> dict:
    wins = int(((chosen - rejected) @ weights > 0).sum())
    return wilson(wins, len(chosen)).model_dump()


def train_reward_head(
    pairs: list[Pair], backbone: str, config: RewardConfig, out_dir: Path, *, seed: int = 0, max_length: int = 1024,
) -> dict:
    """Fit the score head on `pairs` (held out as the full RM holds out) and save the classifier to
    out_dir/'model'; returns the same summary keys as `train_reward_model`."""
    if len(pairs) < 2:
        raise HrlaifError(f"reward model training needs at least 2 pairs, got {len(pairs)}: label more prompts (see the label manifest)")
    started = time.monotonic()
    train, held = rm_split(pairs, config.eval_fraction, seed)
    tokenizer = load_tokenizer(backbone, padding_side="right")
    model = load_reward_model(backbone)
    model.config.pad_token_id = tokenizer.pad_token_id
    with torch.inference_mode():
        feats = {name: pair_features(model, tokenizer, part, max_length) for name, part in (("train", train), ("held", held))}
    probs = torch.tensor([p.chosen_prob if config.loss == "soft" else 1.0 for p in train], dtype=torch.float)
    weights = fit_head(*feats["train"], probs, config.head_l2)
    with torch.no_grad():
        model.score.weight.copy_(weights.to(model.score.weight.dtype)[None, :])
    model_dir = out_dir / RunDir.REWARD_MODEL_DIR
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    follow_umask(model_dir)  # safetensors writes the weights 0600
    return {
        "train_pairs": len(train),
        "heldout_pairs": len(held),
        **heldout_record(held),
        "loss": config.loss,
        "method": "head",
        "head_l2": config.head_l2,
        "num_processes": 1,
        "distributed_type": "NO",
        "train_accuracy": _accuracy(weights, *feats["train"]),
        "heldout_accuracy": _accuracy(weights, *feats["held"]) if held else None,
        "fit_seconds": round(time.monotonic() - started, 1),
        "log": [],
    }
