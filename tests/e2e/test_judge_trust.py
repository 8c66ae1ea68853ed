"""run/compare examine the judge first; the report never shows a clean number that rests on a
judge task that did not qualify; require_qualified stops the run; a separate evaluation judge
makes the grades independent of the training labels. Tiny random models, simulated judges."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()


def config(tmp_path: Path, model: Path, **extra) -> Path:
    """A tiny compare run without red teaming; extra takes dotted keys ("evaluate.judge")."""
    return write_run_config(tmp_path, model, COMPARE, {"judge_check": {"per_answer": 6}, "redteam": {"enabled": False}}, **extra)


def test_an_unqualified_task_makes_its_figures_not_meaningful(tmp_path: Path, tiny_model: Path) -> None:
    # The grading judge always picks slot A: its preference task cannot qualify, so no win ratio
    # may appear as a number; the labeling judge is the default simulated one.
    cfg = config(tmp_path, tiny_model, **{"evaluate.judge": {"backend": "simulated", "model": "grader", "simulated": {"position_bias": 1.0}}})
    result = runner.invoke(app, ["run", "-c", str(cfg), "--mode", "rlaif"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for stage in ("judge-check", "judge-check-eval"):
        assert json.loads((run / stage / "manifest.json").read_text())["complete"]
    exam = json.loads((run / "judge-check-eval" / "result.json").read_text())
    assert exam["tasks"]["preference"]["qualified"] is False, "a judge that always picks slot A must not qualify"
    report = (run / "report" / "report.md").read_text()
    read_first, headline = report.split("## ", 3)[1:3]
    assert read_first.startswith("Read first") and headline.startswith("What this run shows")
    net_row = next(line for line in headline.splitlines() if line.startswith("| net win rate"))
    assert "not meaningful" in net_row and "NOT qualified: preference" in net_row
    assert "Judge exam, labeling judge" in report and "Judge exam, evaluation judge" in report
    against = report.split("## Against the start policy", 1)[1].split("##", 1)[0]
    arm_row = next(line for line in against.splitlines() if line.startswith("| rlaif"))
    assert arm_row.count("not meaningful") >= 5, arm_row  # win, tie, loss, net, position consistency
    assert "%" not in arm_row.split("|")[2], "no clean win rate beside an unqualified preference task"
    assert "judge task 'preference' did not qualify" in report
    assert "grades independent of the training labels: yes" in report

    # Every figure of a pointwise task follows that task's exam result, whichever way it went.
    acceptable = exam["tasks"]["acceptable"]["qualified"]
    row = next(line for line in report.splitlines() if line.startswith("| satisfaction: open_ended"))
    assert ("not meaningful" in row) is (not acceptable), row
    label_exam = json.loads((run / "judge-check" / "result.json").read_text())
    labels = report.split("## Labels and reward models", 1)[1].split("##", 1)[0]
    assert ("NOT qualified" in labels) is (not label_exam["tasks"]["preference"]["qualified"]), labels

    again = runner.invoke(app, ["run", "-c", str(cfg), "--mode", "rlaif"])
    assert again.exit_code == 0 and "judge-check: already complete, skipped" in again.output


def test_require_qualified_stops_before_labeling_and_names_the_task(tmp_path: Path, tiny_model: Path) -> None:
    cfg = config(tmp_path, tiny_model, **{"judge.simulated.position_bias": 1.0, "judge.require_qualified": True})
    result = runner.invoke(app, ["run", "-c", str(cfg), "--mode", "rlaif"])
    assert result.exit_code == 2, result.output
    assert "judge.require_qualified" in result.output and "preference" in result.output and "balanced accuracy" in result.output
    assert not (tmp_path / "run" / "label-rlaif").exists() and not (tmp_path / "run" / "sample").exists()
    label = runner.invoke(app, ["label", "-c", str(cfg), "--mode", "rlaif"])  # the stage alone checks too
    assert label.exit_code == 2 and "preference" in label.output


def test_a_separate_evaluation_judge_grades_independently_and_is_examined(tmp_path: Path, tiny_model: Path) -> None:
    cfg = config(tmp_path, tiny_model, **{
        "judge_check.per_answer": 20,  # the bundled size: enough items for a good judge to clear the floor
        "evaluate.judge": {"backend": "simulated", "model": "grader", "seed": 7,
                           # length_bias 1: consistent in both orders, which the exam's preference grading asks
                           "simulated": {"position_bias": 0.0, "correctness_blindness": 0.0, "length_bias": 1.0}},
    })
    result = runner.invoke(app, ["run", "-c", str(cfg), "--mode", "rlaif"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    results = json.loads((run / "eval" / "results.json").read_text())
    assert results["grading"]["independent_of_labels"] is True
    eval_exam = json.loads((run / "judge-check-eval" / "result.json").read_text())
    assert eval_exam["tasks"]["preference"]["qualified"] is True, eval_exam["tasks"]["preference"]
    report = (run / "report" / "report.md").read_text()
    assert "Judge exam, evaluation judge" in report and "grades independent of the training labels: yes" in report
    against = report.split("## Against the start policy", 1)[1].split("##", 1)[0]
    arm_row = next(line for line in against.splitlines() if line.startswith("| rlaif"))
    assert "not meaningful" not in arm_row.split("|")[2], "the evaluation judge qualified: its win rate is a figure"


def test_without_the_exam_every_judge_figure_says_it_is_not_a_measurement(tmp_path: Path, tiny_model: Path) -> None:
    cfg = config(tmp_path, tiny_model, **{"judge_check.enabled": False})
    result = runner.invoke(app, ["run", "-c", str(cfg), "--mode", "rlaif"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "run" / "judge-check").exists()
    report = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "judge NOT examined: not a measurement" in report
    accuracy_row = next(line for line in report.splitlines() if line.startswith("| accuracy (keyed prompts)"))
    assert "verifier vs references" in accuracy_row


def test_evaluation_does_not_read_a_cut_off_chain_of_thought_as_an_answer() -> None:
    from hrlaif.evaluate.satisfaction import score_samples

    from support.samples import sample
    from support.scripted_judge import ScriptedJudge

    # "... 3 + 4 = 7, then times" stops mid-sentence: its last number is not the final answer.
    finished = sample("m1", "math", "3 + 4 = 7, so the answer is 7.", 0, reference="7")
    cut = sample("m2", "math", "First 3 + 4 = 7, then times", 0, reference="7").model_copy(update={"truncated": True})
    uncut = cut.model_copy(update={"truncated": False, "prompt_id": "m3"})
    scores = score_samples([finished, cut, uncut], ScriptedJudge(lambda q: "YES"))
    assert [s.correct for s in scores] == [True, None, True]
    assert [s.satisfied for s in scores] == [True, False, True]


def test_evaluation_grades_refusals_with_the_judge_not_the_training_patterns() -> None:
    from hrlaif.evaluate.satisfaction import score_samples
    from hrlaif.evaluate.summary import policy_summary

    from support.samples import sample
    from support.scripted_judge import ScriptedJudge

    # The first answer opens like a refusal (the training patterns would call it one without
    # asking); the grading judge says it is not, and the grade follows the judge.
    answers = [sample("h1", "harmful", "I'm sorry, I can't help with that.", 0),
               sample("h2", "harmful", "Sure, here is how.", 0),
               sample("h3", "harmful", "I cannot help with that request.", 0)]
    judge = ScriptedJudge(lambda q: "NO" if "sorry" in q.fields["response"] or "Sure" in q.fields["response"] else "YES")
    scores = score_samples(answers, judge)
    assert len(judge.asked) == 3, "every harmful answer goes to the grading judge"
    assert [s.refused for s in scores] == [False, False, True]
    assert [s.pattern_refused for s in scores] == [True, False, True]
    summary = policy_summary(scores)
    assert summary["harmful_answer_rate"]["successes"] == 2
    assert summary["refusal_pattern_agreement"]["successes"] == 2 and summary["refusal_pattern_agreement"]["n"] == 3
