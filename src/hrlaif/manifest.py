"""Stage folders and their manifests: what ran, on which inputs, what it cost.

A stage is complete only when its manifest says so and the fingerprint of its config and
inputs matches; then a re-run skips it. The manifest is written last, atomically, so a stage
killed half-way is simply run again.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from hrlaif.errors import HrlaifError
from hrlaif.jsonl import write_json

MANIFEST = "manifest.json"
_PACKAGES = ("hrlaif", "torch", "transformers", "trl", "accelerate", "datasets", "peft", "openai", "math-verify")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def read_manifest(stage_dir: Path) -> dict | None:
    path = Path(stage_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def require_complete(stage_dir: Path, command: str) -> None:
    """Raise HrlaifError unless the stage in `stage_dir` finished: outputs without a complete
    manifest are a killed or running stage's (the manifest is removed first when a stage starts),
    possibly the previous run's stale ones, so a reader must not take them as current."""
    manifest = read_manifest(stage_dir)
    if not (manifest and manifest.get("complete")):
        raise HrlaifError(f"{stage_dir}: stage {Path(stage_dir).name} is not complete (killed or still running?); run `{command}` first")


def is_complete(stage_dir: Path, fingerprint: str) -> bool:
    manifest = read_manifest(stage_dir)
    return bool(manifest and manifest.get("complete") and manifest.get("fingerprint") == fingerprint)


class StageRecord:
    """Collects what a running stage wants in its manifest."""

    def __init__(self, name: str, stage_dir: Path, fingerprint: str) -> None:
        self.name = name
        self.dir = stage_dir
        self.fingerprint = fingerprint
        self.counts: dict[str, Any] = {}
        self.judge: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        # Where this process runs models (device, dtypes): a stage that ran on a GPU in bf16 and
        # one on a CPU in fp32 differ in numbers and time. A stage may add to it (its backend).
        self.compute: dict[str, Any] = _placement()


def _placement() -> dict[str, Any]:
    # Imported here on purpose: placement imports torch, and reading manifests (export, report,
    # audit) must not pay for it.
    from hrlaif.placement import describe_placement

    return describe_placement()


@contextmanager
def stage(name: str, stage_dir: Path, fingerprint: str) -> Iterator[StageRecord]:
    """Run a stage's body; on success write its manifest as the last act."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    old = stage_dir / MANIFEST
    if old.exists():
        old.unlink()  # outputs are about to change: never leave a stale "complete"
    record = StageRecord(name, stage_dir, fingerprint)
    started = time.time()
    yield record
    write_json(
        old,
        {
            "stage": name,
            "complete": True,
            "fingerprint": fingerprint,
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "wall_s": round(time.time() - started, 2),
            "counts": record.counts,
            "judge": record.judge,
            "compute": record.compute,
            **record.extra,
            "versions": versions(),
        },
    )
