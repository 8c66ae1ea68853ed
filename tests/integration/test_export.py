"""`hrlaif export`: a real run's pairs (labels whose provenance differs row to row, plus the
red-team pairs the hrlaif RM used) load in `datasets` and train in TRL's RewardTrainer and
DPOTrainer as they are, with no `margin` column to enter TRL's loss. Each arm is a folder with
train.jsonl and test.jsonl (the RM's held-out pairs), which `datasets` reads as two splits."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import load_config
from hrlaif.export import export_pairs_of, export_run
from hrlaif.jsonl import read_jsonl
from hrlaif.labeling.rm_data import rm_pairs, rm_split
from hrlaif.pipeline import Pipeline
from hrlaif.records import Pair

from support.run_configs import write_run_config

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


def arm_rows(folder: Path) -> list[dict]:
    """An exported arm's rows: train, then test."""
    return rows(folder / "train.jsonl") + rows(folder / "test.jsonl")


def held_out_ids(run: Path, pairs: list) -> set[str]:
    """The prompts the RM stage holds out of `pairs`, with the run's own settings."""
    config = load_config(run / "config.yaml")
    return {p.prompt_id for p in rm_split(pairs, config.reward.eval_fraction, config.seed)[1]}


def test_export_writes_each_arms_rm_pairs_in_trl_shape(labeled_run, tmp_path):
    result = runner.invoke(app, ["export", str(labeled_run), "--format", "trl", "--out", str(tmp_path / "trl")])
    assert result.exit_code == 0, result.output
    expected, counts = rm_pairs(labeled_run / "label-hrlaif" / "pairs.jsonl", labeled_run / "redteam" / "pairs.jsonl", 0.5)
    assert counts["redteam_pairs"] > 0, "the fixture's red teaming should give pairs"
    # moved from pairs-hrlaif.jsonl to the new layout: train then test, the RM's own split
    hrlaif = arm_rows(tmp_path / "trl" / "hrlaif")
    config = load_config(labeled_run / "config.yaml")
    train, held = rm_split(expected, config.reward.eval_fraction, config.seed)
    assert held and [r["prompt_id"] for r in hrlaif] == [p.prompt_id for p in train + held]
    assert f"hrlaif: {counts['label_pairs']} label pairs + {counts['redteam_pairs']} red-team" in result.output
    assert f"(train {len(train)}, test {len(held)}: the RM's held-out pairs)" in " ".join(result.output.split())
    assert len(arm_rows(tmp_path / "trl" / "rlaif")) == len(rows(labeled_run / "label-rlaif" / "pairs.jsonl"))
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
    labels = labeled_run / "label-rlaif" / "pairs.jsonl"
    held = held_out_ids(labeled_run, read_jsonl(labels, Pair))
    ours = rows(labels)
    ours = [r for r in ours if r["prompt_id"] not in held] + [r for r in ours if r["prompt_id"] in held]  # train, then test
    assert ours and arm_rows(tmp_path / "j" / "rlaif") == ours
    assert not (tmp_path / "o" / "hrlaif").exists() and not (tmp_path / "o" / "CONTENT_WARNING.txt").exists()
    assert "CONTENT WARNING" not in (tmp_path / "o" / "README.md").read_text()
    for row, pair in zip(arm_rows(tmp_path / "o" / "rlaif"), ours, strict=True):
        assert row["chosen"] == pair["prompt"] + pair["chosen"] and row["rejected"] == pair["prompt"] + pair["rejected"]
        assert "prompt" not in row and "margin" not in row and row["chosen_prob"] == pair["chosen_prob"]


def test_datasets_loads_every_exported_shape_and_the_raw_pairs_files(labeled_run, tmp_path):
    for fmt in ("trl", "openrlhf", "jsonl"):
        export_run(labeled_run, fmt, tmp_path / fmt)
        for mode in ("rlaif", "hrlaif"):
            for split in ("train", "test"):
                path = tmp_path / fmt / mode / f"{split}.jsonl"
                loaded = datasets.load_dataset("json", data_files=str(path), split="train")
                assert len(loaded) == len(rows(path)) > 0 and "margin" not in loaded.column_names, path
    # our own records, label and red-team pairs in one file: provenance (route, step, verdicts,
    # details with other keys) differs row to row, and arrow still reads one table
    mixed = datasets.concatenate_datasets([datasets.load_dataset("json", data_files=str(tmp_path / "jsonl" / "hrlaif" / f"{split}.jsonl"), split="train")
                                           for split in ("train", "test")])
    provenance = mixed["provenance"]
    assert {(p["mode"], p["step"]) for p in provenance} >= {("hrlaif", "preference"), ("redteam", "rewrite")}
    assert len({p["route"] for p in provenance}) >= 3 and len({len(p["verdicts"]) for p in provenance}) >= 2
    for mode in ("rlaif", "hrlaif"):  # and the run's own label files as they are
        path = labeled_run / f"label-{mode}" / "pairs.jsonl"
        loaded = datasets.load_dataset("json", data_files=str(path), split="train")
        assert len(loaded) == len(rows(path)) > 0 and loaded["prompt_id"] == [r["prompt_id"] for r in rows(path)]


def test_trl_reward_trainer_and_dpo_trainer_train_on_the_export(labeled_run, tmp_path, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    export_run(labeled_run, "trl", tmp_path / "trl", ["hrlaif"])
    dataset = datasets.load_dataset(str(tmp_path / "trl" / "hrlaif"), split="train")  # the arm's folder, as datasets reads it
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
    exported = arm_rows(tmp_path / "out" / "hrlaif")
    assert len(exported) == counts["label_pairs"] and {r["label_mode"] for r in exported} == {"hrlaif"}
    assert not (tmp_path / "out" / "CONTENT_WARNING.txt").exists()


def test_each_arm_loads_in_datasets_as_the_rms_train_and_test_splits(labeled_run, tmp_path):
    """`load_dataset(folder)` and `load_dataset("json", data_dir=folder)` on an arm's folder give
    its RM's train and held-out pairs as two splits (the content warning, beside the folders, is
    not read as data); the export's root names the arms as configs, so it never mixes them."""
    out = tmp_path / "trl"
    counts = export_run(labeled_run, "trl", out)
    assert (out / "CONTENT_WARNING.txt").is_file() and "CONTENT WARNING" in (out / "README.md").read_text()
    for mode in ("rlaif", "hrlaif"):
        pairs, _ = export_pairs_of(labeled_run, mode)
        held = held_out_ids(labeled_run, pairs)
        n_test = sum(p.prompt_id in held for p in pairs)
        assert 0 < n_test < len(pairs) and (counts[mode]["train_pairs"], counts[mode]["test_pairs"]) == (len(pairs) - n_test, n_test)
        for loaded in (datasets.load_dataset("json", data_dir=str(out / mode)), datasets.load_dataset(str(out / mode)),
                       datasets.load_dataset(str(out), mode)):
            assert set(loaded) == {"train", "test"}
            assert (loaded["train"].num_rows, loaded["test"].num_rows) == (len(pairs) - n_test, n_test)
            assert set(loaded["test"]["prompt_id"]) == held & {p.prompt_id for p in pairs}
            assert not set(loaded["train"]["prompt_id"]) & held  # whole prompts held out
    with pytest.raises(ValueError, match="(?i)config name is missing"):
        datasets.load_dataset(str(out))  # the arms are two configs, never one mixed split


def test_nothing_held_out_means_no_test_split(labeled_run, tmp_path):
    out = tmp_path / "out"
    export_run(labeled_run, "trl", out, ["rlaif"])
    assert (out / "rlaif" / "test.jsonl").is_file()
    run = tmp_path / "run"
    import shutil

    shutil.copytree(labeled_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["reward"]["eval_fraction"] = 0.0
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    counts = export_run(run, "trl", out, ["rlaif"])["rlaif"]
    assert counts["test_pairs"] == 0 and not (out / "rlaif" / "test.jsonl").exists()  # not a stale one either
    assert set(datasets.load_dataset(str(out / "rlaif"))) == {"train"}


def test_the_test_split_is_what_the_rm_stage_holds_out(labeled_run, tmp_path, tiny_model):
    """The RM trained on the arm's pairs with the run's settings reports the held-out count the
    export wrote as test.jsonl (train-rm and export share `rm_split`)."""
    from hrlaif.train.reward import train_reward_model

    config = load_config(labeled_run / "config.yaml")
    counts = export_run(labeled_run, "trl", tmp_path / "out", ["rlaif"])["rlaif"]
    pairs, _ = export_pairs_of(labeled_run, "rlaif")
    summary = train_reward_model(pairs, str(tiny_model), config.reward.model_copy(update={"epochs": 1}), tmp_path / "rm",
                                 seed=config.seed, max_length=128)
    assert (summary["train_pairs"], summary["heldout_pairs"]) == (counts["train_pairs"], counts["test_pairs"])
    assert counts["test_pairs"] > 0
    # The held-out accuracy again, in TRL: the arm's folder as `datasets` reads it, its test split, RewardTrainer.evaluate
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    splits = datasets.load_dataset(str(tmp_path / "out" / "rlaif"))
    model_dir = tmp_path / "rm" / "model"
    trainer = RewardTrainer(model=AutoModelForSequenceClassification.from_pretrained(model_dir), train_dataset=splits["train"],
                            eval_dataset=splits["test"],
                            processing_class=AutoTokenizer.from_pretrained(model_dir),
                            args=RewardConfig(output_dir=str(tmp_path / "trl-eval"), max_length=128, per_device_eval_batch_size=4,
                                              use_cpu=True, bf16=False, report_to="none", disable_tqdm=True))
    metrics = trainer.evaluate()
    held = summary["heldout_accuracy"]
    assert round(metrics["eval_accuracy"] * held["n"]) == held["successes"], (metrics, held)


def test_export_refuses_labels_of_a_killed_relabel(labeled_run, tmp_path):
    """A re-label killed half-way leaves the previous pairs.jsonl and no manifest (removed first
    when a stage starts): export stops naming the stage instead of shipping stale labels."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(labeled_run, run)
    (run / "label-hrlaif" / "manifest.json").unlink()
    out = tmp_path / "out"
    result = runner.invoke(app, ["export", str(run), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "label-hrlaif" in result.output and "hrlaif label --mode hrlaif" in result.output
    assert not out.exists()  # nothing written, the complete rlaif arm included


def test_audit_refuses_labels_of_a_killed_relabel(labeled_run, tmp_path):
    """audit reads the same pairs.jsonl: a killed re-label's stale labels are refused there too."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(labeled_run, run)
    (run / "label-rlaif" / "manifest.json").unlink()
    result = runner.invoke(app, ["audit", str(run)])
    assert result.exit_code == 2, result.output
    assert "label-rlaif" in result.output and "hrlaif label --mode rlaif" in result.output
    assert not (run / "audit").exists()


def test_export_says_which_stage_run_each_arm_is_read_from(labeled_run, tmp_path):
    """Labels that are complete may still be an older run's than the user thinks: export names the
    stage, when it ran and its fingerprint for every arm, red teaming included (issue 27)."""
    result = runner.invoke(app, ["export", str(labeled_run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    for stage in ("label-rlaif", "label-hrlaif", "redteam"):
        manifest = json.loads((labeled_run / stage / "manifest.json").read_text())
        assert f"{stage} (complete, run {manifest['started_at'][:10]}" in said
        assert f"fingerprint {manifest['fingerprint']})" in said
