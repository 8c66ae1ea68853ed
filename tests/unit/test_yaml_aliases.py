"""YAML aliases in the files users hand us are bounded (issue 27): a "billion laughs" config fails at
once with one line naming the file instead of never finishing, a self-referencing anchor is that
one line instead of a traceback, and a config with a few aliases still loads. Through the real CLI
(typer's CliRunner), and for the other user YAML: judge templates and a run's config.yaml."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.config import ALIAS_EXPANSION_LIMIT, load_config
from hrlaif.errors import HrlaifError

LOL = ", ".join(['"lol"'] * 9)
BOMB_LINES = [f"    a: &a [{LOL}]"] + [
    f"    {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]" for prev, name in zip("abcdefgh", "bcdefghi")
]
"""9 lines under judge.extra_body (a free-form mapping, so nothing refuses it as an unknown key):
9**9 = 387 million strings once expanded."""

SELF_REFERENCE = "judge:\n  extra_body: &body\n    again: *body\n"


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"run_dir: {tmp_path / 'run'}\n{text}")
    return path


def bomb(tmp_path: Path) -> Path:
    return write(tmp_path, "judge:\n  extra_body:\n" + "\n".join(BOMB_LINES) + "\n")


def assert_one_line_error(result, path: Path, words: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and str(path) in " ".join(result.output.split()), result.output
    assert words in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["config"], ["sample"]])
def test_an_alias_bomb_fails_at_once_with_the_file_named(command: list[str], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = bomb(tmp_path)
    started = time.monotonic()
    result = CliRunner().invoke(app, [*command, "-c", str(path)])
    took = time.monotonic() - started
    assert_one_line_error(result, path, f"more than the {ALIAS_EXPANSION_LIMIT:,} allowed")
    assert took < 30, f"{took:.1f}s: the check must not expand the aliases (idle: well under a second)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"], "nothing written"


@pytest.mark.parametrize("command", [["config"], ["sample"]])
def test_a_self_referencing_anchor_is_one_line(command: list[str], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, SELF_REFERENCE)
    result = CliRunner().invoke(app, [*command, "-c", str(path)])
    assert_one_line_error(result, path, "an alias refers to the anchored node that contains it")
    assert f"{path}:3:" in " ".join(result.output.split()), "the line of the anchor"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"], "nothing written"


def test_a_config_with_a_few_aliases_still_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "sample:\n  generation: &gen\n    max_new_tokens: 16\n    temperature: 0.5\n"
                           "evaluate:\n  generation: *gen\n"
                           "ppo:\n  generation:\n    <<: *gen\n    max_new_tokens: 12\n"  # a merge key, one value overridden
                           "judge:\n  extra_body: {stop: &stops [a, b], again: *stops}\n")
    result = CliRunner().invoke(app, ["config", "-c", str(path)])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["evaluate"]["generation"]["max_new_tokens"] == 16 and shown["evaluate"]["generation"]["temperature"] == 0.5
    assert shown["ppo"]["generation"]["max_new_tokens"] == 12 and shown["ppo"]["generation"]["temperature"] == 0.5
    assert shown["judge"]["extra_body"] == {"stop": ["a", "b"], "again": ["a", "b"]}
    assert load_config(path).evaluate.generation.max_new_tokens == 16


def test_a_key_twice_is_still_refused_beside_a_merge_key(tmp_path: Path) -> None:
    path = write(tmp_path, "sample:\n  generation: &gen {max_new_tokens: 16}\n"
                           "ppo:\n  generation:\n    <<: *gen\n    temperature: 0.5\n    temperature: 0.7\n")
    with pytest.raises(HrlaifError, match="config.yaml:8: .*key 'temperature' appears twice"):
        load_config(path)


def test_a_bomb_just_under_the_limit_loads_and_just_over_fails(tmp_path: Path) -> None:
    """The bound is on what aliases add, counted without expanding them."""
    per_alias = 1 + 1000  # the list node and its 1000 strings
    items = ", ".join(["x"] * 1000)
    fits = ALIAS_EXPANSION_LIMIT // per_alias
    under = write(tmp_path, f"judge:\n  extra_body:\n    a: &a [{items}]\n    b: [{', '.join(['*a'] * fits)}]\n", "under.yaml")
    assert len(load_config(under).judge.extra_body["b"]) == fits
    over = write(tmp_path, f"judge:\n  extra_body:\n    a: &a [{items}]\n    b: [{', '.join(['*a'] * (fits + 1))}]\n", "over.yaml")
    with pytest.raises(HrlaifError, match="alias bomb"):
        load_config(over)


def test_judge_templates_and_a_runs_config_are_bounded_too(tmp_path: Path) -> None:
    from hrlaif.export import _run_config
    from hrlaif.judge.templates import load_templates

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "refusal.yaml").write_text("version: v1\nnames: &n [x, *n]\n")
    with pytest.raises(HrlaifError, match="refusal.yaml: not a readable YAML file .*alias refers"):
        load_templates(templates)
    (templates / "refusal.yaml").write_text("version: v1\nextra:\n" + "\n".join(BOMB_LINES) + "\n")
    with pytest.raises(HrlaifError, match="refusal.yaml: not a readable YAML file .*alias bomb"):
        load_templates(templates)

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("judge:\n  extra_body:\n" + "\n".join(BOMB_LINES) + "\n")
    with pytest.raises(HrlaifError, match="cannot read the run's config .*alias bomb"):
        _run_config(run)
