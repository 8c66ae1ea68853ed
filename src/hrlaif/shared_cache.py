"""A folder in a shared cache, built once however many processes ask for it at the same moment.

Two hrlaif processes started together on an empty cache both converted the embedded GGUF model,
and the second one's rename of its finished folder failed ("Directory not empty"). Now a builder
holds an OS lock (`flock`) on a file beside the folder: the first process builds into a temporary
folder, marks it complete and renames it into place; the others wait on the lock and then use the
finished folder. A folder without the mark (one left by an older hrlaif, or put there by hand) is
built again, and temporary folders of a build that was killed are removed by the next builder. The
kernel drops the lock when its holder dies, even by SIGKILL, so a crashed build blocks no one.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

COMPLETE = ".hrlaif-complete"  # written last inside the temporary folder, before the rename


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


@contextmanager
def exclusive_lock(lock_path: Path, waiting_note: str | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` (created if missing), waiting for its holder if there is
    one; `waiting_note` is logged (a warning, so users see why nothing happens) before a wait."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_note:
                log.warning(waiting_note)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _new_folder_beside(target: Path, tag: str) -> Path:
    """A new empty folder next to `target`, made with mode 0o777 so the umask decides its mode
    (tempfile.mkdtemp makes it 0700, and the renamed cache folder would stay private)."""
    while True:
        folder = target.with_name(f".{target.name}.{tag}-{secrets.token_hex(4)}.tmp")
        try:
            folder.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return folder


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """Return `target`, first calling `build(folder)` to fill it if no complete one is there.

    `build` writes into an empty temporary folder beside `target`; only one process at a time
    builds, and a process that waited for another one's build uses its result."""
    target = Path(target)
    if is_complete(target):
        return target
    lock = target.with_name(f".{target.name}.lock")
    with exclusive_lock(lock, f"{target}: another process is building it; waiting for it to finish"):
        if is_complete(target):  # built by the process we waited for
            return target
        # Only a lock holder makes temporary folders, so any still here belong to a killed build.
        for stale in glob.glob(str(target.with_name(f".{glob.escape(target.name)}.*.tmp"))):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = _new_folder_beside(target, "build")
        try:
            build(tmp)
            (tmp / COMPLETE).write_text(json.dumps({"pid": os.getpid(), "built": time.time()}) + "\n", encoding="utf-8")
            if target.is_dir() and not target.is_symlink():  # incomplete: move it aside first, a rename cannot replace it
                old = _new_folder_beside(target, "old")
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                target.unlink()
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
