"""Dependency ranges stay tested (issue 28): every dependency in pyproject.toml has a lower bound
and an upper one, .ci/constraints-lowest.txt holds each at exactly its lower bound (what
scripts/check-versions.sh lowest installs), and docs/versions.md's tested-with table names the same
lower bounds and a newest version inside each range, so none of the three can drift alone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
# torch: installed first, by hand, in the build that fits the machine (pyproject's comment says why);
# llama-cpp-python: exact, it compiles for ~10 minutes and the wheel cache holds one version.
UNRANGED = {"torch", "llama-cpp-python"}


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *(r for deps in extras.values() for r in deps)]]


def lower_bounds() -> dict[str, Version]:
    """Each ranged dependency's lower bound; one name named twice (an extra and the core) must agree."""
    bounds: dict[str, Version] = {}
    for req in requirements():
        name = canonicalize_name(req.name)
        if name in UNRANGED:
            continue
        [low] = [Version(s.version) for s in req.specifier if s.operator == ">="] or [None]
        assert low is not None, f"{req}: no lower bound (>=)"
        assert bounds.setdefault(name, low) == low, f"{name}: lower bounds {bounds[name]} and {low} in different places"
    return bounds


def test_every_dependency_has_a_lower_and_an_upper_bound():
    for req in requirements():
        name = canonicalize_name(req.name)
        operators = sorted(s.operator for s in req.specifier)
        if name == "torch":
            assert operators == [">="], req
        elif name == "llama-cpp-python":
            assert operators == ["=="], req
        else:
            assert operators == ["<", ">="], f"{req}: want '>=TESTED,<NEXT' and nothing else (no ==X.Y.* pin)"
            [upper] = [Version(s.version) for s in req.specifier if s.operator == "<"]
            assert upper > lower_bounds()[name], req


def test_the_lowest_constraints_are_the_lower_bounds():
    pinned = {}
    for number, line in enumerate((ROOT / ".ci" / "constraints-lowest.txt").read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            [spec] = req.specifier
            assert spec.operator == "==", f"constraints-lowest.txt:{number}: {line} is not an exact version"
            pinned[canonicalize_name(req.name)] = Version(spec.version)
    assert pinned == lower_bounds()


def tested_table() -> dict[str, tuple[Version, Version, str]]:
    rows = {}
    for line in (ROOT / "docs" / "versions.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d[\w.+]*", cells[1]):
            rows[canonicalize_name(cells[0])] = (Version(cells[1]), Version(cells[2]), cells[3])
    return rows


def test_the_tested_with_table_matches_pyproject():
    table = tested_table()
    specifiers = {}
    for req in requirements():
        specifiers.setdefault(canonicalize_name(req.name), req.specifier)
    assert set(table) == set(specifiers) - {"llama-cpp-python"}, "docs/versions.md names other libraries than pyproject.toml"
    for name, low in lower_bounds().items():
        lowest, newest, date = table[name]
        assert lowest == low, f"docs/versions.md: {name} lowest tested {lowest}, pyproject's lower bound {low}"
        assert newest >= lowest and specifiers[name].contains(newest), f"docs/versions.md: {name} newest {newest} is outside {specifiers[name]}"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date), f"docs/versions.md: {name} date {date!r}"
    assert specifiers["torch"].contains(table["torch"][0])


def test_the_check_script_says_which_end_in_one_line_and_installs_nothing(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check-versions.sh"), "oldest"], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "venv")})
    assert done.returncode == 2 and done.stdout == "" and not (tmp_path / "venv").exists()
    assert done.stderr.strip().count("\n") == 0 and "lowest" in done.stderr and "newest" in done.stderr, done.stderr


def test_ci_runs_the_lowest_versions_after_the_full_suite():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "set -euo pipefail" in ci and ci[-1] == "bash scripts/check-versions.sh lowest", ci
