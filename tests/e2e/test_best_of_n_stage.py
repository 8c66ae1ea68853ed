"""Best-of-n as a stage (issue 29 items 3 and 6): the headline from per-prompt shares, the power said
up front, the stage's place in `steps` and `status`, and a whole `compare` on a tiny model."""

from __future__ import annotations

import json
from statistics import stdev

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import RunConfig, load_config
from hrlaif.errors import HrlaifError
from hrlaif.evaluate.best_of_n import contrasts, headline
from hrlaif.pipeline import steps
from hrlaif.power import ASSUMED_DISCORDANCE, ASSUMED_SD, mcnemar_mde, paired_mde
from hrlaif.stages import Stage
from hrlaif.stages.power import announce_power, design_power, power_lines
from hrlaif.stats import paired_bootstrap_difference

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()


def names(config: RunConfig, modes=("rlaif", "hrlaif")) -> list[str]:
    return [s.name if isinstance(s, Stage) else type(s).__name__ for s in steps(config, list(modes))]


# --- the headline -----------------------------------------------------------------------------------


def test_headline_from_hand_made_per_prompt_shares() -> None:
    random = [0.5, 0.25, 0.5, 0.0, 1.0, 0.5, 0.75, 0.25]
    shares = {"oracle": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0],
              "hrlaif": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0],
              "rlaif": [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]}
    head = headline(shares, random, seed=3)
    pc, vs = head["positive_control"], head["hrlaif_vs_rlaif_bon"]
    assert set(pc) == set(vs) == {"diff", "low", "high", "n"}
    assert pc["diff"] == pytest.approx((7 - 3.75) / 8) and pc["n"] == 8
    assert vs["diff"] == pytest.approx(2 / 8) and vs["n"] == 8 and vs["low"] <= vs["diff"] <= vs["high"]
    assert vs == paired_bootstrap_difference(shares["hrlaif"], shares["rlaif"], seed=3).model_dump(), "the stats module's interval"
    assert vs["low"] == 0.0 and 0.25 < vs["high"] <= 1.0, "2 of 8 prompts differ, both one way: a resample is never below 0"
    diffs = [a - b for a, b in zip(shares["hrlaif"], shares["rlaif"])]
    assert head["min_detectable_effect"] == pytest.approx(paired_mde(8, stdev(diffs)))
    assert head["power"]["sd_source"] == "observed" and head["power"]["discordance"] == pytest.approx(2 / 8)
    assert head["eval_keyed_items"] == 8


def test_headline_without_an_oracle_or_a_difference() -> None:
    same = [1.0, 0.0, 1.0, 0.0]
    head = headline({"rlaif": same, "hrlaif": same}, [0.5] * 4)
    assert head["positive_control"] is None
    assert head["hrlaif_vs_rlaif_bon"] == {"diff": 0.0, "low": 0.0, "high": 0.0, "n": 4}
    assert head["power"]["sd_source"] == "assumed" and head["min_detectable_effect"] == pytest.approx(paired_mde(4, ASSUMED_SD))
    assert headline({"oracle": same}, [0.5] * 4)["hrlaif_vs_rlaif_bon"] is None


def test_contrasts_put_oracle_then_hrlaif_first_whatever_modes_exist() -> None:
    assert contrasts(["rlaif", "hrlaif"]) == [("hrlaif", "rlaif")]
    assert contrasts(["rlaif", "hrlaif", "oracle"]) == [("oracle", "hrlaif"), ("oracle", "rlaif"), ("hrlaif", "rlaif")]
    assert contrasts(["zeta", "rlaif"]) == [("rlaif", "zeta")]


# --- power said up front -------------------------------------------------------------------------------


def test_power_lines_name_n_the_effect_and_the_assumption() -> None:
    config = RunConfig.model_validate({"data": {"eval_prompts": "bundled:reach_eval", "max_eval_prompts": 100},
                                       "best_of_n": {"enabled": True, "max_prompts": 260, "num_samples": 4}})
    found = design_power(config)
    assert found["keyed_accuracy"]["n"] == 100 and found["best_of_n"]["n"] == 260
    keyed, bon = power_lines(found)
    mde = mcnemar_mde(100, ASSUMED_DISCORDANCE)
    assert keyed == (f"power: keyed accuracy on 100 keyed eval prompts detects a difference between two arms of {100 * mde:.1f} pts "
                     "or more at 80% power, two-sided 5% (McNemar; assumed discordance 20%: the share of prompts one arm gets right "
                     "and the other wrong)")
    assert bon.startswith(f"power: best-of-4 on 260 held-out keyed prompts detects a difference between two RMs of "
                          f"{100 * paired_mde(260, ASSUMED_SD):.1f} pts") and "assumed per-prompt SD 0.45" in bon
    assert "best_of_n" not in design_power(RunConfig()), "off: no best-of-n line"


def test_power_of_an_unreadable_source_says_why(tmp_path) -> None:
    config = RunConfig.model_validate({"run_dir": str(tmp_path / "run"), "data": {"eval_prompts": str(tmp_path / "missing.jsonl")}})
    found = announce_power(config, Console(quiet=True))
    assert found["keyed_accuracy"]["n"] is None and "missing.jsonl" in found["lines"][0] and "measures nothing" in found["lines"][0]
    assert json.loads((tmp_path / "run" / "power.json").read_text())["lines"] == found["lines"]


# --- the stage in the order ---------------------------------------------------------------------------


def test_off_keeps_the_stage_list_on_adds_best_of_n_after_the_rms() -> None:
    plain = names(RunConfig())
    assert plain == names(RunConfig.model_validate({"best_of_n": {"enabled": False, "num_samples": 8}}))
    assert "best-of-n" not in plain and "best-of-n-sample" not in plain
    on = names(RunConfig.model_validate({"best_of_n": {"enabled": True}}))
    # after every arm's training (the audit of labels comes before any training), before evaluation
    assert on == [*plain[: plain.index("eval")], "best-of-n-sample", "best-of-n", *plain[plain.index("eval"):]]
    assert plain.index("Audit") < plain.index("rm-rlaif")
    # DPO only: the RMs are trained for best-of-n (and only then).
    dpo = names(RunConfig.model_validate({"compare": {"algorithms": ["dpo"]}, "best_of_n": {"enabled": True}}))
    assert {"rm-rlaif", "rm-hrlaif", "best-of-n"} <= set(dpo) and not any(n.startswith("ppo-") for n in dpo)
    assert "rm-rlaif" not in names(RunConfig.model_validate({"compare": {"algorithms": ["dpo"]}}))
    # Every mode passed in gets its RM read: a third arm is not left out.
    stage = next(s for s in steps(RunConfig.model_validate({"best_of_n": {"enabled": True}}), ["rlaif", "hrlaif"]) if getattr(s, "name", "") == "best-of-n")
    assert stage.modes == ("rlaif", "hrlaif")


def test_best_of_n_fingerprints_exactly_what_it_needs_for_any_modes(tmp_path) -> None:
    from hrlaif.stages import BestOfN, BestOfNSample, StageContext

    ctx = StageContext(RunConfig.model_validate({"run_dir": str(tmp_path), "best_of_n": {"enabled": True}}))
    for stage in (BestOfNSample(), BestOfN(("rlaif", "hrlaif")), BestOfN(("rlaif", "hrlaif", "oracle"))):
        asked: list[str] = []
        ctx.fingerprint(stage, lambda name, hint=None, asked=asked: asked.append(name) or "fp")
        assert stage.needs(ctx) == tuple(asked), stage
    assert "rm-oracle" in BestOfN(("rlaif", "hrlaif", "oracle")).needs(ctx), "every mode passed in, not two hard-coded"


# --- a whole compare on a tiny model --------------------------------------------------------------------

BEST_OF_N = {"enabled": True, "max_prompts": 6, "num_samples": 2, "generation": {"max_new_tokens": 8, "batch_size": 8}}


def test_compare_runs_best_of_n_after_the_rms_and_status_follows_it(tmp_path, tiny_model, monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = write_run_config(tmp_path, tiny_model, COMPARE, redteam={"enabled": False}, best_of_n=BEST_OF_N)
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "power: keyed accuracy on" in result.output and "power: best-of-2 on 6 held-out keyed prompts" in result.output
    # (each stage's start line, a line of its own: the plan before the first stage names them too)
    assert result.output.index("power: keyed") < result.output.index("\nrm-rlaif\n")
    assert result.output.index("rm-hrlaif: done") < result.output.index("\nbest-of-n-sample\n") < result.output.index("best-of-n: done")
    plan = result.output.split("\nsample\n")[0]
    assert "best-of-n-sample, best-of-n" in plan and plan.index("plan: ") < plan.index("power: keyed"), plan
    run = tmp_path / "run"
    results = json.loads((run / "best-of-n" / "results.json").read_text())
    head = results["headline"]
    assert set(head) >= {"positive_control", "hrlaif_vs_rlaif_bon", "min_detectable_effect", "eval_keyed_items"}
    assert head["positive_control"] is None and head["eval_keyed_items"] == 6
    vs = head["hrlaif_vs_rlaif_bon"]
    assert set(vs) == {"diff", "low", "high", "n"} and vs["n"] == 6 and vs["low"] <= vs["diff"] <= vs["high"]
    assert head["min_detectable_effect"] > 0 and results["design_power"]["n"] == 6
    assert results["reward_models"] == ["rlaif", "hrlaif"] and [p["k"] for p in results["curve"]] == [1, 2]
    assert set(results["pairwise"]) == {"rlaif", "hrlaif"} and sum(results["samples"].values()) == 12
    assert len((run / "best-of-n-sample" / "samples.jsonl").read_text().splitlines()) == 12
    assert json.loads((run / "power.json").read_text())["best_of_n"]["n"] == 6
    report = (run / "report" / "report.md").read_text()
    assert "Best-of-n reranking: 6 held-out keyed prompts x K=2" in report and "HRLAIF RM minus RLAIF RM" in report
    first = report[report.index("## Read first"):report.index("## What this run shows")]
    assert "power (said before training) | best-of-2 on 6 held-out keyed prompts" in first, "the power sits in the first section"
    assert "HRLAIF RM minus RLAIF RM, best-of-2" in first and "best-of-2 accuracy on 6 held-out keyed prompts" in first
    assert "not a finding" in report, "no oracle RM: no HRLAIF-vs-RLAIF reading"

    def status(*overrides: str) -> dict[str, str]:
        out = runner.invoke(app, ["status", "-c", str(config), *(a for o in overrides for a in ("--set", o))])
        assert out.exit_code == 0, out.output
        return {line.split()[0]: line.split()[1] for line in out.output.splitlines()[1:-1]}

    assert status()["best-of-n"] == "complete" and status()["best-of-n-sample"] == "complete"
    kl = status("ppo.kl_coef=0.2")
    assert kl["best-of-n"] == "complete" and kl["ppo-rlaif"] == "stale", "PPO's settings are not the RMs'"
    rm = status("reward.learning_rate=1e-4")
    assert rm["rm-rlaif"] == "stale" and rm["best-of-n"] == "stale" and rm["best-of-n-sample"] == "complete", "a new RM re-scores the same samples"
    more = status("best_of_n.num_samples=3")
    assert more["best-of-n-sample"] == "stale" and more["best-of-n"] == "stale" and more["rm-rlaif"] == "complete"
    again = runner.invoke(app, ["best-of-n", "-c", str(config)])
    assert again.exit_code == 0 and "best-of-n: already complete, skipped" in again.output, again.output
    off = load_config(config, ["best_of_n.enabled=false"])
    assert "best-of-n" not in names(off)


def test_a_design_too_small_to_see_anything_says_so() -> None:
    found = design_power(RunConfig.model_validate({"data": {"eval_prompts": "bundled:reach_eval", "max_eval_prompts": 4}}))
    assert found["keyed_accuracy"]["n"] == 4
    assert power_lines(found)[0].startswith("power: keyed accuracy on 4 keyed eval prompts cannot detect a difference")


def test_the_report_reads_hrlaif_vs_rlaif_only_where_the_control_passed() -> None:
    from hrlaif.report.sections.best_of_n import control_reading, versus_reading

    passed, failed = {"diff": 0.1, "low": 0.05, "high": 0.15, "n": 260}, {"diff": 0.02, "low": -0.03, "high": 0.07, "n": 260}
    flat = {"diff": 0.01, "low": -0.04, "high": 0.06, "n": 260}
    assert control_reading(passed).startswith("passed") and control_reading(failed).startswith("FAILED")
    assert control_reading(None).startswith("no positive control")
    assert versus_reading(flat, passed).startswith("no clear difference")
    assert versus_reading(flat, failed).startswith("not a finding") and versus_reading(flat, None).startswith("not a finding")
    assert versus_reading({"diff": 0.1, "low": 0.02, "high": 0.18, "n": 260}, None) == "HRLAIF's RM picks better"


def test_the_cheapest_tiers_train_no_policy_and_the_headline_says_what_they_show(tmp_path, tiny_model, monkeypatch) -> None:
    """compare.algorithms [] (the demo's shape): labels, head RMs and best-of-n, no policy; the report
    opens with the RM readings and RUN/report/headline.json holds the numbers."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    config = write_run_config(tmp_path, tiny_model, COMPARE, redteam={"enabled": False}, best_of_n=BEST_OF_N, reward={"method": "head"},
                              compare={"algorithms": [], "oracle": True}, judge_check={"enabled": False})
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "ppo-" not in result.output and "dpo-" not in result.output and "rm-rlaif: done" in result.output
    run = tmp_path / "run"
    assert json.loads((run / "rm-rlaif" / "summary.json").read_text())["method"] == "head"
    assert list(json.loads((run / "eval" / "results.json").read_text())["policies"]) == ["start"]
    head = json.loads((run / "report" / "headline.json").read_text())
    assert head["eval_keyed_items"] == 6 and head["hrlaif_vs_rlaif_bon"]["n"] == 6 and head["min_detectable_effect"] > 0
    assert head["hrlaif_vs_rlaif_policy"] is None and head["policy_eval_keyed_items"] is not None
    report = (run / "report" / "report.md").read_text()
    first = report[report.index("## Read first"):report.index("## What this run shows")]
    assert "who labelled, who graded" in first and "positive control, policies" not in first, "no policy trained: no policy reading"
    # A tiny random model never answers readably: no oracle pair, and the first section says so.
    assert "positive control: the oracle arm | positive control NOT TRAINED" in first
    # Every trained RM on one shared held-out set (issue 25 item 10): none has a gold pair here, and the report says why.
    shared = json.loads((run / "rm-heldout" / "results.json").read_text())
    assert shared["reward_models"] == ["rlaif", "hrlaif"] and shared["shared"]["routes"] == []
    assert set(shared["own_heldout"]) == {"rlaif", "hrlaif"} and "rm-heldout: done" in result.output
    assert "## Reward models on one shared held-out set of gold pairs" in report and "none had a correct and a wrong sample" in report
    with pytest.raises(HrlaifError, match="nothing would be trained"):
        load_config(config, ["best_of_n.enabled=false"])
