"""`compare --seeds N`: every arm trained N times, and the spread of the figures across seeds."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import COMPARE, write_run_config

runner = CliRunner()


def test_compare_over_two_seeds_reports_the_spread(tmp_path: Path, tiny_model: Path) -> None:
    path = write_run_config(tmp_path, tiny_model, COMPARE, seed=3, judge_check={"per_answer": 4}, redteam={"enabled": False},
                            evaluate={"generation": {"temperature": 1.0}})
    result = runner.invoke(app, ["compare", "-c", str(path), "--seeds", "2"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for seed in (3, 4):
        assert json.loads((run / f"seed-{seed}" / "eval" / "manifest.json").read_text())["complete"]
        assert yaml.safe_load((run / f"seed-{seed}" / "config.yaml").read_text())["seed"] == seed
        assert (run / f"seed-{seed}" / "report" / "report.html").is_file()
    assert (run / "judge_cache.sqlite").is_file() and not (run / "seed-3" / "judge_cache.sqlite").exists(), "one shared judge cache"
    spread = json.loads((run / "seeds.json").read_text())
    assert spread["seeds"] == [3, 4]
    accuracy = spread["figures"]["accuracy on keyed prompts"]["by_policy"]["rlaif"]
    values = [accuracy["per_seed"][s]["rate"] for s in ("3", "4")]
    assert accuracy["n_seeds"] == 2 and accuracy["mean"] == sum(values) / 2 and accuracy["min"] == min(values)
    assert accuracy["meaningful"] is True  # graded by the verifier, not a judge task
    assert set(spread["figures"]["net win rate vs start"]["by_policy"]) == {"rlaif", "hrlaif"}
    per_seed_results = [json.loads((run / f"seed-{s}" / "eval" / "results.json").read_text()) for s in (3, 4)]
    for seed, results in zip(("3", "4"), per_seed_results):
        assert spread["figures"]["satisfaction"]["by_policy"]["start"]["per_seed"][seed] == results["policies"]["start"]["satisfaction"]
    report = (run / "report" / "report.md").read_text()
    assert "Across 2 seeds" in report and "seed-3/report/report.html" in report
    row = next(line for line in report.splitlines() if line.startswith("| accuracy on keyed prompts | rlaif"))
    assert row.count("(n=") == 2, row  # each seed's value with its own n and interval
