"""Stage manifests: written last, removed before outputs change, matched by fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hrlaif.manifest import MANIFEST, is_complete, read_manifest, stage, versions


def test_a_finished_stage_is_complete_for_its_fingerprint_only(tmp_path: Path) -> None:
    with stage("sample", tmp_path / "sample", "fp-1") as record:
        record.counts["samples"] = 3
        record.judge["requests"] = 7
        record.extra["policy"] = "start"
    manifest = read_manifest(tmp_path / "sample")
    assert manifest["complete"] is True and manifest["stage"] == "sample"
    assert manifest["counts"] == {"samples": 3} and manifest["judge"] == {"requests": 7} and manifest["policy"] == "start"
    assert manifest["wall_s"] >= 0 and "python" in manifest["versions"]
    assert is_complete(tmp_path / "sample", "fp-1")
    assert not is_complete(tmp_path / "sample", "fp-2"), "another config or input must run the stage again"


def test_a_failed_stage_leaves_no_manifest_not_even_the_old_one(tmp_path: Path) -> None:
    folder = tmp_path / "label"
    with stage("label", folder, "fp-1"):
        pass
    assert is_complete(folder, "fp-1")
    with pytest.raises(RuntimeError, match="killed half-way"), stage("label", folder, "fp-1"):  # ours, not one from stage()
        assert not (folder / MANIFEST).exists(), "the old manifest goes before the outputs change"
        raise RuntimeError("killed half-way")
    assert not (folder / MANIFEST).exists()
    assert not is_complete(folder, "fp-1")


def test_unreadable_manifests_count_as_not_run(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "missing") is None
    (tmp_path / MANIFEST).write_text("{torn", encoding="utf-8")
    assert read_manifest(tmp_path) is None and not is_complete(tmp_path, "x")
    (tmp_path / MANIFEST).write_bytes(b"\xff\xfe")
    assert read_manifest(tmp_path) is None
    (tmp_path / MANIFEST).write_text(json.dumps({"complete": False, "fingerprint": "x"}), encoding="utf-8")
    assert not is_complete(tmp_path, "x")


def test_versions_name_the_installed_stack() -> None:
    found = versions()
    assert {"python", "torch", "transformers"} <= set(found)
    assert all(isinstance(v, str) and v for v in found.values())
