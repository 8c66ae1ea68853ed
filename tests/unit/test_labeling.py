"""RLAIF and hybrid labeling: both orders, tiers, routes, provenance, and the audit."""

from __future__ import annotations

import pytest

from hrlaif.config import LabelConfig, SimulatedJudgeConfig
from hrlaif.judge.base import Question
from hrlaif.judge.simulated import SimulatedJudge
from hrlaif.labeling.audit import gold_agreement, length_bias, position_consistency
from hrlaif.labeling.hybrid import label_hybrid
from hrlaif.labeling.pairwise import combine
from hrlaif.labeling.rlaif import label_rlaif
from hrlaif.records import Verdict

from support.samples import sample
from support.scripted_judge import ScriptedJudge


def v(choice, probs=None):
    return Verdict(task="preference", choice=choice, probs=probs)


def test_combine_both_orders():
    assert combine(v("A"), v("B")).winner == 0  # first wins in both orders
    assert combine(v("B"), v("A")).winner == 1
    tie = combine(v("A"), v("A"))  # position bias: same slot both times
    assert tie.winner is None and tie.how == "tie" and tie.consistent is False
    soft = combine(v("A", {"A": 0.9, "B": 0.1}), v("A", {"A": 0.6, "B": 0.4}))
    assert soft.how == "soft" and soft.winner == 0 and soft.p_first == pytest.approx(0.65)
    assert combine(v("A", {"A": 0.9, "B": 0.1}), v("A", {"A": 0.6, "B": 0.4}), use_soft=False).winner is None
    assert combine(v(None), v("B")).how == "unscorable"


def test_rlaif_longer_wins_with_length_loving_judge():
    samples = [sample("p1", "open_ended", "short", 0), sample("p1", "open_ended", "a much longer answer here", 1)]
    judge = ScriptedJudge(lambda q: "A" if len(q.fields["response_a"]) > len(q.fields["response_b"]) else "B")
    pairs, counts = label_rlaif(samples, judge)
    assert len(judge.asked) == 2  # both orders
    assert judge.asked[0].fields["response_a"] == judge.asked[1].fields["response_b"]
    assert pairs[0].chosen_text == "a much longer answer here"
    assert pairs[0].provenance.mode == "rlaif" and len(pairs[0].provenance.verdicts) == 2
    assert counts == {"candidates": 1, "agree": 1, "pairs": 1, "judge": {"preference": {"scorable": 2, "unscorable": 0}}}


def test_rlaif_drops_identical_responses_and_position_ties():
    samples = [sample("p", "open_ended", "same", 0), sample("p", "open_ended", "same ", 1),
               sample("q", "open_ended", "x", 0), sample("q", "open_ended", "y", 1)]
    pairs, counts = label_rlaif(samples, ScriptedJudge(lambda q: "A"))
    assert pairs == [] and counts["candidates"] == 1 and counts["tie"] == 1


def test_hybrid_correct_beats_wrong_even_when_judge_prefers_wrong():
    right = "Let me add: 12 + 7 = 19. The answer is 19."
    wrong = "This is a long, confident and detailed explanation. The answer is 21."
    samples = [sample("m", "math", wrong, 0, reference="19"), sample("m", "math", right, 1, reference="19")]
    judge = ScriptedJudge(lambda q: "A" if q.task == "preference" else "YES")  # would pick slot A
    pairs, counts = label_hybrid(samples, judge, LabelConfig(mode="hrlaif"))
    assert len(pairs) == 1 and pairs[0].chosen_text == right
    assert pairs[0].provenance.step == "correctness" and counts["by_correctness"] == 1
    assert not [q for q in judge.asked if q.task == "preference"]  # decided without asking taste
    assert [q.task for q in judge.asked] == ["reasoning"]  # only the correct one is reasoning-checked


def test_hybrid_sound_reasoning_beats_flawed_among_correct():
    a = "12 + 7 = 19, so the answer is 19."
    b = "The answer is 19."
    samples = [sample("m", "math", b, 0, reference="19"), sample("m", "math", a, 1, reference="19")]
    judge = ScriptedJudge(lambda q: ("YES" if "=" in q.fields["response"] else "NO") if q.task == "reasoning" else "A")
    pairs, _ = label_hybrid(samples, judge, LabelConfig(mode="hrlaif"))
    assert pairs[0].chosen_text == a and pairs[0].provenance.step == "reasoning"


def test_hybrid_same_tier_falls_back_to_preference_both_orders():
    samples = [sample("c", "multiple_choice", "Answer: (B)", 0, reference="B", choices=["x", "y"]),
               sample("c", "multiple_choice", "I pick B. It is y, clearly.", 1, reference="B", choices=["x", "y"])]
    judge = ScriptedJudge(lambda q: "A" if len(q.fields["response_a"]) > len(q.fields["response_b"]) else "B")
    pairs, counts = label_hybrid(samples, judge, LabelConfig(mode="hrlaif"))
    assert pairs[0].provenance.step == "preference" and counts["by_preference_agree"] == 1
    assert pairs[0].provenance.details["tiers"] == [{"correctness": 1}, {"correctness": 1}]


def test_hybrid_refusal_beats_compliance_on_harmful():
    comply = "Sure! Here is a detailed plan you asked for, step one..."
    refuse = "I can't help with that. If you are in danger, please contact local services."
    samples = [sample("h", "harmful", comply, 0), sample("h", "harmful", refuse, 1)]
    judge = ScriptedJudge(lambda q: "NO" if q.task == "refusal" else "A")
    pairs, _ = label_hybrid(samples, judge, LabelConfig(mode="hrlaif"))
    assert pairs[0].chosen_text == refuse and pairs[0].provenance.step == "refusal"
    assert pairs[0].provenance.details["second"]["refusal"] == "refusal pattern"


def test_hybrid_unknown_answer_asks_judge_for_answer_match():
    unreadable = "I think it's nineteen or so"
    samples = [sample("m", "math", unreadable, 0, reference="19"), sample("m", "math", "The answer is 5.", 1, reference="19")]
    judge = ScriptedJudge(lambda q: "YES" if q.task in ("answer_match", "reasoning") else "A")
    pairs, _ = label_hybrid(samples, judge, LabelConfig(mode="hrlaif"))
    assert "answer_match" in [q.task for q in judge.asked]
    assert pairs[0].chosen_text == unreadable and "judge says answer matches" in pairs[0].provenance.details["first"]["correctness"] + pairs[0].provenance.details["second"]["correctness"]


def test_hybrid_unknown_without_fallback_never_beats_wrong():
    # No tier for an answer the verifier cannot read: the judge's preference decides, here for the wrong one.
    samples = [sample("m", "math", "no idea", 0, reference="19"), sample("m", "math", "The answer is 5.", 1, reference="19")]
    judge = ScriptedJudge(lambda q: "A" if len(q.fields["response_a"]) > len(q.fields["response_b"]) else "B")
    pairs, counts = label_hybrid(samples, judge, LabelConfig(mode="hrlaif", answer_match_fallback=False))
    assert pairs[0].chosen_text == "The answer is 5." and pairs[0].provenance.step == "preference"
    assert not [q for q in judge.asked if q.task == "answer_match"]
    assert counts["no_information"] == {"correctness": 1} and counts["verifier"]["unknown"] == 1


def test_custom_route_without_preference_drops_ties():
    samples = [sample("h", "harmful", "Sure, here.", 0), sample("h", "harmful", "Okay, here.", 1)]
    config = LabelConfig(mode="hrlaif", routes={"harmful": ["refusal"], "math": [], "multiple_choice": [], "open_ended": []})
    pairs, counts = label_hybrid(samples, ScriptedJudge(lambda q: "NO"), config)
    assert pairs == [] and counts["tie_no_preference_step"] == 1


def test_route_validation():
    with pytest.raises(ValueError, match="must be the last step"):
        LabelConfig(routes={"math": ["preference", "correctness"]})
    with pytest.raises(ValueError, match="need a reference"):
        LabelConfig(routes={"open_ended": ["correctness"]})


def test_simulated_judge_biases_are_what_they_say():
    long_wrong = "Here is a thorough answer with many words. The answer is 21."
    short_right = "The answer is 19."
    ctx = {"category": "math", "reference": "19"}
    q = Question(task="preference", fields={"prompt": "12+7?", "response_a": short_right, "response_b": long_wrong}, context=ctx)
    blind = SimulatedJudge(SimulatedJudgeConfig(length_bias=1.0, correctness_blindness=1.0, position_bias=0.0))
    sighted = SimulatedJudge(SimulatedJudgeConfig(length_bias=1.0, correctness_blindness=0.0, position_bias=0.0))
    positional = SimulatedJudge(SimulatedJudgeConfig(position_bias=1.0))
    assert blind.ask([q])[0].choice == "B"
    assert sighted.ask([q])[0].choice == "A"
    assert positional.ask([q])[0].choice == "A"
    assert "simulated" in blind.name


def test_audit_gold_agreement_on_a_known_fixture():
    right, wrong = "The answer is 19.", "The answer is 21."
    samples = [sample(f"m{i}", "math", r, k, reference="19") for i in range(4) for k, r in enumerate((right, wrong))]
    # A judge that always prefers the wrong answer, consistently in both orders.
    always_wrong = ScriptedJudge(
        lambda q: ("A" if "21" in q.fields["response_a"] else "B") if q.task == "preference" else "YES"
    )
    rlaif_pairs, rlaif_counts = label_rlaif(samples, always_wrong)
    hybrid_pairs, _ = label_hybrid(samples, always_wrong, LabelConfig(mode="hrlaif"))
    assert gold_agreement(rlaif_pairs)["all_keyed"]["rate"] == 0.0
    assert gold_agreement(rlaif_pairs)["all_keyed"]["n"] == 4 and gold_agreement(rlaif_pairs)["decided_by_verifier"] == 0
    # The hybrid pairs were decided by the verifier: they agree with it by construction, so they
    # are counted apart and say nothing about the judge (which was wrong every time above).
    hybrid_gold = gold_agreement(hybrid_pairs)
    assert hybrid_gold["decided_by_verifier"] == 4
    assert hybrid_gold["all_keyed"]["n"] == 0 and hybrid_gold["all_keyed"]["rate"] is None
    assert position_consistency(rlaif_counts)["rate"] == 1.0
    assert length_bias(rlaif_pairs)["n"] == 0  # equal lengths are not counted


def test_report_warns_when_the_judge_follows_position():
    from hrlaif.report.sections.run import judge_warnings

    blind = {"rlaif": {"judge": "local:tiny", "position_consistency": {"rate": 0.0, "n": 15, "low": 0.0, "high": 0.2}}}
    fine = {"rlaif": {"judge": "big", "position_consistency": {"rate": 0.9, "n": 40, "low": 0.77, "high": 0.96}}}
    few = {"rlaif": {"judge": "x", "position_consistency": {"rate": 0.0, "n": 2, "low": 0.0, "high": 0.66}}}
    assert "mostly follow position" in judge_warnings(blind)[0] and "n=15" in judge_warnings(blind)[0]
    assert judge_warnings(fine) == [] and judge_warnings(few) == []


def test_a_route_for_one_category_keeps_the_other_defaults():
    routes = LabelConfig(routes={"math": ["preference"]}).routes
    assert routes["math"] == ["preference"] and routes["harmful"] == ["refusal", "preference"]


def test_audit_counts_pairs_the_judges_answer_match_decided_as_the_judges():
    """A correctness pair where one answer the verifier could not read got its tier from the
    judge's answer_match was not decided by the verifier (issue 25 item 4)."""
    from hrlaif.labeling.audit import label_quality_lines

    unreadable, wrong = "I believe it comes to nineteen.", "The answer is 21."
    samples = [sample(f"m{i}", "math", r, k, reference="19") for i in range(3) for k, r in enumerate((unreadable, wrong))]
    matching = ScriptedJudge(lambda q: {"answer_match": "YES", "reasoning": "YES"}.get(q.task, "A"))
    pairs, _ = label_hybrid(samples, matching, LabelConfig(mode="hrlaif", tie_margin=0.0))
    assert {p.provenance.step for p in pairs} == {"correctness"} and len(pairs) == 3
    gold = gold_agreement(pairs)
    assert gold["decided_by_verifier"] == 0 and gold["decided_by_answer_match"] == 3
    assert gold["all_keyed"]["n"] == 0, "gold cannot read the matched answer either: no agreement to count"
    line = label_quality_lines({"hrlaif": {"pairs": 3, "gold_agreement": gold,
                                           "verifier_agreement": {"rate": None, "keyed_pairs": 3}}})[0]
    assert "3 keyed pairs decided by the judge's answer_match" in line


def test_audit_checks_cut_off_answers_as_the_labelers_did():
    """A judge-preferred pair whose rejected answer was cut off before it finished: the labelers'
    verifier called it unknown, so gold cannot tell the pair apart (the audit used to re-check it
    without the truncation flag, read its last number, and call it wrong)."""
    right, cut = "The answer is 19.", "First 3 x 4 = 12 and then we add"
    pair = label_rlaif([sample("m0", "math", right, 0, reference="19"), sample("m0", "math", cut, 1, reference="19")],
                       ScriptedJudge(lambda q: "A" if "19" in q.fields["response_a"] else "B"))[0][0]
    assert pair.provenance.step == "preference" and pair.chosen_text == right
    assert gold_agreement([pair])["all_keyed"]["n"] == 1, "without the flag the cut-off answer reads as a wrong 12"
    assert gold_agreement([pair], truncated={("m0", cut)})["all_keyed"]["n"] == 0
