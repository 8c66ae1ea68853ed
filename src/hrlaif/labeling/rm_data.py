"""The reward model's training data: an arm's label pairs, plus capped red-team pairs.

Red-team pairs (harmful answer vs. a safe rewrite) join the hrlaif arm's RM data, at most
`max_share` of it, kept round robin over topics (`redteam.cap_pairs`), so harmlessness does
not crowd out helpfulness.
"""

from __future__ import annotations

import hashlib
import json
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


SPLIT_RULE = "prompt-hash"
"""The held-out rule `split_pairs` applies, recorded in each RM's summary: an RM trained before it
(no `split` there) held out a seeded shuffle of its own arm's prompts (`shuffled_split`)."""


def _place(seed: int, prompt_id: str) -> str:
    return hashlib.sha256(f"{seed}\0{prompt_id}".encode()).hexdigest()


def split_pairs(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """Hold out whole prompts, so no held-out prompt was seen in training, and the same prompts in
    every arm: the round(n * eval_fraction) prompts placed first by a hash of (seed, prompt id), not
    by a shuffle of this arm's own prompts (one prompt more or less reshuffled them all, so two
    arms shared about eval_fraction^2 of their held-out prompts and their RMs could not be scored on
    one set: `evaluate.rm_heldout`). Label prompts and red-team attacks are held out apart, so an
    arm's red-team pairs do not take its labeled prompts' places."""
    held: set[str] = set()
    for kind in (False, True):
        ids = sorted({p.prompt_id for p in pairs if isinstance(p, RedteamPair) == kind}, key=lambda i: _place(seed, i))
        held.update(ids[: int(round(len(ids) * eval_fraction))])
    return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held]


def shuffled_split(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """The rule before `SPLIT_RULE`: a seeded shuffle of the arm's own prompts. Kept to read which
    prompts an older RM trained on."""
    prompt_ids = sorted({p.prompt_id for p in pairs})
    random.Random(seed).shuffle(prompt_ids)
    held = set(prompt_ids[: int(round(len(prompt_ids) * eval_fraction))])
    return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held]


def rm_split(pairs: list[Pair], eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair]]:
    """(train, held out) exactly as the RM stage splits its pairs (and `hrlaif export` marks them):
    `split_pairs`, or every pair in train when holding out would leave none to train on."""
    train, held = split_pairs(pairs, eval_fraction, seed)
    return (train, held) if train else (list(pairs), [])


def heldout_record(held: list[Pair]) -> dict:
    """What an RM's summary records of its split: the rule, and the prompts it held out."""
    return {"split": SPLIT_RULE, "heldout_prompts": sorted({p.prompt_id for p in held})}


def recorded_split(pairs: list[Pair], summary: dict | None, eval_fraction: float, seed: int) -> tuple[list[Pair], list[Pair], str]:
    """(train, held out, how it was read) as an arm's RM split `pairs`: the held-out prompts its
    summary records; for an RM trained before the record, the shuffle it used (`shuffled_split`);
    with no RM yet (`summary` None), as `rm_split` would split them now."""
    if summary is None:
        return *rm_split(pairs, eval_fraction, seed), "the split rule (no reward model trained yet)"
    if summary.get("split") == SPLIT_RULE:
        held = set(summary.get("heldout_prompts") or [])
        return [p for p in pairs if p.prompt_id not in held], [p for p in pairs if p.prompt_id in held], "recorded"
    train, held_pairs = shuffled_split(pairs, eval_fraction, seed)
    how = "reconstructed (the seeded shuffle of RMs trained before the split was recorded)"
    return (train, held_pairs, how) if train else (list(pairs), [], how)


def read_rm_summary(path: Path) -> dict | None:
    """An RM's summary.json (where its split is recorded), None where no RM was trained."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
