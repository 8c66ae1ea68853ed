"""What a run prints when its output goes to a file (CI logs, `nohup`, `tee`): one line as each
stage starts and one as it ends with its wall time, an end-of-run summary with the report's
path, no progress-bar redraws and no table cut at 80 columns; a second run says every stage
was skipped. Before the first stage, the plan: what it will run, re-run (stale) and skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from hrlaif.config import load_config
from hrlaif.pipeline import plan_lines, status

from support.run_configs import COMPARE, write_run_config

SRC = Path(__file__).resolve().parents[2] / "src"


def run_to_file(config: Path, log: Path) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(SRC), COLUMNS="")
    with log.open("w") as out:  # a file, not a terminal
        done = subprocess.run([sys.executable, "-m", "hrlaif", "run", "-c", str(config), "--mode", "rlaif"], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env, timeout=1800)
    text = log.read_bytes().decode()  # not read_text: it would turn a progress bar's "\r" into "\n"
    assert done.returncode == 0, text[-3000:]
    return text


def test_a_run_logged_to_a_file_has_a_line_per_stage_start_and_end_and_a_summary(tmp_path, tiny_model):
    config = write_run_config(tmp_path, tiny_model, COMPARE, data={"max_train_prompts": 4, "max_eval_prompts": 4})
    text = run_to_file(config, tmp_path / "first.log")
    lines = text.splitlines()
    stages = ["sample", "label-rlaif", "rm-rlaif", "ppo-rlaif", "eval"]
    for name in stages:
        assert lines.count(name) == 1, (name, text[-3000:])  # the start line
        [end] = [line for line in lines if line.startswith(f"{name}: done in ")]
        assert re.fullmatch(rf"{name}: done in (\d+\.\d s|\d+ min \d\d s)(, \d+ judge calls)?", end), end
        assert lines.index(name) < lines.index(end)
    summary = lines.index(next(line for line in lines if line.startswith("summary: ")))
    assert all(f"  {name} " in "\n".join(lines[summary:]) for name in stages)
    assert "  report: " in text[text.index("summary: "):] and (tmp_path / "run" / "report" / "report.html").is_file()
    assert "\r" not in text, "a progress bar redrew itself into the log"
    assert "…" not in text, "rich cut a line or table to fit 80 columns"
    # The plan comes before the first stage: one count line and one line naming the stages to run.
    plan = lines.index(next(line for line in lines if line.startswith("plan: ")))
    assert plan < lines.index("sample") and re.fullmatch(r"plan: (\d+) to run \(\1 stage\(s\)\)", lines[plan]), lines[plan]
    assert lines[plan + 1].startswith("  run: ") and not lines[plan + 2].startswith("  ")
    planned = lines[plan + 1].removeprefix("  run: ").split(", ")
    assert [name for name in planned if name in stages] == stages, planned

    again = run_to_file(config, tmp_path / "second.log")
    assert re.search(r"summary: 0 stage\(s\) ran in 0\.0 s, \d+ skipped \(already complete\)", again), again[-2000:]
    assert all(f"{name}: already complete, skipped" in again for name in stages)
    [skipped] = [line for line in again.splitlines() if line.startswith("  skip (complete from an earlier run): ")]
    assert skipped.split(": ", 1)[1].split(", ") == planned and re.search(rf"plan: {len(planned)} to skip \(", again)

    # A changed PPO setting: the plan re-runs PPO and what reads its policy, and skips the rest.
    changed = plan_lines(status(load_config(config, ["ppo.kl_coef=0.5"]), ["rlaif"]))
    assert changed[0] == f"plan: 2 to re-run, {len(planned) - 2} to skip ({len(planned)} stage(s))", changed
    assert changed[2] == "  re-run (stale: other settings, or an input that re-runs): ppo-rlaif, eval", changed
