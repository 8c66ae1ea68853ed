"""The reward model's training data: an arm's label pairs, plus capped red-team pairs.

Red-team pairs (harmful answer vs. a safe rewrite) join the hrlaif arm's RM data, at most
`max_share` of it, kept round robin over topics (`redteam.cap_pairs`), so harmlessness does
not crowd out helpfulness.
"""

from __future__ import annotations

import random
from pathlib import Path

from hrlaif.jsonl import read_jsonl
from hrlaif.labeling.redteam import cap_pairs
from hrlaif.records import Pair, RedteamPair


def rm_pairs(label_pairs: Path, redteam_pairs: Path | None = None, max_share: float = 0.0) -> tuple[list[Pair], dict]:
    """(pairs, counts): the pairs in `label_pairs`, and when `redteam_pairs` is given, as many of
    its pairs as `max_share` allows."""
    pairs: list[Pair] = read_jsonl(label_pairs, Pair)
    counts = {"label_pairs": len(pairs)}
    if redteam_pairs is not None:
        available = read_jsonl(redteam_pairs, RedteamPair)
        used = cap_pairs(available, len(pairs), max_share)
        counts.update(redteam_pairs_available=len(available), redteam_pairs=len(used))
        pairs = pairs + used
    return pairs, counts


def split_pairs(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Hold out whole prompts, so no held-out prompt was seen in training."""
    prompt_ids = sorted({p.prompt_id for p in pairs})
    random.Random(seed).shuffle(prompt_ids)
    held = set(prompt_ids[: int(round(len(prompt_ids) * eval_fraction))])
    return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held]


def rm_split(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out) exactly as the RM stage splits its pairs (and `hrlaif export` marks them):
    `split_pairs`, or every pair in train when holding out would leave none to train on."""
    train, held = split_pairs(pairs, eval_fraction, seed)
    return (train, held) if train else (list(pairs), [])
