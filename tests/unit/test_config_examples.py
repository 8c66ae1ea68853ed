"""The shipped example configs are reachable through the CLI (a pip install has no
src/hrlaif/configs path): every file is listed, printed as written, and loads as a config."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hrlaif.cli import app

CONFIGS = Path(__file__).resolve().parents[2] / "src" / "hrlaif" / "configs"
runner = CliRunner()


def shipped() -> dict[str, Path]:
    return {str(p.relative_to(CONFIGS).with_suffix("")): p for p in CONFIGS.rglob("*.yaml")}


def test_every_shipped_config_is_listed_with_its_first_comment_line():
    result = runner.invoke(app, ["config", "--list-examples"])
    assert result.exit_code == 0, result.output
    rows = dict(line.split("\t", 1) for line in result.output.splitlines())
    assert set(rows) == set(shipped()) and "study" in rows and "accelerate/ddp" in rows
    for name, path in shipped().items():
        assert rows[name] == path.read_text().splitlines()[0].lstrip("# ").strip()


def test_an_example_prints_as_written_and_a_run_config_copied_out_loads(tmp_path):
    assert {"study", "accelerate/ddp"} <= shipped().keys(), CONFIGS  # an empty glob would check nothing
    for name, path in shipped().items():
        result = runner.invoke(app, ["config", "--example", name])
        assert result.exit_code == 0, result.output
        assert result.output == path.read_text()
        if not name.startswith("accelerate/"):  # accelerate's own configs are not hrlaif configs
            copy = tmp_path / f"{name}.yaml"
            copy.write_text(result.output)
            loaded = runner.invoke(app, ["config", "-c", str(copy)])
            assert loaded.exit_code == 0 and "run_dir:" in loaded.output, loaded.output


def test_an_unknown_example_is_one_line_naming_the_known_ones():
    result = runner.invoke(app, ["config", "--example", "studdy"])
    assert result.exit_code == 2
    assert "no shipped example config 'studdy'" in result.output and "study" in result.output
    assert "Traceback" not in result.output
