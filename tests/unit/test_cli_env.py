"""`hrlaif --version` and `hrlaif env`: what a bug report needs, through the real CLI."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import torch
from typer.testing import CliRunner

import hrlaif
from hrlaif.cli import app


def test_version_prints_the_package_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"hrlaif {hrlaif.__version__}\n"


def test_env_names_versions_and_devices_one_per_line(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-never-printed")
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    rows = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert rows["python"].startswith(platform.python_version())
    assert rows["hrlaif"] == hrlaif.__version__
    for name in ("torch", "transformers", "trl", "accelerate", "datasets", "peft"):
        assert rows[name] == metadata.version(name), name
    assert rows["cpus"].split()[0].isdigit()
    assert rows["cuda"].startswith(f"{torch.cuda.device_count()} device(s)" if torch.cuda.is_available() else "not available")
    assert rows["mps"] == ("available" if torch.backends.mps.is_available() else "not available")
    assert "sk-test" not in result.output and sys.prefix not in result.output


def test_env_says_which_library_is_missing(monkeypatch):
    real = metadata.version

    def version(name):
        if name == "peft":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    result = CliRunner().invoke(app, ["env"])
    assert result.exit_code == 0, result.output
    assert "peft: not installed" in result.output.splitlines()


def test_commands_still_run_below_the_new_options():
    result = CliRunner().invoke(app, ["config", "--set", "seed=7"])
    assert result.exit_code == 0, result.output
    assert "seed: 7" in result.output


def test_env_names_each_cuda_device(monkeypatch):
    """No GPU here: torch's answers are faked to check the line a GPU machine prints (a unit test of
    one function; the real CUDA path runs wherever torch sees a device)."""
    from hrlaif.environment import describe_environment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"NVIDIA H100 #{i}")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    rows = dict(describe_environment())
    assert rows["cuda"] == "2 device(s), CUDA 12.8: 0: NVIDIA H100 #0; 1: NVIDIA H100 #1"
