"""The example configs shipped inside the package (src/hrlaif/configs/), reachable from a pip
install, where that source path does not exist: `hrlaif config --list-examples` names them and
`hrlaif config --example NAME` prints one, comments included, to redirect into a file."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from hrlaif.errors import HrlaifError


def _files() -> dict[str, Traversable]:
    """Example name (the path under configs/ without .yaml, e.g. 'study', 'accelerate/ddp') -> file."""
    root = files("hrlaif") / "configs"
    found: dict[str, Traversable] = {}
    for entry in root.iterdir():
        if entry.is_dir():
            found.update({f"{entry.name}/{f.name[:-5]}": f for f in entry.iterdir() if f.name.endswith(".yaml")})
        elif entry.name.endswith(".yaml"):
            found[entry.name[:-5]] = entry
    return dict(sorted(found.items()))


def list_examples() -> list[tuple[str, str]]:
    """(name, the first line of its header comment) for every shipped example."""
    summaries = []
    for name, file in _files().items():
        first = next((line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        summaries.append((name, first.lstrip("# ").strip()))
    return summaries


def example_text(name: str) -> str:
    """The shipped example `name`, as written (comments kept)."""
    known = _files()
    if name.removesuffix(".yaml") not in known:
        raise HrlaifError(f"--example: no shipped example config '{name}' (known: {', '.join(known)})")
    return known[name.removesuffix(".yaml")].read_text(encoding="utf-8")
