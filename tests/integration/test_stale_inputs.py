"""A command that runs one stage on its own reads the stages it needs as they are; when one of
them finished under other settings than the current config's (stale: `hrlaif run` would re-run
it first), the command says so plainly instead of reading old data silently (issue 27)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import write_run_config

runner = CliRunner()


def test_label_says_it_reads_samples_drawn_under_other_settings(tmp_path: Path, tiny_model) -> None:
    config = write_run_config(tmp_path, tiny_model, data={"max_train_prompts": 3})
    assert runner.invoke(app, ["sample", "-c", str(config)]).exit_code == 0
    fresh = runner.invoke(app, ["label", "--mode", "rlaif", "-c", str(config)])
    assert fresh.exit_code == 0, fresh.output
    assert "as it is" not in fresh.output, "samples of this very config are current: nothing to say"

    stale = runner.invoke(app, ["label", "--mode", "hrlaif", "-c", str(config), "--set", "sample.generation.max_new_tokens=6"])
    assert stale.exit_code == 0, stale.output
    said = " ".join(stale.output.split())
    assert "label-hrlaif reads sample as it is: it finished under other settings than this config's" in said
    assert "hrlaif status" in said
    status = runner.invoke(app, ["status", "-c", str(config), "--set", "sample.generation.max_new_tokens=6", "--mode", "hrlaif"])
    assert "stale" in status.output.split("label-hrlaif")[0].split("sample")[-1], status.output
