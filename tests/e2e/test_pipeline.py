"""The whole pipeline through the real CLI on tiny models: outputs, manifests, resume, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from datasets import load_dataset
from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import pipeline_config as tiny_config

runner = CliRunner()




def test_run_end_to_end_then_resume_skips_everything(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    result = runner.invoke(app, ["compare", "-c", str(config)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    for stage in ("judge-check", "sample", "label-rlaif", "label-hrlaif", "redteam", "rm-rlaif", "rm-hrlaif", "ppo-rlaif", "ppo-hrlaif", "eval"):
        manifest = json.loads((run / stage / "manifest.json").read_text())
        assert manifest["complete"] and manifest["fingerprint"] and "torch" in manifest["versions"]
    assert (run / "config.yaml").is_file()
    # Pairs are TRL-ready: datasets reads them, prompt/chosen/rejected present, provenance kept.
    pairs = load_dataset("json", data_files=str(run / "label-hrlaif" / "pairs.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected", "provenance"} <= set(pairs.column_names)
    samples = load_dataset("json", data_files=str(run / "sample" / "samples.jsonl"), split="train")
    assert len(samples) == 16
    results = json.loads((run / "eval" / "results.json").read_text())
    assert set(results["policies"]) == {"start", "rlaif", "hrlaif"}
    sat = results["policies"]["start"]["satisfaction"]
    assert sat["n"] > 0 and 0 <= sat["low"] <= sat["rate"] <= sat["high"] <= 1
    w = results["versus_start"]["rlaif"]["win_ratio"]
    assert w["wins"] + w["ties"] + w["losses"] == w["n"]
    assert "simulated" in results["judge"]
    # Red teaming fed the hrlaif RM only, within its share; safety measured for every policy.
    rm = json.loads((run / "rm-hrlaif" / "manifest.json").read_text())["counts"]
    assert rm["redteam_pairs"] <= 0.25 * (rm["label_pairs"] + rm["redteam_pairs"]) and "redteam_pairs" not in json.loads(
        (run / "rm-rlaif" / "manifest.json").read_text())["counts"]
    assert rm["redteam_pairs_available"] >= rm["redteam_pairs"] > 0
    assert results["attack_prompts"] == 8
    for policy in ("start", "rlaif", "hrlaif"):
        rate = results["policies"][policy]["attack_harmful_rate"]
        assert rate["n"] + rate["unscored"] == 8 and (rate["n"] == 0 or rate["low"] <= rate["rate"] <= rate["high"])
    assert results["versus_start"]["hrlaif"]["attack_harmful_rate_difference"]["n"] > 0
    html = (run / "report" / "report.html").read_text()
    assert "n=" in html and "simulated" in html and "data:image/png;base64" in html
    assert "Red teaming" in html and "held-out attacks" in html
    before = {p: p.stat().st_mtime_ns for p in run.rglob("manifest.json")}
    again = runner.invoke(app, ["compare", "-c", str(config)])
    assert again.exit_code == 0, again.output
    assert again.output.count("already complete, skipped") == 11  # the 8 stages of before, plus redteam, judge-check and rm-heldout
    assert before == {p: p.stat().st_mtime_ns for p in run.rglob("manifest.json")}


def test_changed_setting_reruns_only_downstream_stages(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    assert runner.invoke(app, ["sample", "-c", str(config)]).exit_code == 0
    assert runner.invoke(app, ["label", "-c", str(config), "--mode", "rlaif"]).exit_code == 0
    result = runner.invoke(app, ["label", "-c", str(config), "--mode", "rlaif", "--set", "judge.simulated.length_bias=0.1"])
    assert result.exit_code == 0, result.output
    assert "label-rlaif: already complete" not in result.output
    assert "sample: already complete" not in result.output  # label does not re-run sampling
    result = runner.invoke(app, ["sample", "-c", str(config)])
    assert "sample: already complete, skipped" in result.output


@pytest.mark.parametrize(
    "override, message",
    [
        ("ppo.stepz=3", "unknown config key 'ppo.stepz'"),
        ("ppo.steps=many", "config key 'ppo.steps'"),
        ("judge.backend=gpt", "config key 'judge.backend'"),
        ("label.routes={math: [vibes]}", "unknown step 'vibes'"),
    ],
)
def test_config_errors_name_the_key(tmp_path, tiny_model, override, message):
    config = tiny_config(tmp_path, tiny_model)
    result = runner.invoke(app, ["sample", "-c", str(config), "--set", override])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run" / "sample").exists()


def test_unknown_key_in_yaml_file_is_named(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    data = yaml.safe_load(config.read_text())
    data["reward"]["epocs"] = 3
    config.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["sample", "-c", str(config)])
    assert result.exit_code == 2 and "unknown config key 'reward.epocs'" in result.output


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "a", "prompt": "hi", "category": "open_ended"', "invalid JSON"),
        ('{"id": "a", "prompt": "hi", "category": "poetry"}', "field 'category'"),
        ('{"id": "a", "prompt": "   ", "category": "open_ended"}', "empty"),
        ('{"id": "a", "prompt": "2+2?", "category": "math"}', "reference"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_bad_prompt_file_names_file_and_line_and_writes_nothing(tmp_path, tiny_model, line, message):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "ok", "prompt": "Say hi.", "category": "open_ended"}\n' + line + "\n")
    config = tiny_config(tmp_path, tiny_model)
    result = runner.invoke(app, ["sample", "-c", str(config), "--set", f"data.train_prompts={prompts}"])
    assert result.exit_code == 2
    assert f"{prompts}:2:" in result.output and message in result.output
    assert not (tmp_path / "run" / "sample" / "samples.jsonl").exists()


def test_non_utf8_prompt_file(tmp_path, tiny_model):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_bytes(b'{"id": "a", "prompt": "caf\xe9", "category": "open_ended"}\n')
    result = runner.invoke(app, ["sample", "-c", str(tiny_config(tmp_path, tiny_model)), "--set", f"data.train_prompts={prompts}"])
    assert result.exit_code == 2 and f"{prompts}:1: not valid UTF-8" in result.output


def test_missing_model_path_is_a_clear_error(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    result = runner.invoke(app, ["sample", "-c", str(config), "--set", "policy.path=/nonexistent/model"])
    assert result.exit_code == 2 and "/nonexistent/model: model path not found" in result.output


def test_every_command_has_help():
    for command in ("sample", "label", "redteam", "train-rm", "ppo", "evaluate", "report", "run", "compare", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "--" in result.output, command


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "hrlaif.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "compare" in out.stdout


def test_interrupted_stage_reruns_alone_and_more_ppo_steps_resume(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    assert runner.invoke(app, ["run", "-c", str(config)]).exit_code == 0
    run = tmp_path / "run"
    (run / "eval" / "manifest.json").unlink()  # as if killed during evaluation
    result = runner.invoke(app, ["run", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output.count("already complete, skipped") == 6  # judge-check, sample, label, rm, ppo, rm-heldout
    # Asking for more PPO steps resumes from the last checkpoint instead of starting over.
    result = runner.invoke(app, ["ppo", "-c", str(config), "--set", "ppo.steps=3"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "ppo-rlaif" / "manifest.json").read_text())
    assert manifest["summary"]["resumed_from_step"] == 2 and manifest["summary"]["steps"] == 3
    steps = [json.loads(line)["charts/step"] for line in (run / "ppo-rlaif" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    # Any other change discards the checkpoints.
    result = runner.invoke(app, ["ppo", "-c", str(config), "--set", "ppo.steps=3", "--set", "ppo.kl_coef=0.2"])
    assert result.exit_code == 0 and "discarding old checkpoints" in result.output


def test_prompt_longer_than_the_context_names_file_and_line(tmp_path, tiny_model):
    prompts = tmp_path / "prompts.jsonl"
    long_text = "Please summarise this. " + "word " * 3000
    prompts.write_text('{"id": "ok", "prompt": "Say hi.", "category": "open_ended"}\n'
                       + json.dumps({"id": "long", "prompt": long_text, "category": "open_ended"}) + "\n")
    config = tiny_config(tmp_path, tiny_model)
    result = runner.invoke(app, ["sample", "-c", str(config), "--set", f"data.train_prompts={prompts}"])
    assert result.exit_code == 2
    assert f"{prompts}:2: prompt 'long' is" in result.output and "policy.max_length" in result.output
    assert not (tmp_path / "run" / "sample" / "samples.jsonl").exists()


def test_changed_hybrid_route_relabels(tmp_path, tiny_model):
    config = tiny_config(tmp_path, tiny_model)
    assert runner.invoke(app, ["sample", "-c", str(config)]).exit_code == 0
    assert runner.invoke(app, ["label", "-c", str(config), "--mode", "hrlaif"]).exit_code == 0
    same = runner.invoke(app, ["label", "-c", str(config), "--mode", "hrlaif"])
    assert "label-hrlaif: already complete, skipped" in same.output
    changed = runner.invoke(app, ["label", "-c", str(config), "--mode", "hrlaif", "--set", "label.answer_match_fallback=false"])
    assert changed.exit_code == 0 and "label-hrlaif: already complete" not in changed.output
    rerouted = runner.invoke(app, ["label", "-c", str(config), "--mode", "hrlaif", "--set", "label.routes.math=[preference]"])
    assert rerouted.exit_code == 0 and "label-hrlaif: already complete" not in rerouted.output
