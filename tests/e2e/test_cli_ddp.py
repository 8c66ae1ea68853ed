"""`hrlaif train-rm` and `hrlaif ppo` in 2 CPU processes under `accelerate launch` (DDP over gloo):
rank 0 alone writes the stage, the other rank trains with it, and the result is what one
process with the same global batch gets (so the gradients were averaged across the ranks)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.jsonl import read_jsonl
from hrlaif.records import Pair

from support.ddp_launch import accelerate_launch
from support.run_configs import write_run_config

runner = CliRunner()
TRAIN_PAIRS = 8  # per-process batch 2 on 2 processes and batch 4 on one see the same pairs in each step


DDP_RUN = {
    "policy": {"max_length": 128},
    "data": {"max_train_prompts": 30},
    "sample": {"generation": {"batch_size": 16}},
    "reward": {"epochs": 2, "batch_size": 2, "learning_rate": 1e-3, "eval_fraction": 0.2},
    "ppo": {"steps": 3, "batch_size": 2, "mini_batch_size": 1, "ppo_epochs": 1, "checkpoint_every": 1, "learning_rate": 1e-2,
            "critic_learning_rate": 1e-2, "generation": {"max_new_tokens": 6}},
}


def write_config(folder: Path, model: Path, **sections) -> Path:
    """sections are merged into the sections above, e.g. reward={"batch_size": 4}."""
    return write_run_config(folder, model, DDP_RUN, {"judge": {"model": str(model)}}, sections)


@pytest.fixture(scope="module")
def labeled(tiny_model, tmp_path_factory) -> Path:
    """A run directory with samples and rlaif labels (one process), its pairs cut to a whole
    number of batches: an uneven last batch is padded differently by 1 and 2 processes."""
    folder = tmp_path_factory.mktemp("labeled")
    config = write_config(folder, tiny_model)
    for command in (["sample"], ["label", "--mode", "rlaif"]):
        result = runner.invoke(app, [*command, "-c", str(config)])
        assert result.exit_code == 0, result.output
    pairs_file = folder / "run" / "label-rlaif" / "pairs.jsonl"
    lines = pairs_file.read_text().splitlines()
    # 10 prompts, one pair each: eval_fraction 0.2 holds out 2 of them, TRAIN_PAIRS stay
    assert len(lines) >= 10 and len({p.prompt_id for p in read_jsonl(pairs_file, Pair)}) == len(lines)
    pairs_file.write_text("".join(line + "\n" for line in lines[:10]))
    return folder


def copy_run(labeled: Path, target: Path, model: Path, **sections) -> Path:
    shutil.copytree(labeled / "run", target / "run")
    return write_config(target, model, **sections)


def test_train_rm_in_two_processes_writes_once_what_one_process_writes(labeled, tiny_model, tmp_path):
    one = copy_run(labeled, tmp_path / "one", tiny_model, reward={"batch_size": 4})
    two = copy_run(labeled, tmp_path / "two", tiny_model)
    result = runner.invoke(app, ["train-rm", "-c", str(one), "--mode", "rlaif"])
    assert result.exit_code == 0, result.output
    done = accelerate_launch(["-m", "hrlaif", "train-rm", "-c", str(two), "--mode", "rlaif"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("wrote ") == 1 and done.stderr.count("rm-rlaif") >= 1  # rank 0 alone reports

    stage_one, stage_two = tmp_path / "one" / "run" / "rm-rlaif", tmp_path / "two" / "run" / "rm-rlaif"
    files = sorted(str(p.relative_to(stage_one)) for p in stage_one.rglob("*") if p.is_file() and "tensorboard" not in p.parts)
    assert files == sorted(str(p.relative_to(stage_two)) for p in stage_two.rglob("*") if p.is_file() and "tensorboard" not in p.parts)
    assert not [p for p in (tmp_path / "two" / "run").rglob("*") if p.name.endswith(".tmp")], "no half-written file left"
    manifest_one, manifest_two = (json.loads((s / "manifest.json").read_text()) for s in (stage_one, stage_two))
    assert manifest_two.keys() == manifest_one.keys() and manifest_two["complete"]
    assert manifest_two["counts"] == manifest_one["counts"] and manifest_two["counts"]["train_pairs"] == TRAIN_PAIRS
    summary_one, summary_two = (json.loads((s / "summary.json").read_text()) for s in (stage_one, stage_two))
    assert (summary_one["num_processes"], summary_two["num_processes"]) == (1, 2)
    # 2 processes x batch 2 take the same 4 pairs a step as 1 process x batch 4: with DDP's
    # averaged gradients the losses and the saved weights agree; unsynchronised, rank 0's copy
    # would have learnt from its half of each batch only.
    assert [e["loss"] for e in summary_two["log"]] == pytest.approx([e["loss"] for e in summary_one["log"]], abs=1e-4)
    from safetensors.torch import load_file

    weights_one, weights_two = (load_file(str(s / "model" / "model.safetensors")) for s in (stage_one, stage_two))
    assert weights_one and weights_one.keys() == weights_two.keys()
    for name, tensor in weights_one.items():
        torch.testing.assert_close(weights_two[name], tensor, atol=1e-4, rtol=1e-3, msg=name)
    # and the same weights must differ from the start: the test is not comparing two untrained models
    assert summary_one["log"][0]["loss"] != pytest.approx(summary_one["log"][-1]["loss"], abs=1e-3)

    # A second launch finds the stage complete on rank 0 and every rank ends at once.
    done = accelerate_launch(["-m", "hrlaif", "train-rm", "-c", str(two), "--mode", "rlaif"], cwd=tmp_path)
    assert done.returncode == 0 and "already complete, skipped" in done.stderr, done.stderr[-3000:]
    assert json.loads((stage_two / "manifest.json").read_text()) == manifest_two


@pytest.fixture(scope="module")
def with_reward_model(labeled, tiny_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("with-rm")
    config = copy_run(labeled, folder, tiny_model)
    result = runner.invoke(app, ["train-rm", "-c", str(config), "--mode", "rlaif"])
    assert result.exit_code == 0, result.output
    return folder


def metric_rows(stage: Path) -> list[dict]:
    from hrlaif.train.ppo import TIMING_KEYS

    rows = [json.loads(line) for line in (stage / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in rows]


def test_ppo_in_two_processes_stops_after_a_checkpoint_and_resumes_to_the_uninterrupted_run(with_reward_model, tiny_model, tmp_path):
    straight = copy_run(with_reward_model, tmp_path / "straight", tiny_model)
    resumed = copy_run(with_reward_model, tmp_path / "resumed", tiny_model)
    command = ["-m", "hrlaif", "ppo", "--mode", "rlaif", "-c"]
    done = accelerate_launch([*command, str(straight)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    done = accelerate_launch([*command, str(resumed), "--set", "ppo.steps=2"], cwd=tmp_path)  # stops after step 2's checkpoint
    assert done.returncode == 0, done.stderr[-3000:]
    stage = tmp_path / "resumed" / "run" / "ppo-rlaif"
    assert [r["charts/step"] for r in metric_rows(stage)] == [1, 2]
    done = accelerate_launch([*command, str(resumed)], cwd=tmp_path)  # 3 steps: resumes at step 2
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("wrote ") == 1

    manifest = json.loads((stage / "manifest.json").read_text())
    assert manifest["complete"] and manifest["summary"]["resumed_from_step"] == 2 and manifest["summary"]["num_processes"] == 2
    rows, straight_rows = metric_rows(stage), metric_rows(tmp_path / "straight" / "run" / "ppo-rlaif")
    assert [r["charts/step"] for r in rows] == [1, 2, 3] and [r["charts/episodes"] for r in rows] == [4, 8, 12]  # 2 prompts x 2 ranks
    # Step 3 of the resumed run starts every rank from rank 0's checkpoint; it matches the
    # uninterrupted run, where rank 1 kept its own weights, only if DDP kept the ranks' copies equal.
    assert [r["charts/step"] for r in straight_rows] == [1, 2, 3]  # zip below stops at the shorter list
    for row, expected in zip(rows, straight_rows):
        assert row.keys() == expected.keys()
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (row["charts/step"], key)
    assert abs(rows[-1]["objective/kl"]) > 1e-6, "the policy moved, so the comparison is not of start policies"
    checkpoint = stage / "checkpoints" / "step-00003"
    assert sorted(p.name for p in (stage / "checkpoints").iterdir()) == ["step-00003"]
    assert {"rng-0.pt", "rng-1.pt", "trainer_state.json"} <= {p.name for p in checkpoint.iterdir()}
    assert not [p for p in stage.rglob("*") if p.name.startswith(".") and p.name.endswith("tmp")], "no half-written file left"
    from hrlaif.models import load_causal_lm

    load_causal_lm(stage / "policy")

    # One process cannot resume what two saved: every rank's RNG and prompt shard differ.
    result = runner.invoke(app, ["ppo", "--mode", "rlaif", "-c", str(resumed), "--set", "ppo.steps=4"])
    assert result.exit_code == 2 and "saved by 2 process(es), resumed with 1" in " ".join(result.output.split()), result.output


def test_ppo_refuses_fsdp_before_loading_anything() -> None:
    """FSDP shards what PPO's checkpoints take from rank 0's full copy: refused with what works."""
    from accelerate.utils import DistributedType

    from hrlaif.errors import HrlaifError
    from hrlaif.train.ppo import refuse_fsdp

    with pytest.raises(HrlaifError, match="ppo under FSDP is not supported yet.*ddp.yaml"):
        refuse_fsdp(DistributedType.FSDP)
    for other in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU):
        refuse_fsdp(other)


def test_a_user_error_on_rank_zero_ends_every_rank_with_one_message(tiny_model, tmp_path):
    """Rank 0 stops before any training call (no labels here): the launch ends at once with
    rank 0's exit code 2 and its one-line error, printed once, instead of a rank waiting for a
    call that never comes. Rank 1 hears the end from rank 0 and exits 0, so the launcher reports
    rank 0 alone and never stops it with a signal before it printed (a rank 1 that exited 2
    first was reported instead, and rank 0 was sent SIGTERM: seen on a loaded machine)."""
    config = write_config(tmp_path, tiny_model)
    done = accelerate_launch(["-m", "hrlaif", "train-rm", "-c", str(config), "--mode", "rlaif"], cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("stage 'label-rlaif' has not finished") == 1, done.stderr[-3000:]
    assert "Traceback (most recent call last):\n  File \"<frozen runpy>\"" not in done.stderr
    failures = re.findall(r"rank +: (\d+) \(local_rank: \d+\)\n +exitcode +: (\S+)", done.stderr)
    assert failures == [("0", "2")], done.stderr[-3000:]  # rank 0's code, no other rank failed, no signal
    assert "Signal" not in done.stderr, done.stderr[-3000:]
    assert not (tmp_path / "run" / "rm-rlaif").exists()


def test_training_fingerprints_count_processes_only_when_there_are_several(labeled, tiny_model, monkeypatch):
    """N processes train on N times the batch: an RM or PPO stage finished under another process
    count is not this run's result. One process keeps the fingerprints it always had."""
    from hrlaif.config import load_config
    from hrlaif.pipeline import Pipeline
    from hrlaif.stages import RewardModel

    pipeline = Pipeline(load_config(write_config(labeled, tiny_model)))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    alone = pipeline.fingerprint(RewardModel("rlaif"))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert pipeline.fingerprint(RewardModel("rlaif")) == alone
    monkeypatch.setenv("WORLD_SIZE", "2")
    two = pipeline.fingerprint(RewardModel("rlaif"))
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert len({alone, two, pipeline.fingerprint(RewardModel("rlaif"))}) == 3


def test_rank_zero_outlives_the_other_ranks_on_its_machine():
    """`_outlive` returns once the other ranks have exited; a child that has exited but is not yet
    reaped by the launcher (a zombie) has ended, and a process that keeps running is waited for
    only up to the limit."""
    import subprocess
    import sys
    import time

    from hrlaif.train.ranks import _alive, _outlive

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        while _alive(ended.pid):  # ends by itself; left unreaped (a zombie) while we look
            time.sleep(0.01)
        assert _alive(running.pid) and ended.poll() == 0 and not _alive(ended.pid)
        _outlive([ended.pid])  # returns at once: nothing to wait for
        _outlive([running.pid], limit_s=0.2)  # bounded: returns although the process runs on
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()
