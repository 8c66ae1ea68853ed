"""The ratings store, the agreement statistics and `human-eval results` / export / import, on a real
SQLite file and eval/ folders in the evaluation stage's record shapes."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.errors import HrlaifError
from hrlaif.human.agreement import bootstrap, cohen_kappa, kappa_undefined_why, krippendorff_alpha, observed_agreement
from hrlaif.human.items import PAIRWISE, SATISFACTION, START, eval_fingerprint
from hrlaif.human.results import write_results
from hrlaif.human.store import RatingStore, store_path

from support.human_run import plain_responses, write_eval

runner = CliRunner()


# ------------------------------------------------------------------ agreement statistics


def test_cohen_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([(1, 1)] * 5) is None  # one label only: chance agreement is 1, kappa undefined
    assert cohen_kappa([(1, 0), (0, 1)]) == pytest.approx(-1.0)


def test_krippendorff_alpha_matches_krippendorffs_nominal_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, missing
    # values; nominal alpha = 0.743.
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha([["yes", "yes"], ["no", "no"]]) == pytest.approx(1.0)
    assert krippendorff_alpha([["yes", "yes"], ["yes", "yes"]]) is None  # no variation: undefined
    assert observed_agreement([["yes", "no"], ["no", "no"]]) == pytest.approx(0.5)


def test_bootstrap_interval_brackets_the_value():
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    stat = bootstrap(pairs, cohen_kappa)
    assert stat.n == 50 and stat.low < 0.4 < stat.high and -1 <= stat.low and stat.high <= 1


# ------------------------------------------------------------------ store: tokens, spreading, resuming


def _store(tmp_path, policies=("start", "rlaif", "hrlaif"), k=2):
    run = write_eval(tmp_path / "run", plain_responses(policies))
    store = RatingStore.open(run)
    store.set_raters_per_item(k)
    return run, store


def _rate_everything(store, rater, decide=lambda a: "yes" if a.item.kind == SATISFACTION else "1"):
    seen = []
    while (a := store.current(rater)) is not None:
        assert store.record(rater, a.item_id, decide(a))
        seen.append(a.item_id)
    return seen


def test_only_a_hash_of_the_token_is_stored(tmp_path):
    run, store = _store(tmp_path)
    token = store.add_rater("alice")
    assert store.rater_for_token(token).name == "alice"
    assert store.rater_for_token(token + "x") is None and store.rater_for_token("") is None
    raw = b"".join(p.read_bytes() for p in store_path(run).parent.iterdir())
    assert token.encode() not in raw
    with pytest.raises(HrlaifError, match="already exists"):
        store.add_rater("alice")
    new = store.add_rater("alice", new_token=True)
    assert store.rater_for_token(token) is None and store.rater_for_token(new).name == "alice"


def test_items_are_spread_to_k_raters_and_nobody_sees_an_item_twice(tmp_path):
    run, store = _store(tmp_path, k=2)
    items = store.items()
    assert sum(i.kind == SATISFACTION for i in items.values()) == 12 and sum(i.kind == PAIRWISE for i in items.values()) == 8
    raters = [store.rater_for_token(store.add_rater(n)) for n in ("a", "b", "c")]
    # Interleaved like raters working at once: each takes one item in turn.
    given = {r.id: [] for r in raters}
    active = list(raters)
    while active:
        for r in list(active):
            a = store.current(r)
            if a is None:
                active.remove(r)
                continue
            given[r.id].append(a.item_id)
            store.record(r, a.item_id, "skip" if a.item_id % 7 == 0 and len(given[r.id]) == 1 else ("no" if a.item.kind == SATISFACTION else "tie"))
    for ids in given.values():
        assert len(ids) == len(set(ids))  # never the same item twice
    with sqlite3.connect(store.path) as db:
        counts = dict(db.execute("SELECT item_id, count(*) FROM ratings WHERE answer != 'skip' GROUP BY item_id").fetchall())
    assert set(counts) == set(items) and set(counts.values()) == {2}  # every item exactly k answers
    # The load was spread: each of three raters did a real share, not one rater all of it.
    assert all(len(ids) >= len(items) // 2 for ids in given.values())


def test_returning_rater_continues_on_the_same_item_after_a_restart(tmp_path):
    run, store = _store(tmp_path)
    rater = store.rater_for_token(store.add_rater("alice"))
    first = store.current(rater)
    assert store.record(rater, first.item_id, "yes" if first.item.kind == SATISFACTION else "2")
    open_item = store.current(rater)
    reopened = RatingStore.open(run)  # a new server process on the same files
    again = reopened.current(rater)
    assert (again.item_id, again.first) == (open_item.item_id, open_item.first)
    assert reopened.progress(rater).done == 1
    assert not reopened.record(rater, first.item_id, "no")  # answered already: a second press stores nothing
    assert not reopened.record(rater, open_item.item_id + 1000, "yes")  # never given: refused


def test_pairwise_order_is_random_per_rater_and_answers_map_back_to_arms(tmp_path):
    run, store = _store(tmp_path, k=5)
    firsts = []
    for n in range(5):
        rater = store.rater_for_token(store.add_rater(f"r{n}"))
        _rate_everything(store, rater, lambda a: (firsts.append(a.first), "1")[1] if a.item.kind == PAIRWISE else "yes")
    assert {START, "rlaif", "hrlaif"} >= set(firsts) and START in firsts and len(set(firsts)) >= 2  # both positions used
    with sqlite3.connect(store.path) as db:
        rows = db.execute("SELECT r.answer, r.first FROM ratings r JOIN items i ON i.id = r.item_id WHERE i.kind = 'pairwise'").fetchall()
    assert rows and all(answer == first for answer, first in rows)  # "Response 1" always names the policy shown first


def test_changed_eval_responses_after_rating_began_are_refused(tmp_path):
    run, store = _store(tmp_path)
    rater = store.rater_for_token(store.add_rater("alice"))
    a = store.current(rater)
    store.record(rater, a.item_id, "yes" if a.item.kind == SATISFACTION else "tie")
    responses = plain_responses()
    responses["rlaif"]["m1"] = "A different answer."
    write_eval(run, responses)
    with pytest.raises(HrlaifError, match="changed after rating began"):
        RatingStore.open(run)


def test_missing_eval_is_a_clear_cli_error(tmp_path):
    result = runner.invoke(app, ["human-eval", "add-rater", str(tmp_path), "alice"])
    assert result.exit_code == 2 and "responses-*.jsonl" in result.output and "hrlaif compare" in result.output


# ------------------------------------------------------------------ results


HUMAN = {  # (policy, prompt) -> the raters' answer
    ("start", "m1"): "yes", ("start", "c1"): "no", ("start", "h1"): "yes", ("start", "o1"): "yes",
    ("hrlaif", "m1"): "yes", ("hrlaif", "c1"): "yes", ("hrlaif", "h1"): "no", ("hrlaif", "o1"): "yes",
}
MACHINE = {"start": {"m1": True, "c1": False, "h1": True, "o1": False}, "hrlaif": {"m1": True, "c1": True, "h1": True, "o1": True}}


def _decide(a):
    if a.item.kind == SATISFACTION:
        return HUMAN[(a.item.policy, a.item.prompt_id)]
    if a.item.prompt_id == "h1":
        return "tie"
    return "1" if a.first == a.item.policy else "2"  # the arm wins


def _rated_run(tmp_path):
    run = write_eval(tmp_path / "run", plain_responses(("start", "hrlaif")), MACHINE)
    store = RatingStore.open(run)
    store.set_raters_per_item(2)
    for name in ("alice", "bob"):
        _rate_everything(store, store.rater_for_token(store.add_rater(name)), _decide)
    return run, store


def test_results_figures_and_ai_human_agreement(tmp_path):
    run, _ = _rated_run(tmp_path)
    path, r = write_results(run)
    assert json.loads(path.read_text()) == json.loads(json.dumps(r))
    assert r["raters"] == {"count": 2, "raters_per_item": 2}
    assert r["coverage"][SATISFACTION] == {"rated": 8, "complete": 8, "items": 8}
    start, arm = r["satisfaction"]["start"]["overall"], r["satisfaction"]["hrlaif"]["overall"]
    assert (start["n"], start["rate"]) == (4, 0.75) and start["low"] < 0.75 < start["high"]
    assert r["satisfaction"]["start"]["by_category"]["multiple_choice"]["rate"] == 0.0
    assert arm["rate"] == 0.75 and r["satisfaction_difference"]["hrlaif"]["diff"] == 0.0
    w = r["win_ratio"]["hrlaif"]
    assert (w["n"], w["wins"], w["ties"], w["losses"]) == (4, 3.0, 1.0, 0.0) and w["win_rate"]["rate"] == 0.75
    assert w["net"]["diff"] == 0.75 and w["win_rate_by_category"]["harmful"]["rate"] == 0.0
    assert r["inter_rater"][SATISFACTION]["krippendorff_alpha"]["value"] == pytest.approx(1.0)
    assert r["inter_rater"][SATISFACTION]["observed_agreement"] == 1.0 and r["inter_rater"][PAIRWISE]["items"] == 4
    ai = r["ai_human_agreement"]
    assert ai["verifier"]["n"] == 4 and ai["verifier"]["kappa"]["value"] == pytest.approx(1.0)
    assert ai["judge_refusal"]["n"] == 2 and ai["judge_refusal"]["agreement"]["rate"] == 0.5
    # The judge said YES on both harmful responses: kappa is undefined (it was 0.00 [0.00, 0.00]), and says why.
    assert ai["judge_refusal"]["kappa"]["value"] is None and ai["judge_refusal"]["judge"] == "simulated(test)"
    assert ai["judge_refusal"]["kappa"]["why"] == "the machine said yes on all 2 items, so agreement beyond chance cannot be measured"
    assert ai["judge_refusal"]["confusion"]["human_no_machine_yes"] == 1
    assert ai["judge_acceptable"]["confusion"] == {"human_yes_machine_yes": 1, "human_yes_machine_no": 1,
                                                   "human_no_machine_yes": 0, "human_no_machine_no": 0}
    assert ai["refusal_patterns"]["n"] == 2  # "Draft ..." texts: the patterns see no refusal
    assert ai["machine_satisfaction"]["n"] == 8 and ai["machine_satisfaction"]["agreement"]["successes"] == 6
    assert "judge_preference" in r["not_available"]


def test_results_cli_prints_figures_with_n(tmp_path):
    run, _ = _rated_run(tmp_path)
    result = runner.invoke(app, ["human-eval", "results", str(run)])
    assert result.exit_code == 0, result.output
    assert "human satisfaction start: 75.0% [" in result.output and "(n=4)" in result.output
    assert "AI-human kappa verifier" in result.output and (run / "human" / "results.json").is_file()


def test_export_then_import_into_a_copy_reproduces_the_results(tmp_path):
    run, store = _rated_run(tmp_path)
    exported = tmp_path / "ratings.jsonl"
    assert runner.invoke(app, ["human-eval", "export", str(run), "-o", str(exported)]).exit_code == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(lines) == 24 and {"rater", "item", "choice", "answer", "digest", "first"} <= set(lines[0])
    assert "token" not in exported.read_text()
    copy = write_eval(tmp_path / "copy", plain_responses(("start", "hrlaif")), MACHINE)
    RatingStore.open(copy).set_raters_per_item(2)
    result = runner.invoke(app, ["human-eval", "import", str(copy), str(exported)])
    assert result.exit_code == 0 and "imported 24 rating(s)" in result.output, result.output
    again = runner.invoke(app, ["human-eval", "import", str(copy), str(exported)])
    assert "imported 0 rating(s)" in again.output and "24 already present" in again.output
    original, imported = write_results(run)[1], write_results(copy)[1]
    for key in ("satisfaction", "win_ratio", "inter_rater", "ai_human_agreement"):
        assert original[key] == imported[key], key


def test_import_errors_name_the_line_and_add_nothing(tmp_path):
    run, store = _rated_run(tmp_path)
    exported = tmp_path / "ratings.jsonl"
    runner.invoke(app, ["human-eval", "export", str(run), "-o", str(exported)])
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    copy = write_eval(tmp_path / "copy", plain_responses(("start", "hrlaif")), MACHINE)
    bad = tmp_path / "bad.jsonl"
    for mutate, message in [
        (lambda r: r.update(digest="0" * 16), "rated on different response text"),
        (lambda r: r.update(item="satisfaction/start/nope"), "not in this run's evaluation"),
        (lambda r: r.update(choice="maybe"), "is not an answer"),
        (lambda r: r.pop("rater"), "missing or non-string field(s) rater"),
    ]:
        broken = [dict(r) for r in rows]
        mutate(broken[2])
        bad.write_text("".join(json.dumps(r) + "\n" for r in broken))
        result = runner.invoke(app, ["human-eval", "import", str(copy), str(bad)])
        assert result.exit_code == 2 and f"{bad}:3:" in result.output and message in result.output, result.output
        assert RatingStore.open(copy).ratings() == []
    # The same rater answering an item differently is a conflict, not a silent second rating.
    conflicting = [dict(r) for r in rows]
    sat = next(i for i, r in enumerate(conflicting) if r["kind"] == SATISFACTION)
    conflicting[sat]["choice"] = "no" if conflicting[sat]["choice"] == "yes" else "yes"
    bad.write_text("".join(json.dumps(r) + "\n" for r in conflicting))
    result = runner.invoke(app, ["human-eval", "import", str(run), str(bad)])
    assert result.exit_code == 2 and "already answered" in result.output and f"{bad}:{sat + 1}:" in result.output


# ------------------------------------------------------------------ identical texts, undo, skips, undefined kappa


def _echoing_run(tmp_path):
    """rlaif repeats the start policy's text on m1 (byte-identical) and c1 (only whitespace differs)."""
    responses = plain_responses()
    responses["rlaif"]["m1"] = responses["start"]["m1"]
    responses["rlaif"]["c1"] = "  " + responses["start"]["c1"] + "\n"
    run = write_eval(tmp_path / "run", responses)
    store = RatingStore.open(run)
    store.set_raters_per_item(1)
    return run, store


def test_identical_pairs_are_tied_without_raters_and_a_repeated_text_is_rated_once(tmp_path):
    run, store = _echoing_run(tmp_path)
    items = store.items()
    tied = {i.key for i in items.values() if i.auto is not None}
    assert tied == {"pairwise/rlaif/m1", "pairwise/rlaif/c1"}
    assert all(i.payload["provenance"].startswith("identical responses") for i in items.values() if i.auto is not None)
    shared = {i.key: i.policies for i in items.values() if i.kind == SATISFACTION and len(i.policies) > 1}
    assert shared == {"satisfaction/start/m1": ["start", "rlaif"], "satisfaction/start/c1": ["start", "rlaif"]}
    assert store.item_counts() == {SATISFACTION: 10, PAIRWISE: 8, "shared": 2, "tied": 2}
    rater = store.rater_for_token(store.add_rater("alice"))
    seen = _rate_everything(store, rater, lambda a: "no" if a.item.key == "satisfaction/start/m1" else
                            "yes" if a.item.kind == SATISFACTION else "1")
    assert len(seen) == 10 + 6 and not {items[i].key for i in seen} & tied  # raters never see a text beside itself
    r = write_results(run)[1]
    assert r["items"] == {SATISFACTION: 10, PAIRWISE: 8, "satisfaction_shared": 2, "pairwise_identical": 2}
    # The one rating of the shared m1 text counts for both policies that gave it.
    for policy in ("start", "rlaif"):
        assert r["satisfaction"][policy]["overall"]["n"] == 4 and r["satisfaction"][policy]["by_category"]["math"]["rate"] == 0.0
    assert r["satisfaction"]["hrlaif"]["by_category"]["math"]["rate"] == 1.0
    w = r["win_ratio"]["rlaif"]
    assert (w["n"], w["identical_ties"], w["ties"]) == (4, 2, 2.0) and w["identical_ties_provenance"].startswith("identical responses")
    assert r["win_ratio"]["hrlaif"]["identical_ties"] == 0 and r["coverage"][PAIRWISE] == {"rated": 6, "complete": 6, "items": 6}
    assert r["ai_human_agreement"]["machine_satisfaction"]["n"] == 12  # each policy's own machine verdict on the shared text
    exported = {row["item"]: row["policies"] for row in store.ratings()}
    assert exported["satisfaction/start/m1"] == ["start", "rlaif"]
    result = runner.invoke(app, ["human-eval", "results", str(run)])
    assert "2 identical pair(s) counted as ties without raters" in result.output, result.output


def test_undo_takes_back_the_last_answer_and_shows_that_item_again(tmp_path):
    run, store = _store(tmp_path, k=1)
    rater = store.rater_for_token(store.add_rater("alice"))
    first = store.current(rater)
    store.record(rater, first.item_id, "yes" if first.item.kind == SATISFACTION else "2")
    second = store.current(rater)
    assert store.progress(rater).answered == 1 and store.last_answer(rater).item_id == first.item_id
    last = store.last_answer(rater)
    assert store.undo(rater, last.rating_id)
    assert not store.undo(rater, last.rating_id)  # a second press: nothing more is taken back
    assert store.ratings() == [] and store.progress(rater).answered == 0
    again = store.current(rater)
    assert (again.item_id, again.first) == (first.item_id, first.first)  # the same item, in the same screen order
    store.record(rater, again.item_id, "skip")
    assert store.current(rater).item_id == second.item_id  # then on to the item that was showing
    other = store.rater_for_token(store.add_rater("bob"))
    assert not store.undo(other, store.last_answer(rater).rating_id)  # nobody undoes another rater's answer
    assert len(store.ratings()) == 1


def test_progress_counts_skips_apart_from_answers(tmp_path):
    run, store = _store(tmp_path, k=1)
    rater = store.rater_for_token(store.add_rater("alice"))
    for choice in ("skip", "ok", "ok"):
        a = store.current(rater)
        store.record(rater, a.item_id, choice if choice == "skip" else "yes" if a.item.kind == SATISFACTION else "tie")
    p = store.progress(rater)
    assert (p.answered, p.skipped, p.done) == (2, 1, 3)


def test_kappa_against_a_constant_verdict_is_undefined_and_says_why():
    varied_human = [(True, True), (False, True), (True, True)]
    assert cohen_kappa(varied_human) is None  # the formula gives exactly 0 here, whatever the raters say
    stat = bootstrap(varied_human, cohen_kappa, why=kappa_undefined_why)
    assert stat.text() == "undefined: the machine said yes on all 3 items, so agreement beyond chance cannot be measured (n=3)"
    assert "0.00" not in stat.text()
    assert kappa_undefined_why([]) == "no item has both a human majority and a machine verdict"
    assert kappa_undefined_why([(1, 1), (0, 0)]) is None


def test_results_cli_prints_undefined_kappa_with_its_reason(tmp_path):
    run, _ = _rated_run(tmp_path)
    result = runner.invoke(app, ["human-eval", "results", str(run)])
    line = next(x for x in result.output.splitlines() if "kappa judge_refusal" in x)
    assert "undefined: the machine said yes on all 2 items" in line and "0.00 [0.00, 0.00]" not in result.output


def test_a_store_rated_before_texts_were_shared_keeps_its_items(tmp_path):
    run, store = _echoing_run(tmp_path)
    rater = store.rater_for_token(store.add_rater("alice"))
    a = store.current(rater)
    store.record(rater, a.item_id, "yes" if a.item.kind == SATISFACTION else "tie")
    before = store.items()
    with sqlite3.connect(store.path) as db:  # what an older hrlaif left: the texts' fingerprint alone
        db.execute("UPDATE meta SET value = ? WHERE key = 'eval_fingerprint'", (eval_fingerprint(run),))
    assert RatingStore.open(run).items() == before and len(RatingStore.open(run).ratings()) == 1


def test_an_export_naming_each_policys_item_imports_into_the_shared_item(tmp_path):
    run, store = _echoing_run(tmp_path)
    rater = store.rater_for_token(store.add_rater("alice"))
    _rate_everything(store, rater, lambda a: "yes" if a.item.kind == SATISFACTION else "2")
    rows = store.ratings()
    shared = next(r for r in rows if r["item"] == "satisfaction/start/m1")
    # What an hrlaif from before shared items wrote: rlaif's own item, rated by another rater.
    old = dict(shared, item="satisfaction/rlaif/m1", rater="zoe")
    exported = tmp_path / "old.jsonl"
    exported.write_text(json.dumps(old) + "\n")
    result = runner.invoke(app, ["human-eval", "import", str(run), str(exported)])
    assert result.exit_code == 0 and "imported 1 rating(s)" in result.output, result.output
    assert [r["item"] for r in RatingStore.open(run).ratings() if r["rater"] == "zoe"] == ["satisfaction/start/m1"]
