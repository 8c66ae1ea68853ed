"""DPO as an arm: `hrlaif dpo` trains the policy on the arm's RM pairs with TRL's DPOTrainer
(LoRA, merged on save), and `compare.algorithms: [ppo, dpo]` evaluates DPO arms beside PPO ones."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()


def tiny_config(tmp_path: Path, model: Path, **sections) -> Path:
    return write_run_config(tmp_path, model, COMPARE, seed=1, judge_check={"per_answer": 4},
                            dpo={"max_steps": 2, "batch_size": 2, "learning_rate": 1e-3},
                            redteam={"enabled": False}, evaluate={"win_ratio": False}, **sections)


def test_dpo_command_trains_a_merged_policy_and_resumes(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    config = tiny_config(tmp_path, tiny_model)
    for command in (["sample"], ["label", "--mode", "hrlaif"]):
        result = runner.invoke(app, [*command, "-c", str(config)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["dpo", "-c", str(config), "--mode", "hrlaif"])
    assert result.exit_code == 0, result.output
    stage = tmp_path / "run" / "dpo-hrlaif"
    manifest = json.loads((stage / "manifest.json").read_text())
    pairs = sum(1 for _ in (tmp_path / "run" / "label-hrlaif" / "pairs.jsonl").open())
    assert manifest["complete"] and manifest["counts"]["steps"] == 2 and manifest["counts"]["label_pairs"] == pairs
    trained = AutoModelForCausalLM.from_pretrained(stage / "policy")  # plain weights: no peft needed
    start = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert not any(n for n, _ in trained.named_parameters() if "lora" in n)
    changed = [n for (n, a), (_, b) in zip(trained.named_parameters(), start.named_parameters()) if not torch.equal(a, b)]
    assert changed, "the merged LoRA adapters changed the policy's weights"
    again = runner.invoke(app, ["dpo", "-c", str(config), "--mode", "hrlaif"])
    assert again.exit_code == 0, again.output
    assert json.loads((stage / "manifest.json").read_text())["started_at"] == manifest["started_at"], "an unchanged stage is skipped"


def test_compare_adds_dpo_arms_beside_ppo_arms(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model, compare={"algorithms": ["ppo", "dpo"]})
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for stage in ("ppo-rlaif", "ppo-hrlaif", "dpo-rlaif", "dpo-hrlaif"):
        assert json.loads((run / stage / "manifest.json").read_text())["complete"], stage
    results = json.loads((run / "eval" / "results.json").read_text())
    assert set(results["policies"]) == {"start", "rlaif", "hrlaif", "dpo-rlaif", "dpo-hrlaif"}
    assert set(results["versus_start"]) == {"rlaif", "hrlaif", "dpo-rlaif", "dpo-hrlaif"}
    for arm in ("dpo-rlaif", "dpo-hrlaif"):
        assert results["policies"][arm]["satisfaction"]["n"] == results["eval_prompts"]
        assert (run / "eval" / f"responses-{arm}.jsonl").is_file()
    report = (run / "report" / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| metric | graded by |"))
    assert [c.strip() for c in header.split("|")[3:-1]] == ["start", "rlaif", "dpo-rlaif", "hrlaif", "dpo-hrlaif"]
