"""The README's layout tree is the package as it is: every module and package under src/hrlaif
has its line, and every line names something that exists.

The tree is the fenced block under "## Layout" that starts with `src/hrlaif/`: one entry per
line, indented two spaces per level, a folder ending in `/` followed by its modules one level
deeper, then a description. `__init__.py` files are not listed (their package's folder line is).
Folders that are not packages (configs/, data folders) may be listed; they must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "hrlaif"


def tree_block(readme: str) -> list[str]:
    """The lines of the layout tree, its `src/hrlaif/` root line first."""
    section = readme.split("\n## Layout\n", 1)
    assert len(section) == 2, "README.md has no '## Layout' section"
    match = re.search(r"^```[^\n]*\n(src/hrlaif/\n.*?)^```", section[1], flags=re.S | re.M)
    assert match, "the '## Layout' section has no fenced block starting with 'src/hrlaif/'"
    return match.group(1).splitlines()


def tree_entries(lines: list[str]) -> list[str]:
    """Paths relative to src/hrlaif, folders with a trailing '/', in the order the tree lists them."""
    entries, folders, problems = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        level, odd = divmod(indent, 2)
        if odd or level < 1 or level > len(folders) + 1:
            problems.append(f"tree line {number}: indent {indent} does not fit: {line!r}")
            continue
        if not (name.endswith(".py") or name.endswith("/")):
            problems.append(f"tree line {number}: not a module or folder (one line per module): {line!r}")
            continue
        del folders[level - 1:]
        entries.append("".join(folders) + name)
        if name.endswith("/"):
            folders.append(name)
    assert not problems, "\n".join(problems)
    return entries


def package_entries() -> set[str]:
    """Every module (but __init__.py) and every package folder under src/hrlaif."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py":
            if path.parent != PACKAGE:
                found.add(relative.parent.as_posix() + "/")
        else:
            found.add(relative.as_posix())
    return found


def test_tree_matches_the_package():
    listed = tree_entries(tree_block((ROOT / "README.md").read_text(encoding="utf-8")))
    duplicated = sorted({entry for entry in listed if listed.count(entry) > 1})
    missing = sorted(package_entries() - set(listed))
    extra = sorted(entry for entry in set(listed) if not (PACKAGE / entry).exists())
    message = []
    if missing:
        message.append("in src/hrlaif but not in the README's layout tree:\n  " + "\n  ".join(missing))
    if extra:
        message.append("in the README's layout tree but not in src/hrlaif:\n  " + "\n  ".join(extra))
    if duplicated:
        message.append("listed twice:\n  " + "\n  ".join(duplicated))
    assert not message, "\n".join(message)


def test_tree_parser_reads_nesting():
    """The parser reads nesting from indentation, so a module is matched inside its folder."""
    lines = ["src/hrlaif/", "  cli.py     x", "  judge/     y", "    base.py  z", "  report.py  w"]
    assert tree_entries(lines) == ["cli.py", "judge/", "judge/base.py", "report.py"]


def test_readme_is_an_overview():
    """The README stays short: the details live in docs/ (issue 24)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    blocks = re.findall(r"^```bash\n(.*?)^```", readme, flags=re.S | re.M)
    assert blocks[0].strip() == "bash scripts/setup.sh && .venv/bin/hrlaif demo"
    assert blocks[1].strip() == "bash scripts/setup.sh --test && .venv/bin/python -m pytest"


def test_commands_table_lists_every_subcommand():
    """Every `hrlaif` subcommand has a row in the README's commands table."""
    import typer.main

    from hrlaif.cli import app

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `hrlaif ([a-z][a-z-]*)", table, flags=re.M))
    listed |= set(re.findall(r"/ `hrlaif ([a-z][a-z-]*)", table))
    commands = set(typer.main.get_command(app).commands)
    assert not commands - listed, f"subcommands missing from the README's commands table: {sorted(commands - listed)}"
    assert not listed - commands, f"README's commands table names no such subcommand: {sorted(listed - commands)}"
