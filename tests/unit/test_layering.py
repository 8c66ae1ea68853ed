"""The import graph of src/hrlaif follows its layers (issue 24).

Every module of the package is parsed with `ast`; every `import`/`from ... import` of an
hrlaif module, at module level or inside a function, is an edge. A module may import from its
own layer or a lower one, never from a higher one, and that holds for the packages an import
runs first (importing hrlaif.a.b runs hrlaif/a/__init__.py). Modules are placed by the longest matching
name in LAYERS, so a new module must be placed there (the test says which). An edge that breaks
the rule and is known is listed in ALLOWED with its reason; an entry that no longer matches an
edge fails too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "hrlaif"

# Bottom to top. Names are relative to `hrlaif` ("judge" is hrlaif.judge and everything under
# it); the most specific name wins ("judge.qualify" over "judge"). "" is the package itself.
LAYERS: list[tuple[str, list[str]]] = [
    # Plain data, files and numbers; no model, no judge, no config schema.
    ("base", ["", "errors", "records", "jsonl", "redact", "file_modes", "stats", "power", "run_dir", "placement",
              "shared_cache", "runlock", "environment", "examples", "cli_errors", "manifest"]),
    # What a run reads: the config schema, bundled data, prompt sets, and the rule-based
    # verifiers and refusal patterns (pure functions of text).
    ("inputs", ["config", "data", "prompts", "prompt_sources", "verify"]),
    # Loading and running local models; the endpoints (servers, keys) the backends talk to.
    ("models", ["models", "endpoints"]),
    # What produces text and verdicts: judges, policy servers, sampling, and the checks that ask
    # a judge (refusal, harm).
    ("backends", ["judge", "serving", "sampling", "harm"]),
    # Turning samples and verdicts into preference data and rewards; qualifying a judge (its
    # exam combines verdicts the way pairwise labeling does).
    ("labels", ["labeling", "reward", "judge.qualify"]),
    ("training", ["train"]),
    ("evaluation", ["evaluate", "human"]),
    # A run's stages and what reads a finished run.
    ("orchestration", ["stages", "study", "report", "export", "pipeline"]),
    # The command line (`hrlaif human` is a sub-app of it).
    ("cli", ["cli", "__main__", "human.cli"]),
]

# Packages on one layer that must not import each other: a policy server is not a judge.
SEPARATE: list[tuple[str, str]] = [("judge", "serving")]

# Known edges that break the rules, each with its reason. (importer, imported), full names.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(module: str, path: Path) -> set[str]:
    """Every hrlaif module `module` imports, anywhere in its code (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..y import z
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:  # `from hrlaif.train import ranks` imports the module hrlaif.train.ranks
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
    return {name for name in found if name == "hrlaif" or name.startswith("hrlaif.")}


def place(module: str) -> tuple[int, str] | None:
    """(layer index, matching name) of `module`, by the longest matching name in LAYERS."""
    relative = module.removeprefix("hrlaif").removeprefix(".")
    best: tuple[int, str] | None = None
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            matches = relative == name if name == "" else relative == name or relative.startswith(name + ".")
            if matches and (best is None or len(name) > len(best[1])):
                best = (index, name)
    return best


def in_package(module: str, name: str) -> bool:
    return module == f"hrlaif.{name}" or module.startswith(f"hrlaif.{name}.")


GRAPH = {module: imported(module, path) for module, path in MODULES.items()}


def loaded(importer: str, target: str) -> list[str]:
    """What importing `target` runs: its packages' __init__ first (those `importer` is not
    inside already), then `target` itself."""
    parts = target.split(".")
    chain = [".".join(parts[:k]) for k in range(2, len(parts) + 1)]
    return [name for name in chain if not importer.startswith(name + ".")]


def edge_problem(importer: str, target: str) -> str | None:
    low = place(importer)[0]
    for name in loaded(importer, target):
        high = place(name)[0]
        via = "" if name == target else f", which loads the package {name} ({LAYERS[high][0]}) first"
        if high > low:
            return f"{importer} ({LAYERS[low][0]}) imports {target} ({LAYERS[place(target)[0]][0]}){via}"
        for a, b in SEPARATE:
            for x, y in ((a, b), (b, a)):
                if in_package(importer, x) and in_package(name, y):
                    return f"{importer} imports {target}{via}: {x} and {y} are kept apart"
    return None


def test_the_graph_is_read():
    assert len(MODULES) > 80 and "hrlaif.cli" in MODULES and "hrlaif.verify.refusal" in MODULES
    assert "hrlaif.verify" in GRAPH["hrlaif.judge.simulated"], "module-level imports are edges"
    assert "hrlaif.train.ranks" in GRAPH["hrlaif.cli"], "imports inside functions are edges, `from pkg import module` names the module"


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if place(m) is None]
    assert not unplaced, f"place these modules in LAYERS of tests/unit/test_layering.py: {unplaced}"


def test_modules_import_only_their_own_layer_or_lower():
    problems = [
        problem
        for importer, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if target in MODULES or target == "hrlaif"
        if (problem := edge_problem(importer, target)) and (importer, target) not in ALLOWED
    ]
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_imports_name_real_modules():
    missing = sorted({(m, t) for m, ts in GRAPH.items() for t in ts if t not in MODULES and t != "hrlaif"})
    assert not missing, missing


@pytest.mark.parametrize(("importer", "target"), sorted(ALLOWED))
def test_each_allowed_exception_is_still_needed(importer, target):
    assert target in GRAPH.get(importer, set()), f"{importer} no longer imports {target}: remove it from ALLOWED"
    assert edge_problem(importer, target), f"{importer} -> {target} breaks no rule now: remove it from ALLOWED"


def test_the_simulated_judge_and_the_verifiers_stay_low():
    # The simulated judge reads text with the verifiers and the refusal patterns (pure functions,
    # layer `inputs`), never the judge-backed checks or anything that loads a model.
    assert GRAPH["hrlaif.judge.simulated"] <= {
        "hrlaif.config", "hrlaif.records", "hrlaif.judge.base", "hrlaif.judge.templates", "hrlaif.verify", "hrlaif.verify.refusal"
    }
    verify = {t for m, ts in GRAPH.items() if in_package(m, "verify") for t in ts}
    assert all(place(t)[0] <= 1 for t in verify), verify
    assert "hrlaif.models" not in GRAPH["hrlaif.manifest"]


def test_the_command_line_starts_without_torch():
    code = "import sys, hrlaif.cli; heavy = {'torch', 'transformers', 'trl', 'peft'} & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parents[1])
