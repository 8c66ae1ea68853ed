"""The judge exam and `hrlaif judge-check`: known answers, balance, grading, qualification, calibration."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import JudgeCheckConfig, JudgeConfig, SimulatedJudgeConfig
from hrlaif.errors import HrlaifError
from hrlaif.judge import build_judge
from hrlaif.judge.calibrate import CalibratedJudge, Calibration
from hrlaif.judge.exam import EXAM_TASKS, ExamItem, build_exam, load_exam
from hrlaif.judge.qualify import qualify_judge
from hrlaif.judge.templates import BUILTIN_TEMPLATES, load_templates
from hrlaif.verify import check_answer

from support.fake_openai import FakeOpenAIServer, fields_of, judge_config, prompt_of, say

runner = CliRunner()
EXAM = build_exam()


def test_the_exam_covers_every_judge_task_balanced_in_both_splits() -> None:
    assert set(EXAM_TASKS) == set(BUILTIN_TEMPLATES) >= {"acceptable", "answer_match", "harm", "preference", "reasoning", "refusal"}
    assert {item.task for item in EXAM} == set(BUILTIN_TEMPLATES)
    assert len({item.id for item in EXAM}) == len(EXAM)
    assert build_exam() == EXAM, "the bundled exam is the same every time"
    for task in BUILTIN_TEMPLATES:
        for split in ("calibration", "test"):
            answers = Counter(i.answer for i in EXAM if i.task == task and i.split == split)
            assert set(answers) == set(BUILTIN_TEMPLATES[task].options), (task, split, answers)
            assert max(answers.values()) - min(answers.values()) <= 1, (task, split, answers)
            assert sum(answers.values()) >= 18
    for item in EXAM:
        assert len(item.note) > 10
        assert set(BUILTIN_TEMPLATES[item.task].fields) <= set(item.fields)


def test_answer_match_keys_agree_with_the_verifier() -> None:
    items = [i for i in EXAM if i.task == "answer_match"]
    assert items
    for item in items:
        check = check_answer(item.context["category"], item.fields["response"], item.fields["reference"], item.context.get("choices"))
        assert check.correct is (item.answer == "YES"), (item.fields["response"], item.answer, check)


_EQUATION = re.compile(r"(\d+) ([+\-×÷]) (\d+) (?:=|gives) (\d+)")
_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b, "÷": lambda a, b: Fraction(a, b)}


def test_reasoning_keys_follow_from_the_arithmetic_in_the_response() -> None:
    items = [i for i in EXAM if i.task == "reasoning"]
    assert items
    for item in items:
        steps = [(_OPS[op](int(a), int(b)) == int(c)) for a, op, b, c in _EQUATION.findall(item.fields["response"])]
        assert steps, item.fields["response"]
        assert all(steps) is (item.answer == "YES"), (item.fields["response"], item.answer)
        assert item.fields["response"].rstrip(".").endswith(item.fields["reference"]), "every reasoning item reaches the right answer"


def test_preference_keys_put_the_correct_answer_first_or_second() -> None:
    items = [i for i in EXAM if i.task == "preference" and i.context.get("reference")]
    assert items
    for item in items:
        better = item.fields["response_a" if item.answer == "A" else "response_b"]
        worse = item.fields["response_b" if item.answer == "A" else "response_a"]
        assert check_answer("math", better, item.context["reference"]).correct is True
        assert check_answer("math", worse, item.context["reference"]).correct is False
    longer_is_worse = sum(len(i.fields["response_a"]) > len(i.fields["response_b"]) != (i.answer == "A") for i in items)
    assert longer_is_worse >= len(items) // 3, "the wrong answer must often be the longer one"


def test_compliance_that_mentions_a_refusal_is_keyed_as_compliance() -> None:
    noes = [i.fields["response"] for i in EXAM if i.task == "refusal" and i.answer == "NO"]
    assert any("just kidding" in t for t in noes)
    assert any(t.startswith("Sure!") and "I don't support" in t for t in noes)
    assert any(t.startswith("I don't give legal advice, but here is how") for t in noes)


def _simulated(tmp_path: Path, **bias) -> tuple:
    config = JudgeConfig(backend="simulated", simulated=SimulatedJudgeConfig(**bias))
    return build_judge(config, cache_path=tmp_path / "cache.sqlite")


def test_a_judge_that_always_picks_slot_a_does_not_qualify_on_preference(tmp_path: Path) -> None:
    judge = _simulated(tmp_path, position_bias=1.0, correctness_blindness=0.0)
    result = qualify_judge(judge, JudgeCheckConfig())
    pref = result["tasks"]["preference"]
    assert pref["per_order_accuracy"]["value"] == 0.5, "right in one order of each item"
    assert pref["accuracy"]["value"] == 0.0 and pref["balanced_accuracy"]["value"] == 0.0, "both orders combined: a tie every time"
    assert pref["position_consistency"]["value"] == 0.0 and pref["first_slot_rate"]["value"] == 1.0
    assert pref["qualified"] is False and result["qualified"] is False
    assert "lower bound" in pref["reason"] and "floor 60.0%" in pref["reason"]


def test_a_judge_that_uses_correctness_and_no_position_qualifies_on_preference(tmp_path: Path) -> None:
    # length_bias 1: on open-ended items it names the longer answer in both orders, so both orders
    # agree (preference is graded by labeling's both-orders rule; a coin flip there is a tie)
    judge = _simulated(tmp_path, position_bias=0.0, correctness_blindness=0.0, length_bias=1.0)
    result = qualify_judge(judge, JudgeCheckConfig())
    pref = result["tasks"]["preference"]
    assert pref["qualified"] is True and pref["balanced_accuracy"]["low"] > 0.6
    assert pref["n"] == 30 and pref["verdicts"] == 60 and pref["n_calibration"] == 30
    assert result["cost"]["calls"] == sum(2 if i.task == "preference" else 1 for i in EXAM)
    # answer_match by the verifier is right; the rule-of-thumb tasks are not, and the exam says so
    assert result["tasks"]["answer_match"]["qualified"] is True
    assert result["tasks"]["acceptable"]["qualified"] is False
    assert result["tasks"]["acceptable"]["yes_rate"]["value"] == 1.0
    # a re-run is answered from the cache
    again = qualify_judge(judge, JudgeCheckConfig())
    assert again["cost"]["calls"] == 0 and again["cost"]["cache_hits"] == result["cost"]["calls"]
    assert again["tasks"] == result["tasks"]
    judge.close()


def test_judge_check_command_writes_the_result_shape(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    args = ["judge-check", "--set", "judge.backend=simulated", "--set", f"run_dir={tmp_path / 'run'}", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert isinstance(data["qualified"], bool) and set(data["tasks"]) == set(BUILTIN_TEMPLATES)
    for task, r in data["tasks"].items():
        assert isinstance(r["n"], int) and isinstance(r["qualified"], bool)
        for key in ("accuracy", "balanced_accuracy", "yes_rate" if "YES" in BUILTIN_TEMPLATES[task].options else None, "position_consistency" if task == "preference" else None):
            if key:
                assert set(r[key]) >= {"value", "low", "high"} and r[key]["low"] <= r[key]["value"] <= r[key]["high"], (task, key)
    assert data["cost"]["calls"] > 0
    assert (tmp_path / "run" / "judge_cache.sqlite").is_file(), "the exam goes through the same cache as labeling"
    assert "qualified" in result.output and "preference" in result.output


def test_judge_check_with_a_user_exam_and_its_errors(tmp_path: Path) -> None:
    items = [i for i in EXAM if i.task == "answer_match"][:8]
    exam = tmp_path / "exam.jsonl"
    exam.write_text("".join(i.model_dump_json() + "\n" for i in items))
    out = tmp_path / "out.json"
    base = ["judge-check", "--set", "judge.backend=simulated", "--set", f"run_dir={tmp_path / 'run'}"]
    result = runner.invoke(app, [*base, "--set", f"judge_check.exam={exam}", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert list(data["tasks"]) == ["answer_match"] and data["exam"] == str(exam)
    assert data["tasks"]["answer_match"]["n"] == 4 and data["tasks"]["answer_match"]["accuracy"]["value"] == 1.0

    bad = tmp_path / "bad.jsonl"
    lines = [items[0].model_dump(mode="json"), dict(items[1].model_dump(mode="json"), answer="MAYBE")]
    bad.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = runner.invoke(app, [*base, "--set", f"judge_check.exam={bad}", "-o", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and f"{bad}:2:" in result.output and "MAYBE" in result.output
    assert not (tmp_path / "bad.json").exists()

    result = runner.invoke(app, [*base, "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output


# -- calibration with a judge that says YES to everything ------------------------------------

TRUTH = {(i.task, i.fields["prompt"], i.fields.get("response", "")): i.answer for i in EXAM}


def _says_yes(informative: bool):
    """A server judge whose text is always YES (A for harm and preference); its top_logprobs lean
    a little more to YES on items whose true answer is YES when `informative`, else at random."""

    def answer(body: dict) -> tuple[str, dict[str, float]]:
        fields = fields_of(body)
        if "response_a" in fields:
            return "A", {"A": math.log(0.9), "B": math.log(0.1)}
        task = next(t for t, tpl in BUILTIN_TEMPLATES.items() if tpl.ask and tpl.ask in prompt_of(body))
        truth = TRUTH[(task, fields["prompt"], fields["response"])]
        noise = int(hashlib.sha256(fields["response"].encode() + fields["prompt"].encode()).hexdigest()[:4], 16) / 65535
        names = BUILTIN_TEMPLATES[task].option_names()
        if task == "harm":
            lean = {"A": 0.8, "B": 0.1, "C": 0.1}
            if informative:
                lean = {o: p + (0.08 if o == truth else 0.0) for o, p in lean.items()}
        else:
            p_yes = (0.93 + (0.04 if truth == "YES" else 0.0) + 0.01 * noise) if informative else 0.93 + 0.05 * noise
            lean = {"YES": p_yes, "NO": 1 - p_yes}
        shown = {say(body, names[i], o): p for i, (o, p) in enumerate(lean.items())}
        return max(shown, key=shown.get), {k: math.log(p) for k, p in shown.items()}

    return answer


@pytest.mark.parametrize("informative", [True, False])
def test_a_yes_to_everything_judge_does_not_qualify_whatever_its_probabilities_rank(tmp_path: Path, informative: bool) -> None:
    """The exam grades the verdicts labeling and evaluation use, which are never calibrated: a
    judge whose argmax says YES to everything fails even when its P(YES) ranks the answers
    perfectly (issue 25 item 1: it qualified on a threshold it never used). The threshold fitted
    on the calibration split is shown beside the grade, as what it would give."""
    with FakeOpenAIServer(answer=_says_yes(informative)) as server:
        judge = build_judge(judge_config(server.base_url, timeout_s=5), cache_path=tmp_path / "cache.sqlite")
        result = qualify_judge(judge, JudgeCheckConfig())
        judge.close()
    for task in ("answer_match", "reasoning", "refusal", "acceptable"):
        r = result["tasks"][task]
        assert r["yes_rate"]["value"] == 1.0 and r["balanced_accuracy"]["value"] == 0.5, "the YES-rate of the verdicts used"
        assert r["qualified"] is False and "not applied: labeling and evaluation use the raw verdicts" in r["reason"], (task, r)
        diagnostic = r["if_calibrated"]
        assert diagnostic["applied"] is False and diagnostic["threshold"] > 0.9
        assert diagnostic["qualified"] is informative and (diagnostic["balanced_accuracy"]["value"] == 1.0) is informative, (task, diagnostic)
        assert "calibrated" not in r, "the console's 'calibrated' column would name a rule no verdict went through"
    harm = result["tasks"]["harm"]
    assert harm["balanced_accuracy"]["value"] == pytest.approx(1 / 3) and harm["qualified"] is False
    assert harm["if_calibrated"]["qualified"] is informative
    assert result["tasks"]["preference"]["qualified"] is False and "if_calibrated" not in result["tasks"]["preference"]
    assert set(result["calibration"]) == {"answer_match", "reasoning", "refusal", "acceptable", "harm"}
    assert result["qualified"] is False and result["graded"] == "raw verdicts, as labeling and evaluation use them"


def test_calibrated_judge_applies_the_thresholds_to_verdicts(tmp_path: Path) -> None:
    with FakeOpenAIServer(answer=_says_yes(True)) as server:
        judge = build_judge(judge_config(server.base_url, timeout_s=5), cache_path=tmp_path / "cache.sqlite")
        result = qualify_judge(judge, JudgeCheckConfig())
        calibrated = CalibratedJudge(judge, Calibration.from_dict(json.loads(json.dumps(result["calibration"]))))
        items = [i for i in EXAM if i.task == "refusal" and i.split == "test"]
        seen: dict[int, str] = {}
        verdicts = calibrated.ask([i.question() for i in items], on_verdict=lambda n, v: seen.__setitem__(n, v.choice))
        raw = judge.ask([i.question() for i in items])
        calibrated.close()
    assert [v.choice for v in verdicts] == [i.answer for i in items]
    assert seen == {n: v.choice for n, v in enumerate(verdicts)}
    assert {v.choice for v in raw} == {"YES"}, "the cache below keeps the raw verdicts"
    assert all("calibrated (P(YES) >= " in v.reason for v in verdicts)


def test_the_local_judge_is_examined_and_calibrated(tiny_model: Path, tmp_path: Path) -> None:
    judge = build_judge(JudgeConfig(backend="local", model=str(tiny_model), batch_size=16))
    items = [i for i in EXAM if i.task == "refusal"] + [i for i in EXAM if i.task == "preference"][:12]
    exam = tmp_path / "exam.jsonl"
    exam.write_text("".join(i.model_dump_json() + "\n" for i in items))
    result = qualify_judge(judge, JudgeCheckConfig(exam=exam))
    refusal = result["tasks"]["refusal"]
    assert refusal["n"] + refusal["n_calibration"] == sum(i.task == "refusal" for i in items)
    assert "threshold" in refusal["if_calibrated"] and refusal["if_calibrated"]["applied"] is False
    assert result["tasks"]["preference"]["position_consistency"]["n"] == result["tasks"]["preference"]["n"]


def test_exam_items_are_validated() -> None:
    item = EXAM[0].model_dump()
    with pytest.raises(ValueError, match="not an option"):
        ExamItem(**(item | {"answer": "C"}))
    with pytest.raises(ValueError, match="no judge template"):
        ExamItem(**(item | {"task": "poetry"}))
    with pytest.raises(ValueError, match="needs fields"):
        ExamItem(**(item | {"fields": {"prompt": "x"}}))


def test_a_users_exam_is_checked_against_the_examined_judges_templates(tmp_path: Path) -> None:
    """A task that only a templates_dir defines is known to the judge built from it, not to the
    built-in set: load_exam checks items against the set it is given (qualify_judge: the judge's)."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "poetry.yaml").write_text(yaml.safe_dump({"version": "poetry-v1", "instructions": "Is it a poem?", "fields": ["prompt", "response"],
                                                        "options": ["YES", "NO"], "question": "A poem? YES or NO."}))
    exam = tmp_path / "exam.jsonl"
    exam.write_text(json.dumps({"id": "p1", "task": "poetry", "split": "test", "fields": {"prompt": "p", "response": "r"},
                                "answer": "YES", "note": "a poem"}) + "\n")
    [item] = load_exam(exam, load_templates(folder))
    assert item.task == "poetry"
    with pytest.raises(HrlaifError, match="exam.jsonl.*no judge template for task 'poetry'"):
        load_exam(exam)


def test_an_exam_that_graded_calibrated_verdicts_is_graded_again_from_the_cache(tmp_path: Path) -> None:
    """A run directory whose judge-check predates grading the raw verdicts (no "graded" key)
    re-runs that stage (same fingerprint), so the report never shows a grade of verdicts nobody used."""
    from rich.console import Console

    from hrlaif.config import RunConfig
    from hrlaif.stages.base import StageContext
    from hrlaif.stages.judge_check import JudgeCheck

    config = RunConfig.model_validate({"run_dir": str(tmp_path / "run"), "judge": {"backend": "simulated", "model": "exam-test"}})
    ctx = StageContext(config, Console(record=True, width=300, file=io.StringIO()))
    out = ctx.run_stage(JudgeCheck())
    assert json.loads(out.read_text())["graded"] == "raw verdicts, as labeling and evaluation use them"
    assert ctx.run_stage(JudgeCheck()) == out and ctx.timeline[-1].status == "skipped"

    old = json.loads(out.read_text())
    del old["graded"]
    out.write_text(json.dumps(old))
    ctx.run_stage(JudgeCheck())
    assert ctx.timeline[-1].status == "ran" and "graded" in json.loads(out.read_text())
    assert "graded calibrated verdicts that labeling and evaluation never use" in ctx.console.export_text()
