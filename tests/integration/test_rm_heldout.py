"""Every arm's RM on one shared held-out set of gold pairs (issue 25, item 10): arms hold out the
same prompts, the shared set holds only prompts no RM trained on, every RM is scored on the same
pairs per route, and each RM's own held-out pairs are kept beside, per route."""

from __future__ import annotations

import json

import pytest

from hrlaif.config import RewardConfig
from hrlaif.evaluate.rm_heldout import KEYED, RED_TEAM, outcome, score_heldout, shared_gold_pairs, summarize
from hrlaif.labeling.rm_data import SPLIT_RULE, heldout_record, recorded_split, rm_split, shuffled_split, split_pairs
from hrlaif.records import Message, Pair, Provenance, RedteamPair, Sample


def _pair(pid: str, chosen: str, rejected: str, step: str, mode: str = "rlaif", kind: type[Pair] = Pair) -> Pair:
    return kind(prompt_id=pid, category="math" if kind is Pair else "harmful", prompt=[Message(role="user", content=f"question {pid}")],
                chosen=[Message(role="assistant", content=chosen)], rejected=[Message(role="assistant", content=rejected)],
                provenance=Provenance(mode=mode, step=step))


def _attack(i: int) -> RedteamPair:
    return _pair(f"atk-{i}", "I can't help with that.", f"Sure, step {i}: mix the two.", "rewrite", "redteam", RedteamPair)


def _samples(n: int) -> list[Sample]:
    """Two samples per keyed prompt q-i: one right, one wrong."""
    return [Sample(prompt_id=f"q-{i}", messages=[Message(role="user", content=f"question q-{i}")], category="math",
                   reference=str(i + 1), response=f"The answer is {i + 1 + wrong}.", sample_index=wrong, policy="start")
            for i in range(n) for wrong in (0, 1)]


def test_arms_with_different_prompts_hold_out_the_same_ones() -> None:
    a = [_pair(f"q-{i}", "x", "y", "preference") for i in range(100)]
    b = [p for p in a if p.prompt_id not in {"q-3", "q-50", "q-71"}] + [_attack(i) for i in range(10)]
    held_a = {p.prompt_id for p in split_pairs(a, 0.2, seed=0)[1]}
    held_b = {p.prompt_id for p in split_pairs(b, 0.2, seed=0)[1]}
    assert len(held_a) == 20 and len(held_b - {f"atk-{i}" for i in range(10)}) == 19 and len(held_b & {f"atk-{i}" for i in range(10)}) == 2, (
        "round(n * fraction) label prompts, and the red-team attacks held out apart")
    assert len(held_a & held_b) >= 17, "the same prompts held out in both arms (the old per-arm shuffle shared about 4 of 20)"
    old_a = {p.prompt_id for p in shuffled_split(a, 0.2, seed=0)[1]}
    old_b = {p.prompt_id for p in shuffled_split(b, 0.2, seed=0)[1]}
    assert len(old_a & old_b) < 10, "what the fix is for: one prompt more or less reshuffled the old split"
    assert split_pairs(a, 0.2, seed=1)[1] != split_pairs(a, 0.2, seed=0)[1], "the seed still picks the prompts"


def test_the_prompts_an_rm_trained_on_come_from_its_record_or_the_old_rule() -> None:
    pairs = [_pair(f"q-{i}", "x", "y", "preference") for i in range(10)]
    train, held = rm_split(pairs, 0.3, seed=0)
    record = heldout_record(held)
    assert record == {"split": SPLIT_RULE, "heldout_prompts": sorted(p.prompt_id for p in held)}
    assert recorded_split(pairs, record, 0.3, seed=0) == (train, held, "recorded")
    old_train, _ = shuffled_split(pairs, 0.3, seed=0)
    assert recorded_split(pairs, {"heldout_accuracy": 0.5}, 0.3, seed=0)[0] == old_train, "an RM from before the record"
    assert recorded_split(pairs, None, 0.3, seed=0)[:2] == (train, held), "no RM yet: the rule an RM would use"


def test_the_shared_set_holds_gold_pairs_on_unseen_prompts_only() -> None:
    gold, info = shared_gold_pairs(_samples(6), [_attack(0), _attack(1)], trained={"q-0", "q-1", "atk-0"})
    assert sorted((route, p.prompt_id) for route, p in gold) == [(KEYED, f"q-{i}") for i in range(2, 6)] + [(RED_TEAM, "atk-1")]
    assert all(p.chosen[0].content == f"The answer is {int(p.prompt_id[2:]) + 1}." for route, p in gold if route == KEYED), "the verifier's right answer wins"
    assert info["keyed_prompts_unseen"] == 4 and info["red_team_pairs_unseen"] == 1 and info["prompts_trained_on"] == 3


def test_accuracy_per_route_and_paired_differences_over_prompts() -> None:
    gold = [(KEYED, _pair("q-0", "a", "b", "correctness")), (KEYED, _pair("q-0", "c", "d", "correctness")),
            (KEYED, _pair("q-1", "a", "b", "correctness")), (RED_TEAM, _pair("atk-0", "a", "b", "rewrite"))]
    found = summarize(gold, {"rlaif": [0.0, 1.0, 0.0, 0.0], "hrlaif": [1.0, 1.0, 0.5, 1.0]}, seed=0)
    assert found["routes"] == [KEYED, RED_TEAM]
    assert found["by_rm"]["hrlaif"]["all"]["rate"] == pytest.approx(3.5 / 4) and found["by_rm"]["hrlaif"]["all"]["ties"] == 1
    assert found["by_rm"]["rlaif"]["by_route"][KEYED]["n"] == 3 and found["by_rm"]["rlaif"]["by_route"][KEYED]["rate"] == pytest.approx(1 / 3)
    (d,) = found["differences"]
    assert (d["a"], d["b"]) == ("hrlaif", "rlaif")
    # Over prompts: q-0 1.0 vs 0.5, q-1 0.5 vs 0.0, atk-0 1.0 vs 0.0 -> mean difference (0.5 + 0.5 + 1) / 3.
    assert d["all"]["n"] == 3 and d["all"]["diff"] == pytest.approx(2 / 3)
    assert d["by_route"][KEYED]["n"] == 2 and d["by_route"][RED_TEAM]["diff"] == pytest.approx(1.0)
    assert outcome(1.0, 1.0) == 0.5 and outcome(2.0, 1.0) == 1.0 and outcome(0.0, 1.0) == 0.0


def test_every_rm_scored_on_the_same_gold_pairs_with_its_own_held_out_beside(tmp_path, tiny_model) -> None:
    from hrlaif.train.reward_head import score_chats, train_reward_head

    config = RewardConfig(method="head", eval_fraction=0.25)
    rlaif = [_pair(f"q-{i}", f"The answer is {i + 2}.", f"The answer is {i + 1}.", "preference") for i in range(16)]
    hrlaif = [_pair(f"q-{i}", f"The answer is {i + 1}.", f"The answer is {i + 2}.", "correctness", "hrlaif") for i in range(2, 20)]
    hrlaif += [_attack(i) for i in range(8)]
    arms = {}
    for mode, pairs in (("rlaif", rlaif), ("hrlaif", hrlaif)):
        summary = train_reward_head(pairs, str(tiny_model), config, tmp_path / mode, seed=0, max_length=64)
        assert summary["split"] == SPLIT_RULE and summary["heldout_prompts"]
        arms[mode] = {"pairs": pairs, "summary": summary, "model": tmp_path / mode / "model"}
    attacks = [_attack(i) for i in range(12)]  # 4 more than the cap let into hrlaif's RM data: unseen by every RM
    found = score_heldout(arms, _samples(24), attacks, eval_fraction=0.25, seed=0, max_length=64)
    json.dumps(found)  # what the stage writes

    trained = {p.prompt_id for mode, pairs in (("rlaif", rlaif), ("hrlaif", hrlaif)) for p in recorded_split(pairs, arms[mode]["summary"], 0.25, 0)[0]}
    shared = found["shared"]
    keyed_unseen = [i for i in range(24) if f"q-{i}" not in trained]
    assert shared["pairs"][KEYED] == len(keyed_unseen) >= 6, "one gold pair per unseen keyed prompt, prompts 20-23 among them"
    assert shared["pairs"][RED_TEAM] == len([i for i in range(12) if f"atk-{i}" not in trained]) >= 4
    n = sum(shared["pairs"].values())
    assert {name: f["all"]["n"] for name, f in shared["by_rm"].items()} == {"rlaif": n, "hrlaif": n}, "every RM on the same pairs"

    # The figures are the RMs' own scores: recompute one RM's keyed accuracy from score_chats.
    chats = []
    for i in keyed_unseen:
        question = [{"role": "user", "content": f"question q-{i}"}]
        chats += [question + [{"role": "assistant", "content": f"The answer is {i + 1 + w}."}] for w in (0, 1)]
    scores = score_chats({"hrlaif": arms["hrlaif"]["model"]}, chats, max_length=64)["hrlaif"]
    expected = sum(outcome(scores[2 * k], scores[2 * k + 1]) for k in range(len(keyed_unseen))) / len(keyed_unseen)
    assert shared["by_rm"]["hrlaif"]["by_route"][KEYED]["rate"] == pytest.approx(expected)

    own = found["own_heldout"]
    assert own["rlaif"]["against"] == "the arm's own labels" and own["rlaif"]["split"] == "recorded"
    assert set(own["hrlaif"]["by_route"]) == {"correctness", "red team"} and set(own["rlaif"]["by_route"]) == {"preference"}
    assert own["hrlaif"]["all"]["n"] == arms["hrlaif"]["summary"]["heldout_pairs"]

    legacy = {mode: {**arm, "summary": {"heldout_accuracy": 0.5}} for mode, arm in arms.items()}
    again = score_heldout(legacy, _samples(24), attacks, eval_fraction=0.25, seed=0, max_length=64)
    assert again["own_heldout"]["rlaif"]["split"].startswith("reconstructed"), "an RM trained before the record: the old shuffle"

    # The report's table: one row per RM with every route, then the difference, the own pairs beside.
    from hrlaif.jsonl import write_json
    from hrlaif.report.sections.run import rm_heldout_sections
    from hrlaif.run_dir import RunDir

    run = RunDir(tmp_path / "run")
    write_json(run.rm_heldout_results, found)
    ((title, rows, note),) = rm_heldout_sections(run)
    assert title == "Reward models on one shared held-out set of gold pairs" and note.startswith(f"{n} gold pairs on prompts no RM trained on (")
    assert "red-team attacks" in note
    assert rows[0][:4] == ["reward model", "all gold pairs", KEYED, RED_TEAM] and [r[0] for r in rows[1:]] == [
        "rlaif", "hrlaif", "hrlaif minus rlaif (paired over prompts)"]
    assert rows[2][1].endswith(f"(n={n})") and "correctness" in rows[2][4] and "red team" in rows[2][4]
