"""Loading prompt sets: a user's JSONL file or one bundled with the package."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from hrlaif.data import bundled_path
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import read_jsonl
from hrlaif.records import CATEGORIES, Prompt


def prompt_file(spec: str) -> Path:
    """'bundled:train' -> the packaged file; anything else is a path."""
    if spec.startswith("bundled:"):
        return bundled_path(spec.split(":", 1)[1])
    return Path(spec)


def balanced(prompts: list[Prompt], limit: int | None) -> list[Prompt]:
    """Take up to `limit` prompts, round-robin over categories in file order, so a small
    demo still sees every category."""
    if limit is None or limit >= len(prompts):
        return prompts
    by_category: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in prompts:
        by_category[prompt.category].append(prompt)
    order = [c for c in CATEGORIES if by_category.get(c)]
    picked: list[Prompt] = []
    index = 0
    while len(picked) < limit:
        for category in order:
            if index < len(by_category[category]) and len(picked) < limit:
                picked.append(by_category[category][index])
        index += 1
    return picked


def load_prompts(spec: str, limit: int | None = None) -> list[Prompt]:
    path = prompt_file(spec)
    prompts = read_jsonl(path, Prompt)
    if not prompts:
        raise HrlaifError(f"{path}: no prompts")
    seen: dict[str, int] = {}
    for number, prompt in enumerate(prompts, start=1):
        if prompt.id in seen:
            raise HrlaifError(f"{path}: prompt id '{prompt.id}' appears twice (records {seen[prompt.id]} and {number})")
        seen[prompt.id] = number
    return balanced(prompts, limit)
