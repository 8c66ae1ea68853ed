"""Masking rests on the items a figure actually holds (issue 28): satisfaction over a keyed-only
eval set is a verifier figure, whatever the judge's exam said; a category with no item is left out
with one line, not called "not meaningful"; plots draw nothing the tables mask; report.html fits
a phone (viewport) and a wide table scrolls inside its own box."""

from __future__ import annotations

import json
from pathlib import Path

from hrlaif.evaluate.satisfaction import ItemScore
from hrlaif.evaluate.summary import policy_summary
from hrlaif.report import basis, write_report
from hrlaif.study.seeds import seed_basis
from hrlaif.study.summary import items_basis

JUDGE = "simulated(length_bias=1.0,correctness_blindness=1.0,position_bias=0.0)"


def _exam(failed: tuple[str, ...]) -> dict:
    tasks = ("preference", "answer_match", "reasoning", "refusal", "harm", "acceptable")
    return {"judge": JUDGE, "exam": "bundled", "floor": 0.1,
            "tasks": {t: {"n": 10, "qualified": t not in failed, "reason": f"{t} below the floor"} for t in tasks}}


def _scores(policy: str, categories: tuple[str, ...]) -> list[ItemScore]:
    out = []
    for category in categories:
        for i in range(6):
            keyed = category in ("math", "multiple_choice")
            out.append(ItemScore(prompt_id=f"{category}{i}", category=category, policy=policy, satisfied=i % 2 == 0,
                                 correct=(i % 2 == 0) if keyed else None, refused=(i % 2 == 0) if category == "harmful" else None,
                                 decided_by="verifier:test" if keyed else "judge:test"))
    return out


def _run(tmp_path: Path, categories: tuple[str, ...], failed: tuple[str, ...], win: bool = False) -> Path:
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "judge-check").mkdir()
    (run / "judge-check" / "result.json").write_text(json.dumps(_exam(failed)))
    diff = {"diff": 0.1, "low": -0.1, "high": 0.3, "n": 6}
    share = {"successes": 3, "n": 6, "rate": 0.5, "low": 0.19, "high": 0.81}
    ratio = {"wins": 3, "ties": 1, "losses": 2, "n": 6, "win_rate": share, "tie_rate": share, "loss_rate": share,
             "net": diff, "position_consistency": share}
    results = {"judge": JUDGE, "eval_prompts": 6 * len(categories), "max_new_tokens": 64,
               "policies": {p: policy_summary(_scores(p, categories)) for p in ("start", "rlaif")},
               "versus_start": {"rlaif": {"win_ratio": ratio if win else None, "satisfaction_difference": diff, "accuracy_difference": diff}},
               "grading": {"judge": JUDGE, "labeling_judge": JUDGE, "separate_judge": False, "same_model_as_labeling_judge": True}}
    (run / "eval" / "results.json").write_text(json.dumps(results))
    (run / "eval" / "manifest.json").write_text(json.dumps({"stage": "eval", "complete": True}))
    write_report(run)
    return run


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _row(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_satisfaction_on_a_keyed_only_eval_set_rests_on_no_judge_task(tmp_path: Path) -> None:
    """Every prompt keyed, graded by the verifier: a failed 'acceptable' / 'refusal' task touches no item."""
    assert basis.satisfaction_basis(["math", "multiple_choice"]) == ()
    assert basis.satisfaction_basis(["math", "harmful"]) == ("refusal",)
    assert basis.satisfaction_basis(["open_ended", "harmful"]) == ("acceptable", "refusal")
    assert basis.rests_on(basis.REFUSAL_TASKS, 0) == () and basis.rests_on(basis.REFUSAL_TASKS, 3) == ("refusal",)
    run = _run(tmp_path, ("math", "multiple_choice"), failed=("acceptable", "refusal", "preference"))
    md = (run / "report" / "report.md").read_text()
    shows = _section(md, "What this run shows")
    satisfaction = _row(shows, "| satisfaction (all) |")
    assert "not meaningful" not in satisfaction and "50.0% [" in satisfaction and "verifier vs references" in satisfaction, satisfaction
    assert "not meaningful" not in _row(shows, "| satisfaction difference from start |")
    evaluation = _section(md, "Evaluation on 12 held-out prompts")
    assert "not meaningful" not in evaluation, evaluation
    # no harmful or open-ended prompt: no row per policy saying nothing, one line instead
    assert "| satisfaction: harmful |" not in evaluation and "| satisfaction: open_ended |" not in evaluation
    assert "| harmful-answer rate |" not in evaluation
    assert "no harmful or open_ended prompt in the eval set" in evaluation
    # evaluate.win_ratio off: one line, not a row or five columns of "not computed"
    assert "| net win rate" not in shows and "net win rate vs start: not computed (evaluate.win_ratio off)" in shows
    against = _section(md, "Against the start policy")
    assert "| win |" not in against and "not computed" not in _row(against, "| rlaif |")
    assert "Why some figures are not meaningful" not in md, "nothing is masked: no reasons to give"
    # the study's figures read the same rule from the score items
    items = _scores("start", ("math", "multiple_choice"))
    assert items_basis("satisfaction", basis.SATISFACTION_TASKS, items) == ()
    assert items_basis("refusal rate on harmful prompts", basis.REFUSAL_TASKS, items) == ()
    assert items_basis("satisfaction", basis.SATISFACTION_TASKS, items + _scores("start", ("open_ended",))) == ("acceptable",)
    # and so does the spread over seeds
    results = json.loads((run / "eval" / "results.json").read_text())
    assert seed_basis(results, basis.SATISFACTION_TASKS) == () and seed_basis(results, basis.PREFERENCE_TASKS) == ("preference",)


def test_a_figure_with_items_graded_by_a_failed_task_stays_masked_and_its_plot_is_not_drawn(tmp_path: Path) -> None:
    run = _run(tmp_path, ("math", "open_ended"), failed=("acceptable", "preference"), win=True)
    md = (run / "report" / "report.md").read_text()
    shows = _section(md, "What this run shows")
    assert _row(shows, "| satisfaction (all) |").count("not meaningful") == 2
    assert "grading judge: acceptable (NOT qualified: acceptable)" in _row(shows, "| satisfaction (all) |")
    evaluation = _section(md, "Evaluation on 12 held-out prompts")
    assert _row(evaluation, "| satisfaction: open_ended |").count("not meaningful") == 2
    assert "not meaningful" not in _row(evaluation, "| satisfaction: math |")
    assert "| satisfaction: harmful |" not in evaluation  # no item: left out, not masked
    against = _section(md, "Against the start policy")
    assert _row(against, "| rlaif |").count("not meaningful") >= 6  # win, tie, loss, net, consistency, satisfaction
    reasons = _section(md, "Why some figures are not meaningful")
    assert "judge task 'acceptable'" in reasons and "judge task 'preference'" in reasons and "'refusal'" not in reasons
    # plots: no win / tie / loss of an unqualified preference task; satisfaction bars only where the table shows a number
    report = run / "report"
    assert not (report / "win_tie_loss.png").exists() and "win_tie_loss" not in md
    assert (report / "categories.png").is_file() and md.index("![categories]") > md.index("## Evaluation on")
    assert md.index("![categories]") < md.index("## Against the start policy"), "the plot sits under the table it illustrates"


def test_the_page_fits_a_phone_and_wide_tables_scroll_in_their_own_box(tmp_path: Path) -> None:
    run = _run(tmp_path, ("math",), failed=())
    page = (run / "report" / "report.html").read_text()
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert page.count("<table>") == page.count("<div class='scroll'><table>") > 0
    assert ".scroll{overflow-x:auto" in page
    # the judge is defined once, at the top; the tables use its short name
    md = (run / "report" / "report.md").read_text()
    said = [line for line in md.splitlines() if JUDGE in line and not line.startswith("| who labelled")]  # "Read first" (issue 29) is not ours
    assert said == ["- labeling judge: " + JUDGE + ", a SIMULATED judge (a rule, not a model); its exam: qualified on every task examined"], said


def test_how_labels_were_decided_shows_the_routes_and_folds_the_full_counts(tmp_path: Path) -> None:
    run = _run(tmp_path, ("math",), failed=())
    counts = {"pairs": 67, "candidates": 69, "by_correctness": 30, "by_preference_agree": 35,
              "verifier": {"correct": 17, "wrong": 17}, "judge": {"preference": {"scorable": 74}}}
    (run / "label-hrlaif").mkdir()
    (run / "label-hrlaif" / "manifest.json").write_text(json.dumps({"counts": counts, "judge": {"judge": JUDGE, "calls": 9}}))
    write_report(run)
    page = (run / "report" / "report.html").read_text()
    assert ("<td>candidates=69, by_correctness=30, by_preference_agree=35<details><summary>all counts</summary>"
            "verifier.correct=17, verifier.wrong=17, judge.preference.scorable=74</details></td>") in page
