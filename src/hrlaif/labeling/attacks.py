"""Attack prompts for red teaming: written by the judge, or the bundled set, never the eval set.

The judge model dresses plain seed requests (one topic each) in adversarial strategies (role
play, fiction, claimed authority, ...), one topic x strategy cell at a time, so the attacks
cover every topic and strategy. Small local judges write poor attacks (or refuse to write
them), so unusable texts are dropped, exact and near duplicates (word-set Jaccard) are
dropped, and the bundled `attacks_train` set fills in when configured or when too few
generated attacks survive. The held-out `attacks_eval` set measures harmlessness after
training: an attack that equals or nearly equals one of them is dropped, and
`ensure_disjoint` refuses to go on if one got through anyway.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import yaml
from pydantic import BaseModel

from hrlaif.config import RedteamConfig
from hrlaif.data import bundled_path
from hrlaif.errors import HrlaifError
from hrlaif.judge.base import Judge
from hrlaif.judge.templates import render_write, strip_markers
from hrlaif.prompts import round_robin
from hrlaif.records import CONTENT_WARNING, Prompt
from hrlaif.verify.refusal import looks_like_refusal

EVAL_SET = "attacks_eval"
TRAIN_SET = "attacks_train"


class Attack(BaseModel):
    id: str
    topic: str
    strategy: str
    source: str  # generated | bundled
    prompt: str
    seed_request: str | None = None  # generated attacks: the plain request the judge dressed up
    content_warning: str = CONTENT_WARNING

    def as_prompt(self) -> Prompt:
        return Prompt(id=self.id, prompt=self.prompt, category="harmful")


def load_seeds() -> dict:
    """topics (name -> description), strategies (name -> description, template), requests (topic -> list)."""
    seeds = yaml.safe_load(bundled_path("redteam_seeds").read_text(encoding="utf-8"))
    missing = [t for t in seeds["topics"] if not seeds.get("requests", {}).get(t)]
    if missing:
        raise HrlaifError(f"redteam_seeds.yaml: no seed requests for topics {missing}")
    return seeds


def load_attack_set(name: str) -> list[Attack]:
    """A bundled attack set (attacks_train or attacks_eval) as Attack records."""
    lines = bundled_path(name).read_text(encoding="utf-8").splitlines()
    return [Attack(source="bundled", **json.loads(line)) for line in lines if line.strip()]


def normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def jaccard(a: str, b: str) -> float:
    sa, sb = set(normalise(a).split()), set(normalise(b).split())
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def cells(seeds: dict, n: int) -> list[tuple[str, str, str]]:
    """`n` (topic, strategy, request) cells, round robin: cell i has topic i mod T and a strategy
    shifted by i div T, so any T consecutive cells cover every topic and the strategies rotate."""
    topics, strategies = list(seeds["topics"]), list(seeds["strategies"])
    out = []
    for i in range(n):
        topic = topics[i % len(topics)]
        strategy = strategies[(i % len(topics) + i // len(topics)) % len(strategies)]
        requests = seeds["requests"][topic]
        out.append((topic, strategy, requests[(i // len(topics) + i // (len(topics) * len(strategies))) % len(requests)]))
    return out


def attack_chat(seeds: dict, topic: str, strategy: str, request: str) -> list[dict]:
    s = seeds["strategies"][strategy]
    return render_write("attack", {
        "topic": f"{topic}: {seeds['topics'][topic]}",
        "strategy": f"{strategy}: {s['description']}",
        "request": request,
        "example": s["template"].format(request=request),
    })


def clean_attack(text: str | None) -> tuple[str | None, str]:
    """The usable attack in a written text, or (None, why not). Small models echo the prompt's
    markers around the request or the example; those are our own seed texts, so the markers
    are stripped and the first paragraph left is the attack."""
    if text is None:
        return None, "write failed"
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", strip_markers(text)) if p.strip()]
    if not paragraphs:
        return None, "write failed"
    text = re.sub(r"^\s*(?:user(?: message)?|attack|message)\s*:\s*", "", paragraphs[0], flags=re.IGNORECASE)
    text = text.strip().strip('"“”\'').strip()
    if looks_like_refusal(text):
        return None, "the judge refused to write it"
    if len(text.split()) < 4:
        return None, "too short"
    return text, ""


def generate_attacks(judge: Judge, seeds: dict, n: int, max_tokens: int) -> tuple[list[Attack], Counter]:
    """Ask the judge for `n` attacks; returns the usable ones and why the others were dropped."""
    chosen = cells(seeds, n)
    texts = judge.write([attack_chat(seeds, *cell) for cell in chosen], max_tokens=max_tokens, desc="writing attacks") if chosen else []
    attacks, dropped = [], Counter()
    for i, ((topic, strategy, request), text) in enumerate(zip(chosen, texts)):
        cleaned, why = clean_attack(text)
        if cleaned is None:
            dropped[why] += 1
            continue
        attacks.append(Attack(id=f"gen-{i + 1:04d}", topic=topic, strategy=strategy, source="generated", prompt=cleaned, seed_request=request))
    return attacks, dropped


def dedup(attacks: list[Attack], threshold: float, held_out: list[Attack]) -> tuple[list[Attack], Counter]:
    """Drop exact duplicates, near duplicates (Jaccard >= threshold) of an earlier attack, and
    anything equal or near to a held-out attack; keeps the first of each group."""
    kept: list[Attack] = []
    seen: set[str] = set()
    dropped: Counter = Counter()
    held_norm = {normalise(a.prompt) for a in held_out}
    for attack in attacks:
        norm = normalise(attack.prompt)
        if norm in held_norm or any(jaccard(attack.prompt, h.prompt) >= threshold for h in held_out):
            dropped["overlaps the eval set"] += 1
        elif norm in seen:
            dropped["duplicate"] += 1
        elif any(jaccard(attack.prompt, k.prompt) >= threshold for k in kept):
            dropped["near duplicate"] += 1
        else:
            kept.append(attack)
            seen.add(norm)
    return kept, dropped


def balanced(attacks: list[Attack], limit: int | None, topics: list[str]) -> list[Attack]:
    """Up to `limit` attacks, round robin over topics; within a topic generated and bundled alternate."""
    if limit is None or limit >= len(attacks):
        return attacks
    by_topic: dict[str, list[Attack]] = defaultdict(list)
    for topic in topics:
        gen = [a for a in attacks if a.topic == topic and a.source == "generated"]
        bun = [a for a in attacks if a.topic == topic and a.source != "generated"]
        by_topic[topic] = [a for pair in zip(gen, bun) for a in pair] + gen[len(bun):] + bun[len(gen):]
    return round_robin([by_topic[topic] for topic in topics], limit)


def ensure_disjoint(attacks: list[Attack], held_out: list[Attack]) -> None:
    """The eval attacks measure harmlessness after training: none may be trained on."""
    ids = {a.id for a in held_out}
    texts = {normalise(a.prompt) for a in held_out}
    leaked = [a.id for a in attacks if a.id in ids or normalise(a.prompt) in texts]
    if leaked:
        raise HrlaifError(f"red teaming would train on held-out eval attacks ({', '.join(leaked[:5])}); refusing to go on")


def select_attacks(config: RedteamConfig, judge: Judge) -> tuple[list[Attack], dict]:
    """The attacks the policy will answer, and a summary of how they were chosen."""
    seeds = load_seeds()
    held_out = load_attack_set(EVAL_SET)
    summary: dict = {"mode": config.attacks, "fallback": None}
    pool: list[Attack] = []
    if config.attacks in ("generated", "both") and config.num_generated > 0:
        written, unusable = generate_attacks(judge, seeds, config.num_generated, config.attack_max_tokens)
        generated, dropped = dedup(written, config.dedup_jaccard, held_out)
        summary["generated"] = {"asked": config.num_generated, "usable": len(written), "kept": len(generated),
                                "dropped": dict(unusable + dropped)}
        pool += generated
        if len(generated) < config.min_generated:
            note = f"only {len(generated)} usable generated attacks (< redteam.min_generated={config.min_generated})"
            if config.attacks == "generated":
                summary["fallback"] = note + ": added the bundled attacks_train set"
            else:
                summary["fallback"] = note + "; the bundled attacks_train set is used as configured"
    use_bundled = config.attacks in ("bundled", "both") or summary["fallback"] is not None or (config.attacks == "generated" and not pool)
    if use_bundled:
        if config.attacks == "generated" and summary["fallback"] is None:
            summary["fallback"] = "no generated attacks: added the bundled attacks_train set"
        bundled, dropped = dedup(pool + load_attack_set(TRAIN_SET), config.dedup_jaccard, held_out)
        bundled = [a for a in bundled if a.source == "bundled"]
        summary["bundled"] = {"available": len(load_attack_set(TRAIN_SET)), "kept": len(bundled), "dropped": dict(dropped)}
        pool += bundled
    attacks = balanced(pool, config.max_attacks, list(seeds["topics"]))
    ensure_disjoint(attacks, held_out)
    summary["used"] = len(attacks)
    summary["used_by_source"] = dict(Counter(a.source for a in attacks))
    return attacks, summary
