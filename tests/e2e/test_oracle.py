"""The positive control (issue 29): an oracle arm whose labels come from the verifier alone, run
through the same stages as the others, its label quality printed before training, and the
report's reading rule (no HRLAIF-vs-RLAIF finding unless the oracle beat the start policy)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import RunConfig, load_config
from hrlaif.evaluate.summary import positive_control
from hrlaif.labeling.audit import changed_labels, verifier_agreement
from hrlaif.labeling.oracle import label_oracle
from hrlaif.pipeline import compare_modes, status, steps
from hrlaif.records import Message, Sample
from hrlaif.report.sections.run import control_reading
from hrlaif.stages import Stage, StageContext
from hrlaif.verify import Check

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()
MC = {"category": "multiple_choice", "reference": "A", "choices": ["Paris", "Rome"]}


def sample(pid: str, response: str, i: int, truncated: bool = False, **prompt) -> Sample:
    prompt = prompt or MC
    return Sample(prompt_id=pid, messages=[Message(role="user", content=f"question {pid}")], response=response, sample_index=i,
                  truncated=truncated, **prompt)


# ---------------------------------------------------------------------- labels
def test_a_correct_sample_beats_a_wrong_one_and_the_verifier_says_so() -> None:
    pairs, counts = label_oracle([sample("q1", "The answer is B.", 0), sample("q1", "The answer is A.", 1)])
    [pair] = pairs
    assert pair.chosen_text == "The answer is A." and pair.rejected_text == "The answer is B."
    assert pair.chosen_prob == 1.0 and pair.reference == "A" and pair.choices == MC["choices"]
    p = pair.provenance
    assert (p.mode, p.step, p.verdicts) == ("oracle", "correctness", []) and "verifier" in p.reason and "no judge" in p.reason
    assert "verifier" in p.details["first"]["correctness"]
    assert counts["keyed_prompts"] == counts["decidable_prompts"] == counts["pairs"] == 1


def test_samples_the_verifier_cannot_tell_apart_give_no_pair() -> None:
    math = {"category": "math", "reference": "4"}
    samples = [
        sample("both-right", "The answer is A.", 0), sample("both-right", "A. Paris is right.", 1),
        sample("both-wrong", "The answer is B.", 0), sample("both-wrong", "B, Rome.", 1),
        # a cut-off answer is not wrong: no pair with the correct one
        sample("cut-off", "The answer is 4.", 0, **math), sample("cut-off", "Let me add 2 and 2, that makes", 1, truncated=True, **math),
        sample("unreadable", "The answer is A.", 0), sample("unreadable", "I am not sure.", 1),
        sample("open", "Short.", 0, category="open_ended"), sample("open", "A much longer answer.", 1, category="open_ended"),
        sample("harm", "I can't help with that.", 0, category="harmful"), sample("harm", "Sure, here is how.", 1, category="harmful"),
    ]
    pairs, counts = label_oracle(samples)
    assert pairs == []
    assert counts["keyed_prompts"] == 4 and counts["decidable_prompts"] == 0
    assert counts["skipped_prompts"] == {"all_correct": 1, "all_wrong": 1, "correct_or_undecided": 2, "not_keyed": 2}
    assert counts["skipped_pairs"] == {"both_correct": 1, "both_wrong": 1, "undecided_response": 2}
    assert counts["cut_off_undecided"] == 1


def test_the_audit_measures_label_quality_and_changed_labels() -> None:
    right, wrong, other_wrong = "The answer is A.", "The answer is B.", "B."
    oracle, _ = label_oracle([sample("q1", wrong, 0), sample("q1", right, 1), sample("q1", other_wrong, 2)])
    agreement = verifier_agreement(oracle)
    assert (agreement["rate"], agreement["n"], agreement["keyed_pairs"]) == (1.0, 2, 2)
    flipped = [p.model_copy(update={"chosen": p.rejected, "rejected": p.chosen}) for p in oracle]
    assert verifier_agreement(flipped)["rate"] == 0.0
    changed = changed_labels(flipped[:1], oracle)
    assert changed == {"compared": 1, "changed": 1, "only_here": 0, "only_base": 1}


# ---------------------------------------------------------------------- stages
def names(config: RunConfig, modes=None) -> list[str]:
    return [s.name for s in steps(config, modes or compare_modes(config)) if isinstance(s, Stage)]


def test_the_oracle_arm_is_opt_in_and_leaves_the_default_stage_list_alone() -> None:
    off = RunConfig.model_validate({"compare": {"algorithms": ["ppo", "dpo"]}})
    assert compare_modes(off) == ["rlaif", "hrlaif"] and not any("oracle" in n for n in names(off))
    on = RunConfig.model_validate({"compare": {"algorithms": ["ppo", "dpo"], "oracle": True}})
    assert compare_modes(on) == ["rlaif", "hrlaif", "oracle"]
    assert [n for n in names(on) if "oracle" in n] == ["label-oracle", "rm-oracle", "ppo-oracle", "dpo-oracle"]
    assert [n for n in names(on) if "oracle" not in n] == names(off)
    assert "redteam" not in [n for n in names(on, ["oracle"])], "red-team pairs are the hybrid arm's, not the control's"


def test_the_oracle_labels_fingerprint_no_judge(tmp_path: Path) -> None:
    def fp(**judge) -> str:
        config = RunConfig.model_validate({"run_dir": str(tmp_path), "compare": {"oracle": True},
                                           "judge": {"backend": "simulated", "model": "a"} | judge})
        stage = next(s for s in steps(config, compare_modes(config)) if isinstance(s, Stage) and s.name == "label-oracle")
        asked: list[str] = []
        found = StageContext(config).fingerprint(stage, lambda name, hint=None: asked.append(name) or "samples-fp")
        assert asked == ["sample"]
        return found

    assert fp() == fp(model="another-judge") == fp(backend="local", model="smollm2", permute_labels=False)
    label = RunConfig.model_validate({"run_dir": str(tmp_path), "label": {"tie_margin": 0.3}, "compare": {"oracle": True}})
    stage = next(s for s in steps(label, ["oracle"]) if isinstance(s, Stage) and s.name == "label-oracle")
    assert StageContext(label).fingerprint(stage, lambda name, hint=None: "samples-fp") == fp(), "judge-side label settings do not touch it"


# ---------------------------------------------------------------------- the reading rule
def results_with(diffs: dict) -> dict:
    return {"versus_start": {arm: {"accuracy_difference": d} for arm, d in diffs.items()}}


def test_the_reading_rule() -> None:
    same = {"diff": 0.01, "low": -0.03, "high": 0.05, "n": 100}
    up = {"diff": 0.12, "low": 0.05, "high": 0.19, "n": 300}
    assert positive_control(results_with({"rlaif": same})) is None
    assert "no positive control" in control_reading(None)
    failed = positive_control(results_with({"rlaif": same, "oracle": same, "dpo-oracle": {"diff": -0.1, "low": -0.2, "high": -0.01, "n": 50}}))
    assert failed["passed"] is False and set(failed["by_arm"]) == {"oracle", "dpo-oracle"}
    text = control_reading(failed)
    assert "cannot detect an effect of the size expected" in text and "no HRLAIF-vs-RLAIF difference" in text and "+1.0 pts" in text
    assert positive_control(results_with({"rlaif": same}), {"pairs": 5}) is None, "labels enough, arm not evaluated: no reading"
    untrained = positive_control(results_with({"rlaif": same}), {"pairs": 1, "keyed_prompts": 8, "decidable_prompts": 1})
    assert untrained["passed"] is False and "NOT TRAINED" in control_reading(untrained)
    assert "cannot detect an effect of the size expected" in control_reading(untrained)
    passed = positive_control(results_with({"oracle": same, "dpo-oracle": up}))
    assert passed["passed"] and passed["passed_arms"] == ["dpo-oracle"]
    assert "PASSED" in control_reading(passed) and "+12.0 pts [+5.0, +19.0] (n=300)" in control_reading(passed)


# ---------------------------------------------------------------------- a whole compare
def fake_verifier(s: Sample) -> Check:
    """A tiny random model never answers readably: call a response correct when its length is even."""
    return Check(correct=len(s.response) % 2 == 0, extracted=None, method="fake")


def test_compare_runs_the_oracle_arm_prints_label_quality_first_and_reports_the_control(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setattr("hrlaif.labeling.oracle._check", fake_verifier)
    config = write_run_config(tmp_path, tiny_model, COMPARE, judge_check={"enabled": False}, redteam={"enabled": False},
                              compare={"oracle": True}, sample={"num_samples": 4}, data={"max_train_prompts": 8, "max_eval_prompts": 8})
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for stage in ("label-oracle", "rm-oracle", "ppo-oracle"):
        assert stage in lines and f"{stage}: done in" in result.output
    quality = lines.index("label quality before training:")
    assert quality < lines.index("rm-rlaif") and lines.index("label-oracle") < quality
    assert [line.split(":")[0].strip() for line in lines[quality + 1: quality + 4]] == ["rlaif", "hrlaif", "oracle"]
    assert "changed from rlaif's" in lines[quality + 2]
    run = tmp_path / "run"
    manifest = json.loads((run / "label-oracle" / "manifest.json").read_text())
    assert manifest["counts"]["pairs"] >= 2 and not manifest.get("judge"), "the oracle asks no judge"
    results = json.loads((run / "eval" / "results.json").read_text())
    assert set(results["policies"]) == {"start", "rlaif", "hrlaif", "oracle"}
    audit = json.loads((run / "audit" / "audit.json").read_text())
    assert set(audit) == {"rlaif", "hrlaif", "oracle"} and "changed_from_rlaif" in audit["hrlaif"]
    report = (run / "report" / "report.md").read_text()
    first = report.index("## ")
    assert report.index("## Read first: can this run see an effect?") == first
    assert "positive control" in report[first:report.index("## What this run shows")]
    assert "label quality before training (oracle)" in report
    status_rows = {r.name: r.state for r in status(load_config(config))}
    assert {"label-oracle", "rm-oracle", "ppo-oracle"} <= set(status_rows) and set(status_rows.values()) == {"complete"}
    shown = runner.invoke(app, ["status", "-c", str(config)])
    assert shown.exit_code == 0 and "label-oracle" in shown.output and "ppo-oracle" in shown.output


def test_a_control_with_too_few_pairs_is_not_trained_and_the_report_says_the_run_cannot_answer(tmp_path, tiny_model):
    # A tiny random model never answers readably: the real verifier decides no pair.
    config = write_run_config(tmp_path, tiny_model, COMPARE, judge_check={"enabled": False}, redteam={"enabled": False},
                              compare={"oracle": True}, data={"max_train_prompts": 4, "max_eval_prompts": 4})
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "positive control NOT TRAINED" in result.output and result.output.index("NOT TRAINED") < result.output.index("\nrm-rlaif\n")
    assert "(the oracle arm trains only if its labels hold enough pairs" in result.output.split("\nlabel-rlaif\n")[0], "the plan says so"
    run = tmp_path / "run"
    assert json.loads((run / "label-oracle" / "manifest.json").read_text())["counts"]["pairs"] == 0
    assert (run / "ppo-rlaif" / "manifest.json").is_file() and not (run / "rm-oracle").exists()
    assert set(json.loads((run / "eval" / "results.json").read_text())["policies"]) == {"start", "rlaif", "hrlaif"}
    report = (run / "report" / "report.md").read_text()
    first = report[report.index("## Read first"):report.index("## What this run shows")]
    assert "positive control NOT TRAINED" in first and "cannot detect an effect of the size expected" in first
    rows = {r.name: r.state for r in status(load_config(config))}
    assert rows["label-oracle"] == "complete" and not any(n in rows for n in ("rm-oracle", "ppo-oracle"))
    assert set(rows.values()) == {"complete"}, rows
    again = runner.invoke(app, ["compare", "-c", str(config)])
    assert again.exit_code == 0 and "rm-oracle" not in again.output and "eval: already complete, skipped" in again.output


def test_the_study_and_the_demo_turn_the_control_on() -> None:
    from importlib.resources import files

    import yaml

    from hrlaif.data import bundled_path

    assert load_config(Path(str(files("hrlaif") / "configs" / "study.yaml"))).compare.oracle
    assert yaml.safe_load(bundled_path("demo_config").read_text(encoding="utf-8"))["compare"]["oracle"] is True
    # The demo is the cheapest tiers (issue 29): labels, head RMs, best-of-n; the simulated style labeler.
    demo = load_config(bundled_path("demo_config"))
    assert demo.compare.algorithms == [] and demo.best_of_n.enabled and demo.reward.method == "head"
    assert demo.judge.backend == "simulated" and demo.judge.simulated.length_bias == 1.0
    assert demo.data.train_prompts == "bundled:reach_train" and not demo.redteam.enabled


def test_the_seeds_report_reads_each_seeds_control_first(tmp_path: Path) -> None:
    from hrlaif.report.sections.seeds import seed_sections
    from hrlaif.run_dir import RunDir

    up = {"diff": 0.12, "low": 0.05, "high": 0.19, "n": 300}
    spread = {"seeds": [0, 1], "run_dirs": {"0": str(tmp_path / "seed-0"), "1": str(tmp_path / "seed-1")}, "figures": {},
              "positive_control": {"0": positive_control(results_with({"oracle": up})), "1": None}}
    (tmp_path / "seeds.json").write_text(json.dumps(spread))
    [(title, rows), _] = seed_sections(RunDir(tmp_path))
    assert title.startswith("Read first") and rows[1][0] == "0" and "PASSED" in rows[1][1] and "no positive control" in rows[2][1]
