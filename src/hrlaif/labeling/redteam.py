"""AI red teaming, HRLAIF's harmlessness step: harmful answers and their rewrites become pairs.

Attacks (see `attacks.py`) go to the start policy, K answers each; each answer is classified
harmful / safe refusal / safe and helpful (`hrlaif.harm`); the judge model rewrites every
harmful answer into a harmless reply that still helps; a rewrite that repeats the harmful
answer, or that the harm check does not pass, is dropped; each kept rewrite beats its harmful answer in a pair (category "harmful",
provenance mode "redteam", step "rewrite"). Those pairs join the hrlaif arm's RM data, capped
at `redteam.max_share` of it (`cap_pairs`) so harmlessness does not crowd out helpfulness.

The files are harmful text by design: they stay in RUN/redteam/, next to a CONTENT_WARNING.txt,
every record carries a `content_warning`, and nothing here prints an attack or an answer
unless asked to (`show_text`); progress and counts only.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from rich.console import Console

from hrlaif.config import ModelConfig, RedteamConfig
from hrlaif.harm import HarmLabel, classify_harm
from hrlaif.jsonl import atomic_path, write_json, write_jsonl
from hrlaif.judge.base import Judge
from hrlaif.judge.templates import render_write, strip_markers
from hrlaif.labeling.attacks import Attack, normalise, select_attacks
from hrlaif.labeling.pairwise import pair_from
from hrlaif.prompts import round_robin
from hrlaif.records import CONTENT_WARNING, Provenance, RedteamAnswer, RedteamPair, RedteamRewrite, Sample
from hrlaif.run_dir import RunDir
from hrlaif.sampling import sample_responses
from hrlaif.stats import wilson

WARNING_FILE = "CONTENT_WARNING.txt"
WARNING_TEXT = (
    "CONTENT WARNING\n\n"
    "The files in this folder hold red-team material: adversarial attack prompts, harmful answers a "
    "model gave to them, and rewrites. They exist on purpose, to train a reward model to prefer "
    "harmless replies and to measure how often a policy gives harmful help.\n\n"
    "Keep them inside this run directory. Do not publish, share or reuse them, and do not print them "
    "where others can see them (`hrlaif redteam` only shows them with --show-text).\n"
)


def _rates(answers: list[RedteamAnswer], key: str, confidence: float) -> dict:
    groups: dict[str, list[bool]] = defaultdict(list)
    for a in answers:
        if a.label != "unscored":
            groups[getattr(a, key)].append(a.label == "harmful")
    return {name: wilson(sum(v), len(v), confidence).model_dump() for name, v in sorted(groups.items())}


def attack_success(answers: list[RedteamAnswer], confidence: float = 0.95) -> dict:
    """Attack success rate = share of (scored) answers that are harmful, overall and per topic,
    strategy and attack source, each with n and a Wilson interval."""
    scored = [a for a in answers if a.label != "unscored"]
    by_attack: dict[str, bool] = {}
    for a in scored:
        by_attack[a.attack_id] = by_attack.get(a.attack_id, False) or a.label == "harmful"
    return {
        "overall": wilson(sum(a.label == "harmful" for a in scored), len(scored), confidence).model_dump(),
        "attacks_with_a_harmful_answer": wilson(sum(by_attack.values()), len(by_attack), confidence).model_dump(),
        "by_topic": _rates(answers, "topic", confidence),
        "by_strategy": _rates(answers, "strategy", confidence),
        "by_source": _rates(answers, "source", confidence),
    }


def cap_pairs(pairs: list[RedteamPair], other: int, max_share: float) -> list[RedteamPair]:
    """At most `max_share` of the final RM data (the other pairs plus these); when pairs must go,
    keep them round robin over topics, in file order, so every topic stays represented."""
    limit = math.floor(max_share * other / (1 - max_share) + 1e-9)
    if len(pairs) <= limit:
        return pairs
    by_topic: dict[str, list[RedteamPair]] = defaultdict(list)
    for pair in pairs:
        by_topic[str(pair.provenance.details.get("topic", ""))].append(pair)
    return round_robin(list(by_topic.values()), limit)


def _record(attack: Attack, sample: Sample, harm: HarmLabel) -> RedteamAnswer:
    return RedteamAnswer(
        attack_id=attack.id, topic=attack.topic, strategy=attack.strategy, source=attack.source, prompt=attack.prompt,
        response=sample.response, sample_index=sample.sample_index, label=harm.label, decided_by=harm.decided_by,
        verdict=harm.verdict,
    )


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def clean_rewrite(text: str | None, harmful: str) -> tuple[str | None, str]:
    """The usable rewrite in a written text, or (None, why not). Echoed fence markers are
    stripped (small judges copy them), but a rewrite that repeats the harmful answer (any run of
    8 of its words, or all of it when shorter) is dropped before the harm check even sees it."""
    if text is None or not text.strip():
        return None, "write failed or empty"
    cleaned = re.sub(r"\n{3,}", "\n\n", strip_markers(text)).strip()
    if not cleaned:
        return None, "write failed or empty"
    if normalise(cleaned) == normalise(harmful):
        return None, "same as the harmful answer"
    mine, theirs = normalise(cleaned).split(), normalise(harmful).split()
    n = min(8, len(theirs))
    if n >= 3 and _ngrams(mine, n) & _ngrams(theirs, n):
        return None, "repeats the harmful answer"
    return cleaned, ""


def rewrite_harmful(records: list[RedteamAnswer], judge: Judge, max_tokens: int) -> Counter:
    """Ask the judge to rewrite each harmful answer; check each rewrite with the harm classifier.
    Fills `record.rewrite` in place; returns why rewrites were dropped."""
    harmful = [i for i, r in enumerate(records) if r.label == "harmful"]
    chats = [render_write("rewrite", {"prompt": records[i].prompt, "response": records[i].response}) for i in harmful]
    texts = judge.write(chats, max_tokens=max_tokens, desc="rewriting harmful answers") if chats else []
    dropped: Counter = Counter()
    to_check = []
    for i, text in zip(harmful, texts):
        cleaned, why = clean_rewrite(text, records[i].response)
        records[i].rewrite = RedteamRewrite(text=cleaned if cleaned is not None else text, dropped_reason=why or None)
        if why:
            dropped[why] += 1
        else:
            to_check.append(i)
    checks = classify_harm([(records[i].prompt, records[i].rewrite.text) for i in to_check], judge, desc="checking rewrites",
                           context=[{"topic": records[i].topic, "strategy": records[i].strategy} for i in to_check])
    for i, check in zip(to_check, checks):
        rewrite = records[i].rewrite
        rewrite.label, rewrite.decided_by, rewrite.verdict = check.label, check.decided_by, check.verdict
        if check.label == "harmful":
            rewrite.dropped_reason = "still harmful"
        elif check.label == "unscored":
            rewrite.dropped_reason = "the harm judge could not score it"
        else:
            rewrite.kept = True
            continue
        dropped[rewrite.dropped_reason] += 1
    return dropped


def make_pairs(records: list[RedteamAnswer], samples: list[Sample], attacks: dict[str, Attack]) -> list[RedteamPair]:
    """A pair (rewrite > harmful answer) for every kept rewrite."""
    pairs = []
    for record, sample in zip(records, samples):
        rewrite = record.rewrite
        if rewrite is None or not rewrite.kept:
            continue
        attack = attacks[record.attack_id]
        better = Sample.of(attack.as_prompt(), rewrite.text, sample_index=sample.sample_index, policy="judge rewrite")
        provenance = Provenance(
            mode="redteam", route="harmful", step="rewrite",
            reason="judge rewrite of a harmful answer, checked harmless by the harm classifier",
            details={"topic": attack.topic, "strategy": attack.strategy, "source": attack.source,
                     "answer": {"label": record.label, "decided_by": record.decided_by},
                     "rewrite": {"label": rewrite.label, "decided_by": rewrite.decided_by}},
        )
        provenance.verdicts = [record.verdict, rewrite.verdict]
        pair = pair_from(better, sample, 0, provenance)
        pairs.append(RedteamPair(**pair.model_dump()))
    return pairs


def run_redteam(
    rc: RedteamConfig, judge: Judge, out_dir: Path, console: Console, *, policy: ModelConfig, seed: int, confidence: float,
    show_text: bool = False,
) -> dict:
    """The whole stage: the start `policy` answers attacks, sampled with `seed`; rates carry
    `confidence` intervals. Writes attacks/answers/pairs/summary into `out_dir` (RUN/redteam/, named as
    RunDir names them) and returns the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / WARNING_FILE) as tmp:
        tmp.write_text(WARNING_TEXT, encoding="utf-8")

    attacks, attack_summary = select_attacks(rc, judge)
    write_jsonl(out_dir / RunDir.REDTEAM_ATTACKS_FILE, attacks)
    console.print(f"attacks: {len(attacks)} ({', '.join(f'{k}={v}' for k, v in attack_summary['used_by_source'].items())})")
    if attack_summary["fallback"]:
        console.print(f"[yellow]{attack_summary['fallback']}[/]")
    _show(console, show_text, "attack", [(a.id, a.prompt) for a in attacks])

    samples = sample_responses(
        [a.as_prompt() for a in attacks], policy.path, rc.generation, num_samples=rc.num_samples, seed=seed,
        max_length=policy.max_length, policy_name="start", desc="answering attacks", backend=policy,
    )
    by_id = {a.id: a for a in attacks}
    harms = classify_harm([(s.text, s.response) for s in samples], judge, desc="classifying answers",
                          context=[{"topic": by_id[s.prompt_id].topic, "strategy": by_id[s.prompt_id].strategy} for s in samples])
    records = [_record(by_id[s.prompt_id], s, h) for s, h in zip(samples, harms)]
    labels = Counter(r.label for r in records)
    console.print("answers: " + ", ".join(f"{k}={labels.get(k, 0)}" for k in ("harmful", "safe_refusal", "safe_helpful", "unscored")))

    dropped = rewrite_harmful(records, judge, rc.rewrite_max_tokens)
    write_jsonl(out_dir / RunDir.REDTEAM_ANSWERS_FILE, records)
    pairs = make_pairs(records, samples, by_id)
    write_jsonl(out_dir / RunDir.PAIRS_FILE, pairs)
    kept = sum(1 for r in records if r.rewrite is not None and r.rewrite.kept)
    console.print(f"rewrites: kept {kept}, dropped {sum(dropped.values())}; pairs: {len(pairs)}")
    _show(console, show_text, "harmful answer", [(f"{r.attack_id}#{r.sample_index}", r.response) for r in records if r.label == "harmful"])
    _show(console, show_text, "kept rewrite", [(p.prompt_id, p.chosen_text) for p in pairs])

    summary = {
        "content_warning": CONTENT_WARNING,
        "judge": judge.name,
        "policy": policy.path,
        "attacks": attack_summary,
        "answers": len(records),
        "samples_per_attack": rc.num_samples,
        "labels": {k: labels.get(k, 0) for k in ("harmful", "safe_refusal", "safe_helpful", "unscored")},
        "decided_by_pattern": sum(r.decided_by == "refusal pattern" for r in records),
        "attack_success": attack_success(records, confidence),
        "rewrites": {"asked": labels.get("harmful", 0), "kept": kept, "dropped": sum(dropped.values()), "dropped_by_reason": dict(dropped)},
        "pairs": len(pairs),
        "max_share": rc.max_share,
    }
    write_json(out_dir / RunDir.SUMMARY_FILE, summary)
    return summary


def _show(console: Console, show: bool, what: str, items: list[tuple[str, str]]) -> None:
    """Red-team text reaches the terminal only with --show-text."""
    if not show:
        return
    for ident, text in items:
        console.print(f"[dim]{what} {ident}:[/]", end=" ")
        console.print(text, markup=False, highlight=False, soft_wrap=True)
