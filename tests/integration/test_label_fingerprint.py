"""The label stage re-runs when anything that changes the judge's verdicts changes: an edited
template file, and the settings that decide how a verdict is asked for and read."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.judge.templates import BUILTIN_TEMPLATES

from support.run_configs import DROP, write_run_config

runner = CliRunner()
SKIPPED = "label-hrlaif: already complete, skipped"


@pytest.fixture
def run_config(tmp_path, tiny_model):
    path = write_run_config(tmp_path, tiny_model, data={"max_train_prompts": 4}, sample={"generation": {"max_new_tokens": 6}},
                            judge={"model": DROP})
    assert runner.invoke(app, ["sample", "-c", str(path)]).exit_code == 0
    return path


def label(config, *overrides: str) -> str:
    args = ["label", "-c", str(config), "--mode", "hrlaif"]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def write_template(folder, instructions: str) -> None:
    template = dataclasses.asdict(BUILTIN_TEMPLATES["preference"]) | {"instructions": instructions}
    folder.mkdir(exist_ok=True)
    (folder / "preference.yaml").write_text(yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in template.items()}))


def test_an_edited_template_file_relabels(run_config, tmp_path):
    templates = tmp_path / "templates"
    write_template(templates, BUILTIN_TEMPLATES["preference"].instructions)
    label(run_config)
    assert SKIPPED in label(run_config)
    in_dir = f"judge.templates_dir={templates}"
    assert SKIPPED not in label(run_config, in_dir), "a templates folder is another judge setting"
    assert SKIPPED in label(run_config, in_dir)
    write_template(templates, "Decide which response is more helpful. Ignore length.")
    assert SKIPPED not in label(run_config, in_dir), "the same folder with an edited template relabels"
    assert SKIPPED in label(run_config, in_dir)


@pytest.mark.parametrize("override", [
    "judge.constrain=false", "judge.reasoning=true", "judge.extra_body={guided_choice: [A, B]}",
    "judge.permute_labels=false", "judge.option_token_ids={A: [1], B: [2]}", "judge.max_tokens=4",
])
def test_a_judge_setting_that_changes_verdicts_relabels(run_config, override):
    label(run_config)
    assert SKIPPED not in label(run_config, override)
    assert SKIPPED in label(run_config, override)


def test_a_judge_setting_that_does_not_change_verdicts_does_not(run_config):
    label(run_config)
    assert SKIPPED in label(run_config, "judge.concurrency=2", "judge.timeout_s=5")
