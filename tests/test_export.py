"""`hrlaif export`: a real run's pairs (labels whose provenance differs row to row, plus the
red-team pairs the hrlaif RM used) load in `datasets` and train in TRL's RewardTrainer and
DPOTrainer as they are, with no `margin` column to enter TRL's loss."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import load_config
from hrlaif.export import export_run
from hrlaif.labeling.rm_data import rm_pairs
from hrlaif.pipeline import Pipeline

from run_configs import write_run_config

runner = CliRunner()


@pytest.fixture(scope="module")
def labeled_run(tmp_path_factory, tiny_model) -> Path:
    """Both arms labeled by the simulated judge on bundled prompts of every category, and red teaming done."""
    tmp = tmp_path_factory.mktemp("export-run")
    path = write_run_config(tmp, tiny_model, redteam={"num_generated": 8, "max_attacks": 12, "num_samples": 2,
                                                      "generation": {"max_new_tokens": 12}, "max_share": 0.5})
    pipeline = Pipeline(load_config(path))
    pipeline.save_config()
    pipeline.sample()
    for mode in ("rlaif", "hrlaif"):
        pipeline.label(mode)
    pipeline.redteam()
    return tmp / "run"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_writes_each_arms_rm_pairs_in_trl_shape(labeled_run, tmp_path):
    result = runner.invoke(app, ["export", str(labeled_run), "--format", "trl", "--out", str(tmp_path / "trl")])
    assert result.exit_code == 0, result.output
    expected, counts = rm_pairs(labeled_run / "label-hrlaif" / "pairs.jsonl", labeled_run / "redteam" / "pairs.jsonl", 0.5)
    assert counts["redteam_pairs"] > 0, "the fixture's red teaming should give pairs"
    hrlaif = rows(tmp_path / "trl" / "pairs-hrlaif.jsonl")
    assert [r["prompt_id"] for r in hrlaif] == [p.prompt_id for p in expected]
    assert f"hrlaif: {counts['label_pairs']} label pairs + {counts['redteam_pairs']} red-team" in result.output
    assert len(rows(tmp_path / "trl" / "pairs-rlaif.jsonl")) == len(rows(labeled_run / "label-rlaif" / "pairs.jsonl"))
    assert "CONTENT WARNING" in (tmp_path / "trl" / "CONTENT_WARNING.txt").read_text().upper()
    first = hrlaif[0]
    assert [m["role"] for m in first["chosen"]] == ["assistant"] and first["prompt"][-1]["role"] == "user"
    assert all("margin" not in r for r in hrlaif)
    assert len({(r["label_mode"], r["label_step"]) for r in hrlaif}) >= 2  # provenance differs row to row
    assert {r["label_mode"] for r in hrlaif} == {"hrlaif", "redteam"}
    assert all(("content_warning" in r) == (r["label_mode"] == "redteam") for r in hrlaif)


def test_openrlhf_shape_is_whole_conversations_and_jsonl_is_our_records(labeled_run, tmp_path):
    export_run(labeled_run, "openrlhf", tmp_path / "o", ["rlaif"])
    export_run(labeled_run, "jsonl", tmp_path / "j", ["rlaif"])
    ours = rows(labeled_run / "label-rlaif" / "pairs.jsonl")
    assert rows(tmp_path / "j" / "pairs-rlaif.jsonl") == ours
    assert not (tmp_path / "o" / "pairs-hrlaif.jsonl").exists() and not (tmp_path / "o" / "CONTENT_WARNING.txt").exists()
    for row, pair in zip(rows(tmp_path / "o" / "pairs-rlaif.jsonl"), ours, strict=True):
        assert row["chosen"] == pair["prompt"] + pair["chosen"] and row["rejected"] == pair["prompt"] + pair["rejected"]
        assert "prompt" not in row and "margin" not in row and row["chosen_prob"] == pair["chosen_prob"]


def test_datasets_loads_every_exported_shape_and_the_raw_pairs_files(labeled_run, tmp_path):
    for fmt in ("trl", "openrlhf", "jsonl"):
        export_run(labeled_run, fmt, tmp_path / fmt)
        for mode in ("rlaif", "hrlaif"):
            path = tmp_path / fmt / f"pairs-{mode}.jsonl"
            loaded = datasets.load_dataset("json", data_files=str(path), split="train")
            assert len(loaded) == len(rows(path)) and "margin" not in loaded.column_names
    # our own records, label and red-team pairs in one file: provenance (route, step, verdicts,
    # details with other keys) differs row to row, and arrow still reads one table
    mixed = datasets.load_dataset("json", data_files=str(tmp_path / "jsonl" / "pairs-hrlaif.jsonl"), split="train")
    provenance = mixed["provenance"]
    assert {(p["mode"], p["step"]) for p in provenance} >= {("hrlaif", "preference"), ("redteam", "rewrite")}
    assert len({p["route"] for p in provenance}) >= 3 and len({len(p["verdicts"]) for p in provenance}) >= 2
    for mode in ("rlaif", "hrlaif"):  # and the run's own label files as they are
        path = labeled_run / f"label-{mode}" / "pairs.jsonl"
        loaded = datasets.load_dataset("json", data_files=str(path), split="train")
        assert len(loaded) == len(rows(path)) and loaded["prompt_id"] == [r["prompt_id"] for r in rows(path)]


def test_trl_reward_trainer_and_dpo_trainer_train_on_the_export(labeled_run, tmp_path, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    export_run(labeled_run, "trl", tmp_path / "trl", ["hrlaif"])
    dataset = datasets.load_dataset("json", data_files=str(tmp_path / "trl" / "pairs-hrlaif.jsonl"), split="train")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    common = {"per_device_train_batch_size": 2, "max_steps": 2, "bf16": False, "fp16": False, "use_cpu": True,
              "report_to": "none", "save_strategy": "no", "logging_steps": 1, "disable_tqdm": True}

    rm = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    rm.config.pad_token_id = tokenizer.pad_token_id
    reward = RewardTrainer(model=rm, args=RewardConfig(output_dir=str(tmp_path / "rm"), max_length=128, **common),
                           train_dataset=dataset, processing_class=tokenizer)
    assert "margin" not in reward.train_dataset.column_names
    result = reward.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))

    policy = AutoModelForCausalLM.from_pretrained(tiny_model)
    dpo = DPOTrainer(model=policy, args=DPOConfig(output_dir=str(tmp_path / "dpo"), max_length=128, **common),
                     train_dataset=dataset, processing_class=tokenizer)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    result = dpo.train()
    assert result.global_step == 2 and torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(before[n], p.detach()) for n, p in policy.named_parameters()), "DPO changed the policy"


def test_export_errors_are_one_line(labeled_run, tmp_path):
    for args, message in [
        ([str(tmp_path / "nothing")], "run directory not found"),
        ([str(tmp_path)], "no labeled pairs"),
        ([str(labeled_run), "--format", "parquet"], "--format: unknown format 'parquet'"),
        ([str(labeled_run), "--mode", "ppo"], "--mode: unknown labeling mode 'ppo'"),
    ]:
        result = runner.invoke(app, ["export", *args, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_red_team_pairs_are_left_out_where_the_run_did_not_use_them(labeled_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(labeled_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["redteam"]["enabled"] = False
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    counts = export_run(run, "trl", tmp_path / "out", ["hrlaif"])["hrlaif"]
    assert "redteam_pairs" not in counts
    exported = rows(tmp_path / "out" / "pairs-hrlaif.jsonl")
    assert len(exported) == counts["label_pairs"] and {r["label_mode"] for r in exported} == {"hrlaif"}
    assert not (tmp_path / "out" / "CONTENT_WARNING.txt").exists()
