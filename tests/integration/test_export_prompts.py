"""`hrlaif export-prompts` (issue 28): a preset's file -> a prompt dataset that TRL's GRPOTrainer
trains on with hrlaif's HybridReward as it is (trl), or whose `label` objects hrlaif's reward
server reads as OpenRLHF sends them (openrlhf)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.reward import HybridReward
from hrlaif.reward.server import parse_label

runner = CliRunner()


def export(tmp: Path, source: Path, preset: str, fmt: str, *more: str) -> Path:
    out = tmp / f"{preset}-{fmt}"
    result = runner.invoke(app, ["export-prompts", "-f", fmt, "-o", str(out), "--set", f"data.train_prompts={source}",
                                 "--set", f"data.format={preset}", *more])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def gsm8k(tmp_path) -> Path:
    path = tmp_path / "gsm8k.parquet"
    pq.write_table(pa.table({"question": ["What is 3 + 4?", "What is 1,000 + 234?"],
                             "answer": ["3 + 4 = 7\n#### 7", "1000 + 234 = 1234\n#### 1,234"]}), path)
    return path


@pytest.fixture
def mmlu(tmp_path) -> Path:
    path = tmp_path / "mmlu.parquet"
    pq.write_table(pa.table({"question": ["Capital of Italy?"], "choices": [["Paris", "Rome"]], "answer": [1], "subject": ["geo"]}), path)
    return path


def test_gsm8k_preset_to_grpo_with_hybrid_reward(tmp_path, gsm8k, tiny_model):
    from trl import GRPOConfig, GRPOTrainer

    out = export(tmp_path, gsm8k, "gsm8k", "trl")
    loaded = datasets.load_dataset(str(out))  # the folder as `datasets` reads it: one train split
    assert set(loaded) == {"train"}
    train = loaded["train"]
    assert train["reference"] == ["7", "1234"] and train["category"] == ["math", "math"]
    assert train["prompt"][0] == [{"role": "user", "content": "What is 3 + 4?"}]

    seen: list[dict] = []

    class Recording(HybridReward):
        def __call__(self, prompts, completions, **kwargs):
            out = super().__call__(prompts, completions, **kwargs)
            seen.append({"reference": kwargs["reference"], "out": out})
            return out

    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, learning_rate=1e-3, beta=0.0, bf16=False, use_cpu=True, report_to="none",
                      logging_steps=1, save_strategy="no", disable_tqdm=True, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = GRPOTrainer(model=str(tiny_model), reward_funcs=[Recording()], args=args, train_dataset=train)
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    assert trainer.state.global_step == 1 and len(seen) == 1
    assert sorted(set(seen[0]["reference"])) == ["1234", "7"]  # both prompts, two completions each, with their keys
    assert all(v in (-1.0, 0.0, 1.0) for v in seen[0]["out"])  # a verdict per completion (the random policy's: wrong or unknown)
    assert any("rewards/hybrid/mean" in entry for entry in trainer.state.log_history)


def test_mmlu_preset_to_openrlhf_labels_the_reward_server_reads(tmp_path, mmlu):
    out = export(tmp_path, mmlu, "mmlu", "openrlhf")
    row = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert set(row) == {"id", "prompt", "label"}  # --input_key prompt --label_key label
    assert row["label"] == {"category": "multiple_choice", "reference": "B", "choices": ["Paris", "Rome"]}
    loaded = datasets.load_dataset(str(out), split="train")  # OpenRLHF reads it with datasets too
    label = parse_label(loaded[0]["label"], 0, loaded[0]["prompt"][0]["content"])
    assert (label.category, label.reference, label.choices) == ("multiple_choice", "B", ["Paris", "Rome"])


def test_eval_split_and_errors(tmp_path, gsm8k, mmlu):
    out = export(tmp_path, gsm8k, "gsm8k", "trl", "--split", "eval", "--set", f"data.eval_prompts={mmlu}", "--set", "data.eval_format=mmlu")
    assert not (out / "train.jsonl").exists() and json.loads((out / "test.jsonl").read_text())["reference"] == "B"
    for args, message in [(["-f", "jsonl"], "--format: unknown format 'jsonl'"), (["--split", "dev"], "--split: unknown split 'dev'"),
                          (["--set", f"data.train_prompts={mmlu}", "--set", "data.format=gsm8k"], "look like data.format: mmlu")]:
        result = runner.invoke(app, ["export-prompts", "-o", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (tmp_path / "x").exists()
