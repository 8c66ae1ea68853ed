"""Weak or failed signals never become labels: unscorable verdicts and unknown verifier results
rank no response, a cut-off answer is not read by its last number, and a preference that barely
leans is a tie. Every case is one the old code got wrong (a middle tier, a margin-free win)."""

from __future__ import annotations

import logging

import pytest

from hrlaif.config import LabelConfig
from hrlaif.jsonl import read_jsonl, write_jsonl
from hrlaif.judge.permute import PermutedJudge
from hrlaif.judge.templates import BUILTIN_TEMPLATES
from hrlaif.labeling.audit import position_consistency
from hrlaif.labeling.hybrid import label_hybrid
from hrlaif.labeling.pairwise import combine
from hrlaif.labeling.rlaif import label_rlaif
from hrlaif.records import Message, Pair, Sample, Verdict

from support.scripted_judge import ScriptedJudge

HRLAIF = LabelConfig(mode="hrlaif")


def sample(pid, category, response, k, reference=None, choices=None, truncated=False):
    return Sample(prompt_id=pid, messages=[Message(role="user", content="question?")], category=category,
                  reference=reference, choices=choices, response=response, sample_index=k, truncated=truncated)


def prefers_shorter(q):
    return ("A" if len(q.fields["response_a"]) < len(q.fields["response_b"]) else "B"), None


def rule(**by_task):
    """A judge rule: a fixed (choice, probs) per task, `preference` picking the shorter response."""
    return lambda q: by_task[q.task] if q.task in by_task else prefers_shorter(q)


# ---------------------------------------------------------------- hybrid: failed signals rank nothing
def test_an_unreadable_answer_whose_answer_match_is_unscorable_does_not_beat_a_wrong_one():
    unreadable, wrong = "Hmm, it could be several things, really, hard to say", "The answer is 5."
    samples = [sample("m", "math", unreadable, 0, reference="19"), sample("m", "math", wrong, 1, reference="19")]
    judge = ScriptedJudge(rule(answer_match=(None, None)))
    pairs, counts = label_hybrid(samples, judge, HRLAIF)
    assert judge.tasks() == ["answer_match", "preference", "preference"]
    (pair,) = pairs
    assert pair.chosen_text == wrong and pair.provenance.step == "preference"  # the judge's taste, not a middle tier
    (skipped,) = pair.provenance.details["no_information"]
    assert skipped["step"] == "correctness" and "first response" in skipped["why"] and "unknown" in skipped["why"]
    assert "answer match unscorable" in skipped["why"]
    assert pair.provenance.details["tiers"][0]["correctness"] is None
    assert counts["verifier"] == {"correct": 0, "wrong": 1, "unknown": 1, "error": 0}
    assert counts["judge"]["answer_match"] == {"scorable": 0, "unscorable": 1}
    assert counts["no_information"] == {"correctness": 1}


def test_no_information_drop_drops_the_pair_and_counts_it():
    samples = [sample("m", "math", "no idea at all, sorry", 0, reference="19"), sample("m", "math", "The answer is 5.", 1, reference="19")]
    judge = ScriptedJudge(rule(answer_match=(None, None)))
    pairs, counts = label_hybrid(samples, judge, LabelConfig(mode="hrlaif", no_information="drop"))
    assert pairs == [] and counts["dropped_no_information_correctness"] == 1
    assert "preference" not in judge.tasks()


def test_an_unscorable_reasoning_check_does_not_beat_flawed_reasoning():
    flawed, unscorable = "The answer is 19.", "Adding gives 12 + 7 = 19, so the answer is 19."
    samples = [sample("m", "math", unscorable, 0, reference="19"), sample("m", "math", flawed, 1, reference="19")]
    judge = ScriptedJudge(lambda q: (None, None) if q.task == "reasoning" and "=" in q.fields["response"]
                      else ("NO", None) if q.task == "reasoning" else prefers_shorter(q))
    pairs, counts = label_hybrid(samples, judge, HRLAIF)
    (pair,) = pairs
    assert pair.chosen_text == flawed and pair.provenance.step == "preference"
    assert [s["step"] for s in pair.provenance.details["no_information"]] == ["reasoning"]
    assert counts["judge"]["reasoning"] == {"scorable": 1, "unscorable": 1}
    assert counts["verifier"]["correct"] == 2


def test_an_unscorable_refusal_check_does_not_beat_compliance():
    complies, unscorable = "Sure, do it like this.", "Well, that is a long story with many sides to it."
    samples = [sample("h", "harmful", unscorable, 0), sample("h", "harmful", complies, 1)]
    judge = ScriptedJudge(lambda q: ((None, None) if "story" in q.fields["response"] else ("NO", None)) if q.task == "refusal"
                      else prefers_shorter(q))
    pairs, counts = label_hybrid(samples, judge, HRLAIF)
    (pair,) = pairs
    assert pair.chosen_text == complies and pair.provenance.step == "preference"
    assert counts["judge"]["refusal"] == {"scorable": 1, "unscorable": 1} and counts["refusal_by_pattern"] == 0


def test_refusal_tiers_still_decide_when_both_signals_are_there():
    refuses, complies = "I can't help with that.", "Sure, do it like this."
    samples = [sample("h", "harmful", complies, 0), sample("h", "harmful", refuses, 1)]
    pairs, counts = label_hybrid(samples, ScriptedJudge(rule(refusal=("NO", None))), HRLAIF)
    assert pairs[0].chosen_text == refuses and pairs[0].provenance.step == "refusal"
    assert pairs[0].chosen_prob == 1.0 and pairs[0].confidence == 1.0
    assert counts["refusal_by_pattern"] == 1 and counts["judge"]["refusal"] == {"scorable": 1, "unscorable": 0}


def test_a_verifier_error_is_counted_and_logged_and_ranks_nothing(monkeypatch, caplog):
    import hrlaif.verify.multiple_choice as mc

    def broken(response, reference, choices):
        if "(A)" in response:
            raise RuntimeError("verifier bug")
        return real(response, reference, choices)

    real = mc.check_multiple_choice
    monkeypatch.setattr(mc, "check_multiple_choice", broken)
    samples = [sample("c", "multiple_choice", "Answer: (A)", 0, reference="B", choices=["x", "y"]),
               sample("c", "multiple_choice", "Answer: (B) because y", 1, reference="B", choices=["x", "y"])]
    judge = ScriptedJudge(rule(answer_match=(None, None)))
    with caplog.at_level(logging.WARNING, logger="hrlaif.verify"):
        pairs, counts = label_hybrid(samples, judge, HRLAIF)
    assert "verifier bug" in caplog.text
    assert counts["verifier"] == {"correct": 1, "wrong": 0, "unknown": 0, "error": 1}
    (pair,) = pairs
    assert pair.provenance.step == "preference" and "error" in pair.provenance.details["no_information"][0]["why"]


def test_a_truncated_answer_is_not_read_by_its_last_number():
    cut = "First, 12 + 7 = 19, and then we add 3 to get 22"
    wrong = "The answer is 5."

    def label(truncated):
        samples = [sample("m", "math", cut, 0, reference="22", truncated=truncated), sample("m", "math", wrong, 1, reference="22")]
        return label_hybrid(samples, ScriptedJudge(rule(answer_match=(None, None), reasoning=("YES", None))), HRLAIF)

    finished, _ = label(False)
    assert finished[0].chosen_text == cut and finished[0].provenance.step == "correctness"
    pairs, counts = label(True)
    assert pairs[0].provenance.step == "preference" and counts["verifier"]["unknown"] == 1
    assert "verifier truncated" in pairs[0].provenance.details["first"]["correctness"]


# ---------------------------------------------------------------- both orders under a margin
def v(choice, a):
    return Verdict(task="preference", choice=choice, probs={"A": a, "B": 1 - a})


@pytest.mark.parametrize(
    ("forward", "backward", "margin", "winner", "how", "under"),
    [
        (v("A", 0.56), v("B", 0.46), 0.1, None, "agree", True),  # agrees, p_first 0.55: a tie
        (v("A", 0.56), v("B", 0.46), 0.0, 0, "agree", False),  # no margin: the old behaviour
        (v("A", 0.8), v("B", 0.4), 0.1, 0, "agree", False),  # p_first 0.7
        (v("B", 0.2), v("A", 0.7), 0.1, 1, "agree", False),  # second wins with 0.75
        (v("A", 0.58), v("A", 0.52), 0.1, None, "tie", True),  # orders disagree, p_first 0.53
        (v("A", 0.9), v("A", 0.6), 0.1, 0, "soft", False),  # orders disagree, p_first 0.65
        (v("A", 0.51), v("B", 0.8), 0.0, None, "agree", True),  # agrees on A but p_first 0.355 leans to B
    ],
)
def test_a_preference_that_leans_less_than_the_margin_is_a_tie(forward, backward, margin, winner, how, under):
    comparison = combine(forward, backward, tie_margin=margin)
    assert (comparison.winner, comparison.how, comparison.under_margin) == (winner, how, under)


def test_without_probabilities_agreement_decides_whatever_the_margin():
    plain = combine(Verdict(task="preference", choice="A"), Verdict(task="preference", choice="B"), tie_margin=0.4)
    assert plain.winner == 0 and plain.chosen_prob is None and not plain.under_margin


def lean_judge(p_shorter):
    """A judge consistent in both orders that gives the shorter response probability `p_shorter`."""
    def decide(q):
        a_shorter = len(q.fields["response_a"]) < len(q.fields["response_b"])
        p_a = p_shorter if a_shorter else 1 - p_shorter
        return ("A" if p_a > 0.5 else "B"), {"A": p_a, "B": 1 - p_a}
    return ScriptedJudge(decide)


def test_rlaif_counts_ties_under_the_margin_and_keeps_soft_labels():
    samples = [sample("p", "open_ended", "short", 0), sample("p", "open_ended", "a longer answer", 1),
               sample("q", "open_ended", "tiny", 0), sample("q", "open_ended", "a longer reply", 1)]
    weak, counts = label_rlaif(samples, lean_judge(0.55), tie_margin=0.1)
    assert weak == [] and counts["tie_margin"] == 2 and counts["agree"] == 2
    assert position_consistency(counts)["rate"] == 1.0  # the orders still agreed
    strong, counts = label_rlaif(samples, lean_judge(0.8), tie_margin=0.1)
    assert [p.chosen_text for p in strong] == ["short", "tiny"] and "tie_margin" not in counts
    assert [p.chosen_prob for p in strong] == pytest.approx([0.8, 0.8])
    assert [p.confidence for p in strong] == pytest.approx([0.6, 0.6])


def test_hybrid_counts_ties_under_the_margin_and_the_audit_still_sees_them():
    samples = [sample("p", "open_ended", "short", 0), sample("p", "open_ended", "a longer answer", 1)]
    pairs, counts = label_hybrid(samples, lean_judge(0.55), HRLAIF)
    assert pairs == [] and counts["tie_margin"] == 1 and counts["preference_agree"] == 1
    consistency = position_consistency(counts)  # the dropped agreement still counts as consistent
    assert (consistency["n"], consistency["rate"]) == (1, 1.0)
    assert counts["judge"]["preference"] == {"scorable": 2, "unscorable": 0}


# ---------------------------------------------------------------- pairs files old and new
def test_old_pairs_files_with_margin_read_it_as_confidence(tmp_path):
    samples = [sample("p", "open_ended", "short", 0), sample("p", "open_ended", "a longer answer", 1)]
    (pair,) = label_rlaif(samples, lean_judge(0.8))[0]
    old = pair.model_dump(mode="json", exclude={"confidence", "chosen_prob"}) | {"margin": 0.6}
    path = tmp_path / "pairs.jsonl"
    write_jsonl(path, [old])
    (back,) = read_jsonl(path, Pair)
    assert back.confidence == pytest.approx(0.6) and back.chosen_prob == pytest.approx(0.8)
    assert "margin" not in back.model_dump()
    with pytest.raises(ValueError, match="not both"):
        Pair.model_validate(old | {"confidence": 0.6})


# -- single-order verdicts (refusal, answer match, reasoning) asked under two label orders -------

def letter_biased(lean):
    """A position-biased judge behind PermutedJudge: on a refusal question it always answers the
    alphabetically first letter shown, so its two label orders disagree, with P(YES) 0.5 + `lean(response)`
    (the issue's SmolLM2: 0.4997 against 0.5008); preferences pick the shorter response."""

    def answer(q):
        if q.task != "refusal":
            return prefers_shorter(q)
        first = BUILTIN_TEMPLATES["refusal"].options[q.labels.index(min(q.labels))]
        p_yes = 0.5 + lean(q.fields["response"]) + (0.0005 if first == "YES" else -0.0005)
        return first, {"YES": p_yes, "NO": 1 - p_yes}

    return PermutedJudge(ScriptedJudge(answer))


COIN_FLIP = ("Well, that depends on a lot of things.", "Sure, it goes roughly like this, in short.")


def test_a_coin_flip_between_label_orders_decides_no_refusal_tier():
    leans = {COIN_FLIP[0]: 0.0003, COIN_FLIP[1]: -0.0003}  # averaged P(YES) 0.5003 against 0.4997
    samples = [sample("h", "harmful", text, k) for k, text in enumerate(COIN_FLIP)]
    (pair,), counts = label_hybrid(samples, letter_biased(leans.get), HRLAIF)
    assert pair.provenance.step == "preference", pair.provenance
    assert [n["step"] for n in pair.provenance.details["no_information"]] == ["refusal"]
    assert "tie_margin" in pair.provenance.details["no_information"][0]["why"]
    # Without a margin the lean decides, but only where soft labels are on, and as a soft label.
    (pair,), _ = label_hybrid(samples, letter_biased(leans.get), LabelConfig(mode="hrlaif", tie_margin=0.0))
    assert pair.provenance.step == "refusal" and pair.chosen_text == COIN_FLIP[0]
    assert pair.chosen_prob == pytest.approx(0.5003)
    (pair,), _ = label_hybrid(samples, letter_biased(leans.get), LabelConfig(mode="hrlaif", tie_margin=0.0, soft_labels=False))
    assert pair.provenance.step == "preference"
    assert "soft_labels is off" in pair.provenance.details["no_information"][0]["why"]


def test_a_clear_lean_across_disagreeing_orders_still_decides():
    leans = {COIN_FLIP[0]: 0.3, COIN_FLIP[1]: -0.3}  # averaged P(YES) 0.8 against 0.2
    samples = [sample("h", "harmful", text, k) for k, text in enumerate(COIN_FLIP)]
    (pair,), _ = label_hybrid(samples, letter_biased(leans.get), HRLAIF)
    assert pair.provenance.step == "refusal" and pair.chosen_text == COIN_FLIP[0]
    assert pair.chosen_prob == pytest.approx(0.8)


def test_a_judge_decided_tier_carries_the_judges_probability():
    refuses, hedges, complies = "I can't help with that.", "Well, that depends on a lot of things.", "Sure, do it like this."
    p = {hedges: {"YES": 0.8, "NO": 0.2}, complies: {"YES": 0.3, "NO": 0.7}}
    judge = ScriptedJudge(lambda q: (max(p[q.fields["response"]], key=p[q.fields["response"]].get), p[q.fields["response"]])
                      if q.task == "refusal" else prefers_shorter(q))
    samples = [sample("h", "harmful", text, k) for k, text in enumerate((refuses, hedges, complies))]
    pairs, _ = label_hybrid(samples, judge, HRLAIF)
    prob = {(pair.chosen_text, pair.rejected[-1].content): pair.chosen_prob for pair in pairs if pair.provenance.step == "refusal"}
    # A tie (one tier wrong) counts half: the chance chosen is better is the mean of the tiers' probabilities.
    assert prob == pytest.approx({(refuses, complies): (1 + 0.7) / 2, (hedges, complies): (0.8 + 0.7) / 2}), prob
