"""Loading prompt sets: a user's JSONL file or one bundled with the package."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Literal, TypeVar

from hrlaif.config import DataConfig
from hrlaif.data import bundled_path
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import read_jsonl
from hrlaif.records import CATEGORIES, Prompt

T = TypeVar("T")


def prompt_file(spec: str) -> Path:
    """'bundled:train' -> the packaged file; anything else is a path."""
    if spec.startswith("bundled:"):
        return bundled_path(spec.split(":", 1)[1])
    return Path(spec)


def round_robin(groups: list[list[T]], limit: int) -> list[T]:
    """Up to `limit` items, one from each group in turn, so a small sample still covers every group."""
    picked: list[T] = []
    index = 0
    while len(picked) < limit and any(index < len(group) for group in groups):
        for group in groups:
            if index < len(group) and len(picked) < limit:
                picked.append(group[index])
        index += 1
    return picked


def balanced(prompts: list[Prompt], limit: int | None) -> list[Prompt]:
    """Take up to `limit` prompts, round-robin over categories in file order, so a small
    demo still sees every category."""
    if limit is None or limit >= len(prompts):
        return prompts
    by_category: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in prompts:
        by_category[prompt.category].append(prompt)
    return round_robin([by_category[c] for c in CATEGORIES if by_category.get(c)], limit)


def load_prompts(spec: str, limit: int | None = None, data: DataConfig | None = None, which: Literal["train", "eval"] = "train") -> list[Prompt]:
    """The prompts of `spec`: bundled sets and our own JSONL strictly (errors name file and line);
    any other source or shape through `data` (data.format, data.columns; see prompt_sources)."""
    path = prompt_file(spec)
    if spec.startswith("bundled:") or ((data is None or data.format_of(which) == "hrlaif") and path.suffix == ".jsonl"):
        prompts = read_jsonl(path, Prompt)
    else:
        from hrlaif.prompt_sources import read_prompts

        prompts = read_prompts(spec, data or DataConfig(), which)
    if not prompts:
        raise HrlaifError(f"{spec if spec.startswith('hub:') else path}: no prompts")
    seen: dict[str, int] = {}
    for number, prompt in enumerate(prompts, start=1):
        if prompt.id in seen:
            raise HrlaifError(f"{path}: prompt id '{prompt.id}' appears twice (records {seen[prompt.id]} and {number})")
        seen[prompt.id] = number
    return balanced(prompts, limit)
