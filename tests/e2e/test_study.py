"""`hrlaif study`: the whole comparison once per labeler, graded alike, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import load_config
from hrlaif.errors import HrlaifError

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()

STYLE = {"backend": "simulated", "model": "style", "simulated": {"length_bias": 1.0, "correctness_blindness": 1.0, "position_bias": 0.0}}
FAIR = {"backend": "simulated", "model": "fair", "simulated": {"length_bias": 0.0, "correctness_blindness": 0.0, "position_bias": 0.0}}


def _config(tmp_path: Path, tiny_model: Path) -> Path:
    return write_run_config(
        tmp_path, tiny_model, COMPARE, file="study.yaml", sort_keys=False,  # labelers run in file order
        run_dir=str(tmp_path / "study"), judge_check={"per_answer": 4},
        ppo={"steps": 2, "monitor_every": 1, "monitor_prompts": 3, "monitor_max_new_tokens": 8},
        redteam={"enabled": False}, evaluate={"generation": {"temperature": 1.0}, "judge": FAIR, "win_ratio": False},
        study={"labelers": {"style": STYLE, "fair": {"simulated": FAIR["simulated"], "model": "fair"}}},
    )


def test_study_runs_each_labeler_and_puts_them_side_by_side(tmp_path: Path, tiny_model: Path) -> None:
    result = runner.invoke(app, ["study", "-c", str(_config(tmp_path, tiny_model))])
    assert result.exit_code == 0, result.output
    root = tmp_path / "study"
    for name, model in (("style", "style"), ("fair", "fair")):
        config = yaml.safe_load((root / name / "config.yaml").read_text())
        assert config["judge"]["model"] == model and config["evaluate"]["judge"]["model"] == "fair"
        assert json.loads((root / name / "eval" / "manifest.json").read_text())["complete"]
    # The second labeler reuses the first one's samples instead of sampling again.
    assert (root / "fair" / "sample" / "samples.jsonl").read_bytes() == (root / "style" / "sample" / "samples.jsonl").read_bytes()
    assert not (root / "fair" / "judge_cache.sqlite").exists() and (root / "judge_cache.sqlite").is_file(), "one shared cache"
    study = json.loads((root / "study.json").read_text())
    assert list(study["labelers"]) == ["style", "fair"]
    style = study["labelers"]["style"]
    assert style["labeling_judge"].startswith("simulated") and style["grading"]["independent_of_labels"] is True
    fair = study["labelers"]["fair"]  # labels and grades from the same model ("fair"): not independent
    assert fair["grading"]["separate_judge"] is True and fair["grading"]["same_model_as_labeling_judge"] is True
    assert fair["grading"]["independent_of_labels"] is False
    assert "same model as the labeling judge" in (root / "fair" / "report" / "report.md").read_text()
    accuracy = style["figures"]["accuracy on keyed prompts"]
    scores = [json.loads(line) for line in (root / "style" / "eval" / "scores-rlaif.jsonl").read_text().splitlines()]
    keyed = [s for s in scores if s["category"] in ("math", "multiple_choice")]
    assert accuracy["by_policy"]["rlaif"]["n"] == len(keyed) > 0
    assert accuracy["by_policy"]["rlaif"]["rate"] == sum(s["correct"] is True for s in keyed) / len(keyed)
    assert accuracy["difference_from_start"]["rlaif"]["n"] == len(keyed)  # paired by prompt
    assert "start" not in accuracy["difference_from_start"]
    gold = style["gold_monitor"]["rlaif"]
    assert gold["checks"] == 3, "before steps 1 and 2, and the final policy after step 2"
    assert gold["first"]["charts/step"] == 1 and gold["last"]["charts/step"] == "2 (after)", "the last check is the final policy's"
    assert gold["last"]["gold/paired_n"] == gold["last"]["gold/verified_n"] and gold["last"]["gold/paired_p"] is not None
    report = (root / "report" / "report.md").read_text()
    assert "Study: every labeler's arms" in report and "style/report/report.html" in report
    # each labeler's judge is defined once at the top; the tables name the labeler
    specs = [study["labelers"][n]["labeling_judge"] for n in ("style", "fair")] + [style["grading"]["judge"]]
    assert f"- labeler style: {specs[0]}, a SIMULATED judge" in report and f"- labeler fair: {specs[1]}, a SIMULATED judge" in report
    assert f"- grading judge (evaluation, every labeler): {specs[2]}" in report
    in_tables = [line for line in report.splitlines() if line.startswith(("|", "#")) and any(spec in line for spec in specs)]
    assert all(line.startswith("| who labelled") for line in in_tables), in_tables  # only "Read first" (issue 29) says it again
    arms = report.split("## Study: every labeler's arms", 1)[1].split("## ", 1)[0]
    assert any(line.startswith("| style (") and "| hrlaif |" in line for line in arms.splitlines())
    header = next(line for line in arms.splitlines() if line.startswith("| labeler"))
    assert "net win rate" not in header, "evaluate.win_ratio off: no column of 'not computed' cells"
    # Each arm's RM on the shared held-out set (issue 25 item 10), and the column says so.
    shared = json.loads((root / "style" / "rm-heldout" / "results.json").read_text())["shared"]["by_rm"]
    assert style["rm_heldout_basis"] == "one shared set of gold pairs (rm-heldout)" and "(one shared set of gold pairs (rm-heldout))" in header
    assert style["rm_heldout_accuracy"] == {arm: shared[arm]["all"] for arm in ("rlaif", "hrlaif")}
    assert arms.count("net win rate vs start: not computed (evaluate.win_ratio off)") == 1, "a reason, said once"
    start_row = next(line for line in arms.splitlines() if line.startswith("| style (") and "| start |" in line)
    assert start_row.rstrip().endswith("| - |"), start_row
    assert report.index("What this study shows") < report.index("Study: every labeler's arms"), "the answer comes first"
    reading = next(line for line in report.splitlines() if line.startswith("| style |") and "| rlaif | accuracy on keyed prompts |" in line)
    diff = accuracy["difference_from_start"]["rlaif"]
    expected = ("higher than start" if diff["low"] > 0 else "lower than start" if diff["high"] < 0 else "no clear difference")
    assert expected in reading, reading
    assert "gold monitor during PPO" in report
    assert "Labels and reward models" not in report, "the study root has no arms of its own: no empty table"
    # evaluate.win_ratio off: no pairwise questions, and each report says so instead of a number.
    assert not list((root / "style" / "eval").glob("pairwise-*.jsonl"))
    assert style["win_ratio_vs_start"]["by_arm"] == {}
    arm_report = (root / "style" / "report" / "report.md").read_text()
    assert "not computed (evaluate.win_ratio off)" in arm_report
    labels = arm_report.split("## Labels and reward models", 1)[1].split("\n## ", 1)[0]
    labels_row = next(line for line in labels.splitlines() if line.startswith("| hrlaif |"))
    assert "{" not in labels_row and "judge." in labels_row, labels_row  # nested counts flattened into the cell


def test_a_bad_labeler_override_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(HrlaifError, match=r"study\.labelers\.x: unknown config key 'bakend'"):
        load_config(None, ["study.labelers={x: {bakend: local}}"])
    with pytest.raises(HrlaifError, match="must be a folder name"):
        load_config(None, ["study.labelers={'../up': {}}"])


def test_the_bundled_study_config_loads() -> None:
    from importlib.resources import files

    config = load_config(Path(str(files("hrlaif") / "configs" / "study.yaml")))
    # Issue 29: sized to see an effect (at least 400 keyed items), prompts in the policy's reach, a
    # positive control, the simulated style labeler named as such, the cheap RMs and best-of-n.
    assert config.data.max_eval_prompts >= 400 and config.best_of_n.enabled and config.best_of_n.max_prompts >= 400
    assert config.data.train_prompts == "bundled:reach_train" and config.best_of_n.prompts == "bundled:reach_eval"
    assert config.compare.oracle and config.compare.algorithms == ["dpo"] and config.reward.method == "head"
    assert list(config.study.labelers) == ["simulated-style"]
    assert config.labeler_judge("simulated-style").simulated.correctness_blindness == 1.0


def test_a_labeler_folder_held_by_another_command_stops_the_study(tmp_path: Path, tiny_model: Path) -> None:
    from hrlaif.runlock import RunLock

    config = _config(tmp_path, tiny_model)
    with RunLock.acquire(tmp_path / "study" / "style", command="hrlaif compare (by hand)"):
        result = runner.invoke(app, ["study", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "hrlaif compare (by hand)" in result.output
    assert not (tmp_path / "study" / "style" / "sample").exists(), "nothing ran in the held folder"


def test_study_jobs_runs_labelers_in_processes_of_their_own(tmp_path: Path, tiny_model: Path) -> None:
    """study.jobs 2: one sampling, then both labelers at once in spawned processes, each writing
    its output to RUN/NAME/study.log; the side-by-side report as with one job."""
    result = runner.invoke(app, ["study", "-c", str(_config(tmp_path, tiny_model)), "--set", "study.jobs=2"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "study"
    assert "sampling once for 2 labelers" in result.output and "2 labelers, 2 at a time" in result.output
    for name in ("style", "fair"):
        assert json.loads((root / name / "eval" / "manifest.json").read_text())["complete"]
        log = (root / name / "study.log").read_text()
        assert "label-rlaif" in log and "ppo-hrlaif" in log, log[-2000:]
        assert f"labeler {name}: done in" in result.output
    # Sampled once (by the parent, in the first labeler's folder), copied for the second.
    assert (root / "fair" / "sample" / "samples.jsonl").read_bytes() == (root / "style" / "sample" / "samples.jsonl").read_bytes()
    for name in ("style", "fair"):
        log = (root / name / "study.log").read_text()
        assert "sample: already complete, skipped" in log, "no labeler process samples again"
        # Each labeler's plan before its first stage (sampling copied, so skipped); no library progress bars in its log.
        log = "\n" + log  # the plan may be its first line
        plan = log.index("\nplan: ")
        assert plan < log.index("\nlabel-rlaif\n") and "\n  skip (complete from an earlier run): sample" in log[plan:], log[:3000]
        assert not [bar for bar in ("Loading weights", "Writing model shards", "Tokenizing") if bar in log], log[-2000:]
    study = json.loads((root / "study.json").read_text())
    assert list(study["labelers"]) == ["style", "fair"]
    assert study["labelers"]["fair"]["grading"]["independent_of_labels"] is False


def test_study_jobs_lets_the_other_labelers_finish_when_one_fails(tmp_path: Path, tiny_model: Path) -> None:
    from hrlaif.runlock import RunLock

    config = _config(tmp_path, tiny_model)
    with RunLock.acquire(tmp_path / "study" / "fair", command="hrlaif compare (by hand)"):
        result = runner.invoke(app, ["study", "-c", str(config), "--set", "study.jobs=2"])
    assert result.exit_code == 2, result.output
    assert "1 of 2 labelers failed" in result.output and "hrlaif compare (by hand)" in result.output
    assert "fair/study.log" in result.output.replace("\n", "")
    assert json.loads((tmp_path / "study" / "style" / "eval" / "manifest.json").read_text())["complete"], "the other labeler finished"
    assert not (tmp_path / "study" / "fair" / "sample").exists(), "nothing ran in the held folder"
    assert not (tmp_path / "study" / "study.json").exists(), "no side-by-side summary of an incomplete study"


def test_the_running_stage_is_the_latest_unfinished_one(tmp_path: Path) -> None:
    from hrlaif.study.runner import _running_stage

    def manifest(name: str, started: str, complete: bool) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"started_at": started, "complete": complete}))

    assert _running_stage(tmp_path) is None
    manifest("sample", "2026-11-29T06:00:00+00:00", True)
    manifest("label-rlaif", "2026-11-29T06:10:00+00:00", False)  # killed earlier, never finished
    assert _running_stage(tmp_path) == "label-rlaif"
    manifest("rm-rlaif", "2026-11-29T06:20:00+00:00", False)
    assert _running_stage(tmp_path) == "rm-rlaif"
    (tmp_path / "ppo-rlaif").mkdir()
    (tmp_path / "ppo-rlaif" / "manifest.json").write_text("{half")  # being written: ignored, not an error
    assert _running_stage(tmp_path) == "rm-rlaif"


def test_a_difference_reads_as_a_direction_only_when_its_interval_excludes_zero() -> None:
    from hrlaif.report.sections.study import reading as _reading

    assert _reading({"diff": -0.07, "low": -0.15, "high": 0.0, "n": 100}).startswith("no clear difference")  # touches 0
    assert _reading({"diff": -0.14, "low": -0.22, "high": -0.05, "n": 100}) == "lower than start"
    assert _reading({"diff": 0.10, "low": 0.01, "high": 0.20, "n": 100}) == "higher than start"
    assert _reading({"diff": None, "low": None, "high": None, "n": 0}) == _reading(None) == "no data"
