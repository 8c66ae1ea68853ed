"""Reward-model training in 2 CPU processes under `accelerate launch` (DDP over gloo), through
the Python API (`train_reward_model` called by every rank of a script of one's own; the CLI's
`hrlaif train-rm` is tests/e2e/test_cli_ddp.py): both ranks end with the same
model, the saved model loads, and the held-out accuracy is computed on each rank's own copy."""

from __future__ import annotations

import json
import textwrap

from hrlaif.models import load_reward_model

from support.ddp_launch import accelerate_launch


def test_reward_model_trains_in_two_cpu_processes(tiny_model, tmp_path):
    script = tmp_path / "train_rm.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        from pathlib import Path
        import torch
        from hrlaif.config import RewardConfig
        from hrlaif.records import Pair
        from hrlaif.train.reward import train_reward_model
        pairs = [
            Pair(prompt_id=f"p{{i}}", category="open_ended", prompt=[{{"role": "user", "content": f"Question {{i}}?"}}],
                 chosen=[{{"role": "assistant", "content": f"A careful answer {{i}}."}}],
                 rejected=[{{"role": "assistant", "content": "no"}}], provenance={{"mode": "rlaif"}})
            for i in range(12)
        ]
        summary = train_reward_model(pairs, {str(tiny_model)!r}, RewardConfig(epochs=1, batch_size=2, eval_fraction=0.25),
                                     Path({str(tmp_path / "rm")!r}), seed=3, max_length=64)
        summary["world_size"] = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        Path({str(tmp_path)!r}, "summary-rank" + os.environ["RANK"] + ".json").write_text(json.dumps(summary))
    """))
    done = accelerate_launch([str(script)], cwd=tmp_path)
    files = sorted(tmp_path.glob("summary-rank*.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert [f.name for f in files] == ["summary-rank0.json", "summary-rank1.json"]
    rank0, rank1 = (json.loads(f.read_text()) for f in files)
    assert rank0["world_size"] == rank1["world_size"] == 2 and rank0["num_processes"] == rank1["num_processes"] == 2
    assert rank0["heldout_pairs"] == 3 and rank0["train_pairs"] == 9
    # DDP keeps the two copies equal, so both ranks score the held-out pairs alike
    assert rank0["heldout_accuracy"] == rank1["heldout_accuracy"] and rank0["train_accuracy"] == rank1["train_accuracy"]
    load_reward_model(tmp_path / "rm" / "model")
