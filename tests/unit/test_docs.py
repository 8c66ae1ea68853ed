"""The documentation stays true: every relative link resolves, and docs/config.md is what
scripts/config_docs.py makes from the field descriptions in src/hrlaif/config.py."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), ROOT / "bench" / "README.md", *ROOT.glob("bench/results/*.md")])

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _without_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where links live."""
    return re.sub(r"`[^`\n]*`", "", _without_fences(text))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as '-'."""
    anchors = set()
    for line in _without_fences(page.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            title = match.group(1).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _links(page: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))) if not re.match(r"[a-z]+:", target)]


def test_pages_exist():
    names = {page.name for page in ROOT.glob("docs/*.md")}
    expected = {"README.md", "usage.md", "method.md", "judge.md", "config.md", "data-formats.md", "scaling.md", "human-eval.md", "reward-server.md", "results.md"}
    assert expected <= names, f"missing docs pages: {sorted(expected - names)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def test_config_reference_is_generated():
    spec = importlib.util.spec_from_file_location("config_docs", ROOT / "scripts" / "config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert committed == module.render(), "docs/config.md is stale: run `PYTHONPATH=src python scripts/config_docs.py --write`"


def test_every_config_key_is_documented():
    """A field without a description would show as an empty cell in docs/config.md."""
    from pydantic import BaseModel

    from hrlaif.config import RunConfig

    missing = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = f"{prefix}{name}"
            sub = next((arg for arg in (field.annotation, *getattr(field.annotation, "__args__", ())) if isinstance(arg, type) and issubclass(arg, BaseModel)), None)
            if sub is not None:
                walk(sub, key + ".")
            elif not field.description:
                missing.append(key)

    walk(RunConfig, "")
    assert not missing, f"config keys without a description: {missing}"


def test_changelog_has_one_heading_of_each_kind_per_release():
    """Keep a Changelog: one section per release, and within it at most one of each heading."""
    allowed = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    releases: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            assert current not in releases, f"CHANGELOG.md has two sections {current}"
            releases[current] = []
        elif line.startswith("### "):
            assert current is not None, f"CHANGELOG.md: {line!r} outside a release"
            releases[current].append(line[4:].strip())
    assert "[Unreleased]" in releases
    for release, headings in releases.items():
        assert set(headings) <= allowed, f"{release}: unknown headings {sorted(set(headings) - allowed)}"
        repeated = sorted({heading for heading in headings if headings.count(heading) > 1})
        assert not repeated, f"{release} has more than one '### {', '.join(repeated)}'"
