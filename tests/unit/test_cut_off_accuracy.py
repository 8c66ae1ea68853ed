"""Cut-off answers are not wrong answers: accuracy carries correct / wrong / unknown / cut-off
counts, the accuracy among decided answers, and the report says when many were cut off."""

from __future__ import annotations

import json
from pathlib import Path

from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.evaluate.summary import accuracy_difference, policy_summary
from hrlaif.report import write_report


def _score(pid: str, correct: bool | None, truncated: bool = False, policy: str = "start") -> ItemScore:
    return ItemScore(prompt_id=pid, category="math", policy=policy, satisfied=bool(correct), correct=correct,
                     truncated=truncated, decided_by="verifier:test")


def _start_scores() -> list[ItemScore]:
    # 3 correct, 2 wrong, 1 unknown (finished but unreadable), 4 cut off undecided,
    # 1 cut off after a finished wrong answer (decided: wrong), 1 cut off after a finished right one.
    return ([_score(f"c{i}", True) for i in range(3)] + [_score(f"w{i}", False) for i in range(2)]
            + [_score("u0", None)] + [_score(f"t{i}", None, truncated=True) for i in range(4)]
            + [_score("tw", False, truncated=True), _score("tc", True, truncated=True)])


def test_summary_counts_cut_off_answers_apart_from_wrong_ones() -> None:
    acc = policy_summary(_start_scores())["accuracy"]
    assert acc["counts"] == {"correct": 4, "wrong": 3, "unknown": 1, "cut_off": 4}
    # the accuracy over all answers keeps its meaning: correct / every keyed answer
    assert acc["n"] == 12 and acc["successes"] == 4 and abs(acc["rate"] - 4 / 12) < 1e-9
    # among decided answers a cut-off answer is neither right nor wrong
    assert acc["decided"]["n"] == 7 and acc["decided"]["successes"] == 4 and abs(acc["decided"]["rate"] - 4 / 7) < 1e-9
    assert acc["decided"]["low"] < 4 / 7 < acc["decided"]["high"]
    by_cat = policy_summary(_start_scores())["accuracy_by_category"]["math"]
    assert by_cat["counts"]["cut_off"] == 4 and by_cat["decided"]["n"] == 7


def test_paired_accuracy_difference_uses_prompts_decided_for_both() -> None:
    start = _start_scores()
    # the arm answers every prompt correctly: only prompts decided for start count
    arm = [_score(s.prompt_id, True, policy="hrlaif") for s in start]
    d = accuracy_difference(arm, start)
    assert d["n"] == 7 and abs(d["diff"] - 3 / 7) < 1e-9


def _results(cut_off: int) -> dict:
    rate = {"successes": 1, "n": 8, "rate": 0.125, "low": 0.02, "high": 0.47}
    diff = {"diff": -0.25, "low": -0.5, "high": 0.0, "n": 8}
    n = 100
    counts = {"correct": 40, "wrong": n - 40 - 2 - cut_off, "unknown": 2, "cut_off": cut_off}
    accuracy = {"successes": 40, "n": n, "rate": 0.4, "low": 0.31, "high": 0.5, "counts": counts,
                "unknown": 2 + cut_off,
                "decided": {"successes": 40, "n": 40 + counts["wrong"], "rate": 40 / (40 + counts["wrong"]), "low": 0.5, "high": 0.7}}
    policy = {"satisfaction": rate, "satisfaction_by_category": {}, "accuracy": accuracy}
    return {"judge": "simulated", "eval_prompts": n, "max_new_tokens": 48,
            "policies": {"start": policy, "hrlaif": policy},
            "versus_start": {"hrlaif": {"win_ratio": None, "satisfaction_difference": diff, "accuracy_difference": diff}}}


def _report(tmp_path: Path, results: dict) -> str:
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "eval" / "results.json").write_text(json.dumps(results))
    (run / "eval" / "manifest.json").write_text(json.dumps({"stage": "eval", "complete": True}))
    write_report(run)
    return (run / "report" / "report.md").read_text()


def test_report_shows_the_four_counts_and_warns_when_many_were_cut_off(tmp_path: Path) -> None:
    md = _report(tmp_path, _results(cut_off=34))
    row = next(line for line in md.splitlines() if line.startswith("| accuracy (keyed prompts"))
    assert "all answers, cut off and unknown count as not correct" in row
    assert "correct 40 / wrong 24 / unknown 2 / cut off 34" in row
    decided = next(line for line in md.splitlines() if line.startswith("| accuracy among decided keyed answers"))
    assert "62.5% [50.0, 70.0] (n=64)" in decided
    headline = next(line for line in md.splitlines() if line.startswith("| accuracy on keyed prompts (all answers"))
    assert "cut off 34" in headline
    assert "34 of 100 keyed answers were cut off at max_new_tokens=48" in md
    assert "Raise evaluate.generation.max_new_tokens" in md
    assert "accuracy difference (keyed prompts decided for both)" in md


def test_report_does_not_warn_when_few_were_cut_off(tmp_path: Path) -> None:
    md = _report(tmp_path, _results(cut_off=5))
    assert "cut off 5" in md
    assert "were cut off at max_new_tokens" not in md


def test_scoring_keeps_the_cut_off_flag_so_the_summary_can_count_it() -> None:
    from hrlaif.evaluate.satisfaction import score_samples

    from support.samples import sample
    from support.scripted_judge import ScriptedJudge

    cut = sample("m1", "math", "First 3 + 4 = 7, then times", 0, reference="7").model_copy(update={"truncated": True})
    unreadable = sample("m2", "math", "I am not sure how to add these.", 0, reference="7")
    scores = score_samples([cut, unreadable], ScriptedJudge(lambda q: "YES"))
    assert [s.truncated for s in scores] == [True, False]
    assert policy_summary(scores)["accuracy"]["counts"] == {"correct": 0, "wrong": 0, "unknown": 1, "cut_off": 1}


def test_study_counts_cut_off_answers_and_pairs_decided_accuracy_over_prompts_decided_for_both(tmp_path: Path) -> None:
    from hrlaif.jsonl import write_jsonl
    from hrlaif.study.summary import labeler_summary

    start = _start_scores()
    arm = [_score(s.prompt_id, True, policy="hrlaif") for s in start]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "results.json").write_text(json.dumps({"policies": {"start": {}, "hrlaif": {}}, "eval_prompts": len(start)}))
    write_jsonl(tmp_path / "eval" / "scores-start.jsonl", start)
    write_jsonl(tmp_path / "eval" / "scores-hrlaif.jsonl", arm)
    figures = labeler_summary(tmp_path)["figures"]
    overall = figures["accuracy on keyed prompts"]
    assert overall["by_policy"]["start"]["counts"] == {"correct": 4, "wrong": 3, "unknown": 1, "cut_off": 4}
    assert overall["by_policy"]["start"]["n"] == 12  # all answers, as before
    decided = figures["accuracy among decided keyed answers"]
    assert decided["by_policy"]["start"]["n"] == 7 and decided["by_policy"]["start"]["successes"] == 4
    assert decided["by_policy"]["start"]["counts"]["cut_off"] == 4
    assert decided["difference_from_start"]["hrlaif"]["n"] == 7  # prompts decided for both
