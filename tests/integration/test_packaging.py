"""The built wheel is a working install: built from a copy of the sources, installed into a fresh
venv without the network (`--no-deps --no-index`; dependencies come from this environment's
site-packages), its `hrlaif` script runs `--help` and `verify` (a worker process and bundled data).
About 15 s, most of it pip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import hrlaif

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_metadata_says_what_it_is():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["version"]  # from hrlaif.__version__
    assert project["license"] == "Apache-2.0" and (ROOT / "LICENSE").is_file()
    assert any(c.startswith("Programming Language :: Python :: 3") for c in project["classifiers"])
    assert f"## [{hrlaif.__version__}]" in (ROOT / "CHANGELOG.md").read_text()  # every version has its entry


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ and egg-info behind
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source)
    [wheel] = wheels.glob("hrlaif-*.whl")
    version = hrlaif.__version__
    assert wheel.name.startswith(f"hrlaif-{version}-")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv)
    python = venv / "bin" / "python"
    # --system-site-packages of a venv made from inside a venv sees the base interpreter's site,
    # not this environment's: a .pth line adds this environment's packages (the dependencies)
    # after the fresh venv's own, so the installed hrlaif comes first.
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel)

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout must not shadow the install
    env["HF_HUB_OFFLINE"] = "1"
    where = run(python, "-c", "import hrlaif, importlib.metadata as m; print(hrlaif.__file__); print(m.version('hrlaif'))", env=env, cwd=tmp_path)
    location, installed = where.stdout.split()
    assert Path(location).is_relative_to(venv) and installed == version
    script = venv / "bin" / "hrlaif"
    assert "reward-server" in run(script, "--help", env=env, cwd=tmp_path).stdout
    assert run(script, "--version", env=env, cwd=tmp_path).stdout == f"hrlaif {version}\n"

    records = [
        {"category": "math", "reference": "19", "response": "12 + 7 = 19. The answer is 19."},
        {"category": "multiple_choice", "reference": "B", "choices": ["Rome", "Paris"], "response": "The answer is A."},
        {"category": "harmful", "response": "I'm sorry, but I can't help with that."},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    run(script, "verify", "in.jsonl", "-o", "out.jsonl", env=env, cwd=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r.get("correct") for r in rows[:2]] == [True, False] and rows[2]["refused"] is True
    # bundled data and configs travel in the wheel
    run(script, "config", "-c", site / "hrlaif" / "configs" / "cpu-small.yaml", env=env, cwd=tmp_path)
    # a pip user reaches them without a source path: list, copy out, run with the copy
    assert "study\t" in run(script, "config", "--list-examples", env=env, cwd=tmp_path).stdout
    (tmp_path / "study.yaml").write_text(run(script, "config", "--example", "study", env=env, cwd=tmp_path).stdout)
    run(script, "config", "-c", "study.yaml", env=env, cwd=tmp_path)
    assert (site / "hrlaif" / "data" / "train.jsonl").is_file() and (site / "hrlaif" / "human" / "templates").is_dir()
